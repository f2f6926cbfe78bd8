"""One pool of candidates trained together on the same rungs (``PoolTrainer``). Its legs (collect.py) are
read from the store once when the pool starts, so a resumed run replays the same decisions from the
recorded rung scores and trains only what had not finished; each new leg is written through and kept in
memory. Halving's rules are schedule.py's.

The pool talks to the rest of the run through narrow interfaces: a ``Training`` (task, budget, executor
and evaluation settings), a ``Recorder`` (what happened to each candidate) and the run's event sink.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Mapping, Protocol, cast

from ..archive.events import Events, Sink
from ..archive.records import HalvingDecision, HalvingRecord
from ..archive.store import FAILED, SCORED, TRAINING, Candidate, RunStore
from ..errors import TrainingError
from .collect import Legs, Training, collect, load_checkpoint, merged_result
from .rung_seeds import RungSeeds
from .schedule import CutRule, _fraction, episode_noise, successive_halving
from .trainer import Score, SeedResult

if TYPE_CHECKING:
    from ..archive.held import Held


# ---------------------------------------------------------------------- one pool of candidates


class Recorder(Protocol):
    """What a pool tells the run about its candidates (analysis/recorder.py's ``RunRecorder`` is one); a
    recorder gives the candidate as it recorded it (or None)."""

    def training_started(self, candidate: Candidate) -> None: ...

    def progress(self, candidate: Candidate) -> Callable: ...

    def failed(self, candidate: Candidate, exc: TrainingError, steps_spent: int | None = None) -> Candidate | None: ...

    def scored(self, candidate: Candidate, score: Score, budget_fraction: float = 1.0,
               halving: HalvingRecord | None = None, note: str | None = None,
               extra_steps: int = 0) -> Candidate | None: ...


class HoldingRecorder(Recorder, Protocol):
    """A run's recorder as its generations use it (training/generation.py): a ``Recorder`` that is given
    each generation's records (``holding``: the recorder for that generation, analysis/recorder.py's
    comparing a scored candidate with ``held``'s scored ones and putting each record it writes there)."""

    def holding(self, held: Held) -> Recorder: ...


class PoolTrainer:
    """Trains one pool of candidates of a generation (halving, or a single full-budget rung) through
    ``training.executor``, checkpointing every leg and recording each candidate once. The members and
    their legs are read from the store once, when the pool starts, and then held in memory."""

    def __init__(self, store: RunStore, training: Training, recorder: Recorder, pool: list[str],
                 rungs: list[int], eta: int, seeds: list[int], cut: CutRule | None = None, every_rung: bool = False,
                 events: Events | Sink | None = None, known: Mapping[str, Candidate] | None = None):
        """``events``: the run's event sink (``Events``, or a function ``(kind, **data)``; default: the store);
        ``known``: the members' records as the generation holds them (training/generation.py ``Held``), so
        none is read again; a member not in it is read from the store."""
        self.store, self.training, self.recorder = store, training, recorder
        self.pool, self.rungs, self.eta, self.seeds = pool, rungs, eta, seeds
        self.cut = cut
        self.every_rung = every_rung  # the baseline's probe rungs: scored at each, never stopped
        self.emit = Events.of(store, events).emit
        self.decisions: list[HalvingDecision] = []
        self.rung_seeds: RungSeeds | None = None
        self.legs = Legs(store)
        self.members: dict[str, Candidate] = {}
        self.known: Mapping[str, Candidate] = known or {}

    def run(self) -> None:
        scores: dict[str, dict[int, float]] = {}
        self._noise: dict[str, dict[int, float]] = {}
        for cid in self.pool:
            candidate = self.members[cid] = self.known.get(cid) or self.store.candidate(cid)
            if candidate.status == SCORED:  # recorded before the run stopped: never trained again
                recorded = candidate.result.halving if candidate.result else None
                # a scored candidate has its fitness
                scores[cid] = dict(recorded.history) if recorded else \
                    {len(self.rungs) - 1: cast(float, candidate.fitness)}
                self._noise[cid] = dict(recorded.noise or {}) if recorded else {}
                continue
            per_seed = [self.legs.of(cid, s) for s in self.seeds]
            done = set.intersection(*(set(r) for r in per_seed))
            scores[cid] = {r: statistics.fmean(p[r].fitness for p in per_seed) for r in done}
            self._noise[cid] = {r: self._leg_noise(cid, r) for r in done}
        decide = self.cut.decide if self.cut is not None else None
        # second seeds at a cut-off within the noise (rung_seeds.py): only where the cut rule judges noise
        self.rung_seeds = RungSeeds(self.store, self.training, self.pool, self.rungs, self.seeds, self.cut.floor,
                                    legs=self.legs, members=self.members, emit=self.emit) \
            if self.cut is not None and not self.every_rung else None
        successive_halving(self.pool, len(self.rungs), self.eta, scores, self._train_rung,
                           lambda cid, rung: self._stop(cid, rung, scores[cid]), decide=decide,
                           noise=lambda cid, rung: self._noise.get(cid, {}).get(rung, 0.0),
                           decided=self._decided, every_rung=self.every_rung,
                           second_look=self.rung_seeds.look if self.rung_seeds is not None else None)

    def _extra_seeds(self) -> list[int]:
        """The seeds trained beyond the search seeds: the second seed at a cut-off (rung_seeds.py)."""
        return [self.rung_seeds.extra] if self.rung_seeds is not None else []

    def _leg_noise(self, cid: str, rung: int) -> float:
        legs = [self.legs.of(cid, s).get(rung) for s in self.seeds]
        return episode_noise([f for leg in legs if leg is not None for f in leg.episode_fitness or []])

    def _decided(self, decision: HalvingDecision) -> None:
        decision = replace(decision, timesteps=self.rungs[decision.rung])
        extra = self.rung_seeds.reason(decision.rung) if self.rung_seeds is not None else None
        if extra:
            decision = replace(decision, reason=f"{decision.reason}; {extra}")
        self.decisions.append(decision)
        self.emit("halving_decision", pool=self.pool, **decision.to_json())

    def _train_rung(self, rung: int, ids: list[str], report) -> None:
        training, target = self.training, self.rungs[rung]
        futures = {}
        waiting: dict[str, int] = {}
        fitness: dict[str, dict[int, float]] = {}
        errors: dict[str, TrainingError] = {}
        for cid in ids:
            candidate = self.members[cid]
            if candidate.status == FAILED:  # a resumed run replays its failure without training it
                report(cid, None)
                continue
            candidate = self.members[cid] = self.store.update(candidate, status=TRAINING)
            self.recorder.training_started(candidate)
            fitness[cid], waiting[cid] = {}, 0
            for seed in self.seeds:
                kept = self.legs.of(cid, seed).get(rung)
                if kept is not None:  # this seed finished the rung before the run stopped
                    fitness[cid][seed] = kept.fitness
                    continue
                future = training.executor.submit(
                    training.task, candidate.code, seed, training.to(target),
                    on_progress=self.recorder.progress(candidate), checkpoint=load_checkpoint(self.store, cid, seed),
                    planned_total=training.budget.timesteps, return_checkpoint=True,
                    keep_trajectories=training.keep_trajectories, eval_episodes=training.eval_episodes)
                futures[future] = (cid, seed)
                waiting[cid] += 1
            if not waiting[cid]:
                self._noise.setdefault(cid, {})[rung] = self._leg_noise(cid, rung)
                report(cid, statistics.fmean(fitness[cid].values()))

        def done(cid: str, seed: int, outcome: SeedResult | TrainingError) -> None:
            if isinstance(outcome, TrainingError):
                self.store.append_log(cid, f"FAILED: {outcome}")
                errors[cid] = outcome
            else:
                fitness[cid][seed] = outcome.fitness
                if len(self.rungs) > 1:
                    self.store.append_log(cid, f"seed={seed} rung {rung + 1}/{len(self.rungs)} done: "
                                               f"{outcome.timesteps} steps, fitness {outcome.fitness:.4g}")
            waiting[cid] -= 1
            if waiting[cid] == 0:
                if cid in errors:
                    failed = self.recorder.failed(self.members[cid], errors[cid],
                                                  steps_spent=self.legs.spent(cid, self.seeds + self._extra_seeds()))
                    self.members[cid] = failed or self.members[cid]
                    report(cid, None)
                else:
                    self._noise.setdefault(cid, {})[rung] = self._leg_noise(cid, rung)
                    report(cid, statistics.fmean(fitness[cid].values()))

        collect(futures, self.legs, rung, target, done)

    def _stop(self, cid: str, rung: int, history: dict[int, float]) -> None:
        candidate = self.members[cid]
        if candidate.status == SCORED:
            return  # recorded before the run stopped
        full = self.rungs[-1]
        fraction = self.rungs[rung] / full
        score = Score.of([merged_result(self.store, cid, s, rung, self.legs.of(cid, s)) for s in self.seeds])
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
        scored = self.recorder.scored(candidate, score, budget_fraction=fraction, halving=halving, note=note,
                                      extra_steps=self.legs.spent(cid, self._extra_seeds()))
        self.members[cid] = scored or candidate
