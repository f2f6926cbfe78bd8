"""What every training of a pool shares (``Training``), the legs it leaves, and the one loop that collects
finished trainings (``collect``): a pool's rungs (pool.py) and the second seeds at a rung's cut-off
(rung_seeds.py) both submit trainings and keep each finished leg here, so neither imports the other.

A leg is one seed of a candidate trained up to one rung. After every leg the policy goes to
``checkpoints/<id>-seed<s>.json`` (written atomically) and then the leg (a ``records.Leg``) to the store's
``legs`` table, so a resumed run replays the same decisions and trains only what had not finished. Within
a pool the legs are held in memory (``Legs``): read from the store once per candidate and seed, each new
one written through and kept as stored.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..archive.records import Leg
from ..archive.store import RunStore, write_atomic
from ..errors import RunStoreError, TrainingError
from ..task import Task
from .executor import Cancelled
from .trainer import Budget, SeedResult


class Executor(Protocol):
    """Where trainings run (executor.py's ``LocalExecutor`` and ``RayExecutor``): a Future per training
    that resolves to a ``SeedResult`` or raises ``TrainingError``."""

    def submit(self, task: Task, code: str | None, seed: int, budget: Budget, on_progress: Any = None,
               **options: Any) -> Future: ...


@dataclass
class Training:
    """What every training of a pool shares: the task, the search budget, where trainings run (an
    ``Executor``) and the evaluation settings."""

    task: Task
    budget: Budget
    executor: Executor
    keep_trajectories: int = 0
    eval_episodes: int | None = None

    def to(self, target: int) -> Budget:
        """The budget of a leg trained up to ``target`` env steps (the search budget's limits kept)."""
        return Budget(target, max_seconds=self.budget.max_seconds, memory_mb=self.budget.memory_mb)


# ---------------------------------------------------------------------- legs and their checkpoints


def load_checkpoint(store: RunStore, cid: str, seed: int) -> dict | None:
    path = store.checkpoint_path(cid, seed)
    return json.loads(path.read_text()) if path.is_file() else None


def save_leg(store: RunStore, cid: str, seed: int, rung: int, target: int, result: SeedResult) -> Leg:
    """Keeps a finished leg: the policy first (the next leg resumes from it), then its outcome; gives the
    leg as the store holds it."""
    if result.checkpoint is not None:
        write_atomic(store.checkpoint_path(cid, seed), json.dumps(
            {**result.checkpoint, "timesteps": result.timesteps, "fitness": result.fitness, "rung": rung}))
    return store.save_leg(cid, seed, rung, Leg(
        target=target, timesteps=result.timesteps, fitness=result.fitness,
        trained_steps=result.trained_steps if result.trained_steps is not None else result.timesteps,
        train_seconds=result.train_seconds, wall_seconds=result.wall_seconds or 0.0,
        evaluation_steps=sum(e.length for e in result.episodes), snapshots=list(result.snapshots),
        episode_fitness=list(result.episode_fitness), result=result))


class Legs:
    """The finished legs of a pool's candidates, by candidate and seed: each read from the store once
    (what a resumed run finished before it stopped), each new one written through (``save``)."""

    def __init__(self, store: RunStore):
        self.store = store
        self._held: dict[tuple[str, int], dict[int, Leg]] = {}

    def of(self, cid: str, seed: int) -> dict[int, Leg]:
        """``cid``'s finished legs on ``seed``, by rung."""
        key = (cid, seed)
        if key not in self._held:
            self._held[key] = self.store.legs(cid, seed)
        return self._held[key]

    def save(self, cid: str, seed: int, rung: int, target: int, result: SeedResult) -> Leg:
        held = self.of(cid, seed)  # read before the write: what is held never misses an older leg
        held[rung] = save_leg(self.store, cid, seed, rung, target, result)
        return held[rung]

    def spent(self, cid: str, seeds: list[int]) -> int:
        """The env steps ``cid``'s legs on ``seeds`` trained."""
        return sum(leg.trained_steps for s in seeds for leg in self.of(cid, s).values())


def merged_result(store: RunStore, cid: str, seed: int, rung: int, legs: dict[int, Leg] | None = None) -> SeedResult:
    """One seed's result at ``rung`` with every leg up to it folded in (snapshots, steps, seconds);
    ``legs``: that seed's legs when the caller holds them (else read from the store)."""
    merged = Leg.merged(store.legs(cid, seed) if legs is None else legs, rung)  # the store reads it back so too
    if merged is None:
        raise RunStoreError(f"candidate {cid} seed {seed} in {store.root}: no stored leg up to rung {rung} "
                            f"kept its training result")
    return merged


# ---------------------------------------------------------------------- collecting finished trainings


def collect(futures: dict[Future, tuple[str, int]], legs: Legs, rung: int, target: int,
            done: Callable[[str, int, SeedResult | TrainingError], None]) -> None:
    """Waits for each training of ``futures`` (by candidate and seed) as it finishes: keeps its leg at
    ``rung`` (``target`` steps) and tells ``done`` the result, or the ``TrainingError`` it failed with. A
    cancelled training (the run is stopping) is not a failure: it propagates."""
    for future in as_completed(futures):
        cid, seed = futures[future]
        try:
            result = future.result()
        except Cancelled:
            raise
        except TrainingError as exc:
            done(cid, seed, exc)
            continue
        legs.save(cid, seed, rung, target, result)
        done(cid, seed, result)
