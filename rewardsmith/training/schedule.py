"""How a run spends its training compute during the search: successive halving (the final multi-seed
re-scoring is ``final.py``).

Successive halving (``--schedule halving``, the default): every candidate of a generation first trains
for a fraction of the budget and is scored; the better ones continue, resuming from their checkpoints
(no restart, and the learning-rate schedule of the full run), until the survivors reach the full budget.

Where the rungs are (``place_rungs``): the baseline trains first on the full budget, in legs evaluated at
``Halving.probe_rungs`` (every ``1/eta²`` up to two thirds), so its evaluated curve is known before any
candidate trains, measured exactly as rungs measure candidates. The first rung is at the first of those
points where the baseline's fitness clearly exceeds the random policy's (two points in a row above
``random + max(margin, noise)``); before that point every reward's score is still noise. The later rungs
are the geometric ones ``1/eta, 1/eta², ...`` above it (one less than 1.5× the first is skipped), then the
full budget. A baseline that never separated from random, or only after two thirds of the budget, leaves
a single rung: the pool trains fully. Rung targets are rounded up to whole PPO rollouts. (A baseline
trained in one leg, in older runs, places them by its training snapshots' fitness instead.)

Who goes on (``CutRule``): a rung never stops a candidate on noise. Every candidate's score at a rung
has a noise estimate, twice the standard error of its evaluation episodes' fitness (at least the
analyzer's "no better than random" margin). If no score is clearly above the random policy's fitness,
everyone goes on. Otherwise the best ``want = ceil(n/eta)`` go on, and so does every candidate that is not
clearly behind each of them: a candidate is stopped only when its score trails each of the best ``want``
by more than the two noises combined (``√(noise₁² + noise₂²)``), a race in the manner of Maron & Moore's
Hoeffding races. A cut may also keep the best ``k < want`` when every other candidate is clearly behind each
of them. Of the clear cuts the one nearest ``want`` is taken (keeping more on a tie); with none, everyone
goes on. Each
decision, with its numbers, is a ``records.HalvingDecision`` (logged as a ``halving_decision`` event), and
each candidate keeps the ones it reached in its ``result.halving`` (a ``records.HalvingRecord``).

A candidate stopped at a lower rung is recorded as scored with that rung's fitness, ``timesteps`` as
trained, and ``result.budget_fraction < 1``; the archive compares like with like (``selection.py``).
``--schedule full`` trains every candidate to the full budget (Eureka's way): a single rung.

Resume: after every leg, the policy goes to ``checkpoints/<id>-seed<s>.json`` (what videos render
from, written atomically) and then the leg (a ``records.Leg``) to the store's ``legs`` table. The members
of a pool are recorded before it starts, so a resumed run replays the same decisions from the recorded
rung scores and trains only what had not finished.

The pool talks to the rest of the run through two narrow interfaces: a ``Training`` (task, budget,
executor and evaluation settings) and a ``Recorder`` (what happened to each candidate).
"""

from __future__ import annotations

import json
import math
import statistics
from concurrent.futures import as_completed
from dataclasses import dataclass, replace
from typing import Callable, Protocol

from ..errors import RunStoreError, TrainingError
from .executor import Cancelled
from ..archive.records import HalvingDecision, HalvingRecord, Leg, Snapshot
from ..archive.store import FAILED, SCORED, TRAINING, Candidate, RunStore, write_atomic
from ..task import Task
from .trainer import Budget, Score, SeedResult

SCHEDULES = ("halving", "full")
NOISE_Z = 2.0               # a score's noise: this many standard errors of its evaluation episodes' fitness
SEPARATION_SNAPSHOTS = 2    # the baseline's curve has separated once this many snapshots in a row are clear
LATEST_FIRST_RUNG = 2 / 3   # a baseline that separates later than this leaves one rung (full training)


@dataclass(frozen=True)
class Halving:
    """Successive halving's shape: keep the best ``1/eta`` at each rung (when the scores allow); the first
    rung trains ``min_fraction`` of the budget (rounded to a power of ``1/eta``) or more."""

    eta: int = 3
    min_fraction: float = 1 / 9

    def fractions(self, first: float | None = None) -> list[float]:
        """Rung fractions of the budget, smallest first, ending at 1; ``first`` (when later than the
        geometric ones) is the first rung, and the geometric rungs above it follow."""
        out, f = [1.0], 1.0
        while f / self.eta >= self.min_fraction * (1 - 1e-9):
            f /= self.eta
            out.append(f)
        out = out[::-1]
        if first is None or first <= out[0] * (1 + 1e-9):
            return out
        if first >= 1:
            return [1.0]
        return [first] + [f for f in out if f >= 1.5 * first or f == 1.0]

    def probe_rungs(self, timesteps: int, granularity: int = 1) -> list[int]:
        """Where the baseline is evaluated while it trains (its curve places the candidates' rungs): every
        ``1/eta²`` of the budget from ``min_fraction`` up to ``LATEST_FIRST_RUNG`` (a first rung is never
        later), then the full budget."""
        step = 1 / self.eta ** 2
        fractions = [i * step for i in range(1, self.eta ** 2 + 1)
                     if self.min_fraction * (1 - 1e-9) <= i * step <= LATEST_FIRST_RUNG]
        return _targets(fractions, timesteps, granularity)

    def rungs(self, timesteps: int, granularity: int = 1, first: float | None = None) -> list[int]:
        """Rung targets in timesteps (whole rollouts of ``granularity`` steps), ending at ``timesteps``."""
        return _targets(self.fractions(first)[:-1], timesteps, granularity)


def _targets(fractions: list[float], timesteps: int, granularity: int) -> list[int]:
    """``fractions`` of the budget as increasing targets rounded up to whole rollouts of ``granularity``
    steps (those that round onto an earlier one or the budget are dropped), then ``timesteps``."""
    targets: list[int] = []
    for f in fractions:
        t = math.ceil(f * timesteps / granularity) * granularity
        if t < timesteps and (not targets or t > targets[-1]):
            targets.append(t)
    return targets + [timesteps]


def random_margin(random_fitness: float | None) -> float:
    """How far above the random policy's fitness a score must be to count as learned (the analyzer's
    "no better than random" margin)."""
    from ..analysis.analyzer import RANDOM_MARGIN

    return RANDOM_MARGIN * max(1.0, abs(random_fitness or 0.0))


@dataclass(frozen=True)
class CurvePoint:
    """One point of the baseline's curve that places the rungs: the step, the fitness there (None when no
    training episode had finished) and either its ``noise`` (an evaluation at a probe rung: ``NOISE_Z``
    standard errors of its episodes, as a rung score's) or the number of training ``episodes`` its fitness
    averages (a training snapshot, in runs whose baseline trained in one leg)."""

    step: int
    fitness: float | None
    noise: float | None = None
    episodes: int | None = None

    @classmethod
    def of_snapshot(cls, snapshot: Snapshot) -> "CurvePoint":
        return cls(step=snapshot.step, fitness=snapshot.fitness, episodes=snapshot.episodes)


def separation_step(snapshots: list[CurvePoint], random_fitness: float | None,
                    random_spread: float = 0.0) -> int | None:
    """The training step at which a curve clearly left the random policy's fitness: the first of
    ``SEPARATION_SNAPSHOTS`` points in a row above ``random + max(margin, noise)``, the last point alone
    also counting; None if it never did. A point's noise is its own (an evaluated point) or, for a
    training snapshot, ``NOISE_Z × random_spread / √episodes`` (``random_spread`` being the std of the
    random policy's episode fitness)."""
    if random_fitness is None:
        return None

    def clear(snapshot) -> bool:
        fitness = snapshot.fitness
        if fitness is None:
            return False
        noise = snapshot.noise
        if noise is None:
            noise = NOISE_Z * random_spread / math.sqrt(max(1, snapshot.episodes or 1))
        return fitness > random_fitness + max(random_margin(random_fitness), noise)

    for i, snapshot in enumerate(snapshots):
        if all(clear(s) for s in snapshots[i:i + SEPARATION_SNAPSHOTS]):
            return int(snapshot.step)
    return None


def place_rungs(shape: Halving, timesteps: int, granularity: int, baseline_snapshots: list[CurvePoint] | None,
                random_fitness: float | None, random_spread: float = 0.0) -> tuple[list[int], str]:
    """The rung targets for a generation's pool and why they are there (see the module doc)."""
    if baseline_snapshots is None or random_fitness is None:
        return shape.rungs(timesteps, granularity), (
            f"rungs at {_fractions(shape.fractions())} of the budget (no baseline curve to place them by)")
    step = separation_step(baseline_snapshots, random_fitness, random_spread)
    evaluated = any(s.noise is not None for s in baseline_snapshots)
    what = "evaluated fitness" if evaluated else "training fitness"
    random = (f"the random policy's {random_fitness:.4g} (margin {random_margin(random_fitness):.2g}"
              f"{'' if evaluated else f', episode spread {random_spread:.2g}'})")
    if step is None:
        return [timesteps], (f"one rung (full training): the baseline's {what} never rose clearly above {random}")
    first = step / timesteps
    if step >= timesteps:  # a budget under one rollout trains a whole one: the curve's last point lies past it
        return [timesteps], (f"one rung (full training): the baseline's {what} cleared {random} only in its last "
                             f"rollout (step {step:,}; the budget of {timesteps:,} steps trains whole rollouts of "
                             f"{granularity:,})")
    if first > LATEST_FIRST_RUNG:
        return [timesteps], (f"one rung (full training): the baseline's {what} cleared {random} only at step "
                             f"{step:,} of {timesteps:,}, too late for a rung to save much")
    rungs = shape.rungs(timesteps, granularity, first=first)
    if len(rungs) == 1:
        return rungs, (f"one rung (full training): the baseline's {what} cleared {random} only at step "
                       f"{step:,} of {timesteps:,}")
    return rungs, (f"first rung at {rungs[0]:,} steps: the baseline's {what} cleared {random} at step "
                   f"{step:,}{'' if first > shape.min_fraction else ', before --halving-min-fraction'}; "
                   f"rungs {', '.join(f'{r:,}' for r in rungs)}")


def baseline_curve(store: RunStore, baseline_id: str, seed: int) -> list[CurvePoint] | None:
    """The baseline's evaluated fitness at its probe rungs (from the evaluation job, which never loads
    reward code), or None when it trained in one leg (an older run, or ``--schedule full``)."""
    legs = store.legs(baseline_id, seed)
    if len(legs) < 2:
        return None
    return [CurvePoint(step=leg.timesteps, fitness=leg.fitness, noise=episode_noise(leg.episode_fitness or []))
            for _, leg in sorted(legs.items())]


def _fractions(fractions: list[float]) -> str:
    return ", ".join(_fraction(f) for f in fractions)


def keep_count(n: int, eta: int) -> int:
    """How many of ``n`` candidates scored at a rung go on to the next one when the scores are clear."""
    return max(1, math.ceil(n / eta))


@dataclass
class CutRule:
    """Decides who goes on at a rung, never stopping a candidate on noise (see the module doc).

    ``noise[id]`` is one candidate's noise at this rung (``NOISE_Z`` standard errors of its evaluation
    episodes' fitness); ``floor`` the least noise any score has (the random margin)."""

    eta: int
    random_fitness: float | None
    floor: float = 0.0

    def decide(self, rung: int, ranked: list[str], scores: dict[str, float],
               noise: dict[str, float]) -> tuple[int, HalvingDecision]:
        """(how many of ``ranked``, best first, go on; the decision with its numbers)."""
        def n(cid):
            return max(self.floor, noise.get(cid, 0.0))

        shown = {c: round(scores[c], 6) for c in ranked}
        base = {"rung": rung, "scores": shown, "noise": {c: round(n(c), 6) for c in ranked},
                "random_fitness": self.random_fitness}
        want = keep_count(len(ranked), self.eta)
        if self.random_fitness is not None and all(
                _comparable(scores[c]) <= self.random_fitness + n(c) for c in ranked):
            best = ranked[0]
            return len(ranked), HalvingDecision(**base, action="promote", reason=(
                f"no score is clearly above the random policy's {self.random_fitness:.4g} (best {best} "
                f"{scores[best]:.4g}, noise {n(best):.2g}): everyone goes on"))
        # stopping the candidates below position k is justified when each of them is clearly behind each of
        # the best min(k, want): the cut goes at the such k nearest to the best ceil(n/eta), keeping more
        # on a tie (a cut that keeps fewer is as clear as one that keeps more: nobody stopped is on noise)
        clear = {}
        for k in range(1, len(ranked)):
            ahead, behind = ranked[:min(k, want)], ranked[k:]
            pairs = [(_comparable(scores[a]) - _comparable(scores[b]), math.hypot(n(a), n(b)), a, b)
                     for a in ahead for b in behind]
            if all(gap > needed for gap, needed, _, _ in pairs):
                clear[k] = (len(ahead), min(pairs, key=lambda p: p[0] - p[1]))  # the closest call
        if not clear:
            return len(ranked), HalvingDecision(**base, action="promote", reason=(
                f"nobody is clearly behind the best {want} (by more than their noises combined): everyone goes on"))
        k = min(clear, key=lambda k: (abs(k - want), -k))
        ahead, (gap, needed, a, b) = clear[k]
        moved = "" if k == want else \
            f" (the cut moved {'down' if k > want else 'up'} from {want}: nobody is clearly behind there)"
        return k, HalvingDecision(**base, action="cut", kept=ranked[:k], gap=_round(gap), needed=round(needed, 6),
                                  reason=(f"kept {k} of {len(ranked)}: each one stopped is clearly behind each of "
                                          f"the best {ahead}; closest: {a} {scores[a]:.4g} vs {b} {scores[b]:.4g}, "
                                          f"a gap of {gap:.3g} > noise {needed:.2g}{moved}"))


def top_of(eta: int) -> Callable:
    """A cut that keeps the best ``ceil(n/eta)`` whatever the scores (textbook successive halving)."""

    def decide(rung, ranked, scores, noise):
        k = keep_count(len(ranked), eta)
        return k, HalvingDecision(rung=rung, action="cut", kept=ranked[:k], reason=f"kept the best {k}")

    return decide


def successive_halving(pool: list[str], n_rungs: int, eta: int, scores: dict[str, dict[int, float]],
                       train_rung: Callable[[int, list[str], Callable], None],
                       stop: Callable[[str, int], None], decide: Callable | None = None,
                       noise: Callable[[str, int], float] | None = None,
                       decided: Callable[[HalvingDecision], None] | None = None, every_rung: bool = False) -> None:
    """Runs successive halving over ``pool`` (ids, best first on ties).

    ``scores[id][rung]`` holds fitness already measured (a resumed run) and receives the new ones.
    ``train_rung(rung, ids, report)`` trains ``ids`` to ``rung`` and calls ``report(id, fitness)`` as
    each finishes (``fitness`` None: it failed and leaves the pool). ``decide(rung, ranked, scores,
    noise)`` says how many go on (default: the best ``ceil(n/eta)``), ``noise(id, rung)`` gives a
    score's noise, and ``decided(decision)`` hears every decision. ``stop(id, rung)`` is called once
    per candidate that does not fail, with the rung it ends at: right away at the top rung, after the
    ranking below it. A lone survivor goes straight to the top rung. With ``every_rung`` (the baseline's
    probe rungs) every member trains and is scored at every rung and nobody is stopped.
    """
    decide = decide or top_of(eta)
    alive = list(pool)
    rung = 0 if len(alive) > 1 or every_rung else n_rungs - 1
    while alive:
        top = rung == n_rungs - 1
        failed: set[str] = set()

        def report(cid: str, fitness: float | None, rung=rung, top=top, failed=failed) -> None:
            if fitness is None:
                failed.add(cid)
                return
            scores.setdefault(cid, {})[rung] = fitness
            if top:
                stop(cid, rung)

        need = [c for c in alive if rung not in scores.get(c, {})]
        if top:
            for cid in alive:  # already measured at the top rung (resumed run): recorded now
                if cid not in need:
                    stop(cid, rung)
        if need:
            train_rung(rung, need, report)
        if top:
            return
        alive = [c for c in alive if c not in failed]
        ranked = sorted(alive, key=lambda c: (-_comparable(scores[c][rung]), pool.index(c)))
        if not ranked:
            return
        if every_rung:
            alive, rung = ranked, rung + 1
            continue
        kept, decision = decide(rung, ranked, {c: scores[c][rung] for c in ranked},
                                {c: noise(c, rung) if noise else 0.0 for c in ranked})
        if decided is not None:
            decided(decision)
        for cid in ranked[kept:]:
            stop(cid, rung)
        alive = ranked[:kept]
        rung = rung + 1 if len(alive) > 1 else n_rungs - 1


def _comparable(fitness: float) -> float:
    return -math.inf if fitness is None or math.isnan(fitness) else fitness


def _round(x: float) -> float | None:
    return None if math.isinf(x) or math.isnan(x) else round(x, 6)


def episode_noise(episode_fitness: list[float]) -> float:
    """``NOISE_Z`` standard errors of the mean of evaluation episodes' fitness (0 for fewer than two)."""
    if len(episode_fitness) < 2:
        return 0.0
    return NOISE_Z * statistics.stdev(episode_fitness) / math.sqrt(len(episode_fitness))


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


@dataclass
class Training:
    """What every training of a pool shares: the task, the search budget, where trainings run (an
    executor with ``submit(task, code, seed, budget, on_progress=..., **options) -> Future``) and the
    evaluation settings."""

    task: Task
    budget: Budget
    executor: object
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

    def run(self) -> None:
        scores: dict[str, dict[int, float]] = {}
        self._noise: dict[str, dict[int, float]] = {}
        for cid in self.pool:
            candidate = self.store.candidate(cid)
            if candidate.status == SCORED:  # recorded before the run stopped: never trained again
                recorded = candidate.result.halving if candidate.result else None
                scores[cid] = dict(recorded.history) if recorded else {len(self.rungs) - 1: candidate.fitness}
                self._noise[cid] = dict(recorded.noise or {}) if recorded else {}
                continue
            per_seed = [self.store.legs(cid, s) for s in self.seeds]
            done = set.intersection(*(set(r) for r in per_seed))
            scores[cid] = {r: statistics.fmean(p[r].fitness for p in per_seed) for r in done}
            self._noise[cid] = {r: self._leg_noise(cid, r) for r in done}
        decide = self.cut.decide if self.cut is not None else None
        successive_halving(self.pool, len(self.rungs), self.eta, scores, self._train_rung,
                           lambda cid, rung: self._stop(cid, rung, scores[cid]), decide=decide,
                           noise=lambda cid, rung: self._noise.get(cid, {}).get(rung, 0.0),
                           decided=self._decided, every_rung=self.every_rung)

    def _leg_noise(self, cid: str, rung: int) -> float:
        legs = [self.store.legs(cid, s).get(rung) for s in self.seeds]
        return episode_noise([f for leg in legs if leg is not None for f in leg.episode_fitness or []])

    def _decided(self, decision: HalvingDecision) -> None:
        decision = replace(decision, timesteps=self.rungs[decision.rung])
        self.decisions.append(decision)
        self.store.event("halving_decision", {"pool": self.pool, **decision.to_json()})

    def _train_rung(self, rung: int, ids: list[str], report) -> None:
        training, target = self.training, self.rungs[rung]
        budget = Budget(target, max_seconds=training.budget.max_seconds, memory_mb=training.budget.memory_mb)
        futures, waiting, fitness, errors = {}, {}, {}, {}
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


def _fraction(f: float) -> str:
    inverse = 1 / f if f else 0
    return f"1/{round(inverse)}" if f < 1 and abs(inverse - round(inverse)) < 0.05 else f"{f:.0%}"
