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

Evidence at the cut-off (``rung_seeds.py``): one seed's policy is one draw, and seeds of one reward differ far
more than its evaluation episodes. Before a cut stops anyone, the stopped candidates within the noise of the
last one kept (``near_misses``: the cut's noise or the run's seed-to-seed spread at that rung, whichever is
larger; while the spread is unmeasured, the closest call if within ``UNMEASURED_SPREAD`` times the cut's noise,
or whatever its gap where its pair costs at most ``UNMEASURED_COST`` of what the cut saves)
and that last one get a second seed at the rung,
paid from the steps the cut saves, and the cut is decided again on the two-seed means.

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

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable

from ..archive.records import HalvingDecision, Snapshot
from ..archive.store import RunStore

SCHEDULES = ("halving", "full")
NOISE_Z = 2.0               # a score's noise: this many standard errors of its evaluation episodes' fitness
SEPARATION_SNAPSHOTS = 2    # the baseline's curve has separated once this many snapshots in a row are clear
LATEST_FIRST_RUNG = 2 / 3   # a baseline that separates later than this leaves one rung (full training)
# before any seed-to-seed spread is measured at a rung, a second seed is bought for the closest call only when its
# gap is within this many times the cut's (episode) noise: seeds were seen to vary about as much (pendulum: spread
# 0.08 against noise 0.09) up to a few times more (walker), and a gap past it is no call at all (pendulum's first
# quick HNS run bought two seeds for a gap of 0.67 against noise 0.11: 85 % of what the cut saved)
UNMEASURED_SPREAD = 3.0
# ... and whatever its gap, when the pair costs at most this share of what the cut saves: a cut's episode noise can
# be far below the seed spread (walker at its first rung: noise 0.071, the spread measured later 0.53, so a gap of
# 0.35 that stopped three candidates was within one seed's luck), and the first pair is what measures the spread
UNMEASURED_COST = 1 / 3


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
        base: dict[str, Any] = {"rung": rung, "scores": shown, "noise": {c: round(n(c), 6) for c in ranked},
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
        best_count, (gap, needed, a, b) = clear[k]
        moved = "" if k == want else \
            f" (the cut moved {'down' if k > want else 'up'} from {want}: nobody is clearly behind there)"
        return k, HalvingDecision(**base, action="cut", kept=ranked[:k], gap=_round(gap), needed=round(needed, 6),
                                  reason=(f"kept {k} of {len(ranked)}: each one stopped is clearly behind each of "
                                          f"the best {best_count}; closest: {a} {scores[a]:.4g} vs {b} {scores[b]:.4g}, "
                                          f"a gap of {gap:.3g} > noise {needed:.2g}{moved}"))


def top_of(eta: int) -> Callable:
    """A cut that keeps the best ``ceil(n/eta)`` whatever the scores (textbook successive halving)."""

    def decide(rung, ranked, scores, noise):
        k = keep_count(len(ranked), eta)
        return k, HalvingDecision(rung=rung, action="cut", kept=ranked[:k], reason=f"kept the best {k}")

    return decide


def pooled_seed_spread(groups: list[list[float]]) -> float | None:
    """The seed-to-seed standard deviation of one reward's fitness, pooled over ``groups`` (each one reward's
    scores on several seeds at the same budget): √(Σ (nᵢ − 1) sᵢ² / Σ (nᵢ − 1)); None without a group of two."""
    groups = [g for g in groups if len(g) >= 2]
    if not groups:
        return None
    dof = sum(len(g) - 1 for g in groups)
    return math.sqrt(sum((len(g) - 1) * statistics.variance(g) for g in groups) / dof)


def near_misses(ranked: list[str], kept: int, scores: dict[str, float], noise: dict[str, float],
                seed_spread: float | None, seeds: dict[str, int], measure: bool = False) -> list[str]:
    """The candidates a cut would stop (``ranked[kept:]``, best first) whose gap to the last one it keeps
    (``ranked[kept - 1]``) is within the noise, closest first. A score's noise here is the larger of the cut's
    (``noise[id]``, its evaluation episodes') and the seed-to-seed spread over its ``seeds[id]`` seeds
    (``seed_spread / √seeds``): one seed's policy is one draw, and seeds of one reward differ far more than
    its evaluation episodes do. With ``seed_spread`` unknown (None) only the closest call counts, when its gap is
    within ``UNMEASURED_SPREAD`` times the cut's noise, or whatever its gap with ``measure`` (the pair is cheap:
    ``UNMEASURED_COST``): its second seed is what measures the spread."""
    if kept <= 0 or kept >= len(ranked):
        return []
    last, stopped = ranked[kept - 1], ranked[kept:]
    if seed_spread is None:
        gap = _comparable(scores[last]) - _comparable(scores[stopped[0]])
        return stopped[:1] if measure or gap <= UNMEASURED_SPREAD * math.hypot(noise.get(last, 0.0),
                                                                                  noise.get(stopped[0], 0.0)) else []

    def n(cid):
        return max(noise.get(cid, 0.0), seed_spread / math.sqrt(max(1, seeds.get(cid, 1))))

    gaps = [(_comparable(scores[last]) - _comparable(scores[c]), c) for c in stopped]
    return [c for gap, c in sorted(gaps, key=lambda g: g[0]) if gap <= math.hypot(n(last), n(c))]


def successive_halving(pool: list[str], n_rungs: int, eta: int, scores: dict[str, dict[int, float]],
                       train_rung: Callable[[int, list[str], Callable], None],
                       stop: Callable[[str, int], None], decide: Callable | None = None,
                       noise: Callable[[str, int], float] | None = None,
                       decided: Callable[[HalvingDecision], None] | None = None, every_rung: bool = False,
                       second_look: Callable | None = None) -> None:
    """Runs successive halving over ``pool`` (ids, best first on ties).

    ``scores[id][rung]`` holds fitness already measured (a resumed run) and receives the new ones.
    ``train_rung(rung, ids, report)`` trains ``ids`` to ``rung`` and calls ``report(id, fitness)`` as
    each finishes (``fitness`` None: it failed and leaves the pool). ``decide(rung, ranked, scores,
    noise)`` says how many go on (default: the best ``ceil(n/eta)``), ``noise(id, rung)`` gives a
    score's noise, and ``decided(decision)`` hears every decision. ``stop(id, rung)`` is called once
    per candidate that does not fail, with the rung it ends at: right away at the top rung, after the
    ranking below it. A lone survivor goes straight to the top rung. With ``every_rung`` (the baseline's
    probe rungs) every member trains and is scored at every rung and nobody is stopped. ``second_look(rung,
    ranked, kept)``, asked before a cut stops anyone, may gather more evidence (more seeds at the cut-off) and
    give ``(scores, noise)`` of the ranked candidates to decide again on (multi-seed means), or None.
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
        looked = second_look(rung, ranked, kept) if second_look is not None and kept < len(ranked) else None
        if looked is not None:  # decided again on the multi-seed means at the cut-off
            means, noises = looked
            ranked = sorted(ranked, key=lambda c: (-_comparable(means[c]), pool.index(c)))
            kept, decision = decide(rung, ranked, {c: means[c] for c in ranked}, {c: noises[c] for c in ranked})
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


def _fraction(f: float) -> str:
    inverse = 1 / f if f else 0
    return f"1/{round(inverse)}" if f < 1 and abs(inverse - round(inverse)) < 0.05 else f"{f:.0%}"
