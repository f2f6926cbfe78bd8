"""One pool of candidates trained together on the same rungs (``PoolTrainer``), and the legs it leaves:
after every leg the policy goes to ``checkpoints/<id>-seed<s>.json`` (written atomically) and then the
leg (a ``records.Leg``) to the store's ``legs`` table, so a resumed run replays the same decisions from
the recorded rung scores and trains only what had not finished. Halving's rules are schedule.py's.

The pool talks to the rest of the run through two narrow interfaces: a ``Training`` (task, budget,
executor and evaluation settings) and a ``Recorder`` (what happened to each candidate).
"""

from __future__ import annotations

import json
import statistics
from concurrent.futures import Future, as_completed
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol, cast

from ..archive.records import HalvingDecision, HalvingRecord, Leg
from ..archive.store import FAILED, SCORED, TRAINING, Candidate, RunStore, write_atomic
from ..errors import RunStoreError, TrainingError
from ..task import Task
from .executor import Cancelled
from .rung_seeds import RungSeeds
from .schedule import CutRule, _fraction, episode_noise, successive_halving
from .trainer import Budget, Score, SeedResult


# ---------------------------------------------------------------------- legs and their checkpoints


def load_checkpoint(store: RunStore, cid: str, seed: int) -> dict | None:
    path = store.checkpoint_path(cid, seed)
    return json.loads(path.read_text()) if path.is_file() else None


def save_leg(store: RunStore, cid: str, seed: int, rung: int, target: int, result: SeedResult) -> None:
    """Keeps a finished leg: the policy first (the next leg resumes from it), then its outcome."""
    if result.checkpoint is not None:
        write_atomic(store.checkpoint_path(cid, seed), json.dumps(
            {**result.checkpoint, "timesteps": result.timesteps, "fitness": result.fitness, "rung": rung}))
    store.save_leg(cid, seed, rung, Leg(
        target=target, timesteps=result.timesteps, fitness=result.fitness,
        trained_steps=result.trained_steps if result.trained_steps is not None else result.timesteps,
        train_seconds=result.train_seconds, wall_seconds=result.wall_seconds or 0.0,
        evaluation_steps=sum(e.length for e in result.episodes), snapshots=list(result.snapshots),
        episode_fitness=list(result.episode_fitness), result=result))


def merged_result(store: RunStore, cid: str, seed: int, rung: int) -> SeedResult:
    """One seed's result at ``rung`` with every leg up to it folded in (snapshots, steps, seconds)."""
    legs = store.legs(cid, seed)
    upto = [legs[r] for r in sorted(legs) if r <= rung]
    last = next((leg.result for leg in reversed(upto) if leg.result is not None), None)
    if last is None:
        raise RunStoreError(f"candidate {cid} seed {seed} in {store.root}: no stored leg up to rung {rung} "
                            f"kept its training result")
    trained, seconds = sum(leg.trained_steps for leg in upto), sum(leg.train_seconds for leg in upto)
    return replace(last, snapshots=[s for leg in upto for s in leg.snapshots], trained_steps=trained,
                   train_seconds=seconds, wall_seconds=sum(leg.wall_seconds for leg in upto),
                   steps_per_second=trained / seconds if seconds else 0.0)


# ---------------------------------------------------------------------- one pool of candidates


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


class Recorder(Protocol):
    """What a pool tells the run about its candidates (``Evolution`` is one)."""

    def training_started(self, candidate: Candidate) -> None: ...

    def progress(self, candidate: Candidate) -> Callable: ...

    def failed(self, candidate: Candidate, exc: TrainingError, steps_spent: int | None = None) -> None: ...

    def scored(self, candidate: Candidate, score: Score, budget_fraction: float = 1.0,
               halving: HalvingRecord | None = None, note: str | None = None) -> None: ...


class PoolTrainer:
    """Trains one pool of candidates of a generation (halving, or a single full-budget rung) through
    ``training.executor``, checkpointing every leg and recording each candidate once."""

    def __init__(self, store: RunStore, training: Training, recorder: Recorder, pool: list[str],
                 rungs: list[int], eta: int, seeds: list[int], cut: CutRule | None = None, every_rung: bool = False):
        self.store, self.training, self.recorder = store, training, recorder
        self.pool, self.rungs, self.eta, self.seeds = pool, rungs, eta, seeds
        self.cut = cut
        self.every_rung = every_rung  # the baseline's probe rungs: scored at each, never stopped
        self.decisions: list[HalvingDecision] = []
        self.rung_seeds: RungSeeds | None = None

    def run(self) -> None:
        scores: dict[str, dict[int, float]] = {}
        self._noise: dict[str, dict[int, float]] = {}
        for cid in self.pool:
            candidate = self.store.candidate(cid)
            if candidate.status == SCORED:  # recorded before the run stopped: never trained again
                recorded = candidate.result.halving if candidate.result else None
                # a scored candidate has its fitness
                scores[cid] = dict(recorded.history) if recorded else \
                    {len(self.rungs) - 1: cast(float, candidate.fitness)}
                self._noise[cid] = dict(recorded.noise or {}) if recorded else {}
                continue
            per_seed = [self.store.legs(cid, s) for s in self.seeds]
            done = set.intersection(*(set(r) for r in per_seed))
            scores[cid] = {r: statistics.fmean(p[r].fitness for p in per_seed) for r in done}
            self._noise[cid] = {r: self._leg_noise(cid, r) for r in done}
        decide = self.cut.decide if self.cut is not None else None
        # second seeds at a cut-off within the noise (rung_seeds.py): only where the cut rule judges noise
        self.rung_seeds = RungSeeds(self.store, self.training, self.pool, self.rungs, self.seeds, self.cut.floor) \
            if self.cut is not None and not self.every_rung else None
        successive_halving(self.pool, len(self.rungs), self.eta, scores, self._train_rung,
                           lambda cid, rung: self._stop(cid, rung, scores[cid]), decide=decide,
                           noise=lambda cid, rung: self._noise.get(cid, {}).get(rung, 0.0),
                           decided=self._decided, every_rung=self.every_rung,
                           second_look=self.rung_seeds.look if self.rung_seeds is not None else None)

    def _leg_noise(self, cid: str, rung: int) -> float:
        legs = [self.store.legs(cid, s).get(rung) for s in self.seeds]
        return episode_noise([f for leg in legs if leg is not None for f in leg.episode_fitness or []])

    def _decided(self, decision: HalvingDecision) -> None:
        decision = replace(decision, timesteps=self.rungs[decision.rung])
        extra = self.rung_seeds.reason(decision.rung) if self.rung_seeds is not None else None
        if extra:
            decision = replace(decision, reason=f"{decision.reason}; {extra}")
        self.decisions.append(decision)
        self.store.event("halving_decision", {"pool": self.pool, **decision.to_json()})

    def _train_rung(self, rung: int, ids: list[str], report) -> None:
        training, target = self.training, self.rungs[rung]
        budget = Budget(target, max_seconds=training.budget.max_seconds, memory_mb=training.budget.memory_mb)
        futures: dict[Future, tuple[str, int]] = {}
        waiting: dict[str, int] = {}
        fitness: dict[str, dict[int, float]] = {}
        errors: dict[str, TrainingError] = {}
        for cid in ids:
            candidate = self.store.candidate(cid)
            if candidate.status == FAILED:  # a resumed run replays its failure without training it
                report(cid, None)
                continue
            self.store.update(cid, status=TRAINING)
            self.recorder.training_started(candidate)
            fitness[cid], waiting[cid] = {}, 0
            for seed in self.seeds:
                done = self.store.legs(cid, seed).get(rung)
                if done is not None:  # this seed finished the rung before the run stopped
                    fitness[cid][seed] = done.fitness
                    continue
                future = training.executor.submit(
                    training.task, candidate.code, seed, budget, on_progress=self.recorder.progress(candidate),
                    checkpoint=load_checkpoint(self.store, cid, seed), planned_total=training.budget.timesteps,
                    return_checkpoint=True, keep_trajectories=training.keep_trajectories,
                    eval_episodes=training.eval_episodes)
                futures[future] = (cid, seed)
                waiting[cid] += 1
            if not waiting[cid]:
                self._noise.setdefault(cid, {})[rung] = self._leg_noise(cid, rung)
                report(cid, statistics.fmean(fitness[cid].values()))
        for future in as_completed(futures):
            cid, seed = futures[future]
            try:
                result = future.result()
            except Cancelled:
                raise
            except TrainingError as exc:
                self.store.append_log(cid, f"FAILED: {exc}")
                errors[cid] = exc
            else:
                save_leg(self.store, cid, seed, rung, target, result)
                fitness[cid][seed] = result.fitness
                if len(self.rungs) > 1:
                    self.store.append_log(cid, f"seed={seed} rung {rung + 1}/{len(self.rungs)} done: "
                                               f"{result.timesteps} steps, fitness {result.fitness:.4g}")
            waiting[cid] -= 1
            if waiting[cid] == 0:
                if cid in errors:
                    spent = sum(leg.trained_steps for s in self.seeds for leg in self.store.legs(cid, s).values())
                    self.recorder.failed(self.store.candidate(cid), errors[cid], steps_spent=spent)
                    report(cid, None)
                else:
                    self._noise.setdefault(cid, {})[rung] = self._leg_noise(cid, rung)
                    report(cid, statistics.fmean(fitness[cid].values()))

    def _stop(self, cid: str, rung: int, history: dict[int, float]) -> None:
        candidate = self.store.candidate(cid)
        if candidate.status == SCORED:
            return  # recorded before the run stopped
        full = self.rungs[-1]
        fraction = self.rungs[rung] / full
        score = Score.of([merged_result(self.store, cid, s, rung) for s in self.seeds])
        halving = None
        if len(self.rungs) > 1:
            mine = [d.for_candidate(rung) for d in self.decisions if d.rung <= rung and d.concerns(cid)]
            halving = HalvingRecord(rung=rung, rungs=list(self.rungs), eta=self.eta, history=dict(history),
                                    noise=dict(self._noise.get(cid, {})), decisions=mine,
                                    stopped_early=rung < len(self.rungs) - 1)
        note = None
        if halving and halving.stopped_early:
            why = halving.decisions[-1].reason if halving.decisions else ""
            note = (f"stopped by successive halving at {_fraction(fraction)} of the budget "
                    f"({score.timesteps:,} of {full:,} steps; {why}); its fitness compares only with that rung's")
        self.recorder.scored(candidate, score, budget_fraction=fraction, halving=halving, note=note)
