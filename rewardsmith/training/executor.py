"""Where trainings run: local worker threads, or Ray tasks on a local or remote Ray cluster.

Either way one training is ``rewardsmith.training.trainer.train_once``: PPO in rewardsmith's sandboxed,
killable child process with single-threaded torch. The executor only decides which machine's
process that is and how many run at once; untrusted reward code never runs in a Ray worker itself.

Both executors give ``concurrent.futures.Future`` objects that resolve to a ``SeedResult`` or raise
``TrainingError``, so the loop records results as they finish whatever runs them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from ..errors import ConfigError, TrainingError
from ..task import Task
from .trainer import Budget, SeedResult, train_once

RAY_INSTALL = "pip install 'rewardsmith[ray]'   (or: pip install 'ray>=2.9')"


class Cancelled(TrainingError):
    """The run is stopping: this training was cancelled, not failed."""


def default_workers() -> int:
    """All cores of this machine (each training is one single-threaded process)."""
    return os.cpu_count() or 1


class LocalExecutor:
    """``workers`` trainings at once on this machine, each in its own sandboxed process."""

    name = "local"

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="rewardsmith-train")
        self._cancel = threading.Event()

    def submit(self, task: Task, code: str | None, seed: int, budget: Budget, on_progress=None,
               **options) -> Future:
        def progress(s, snapshot):
            if self._cancel.is_set():  # raising here makes the sandbox kill the training's process
                raise Cancelled("the run is stopping")
            if on_progress is not None:
                on_progress(s, snapshot)

        def job():
            if self._cancel.is_set():
                raise Cancelled("the run is stopping")
            return train_once(task, code, seed, budget, progress, **options)

        return self._pool.submit(job)

    def describe(self) -> str:
        return f"{self.workers} local worker{'s' * (self.workers > 1)}"

    def close(self, cancel: bool = False) -> None:
        """Waits for running trainings; with ``cancel`` drops queued ones and stops running ones at their
        next progress report."""
        if cancel:
            self._cancel.set()
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


class RayExecutor:
    """Each training is a Ray task (``cpus_per_task`` CPUs) on a local Ray started on the fly (with
    ``workers`` CPUs) or on an existing cluster (``address``: ``auto``, ``HOST:PORT``, or
    ``ray://HOST:10001``, which needs ray[client]).

    Every node needs rewardsmith installed. The task file travels as source text, so a node needs no
    copy of the run directory. Progress is reported when a training finishes (its snapshots replayed).
    """

    name = "ray"

    def __init__(self, workers: int, address: str | None = None, cpus_per_task: float = 1.0):
        ray = import_ray()
        self.address = address
        self.cpus_per_task = float(cpus_per_task)
        self.workers = max(1, int(workers))
        self._started_here = not ray.is_initialized()
        if self._started_here:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False,
                         object_store_memory=256 * 1024 * 1024)
        self._remote = ray.remote(num_cpus=self.cpus_per_task, max_retries=0)(_ray_train)
        self._sources: dict[str, str] = {}

    def submit(self, task: Task, code: str | None, seed: int, budget: Budget, on_progress=None,
               **options) -> Future:
        source = self._sources.get(str(task.path))
        if source is None:
            source = self._sources[str(task.path)] = Path(task.path).read_text()
        ref = self._remote.remote(source, str(task.path), code, seed, asdict(budget), options)
        outer: Future = Future()
        outer.set_running_or_notify_cancel()

        def done(inner: Future) -> None:
            try:
                data = inner.result()
            except Exception as exc:  # the Ray worker itself died or Ray failed; not the reward's fault
                outer.set_exception(TrainingError(f"training seed {seed} failed (the Ray task): {exc}"))
                return
            if "error" in data:
                outer.set_exception(TrainingError(data["error"]))
                return
            result = SeedResult.from_json(data["result"])  # train_once in the worker checked it
            if on_progress is not None:
                for snapshot in result.snapshots:
                    on_progress(seed, snapshot)
            outer.set_result(result)

        ref.future().add_done_callback(done)
        return outer

    def describe(self) -> str:
        import ray

        cpus = ray.cluster_resources().get("CPU", 0)
        where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
        return f"{where} ({cpus:g} CPUs, {self.cpus_per_task:g} per training)"

    def close(self, cancel: bool = False) -> None:
        import ray

        if self._started_here and ray.is_initialized():
            ray.shutdown()  # a local Ray stops; a cluster is only disconnected from


def import_ray():
    """The ray module, or a ConfigError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL}") from exc
    return ray


def make_executor(kind: str, workers: int, ray_address: str | None = None, ray_cpus_per_task: float = 1.0):
    """The executor a run's configuration asks for."""
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(workers, address=ray_address, cpus_per_task=ray_cpus_per_task)
    raise ConfigError(f"--executor must be local or ray, got {kind!r}")


def _ray_train(task_source: str, task_path: str, code: str | None, seed: int, budget: dict,
               options: dict) -> dict:
    """Runs inside a Ray worker: loads the task, then trains in rewardsmith's sandboxed child."""
    import ray

    from ..task import load_task_file

    worker = {"executor": "ray", "node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}
    local = Path(task_path)
    digest = hashlib.sha256(task_source.encode()).hexdigest()
    with tempfile.TemporaryDirectory(prefix="rewardsmith-ray-") as scratch:
        if not (local.is_file() and hashlib.sha256(local.read_bytes()).hexdigest() == digest):
            local = Path(scratch) / local.name  # another machine: the task file travels as text
            local.write_text(task_source)
        try:
            result = train_once(load_task_file(local), code, seed, Budget(**budget), **options)
        except TrainingError as exc:
            return {"error": str(exc)}
    data = result.to_json()
    data["worker"] = worker
    return {"result": data}
