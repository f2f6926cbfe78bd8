"""Launching sandboxed jobs (parent side): every piece of reward code runs in a separate, killable process.

Reward code is assumed to achieve arbitrary code execution in the process that runs it, so the
boundary is the operating system. ``run_job`` starts ``python -m rewardsmith.sandbox.child`` (``interpreter``) under
bubblewrap (``confinement``): new user, network, pid, ipc and uts namespaces, no capabilities, an
unprivileged uid, read-only binds of exactly what a job reads, the job's scratch directory the only
writable place. Inside, the child adds resource limits, Landlock and a seccomp filter before it reads
any reward code (``rewardsmith.sandbox.confine``). Where bubblewrap cannot run, ``--sandbox auto``
(the default) says so once and keeps the other layers; ``--sandbox strict`` refuses to run.

The parent cannot be hung or crashed by what it starts: every wait has a deadline, the job's whole
process tree is gone when ``run_job`` returns (the pid namespace dies with it), scratch removal never
follows a link, recurses or raises and is linear and bounded in time (``scratch``), and child and parent
speak JSON lines of bounded number over a private pipe, each bounded in size and in what it would parse
into before it is parsed (``pipe.parsed_size``); the parent never unpickles anything, and any other message
is a protocol error. Anything the child prints is kept as a bounded log tail, shown quoted; a job that
dies is told apart (filter, CPU, memory) from the kernel's count of its CPU time and memory (``process.Usage``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from typing import Callable

from .interpreter import child_command
from .confinement import Layers, bubblewrap_argv, bubblewrap_problem, sandbox_mode, seccomp_problem
from ..errors import SandboxError, SandboxUnavailable
from .pipe import MAX_EVENT_LINE, MAX_EVENTS, MAX_MESSAGE, MAX_PARSED, Protocol, parsed_size  # noqa: F401
from .process import (KILL_WAIT_S, Limits, Usage, exit_error, kill_tree, log_tail_text,  # noqa: F401
                      namespace_init, reap, timeout_error)
from .scratch import make_scratch, remove_tree, sweep_orphaned_scratch  # noqa: F401 - part of this API
from ..untrusted import child_message

log = logging.getLogger(__name__)

# Variables a child may inherit. Everything else (API keys, tokens, cloud credentials) is dropped.
_ENV_ALLOW = (
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "MUJOCO_GL", "PYOPENGL_PLATFORM", "LD_LIBRARY_PATH",
    "VIRTUAL_ENV", "PYTHONPATH", "DISPLAY", "PYGLFW_LIBRARY",
)
_LOG_TAIL = 16_384


@functools.cache
def _has_osmesa() -> bool:
    """Whether OSMesa is installed (MUJOCO_GL=osmesa without it breaks every MuJoCo environment)."""
    import ctypes.util

    return sys.platform.startswith("linux") and ctypes.util.find_library("OSMesa") is not None


@functools.cache
def _glfw_library() -> str | None:
    """The GLFW library the ``glfw`` package ships (it is imported by every MuJoCo environment). Named
    in PYGLFW_LIBRARY, the package loads it directly instead of running a Python subprocess to check
    each candidate's version, which the sandbox's seccomp filter refuses."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("glfw")
    except (ImportError, ValueError):
        return None
    for folder in (spec and spec.submodule_search_locations) or ():
        for variant in ("x11", "."):
            path = os.path.join(folder, variant, "libglfw.so")
            if os.path.isfile(path):
                return os.path.normpath(path)
    return None


def child_environment(scratch: str) -> dict:
    """The environment of a sandboxed child: an allow-list, single-threaded math, home in scratch."""
    env = {k: v for k, v in os.environ.items() if k in _ENV_ALLOW}
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # holds rewardsmith/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.update(
        HOME=scratch, TMPDIR=scratch, PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1",
        OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
    )
    if "PYGLFW_LIBRARY" not in env and (glfw := _glfw_library()):
        env["PYGLFW_LIBRARY"] = glfw
    if "MUJOCO_GL" not in env and _has_osmesa():
        env["MUJOCO_GL"] = "osmesa"  # offscreen CPU rendering for videos; without the library, leave it unset
    return env


def extra_read_paths() -> list[str]:
    """Directories a sandboxed job may read besides the defaults (sandbox.confine.readable_roots), from
    ``$REWARDSMITH_READ_PATHS`` (``os.pathsep``-separated): for libraries or assets in unusual places."""
    text = os.environ.get("REWARDSMITH_READ_PATHS", "")
    return [os.path.abspath(p) for p in text.split(os.pathsep) if p.strip()]


def check_sandbox(mode: str | None = None) -> bool:
    """Whether jobs run under bubblewrap in ``mode`` (default ``$REWARDSMITH_SANDBOX`` or ``auto``).

    ``strict`` raises SandboxUnavailable naming what is missing; ``auto`` logs that once per process
    and runs jobs with the layers that remain.
    """
    mode = sandbox_mode(mode)
    problems = [p for p in (bubblewrap_problem(), seccomp_problem()) if p]
    if problems and mode == "strict":
        install = "Install bubblewrap (apt-get install bubblewrap, or bash scripts/setup) or run" \
            if bubblewrap_problem() else "Run"
        raise SandboxUnavailable(f"--sandbox strict: {'; '.join(problems)}. {install} with --sandbox auto to "
                                 f"accept the remaining layers.")
    for problem in problems:
        _warn_once(problem)
    return bubblewrap_problem() is None


@functools.cache
def _warn_once(problem: str) -> None:
    log.warning("rewardsmith: %s; sandboxed jobs run with the remaining layers (resource limits, Landlock, "
                "seccomp where available). Install bubblewrap: apt-get install bubblewrap (or bash "
                "scripts/setup); --sandbox strict refuses to run without it.", problem)


def run_job(job: dict, limits: Limits, on_event: Callable[[dict], None] | None = None, *,
            sandbox: str | None = None, layers: Layers = Layers(), pass_fds: tuple[int, ...] = (),
            on_start: Callable[[subprocess.Popen], None] | None = None) -> dict:
    """Runs ``job`` in a sandboxed child and gives back its result dict.

    ``on_event`` receives the child's progress events as they arrive; an exception it raises while
    reading one (a malformed payload) ends the job as a protocol error. Raises SandboxError (with
    ``kind`` one of ``timeout``, ``cpu``, ``memory``, ``crash``, ``protocol``, or the child's own error
    kind) when the job does not produce a result, and SandboxUnavailable when ``--sandbox strict``
    cannot be honoured. ``layers`` switches confinement layers off, for a trusted caller only (the
    tests that show what each layer stops on its own). ``pass_fds``: more descriptors the child
    inherits (the caller keeps and closes its own copies); ``on_start`` gets the process once started.
    """
    mode = sandbox_mode(sandbox)
    use_bubblewrap = layers.bubblewrap and check_sandbox(mode)
    if not layers.seccomp or not layers.landlock:
        mode = "auto"  # a trusted caller chose fewer layers; strict applies to the ones it kept
    scratch = make_scratch()
    read_fd, write_fd = os.pipe()
    token = secrets.token_hex(16)  # every protocol message must carry it
    payload = dict(job, limits=limits.for_child(), token=token, read_paths=extra_read_paths(),
                   sandbox=mode, layers={**asdict(layers), "bubblewrap": use_bubblewrap})
    command, started = child_command(str(write_fd))
    env = {**child_environment(scratch), **started}
    passed = [write_fd]
    info_read = None
    if use_bubblewrap:
        info_read, info_write = os.pipe()  # bubblewrap tells the pid of the namespace's init here
        passed.append(info_write)
        command = bubblewrap_argv(scratch, job.get("task_path"), extra_read_paths(), info_fd=info_write) + command
        env["REWARDSMITH_PID_NAMESPACE"] = "1"  # the child's parent is the namespace's init, pid 1
    try:
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=scratch, env=env, pass_fds=[*passed, *pass_fds], start_new_session=True,
        )
    except OSError as exc:
        for fd in (read_fd, *passed, info_read):
            if fd is not None:
                os.close(fd)
        _remove_scratch(scratch)
        raise SandboxError(f"could not start the sandbox process: {exc}") from exc
    for fd in passed:
        os.close(fd)
    if on_start is not None:
        on_start(proc)
    namespace = None
    try:
        if info_read is not None:
            namespace = namespace_init(info_read, proc.pid)
        return _collect(proc, read_fd, json.dumps(payload).encode(), limits, on_event, token)
    finally:
        kill_tree(proc, namespace)
        os.close(read_fd)
        if info_read is not None:
            os.close(info_read)
        _remove_scratch(scratch)


REWARD_PROCESS_MEMORY_MB = 1024  # the reward process imports numpy, never torch
REPLY_SECONDS = 60.0             # how long the learner waits for one batch's rewards


def run_with_reward_process(job: dict, limits: Limits, on_event: Callable[[dict], None] | None = None, *,
                            reads: list[str], sandbox: str | None = None, layers: Layers = Layers(),
                            reply_seconds: float = REPLY_SECONDS) -> dict:
    """Runs a job whose reward is candidate code (``job["code"]``) as two sandboxed processes and gives
    the job's result, as ``run_job`` does.

    The reward process (kind ``reward``, ``rewardsmith.sandbox.rewardserver``) loads the code and only
    turns transitions into reward numbers; the job itself runs without the code (the learner), with
    ``job["reward"]`` naming its ends of two pipes made here and the state keys the code ``reads``
    (``rewardserver.fields_read_by``). Each process has its own scratch directory, confinement and
    limits (the reward process at most REWARD_PROCESS_MEMORY_MB), and neither outlives the other: when
    the learner ends, the reward process is killed; when the reward process ends, the learner's next
    read of its pipe fails. Only the learner's result is used; when it failed because the reward process
    was gone, the reward process's own error (its CPU-time or memory limit, a crash) is the one raised.
    """
    import threading

    requests_read, requests_write = os.pipe()
    replies_read, replies_write = os.pipe()
    learner_job = {key: value for key, value in job.items() if key != "code"}
    learner_job["reward"] = {"requests": requests_write, "replies": replies_read, "reads": list(reads),
                             "reply_seconds": float(reply_seconds)}
    reward_job = {"kind": "reward", "code": job["code"], "requests": requests_read, "replies": replies_write,
                  "batch_seconds": reply_seconds / 2}
    # a little longer than the learner's: the learner's own end (result or limit) is what ends both
    reward_limits = Limits(wall_seconds=limits.wall_seconds + 30.0, cpu_seconds=limits.for_child()["cpu_seconds"],
                           memory_mb=min(REWARD_PROCESS_MEMORY_MB, limits.memory_mb))
    lock, state = threading.Lock(), {"open": {requests_read, requests_write, replies_read, replies_write},
                                     "proc": None, "stopping": False, "outcome": None}

    def close(*fds):  # the parent's copies, once the child that uses them has its own
        with lock:
            for fd in fds:
                if fd in state["open"]:
                    state["open"].discard(fd)
                    os.close(fd)

    def kill_reward_process():
        with lock:
            state["stopping"] = True
            proc = state["proc"]
            if proc is not None and proc.returncode is None:
                try:  # its group: bubblewrap (whose namespace dies with it) or the unwrapped child
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def reward_started(proc):
        close(requests_read, replies_write)
        with lock:
            state["proc"] = proc
        if state["stopping"]:  # the learner ended before this process started
            kill_reward_process()

    def serve():
        try:
            run_job(reward_job, reward_limits, sandbox=sandbox, layers=layers,
                    pass_fds=(requests_read, replies_write), on_start=reward_started)
        except BaseException as exc:  # noqa: BLE001 - reported below, if it explains the learner's end
            state["outcome"] = exc
        finally:
            close(requests_read, replies_write)

    thread = threading.Thread(target=serve, name="reward-process", daemon=True)
    thread.start()
    try:
        return run_job(learner_job, limits, on_event, sandbox=sandbox, layers=layers,
                       pass_fds=(requests_write, replies_read),
                       on_start=lambda proc: close(requests_write, replies_read))
    except SandboxError as exc:
        if exc.kind != "reward_process":
            raise
        thread.join(timeout=KILL_WAIT_S)  # it ended: its own error says why
        reason = state["outcome"]
        if isinstance(reason, SandboxError) and reason.kind != "reward_process":
            raise SandboxError(f"the reward process failed: {reason}", kind=reason.kind) from exc
        raise
    finally:
        close(requests_write, replies_read)
        kill_reward_process()
        thread.join()


def _remove_scratch(scratch: str) -> None:
    problems = remove_tree(scratch)
    if problems:
        log.warning("could not remove all of the sandbox's scratch directory %s (%d problems, first: %s); "
                    "the next run's sweep retries", scratch, len(problems), problems[0])


def _collect(proc, read_fd, payload: bytes, limits: Limits, on_event, token: str) -> dict:
    deadline = time.monotonic() + limits.wall_seconds
    protocol = Protocol(token, on_event)
    usage = Usage(proc.pid)
    log_tail = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(read_fd, selectors.EVENT_READ, "protocol")
        selector.register(proc.stdout, selectors.EVENT_READ, "log")
        os.set_blocking(proc.stdin.fileno(), False)  # the job goes in by pieces: a child that never
        selector.register(proc.stdin, selectors.EVENT_WRITE, "job")  # reads cannot block the parent
        open_streams = 2
        while open_streams:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise timeout_error(limits, protocol.phase, log_tail)
            usage.sample()
            for key, _ in selector.select(timeout=min(remaining, Usage.EVERY_S)):
                if key.data == "job":
                    try:
                        payload = payload[os.write(proc.stdin.fileno(), payload[:1 << 16]):]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # the child is gone; its exit status tells why
                        payload = b""
                    if not payload:
                        selector.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                fd = key.fileobj if isinstance(key.fileobj, int) else key.fileobj.fileno()
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                elif key.data == "log":
                    log_tail += chunk
                    del log_tail[:-_LOG_TAIL]
                else:
                    try:
                        protocol.feed(chunk)
                    except SandboxError as exc:
                        raise SandboxError(f"{exc}{log_tail_text(log_tail)}", kind="protocol") from exc
    # the streams are closed, but a child may close them and keep running: wait only for the time left
    usage.sample()
    exited, counted = reap(proc, max(0.0, deadline - time.monotonic()))
    usage.add(counted)
    if not exited:
        raise timeout_error(limits, protocol.phase, log_tail)
    if protocol.result is not None:
        protocol.result["log_tail"] = log_tail.decode(errors="replace")
        return protocol.result
    if protocol.error is not None:
        kind, message = protocol.error
        message = child_message(message)
        if kind == "unavailable" and protocol.events == 0:  # said before the child reported itself confined
            raise SandboxUnavailable(message)
        raise SandboxError(message, kind=kind)
    raise exit_error(proc, usage, limits, protocol.phase, log_tail)


