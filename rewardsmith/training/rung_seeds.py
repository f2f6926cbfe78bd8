"""More evidence at a halving rung's cut-off (``RungSeeds``), before anyone is stopped there.

A rung's score is one seed's policy, and seeds of one reward differ far more than their evaluation episodes
do (walker at 300k steps: one reward's seeds from 3.1 to 10.2 m). So before a cut stops a candidate whose gap
to the last one it keeps is within the noise (``schedule.near_misses``: the larger of the cut's episode noise
and the run's seed-to-seed spread at that rung), both get a second seed at that rung: trained from scratch to
the rung's steps on the search seed + ``RUNG_SEED_OFFSET`` (never a final or confirmation seed), in parallel.
While the run has no measured spread at that rung's steps, the closest call alone is checked (when its gap is
within ``schedule.UNMEASURED_SPREAD`` times the cut's noise, or whatever its gap when the pair costs at most
``schedule.UNMEASURED_COST`` of what the cut saves), and its pair measures the spread for the rest. The cut is then decided again on the two-seed means.

Paid from what halving saves: at most as many rung trainings as the steps the cut would save (its stopped
candidates' remaining budget) pay for. What it trained, the means and its cost are the ``rung_seeds`` event
(one per pool and rung; a resumed run replays it and trains only legs it lacks) and the decision's reason;
the legs are the store's, under the extra seed. A candidate's own record stays its search seed's (so
selection's "two seeds before one" never ranks a lower rung's pair above a full-budget score); the decision
(``result.halving``, ``show --json``'s ``halving``) holds the means it was made on.
"""

from __future__ import annotations

import math
import statistics

from ..archive.events import Events, Sink
from ..archive.store import Candidate, RunStore
from ..errors import TrainingError
from .collect import Legs, collect
from .schedule import UNMEASURED_COST, episode_noise, near_misses, pooled_seed_spread
from .trainer import SeedResult

RUNG_SEED_OFFSET = 2000  # a second seed at a rung's cut-off: the search seed + this


class RungSeeds:
    """Second seeds at one pool's cut-offs (``look`` is ``successive_halving``'s ``second_look``)."""

    def __init__(self, store: RunStore, training, pool: list[str], rungs: list[int], seeds: list[int],
                 floor: float = 0.0, legs: Legs | None = None, members: dict[str, Candidate] | None = None,
                 emit: Events | Sink | None = None):
        """``legs`` and ``members``: the pool's legs and candidates, held in memory (read from the store once,
        here, when not given); ``emit``: the run's event sink (default: the store). The run's earlier ``rung_seeds``
        events (the seed spread measured so far, and what a resumed pool recorded) are read once, here."""
        self.store, self.training, self.pool, self.rungs, self.seeds = store, training, pool, rungs, seeds
        self.floor = floor
        self.extra = seeds[0] + RUNG_SEED_OFFSET
        self.records: dict[int, dict] = {}
        self.legs = legs if legs is not None else Legs(store)
        self.members = members if members is not None else {cid: store.candidate(cid) for cid in pool}
        self.emit = Events.of(store, emit).emit
        self.earlier = store.events("rung_seeds")
        self.added: list[dict] = []  # what this pool's cut-offs recorded since

    # ------------------------------------------------------------------ what the store holds

    def _fitness(self, cid: str, rung: int) -> list[float]:
        """``cid``'s fitness at ``rung`` on the search seeds, then the extra seed where it has one."""
        legs = [self.legs.of(cid, s).get(rung) for s in self.seeds + [self.extra]]
        return [leg.fitness for leg in legs if leg is not None and leg.fitness is not None]

    def _evidence(self, rung: int, ranked: list[str], trained: list[str]) -> tuple[dict, dict]:
        """Each ranked candidate's mean and noise at ``rung``: over its search seeds and, for ``trained``, the
        extra seed too (the noise: its evaluation episodes', ``schedule.episode_noise``, at least ``floor``)."""
        means, noises = {}, {}
        for cid in ranked:
            seeds = self.seeds + ([self.extra] if cid in trained else [])
            legs = [leg for leg in (self.legs.of(cid, s).get(rung) for s in seeds) if leg is not None]
            values = [leg.fitness for leg in legs if leg.fitness is not None]
            means[cid] = statistics.fmean(values) if values else float("nan")
            noises[cid] = max(self.floor, episode_noise([f for leg in legs for f in leg.episode_fitness or []]))
        return means, noises

    def _spread(self, target: int, fresh: list[list[float]]) -> float | None:
        """The run's seed-to-seed spread at ``target`` steps: every earlier cut-off's pairs there, and ``fresh``."""
        groups = [list(v) for e in self.earlier + self.added if e.get("target") == target
                  for v in (e.get("seeds") or {}).values()]
        return pooled_seed_spread(groups + fresh)

    def _recorded(self, rung: int) -> dict | None:
        return next((e for e in self.earlier if e.get("pool") == self.pool and e.get("rung") == rung), None)

    # ------------------------------------------------------------------ the look

    def look(self, rung: int, ranked: list[str], kept: int) -> tuple[dict, dict] | None:
        """Trains the second seeds the cut at ``rung`` (keeping ``ranked[:kept]``) needs, where affordable,
        and gives the ranked candidates' multi-seed means and noises to decide again on; None when nothing
        was added."""
        target, full = self.rungs[rung], self.rungs[-1]
        saved = (len(ranked) - kept) * (full - target)
        affordable = saved // target
        cheap = 2 * target <= UNMEASURED_COST * saved  # a pair that measures the spread, whatever the closest gap
        trained: list[str] = []
        failed: list[str] = []
        recorded = self._recorded(rung)
        if recorded is not None:  # a resumed run: the same seeds again, trained only where a leg is missing
            self._train(rung, [c for c in recorded["trained"] if c in ranked], trained, failed)
            self.records[rung] = recorded
        else:
            wanted: list[str] = []
            spent = 0
            while True:
                means, noises = self._evidence(rung, ranked, trained)
                order = sorted(ranked, key=lambda c: (-_comparable(means[c]), ranked.index(c)))
                spread = self._spread(target, [self._fitness(c, rung) for c in trained])
                near = near_misses(order, kept, means, noises, spread,
                                   {c: len(self.seeds) + (c in trained) for c in ranked},
                                   measure=cheap)
                new = [c for c in ([order[kept - 1]] + near if near else [])
                       if c not in wanted and c not in trained]
                if not new:
                    break
                wanted += new
                todo = new[:max(0, affordable - len(trained) - len(failed))]
                if not set(todo) & set(order[kept:]):  # the last one kept alone compares with nobody
                    break
                spent += self._train(rung, todo, trained, failed)
            if wanted:
                spread = self._spread(target, [self._fitness(c, rung) for c in trained])
                self._record(rung, target, wanted, trained, failed, spread, spent, saved)
        return self._evidence(rung, ranked, trained) if trained else None

    def _train(self, rung: int, ids: list[str], trained: list[str], failed: list[str]) -> int:
        """Trains the extra seed of ``ids`` to ``rung`` (where no leg holds it yet); gives the env steps spent."""
        training, target = self.training, self.rungs[rung]
        futures, spent = {}, 0
        for cid in ids:
            if self.legs.of(cid, self.extra).get(rung) is not None:
                trained.append(cid)
                continue
            candidate = self.members[cid]
            futures[training.executor.submit(training.task, candidate.code, self.extra, training.to(target),
                                             planned_total=target, eval_episodes=training.eval_episodes)] = \
                (cid, self.extra)

        def done(cid: str, seed: int, outcome: SeedResult | TrainingError) -> None:
            nonlocal spent
            if isinstance(outcome, TrainingError):
                self.store.append_log(cid, f"second seed {seed} at rung {rung + 1} FAILED: {outcome}")
                failed.append(cid)
                return
            spent += outcome.trained_steps if outcome.trained_steps is not None else outcome.timesteps
            self.store.append_log(cid, f"second seed {seed} at rung {rung + 1}/{len(self.rungs)}: "
                                       f"fitness {outcome.fitness:.4g} (the cut-off is decided on the mean)")
            trained.append(cid)

        collect(futures, self.legs, rung, target, done)
        return spent

    def _record(self, rung, target, wanted, trained, failed, spread, spent, saved) -> None:
        record = {"pool": self.pool, "rung": rung, "target": target, "seed": self.extra, "wanted": wanted,
                  "trained": trained, "failed": failed, "unaffordable": [c for c in wanted if c not in trained
                                                                          and c not in failed],
                  "seeds": {c: self._fitness(c, rung) for c in trained}, "spread": spread, "steps": spent,
                  "saved": saved}
        self.records[rung] = record
        self.added.append(record)
        self.emit("rung_seeds", **record)

    def reason(self, rung: int) -> str | None:
        """What the second seeds at ``rung`` added to its decision, for the decision's reason."""
        r = self.records.get(rung)
        if not r or not r["wanted"]:
            return None
        means = ", ".join(f"{c} {' & '.join(f'{f:.4g}' for f in r['seeds'][c])}" for c in r["trained"])
        text = (f"second seed (seed {r['seed']}) at the cut-off for {', '.join(r['trained']) or 'nobody'}"
                + (f" ({means}); decided on the means" if r["trained"] else "")
                + f"; {r['steps']:,} env steps of the {r['saved']:,} this cut saves")
        if r["unaffordable"]:
            text += f"; not afforded: {', '.join(r['unaffordable'])}"
        if r["failed"]:
            text += f"; failed: {', '.join(r['failed'])}"
        return text


def _comparable(fitness: float) -> float:
    return -math.inf if fitness is None or math.isnan(fitness) else fitness


def rung_seeds_text(store: RunStore) -> str | None:
    """One line on what the second seeds at the run's halving cut-offs cost (``show``); None when there were
    none."""
    events = [e for e in store.events("rung_seeds") if e.get("wanted")]
    if not events:
        return None
    trained = sum(len(e["trained"]) for e in events)
    steps, saved = sum(e["steps"] for e in events), sum(e["saved"] for e in events)
    unaffordable = [c for e in events for c in e["unaffordable"]]
    return (f"halving cut-offs: {trained} second seed(s) at {len(events)} cut(s) within the noise, "
            f"{steps:,} env steps of the {saved:,} those cuts saved"
            + (f"; not afforded: {', '.join(unaffordable)}" if unaffordable else ""))
