"""What successive halving leaves: each leg of a seed, each decision for a pool and for a candidate."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from typing import Any, Callable

from .codec import _by_rung, _need, _Plain, _rung_keys
from .training import SeedResult, Snapshot


@dataclass(frozen=True)
class Leg:
    """One finished leg of successive halving: one seed of a candidate trained up to one rung (the
    store's ``legs`` table): the rung's target, the steps reached, the evaluated fitness (mean and per
    episode; per episode is None in a leg release 0.1.0 kept), what this leg alone trained and took, the
    evaluation's env steps, this leg's training snapshots, and the seed's result at that rung (None
    where 0.1.0 kept only the last leg's). The figures the leg and its result share are stored once, in
    the outcome (``SHARED``); the stored result holds the rest (m009_facts_once)."""

    target: int
    timesteps: int
    fitness: float
    trained_steps: int
    train_seconds: float
    wall_seconds: float
    evaluation_steps: int
    snapshots: list[Snapshot]
    episode_fitness: list[float] | None = None
    result: SeedResult | None = None

    # the policy lives in its checkpoint file; the evaluation's trajectories in a column of their own, read only
    # with the leg (``trajectories_json``), so reading what a leg's result holds never reads them
    RESULT_FIELDS_LEFT_OUT = ("checkpoint", "trajectories")
    # the result's fields the outcome holds (the leg is built from its result: training/collect.py's save_leg)
    SHARED = ("fitness", "episode_fitness", "timesteps", "trained_steps", "train_seconds", "wall_seconds", "snapshots")

    def to_json(self) -> dict:
        """The leg's stored outcome (the result is a column of its own: ``result_json``)."""
        out: dict[str, Any] = {"target": self.target, "timesteps": self.timesteps, "fitness": self.fitness}
        if self.episode_fitness is not None:
            out["episode_fitness"] = list(self.episode_fitness)
        out.update(trained_steps=self.trained_steps, train_seconds=self.train_seconds,
                   wall_seconds=self.wall_seconds, evaluation_steps=self.evaluation_steps,
                   snapshots=[s.to_json() for s in self.snapshots])
        return out

    def result_json(self) -> dict | None:
        """The leg's stored result: the seed's result without its checkpoint and the figures the outcome holds."""
        return None if self.result is None else \
            self.result.to_json(leave_out=self.RESULT_FIELDS_LEFT_OUT + self.SHARED)

    def trajectories_json(self) -> list | None:
        """The leg's stored trajectories (None without any)."""
        return [t.to_json() for t in self.result.trajectories] if self.result and self.result.trajectories else None

    @classmethod
    def from_json(cls, outcome: dict, result: dict | None = None, trajectories: list | None = None) -> "Leg":
        """A stored leg: its outcome, and its stored result (``result_json``) completed from the outcome and
        with its stored ``trajectories`` (``trajectories_json``)."""
        if result is not None and trajectories is not None:
            result = {**result, "trajectories": trajectories} if isinstance(result, dict) else result
        what = "a stored halving leg"
        episode_fitness = outcome.get("episode_fitness") if isinstance(outcome, dict) else None
        if result is not None:  # a leg that kept its result has its episodes' fitness
            episode_fitness = _need(outcome, "episode_fitness", what)
        leg = cls(target=_need(outcome, "target", what), timesteps=_need(outcome, "timesteps", what),
                  fitness=_need(outcome, "fitness", what), trained_steps=_need(outcome, "trained_steps", what),
                  train_seconds=_need(outcome, "train_seconds", what),
                  wall_seconds=_need(outcome, "wall_seconds", what),
                  evaluation_steps=_need(outcome, "evaluation_steps", what),
                  snapshots=[Snapshot.from_json(s) for s in _need(outcome, "snapshots", what)],
                  episode_fitness=None if episode_fitness is None else list(episode_fitness))
        if result is None:
            return leg
        return replace(leg, result=SeedResult.from_json(result, held={k: getattr(leg, k) for k in cls.SHARED}))

    @staticmethod
    def merged(legs: dict[int, "Leg"], rung: int) -> SeedResult | None:
        """One seed's result at ``rung`` from its ``legs`` (by rung): the last leg's result up to ``rung`` with
        every leg up to it folded in (snapshots, steps trained, seconds, speed); None when none kept a result.
        A candidate's result is its seeds' results merged so (training/collect.py's ``merged_result``)."""
        upto = [legs[r] for r in sorted(legs) if r <= rung]
        last = next((leg.result for leg in reversed(upto) if leg.result is not None), None)
        return None if last is None else replace(last, **_folded(upto))

    @classmethod
    def held(cls, legs: dict[int, "Leg"], rung: int) -> dict[str, Any]:
        """What a seed's ``legs`` hold of its result at ``rung`` (``merged``), by field: every field a candidate
        keeps where a leg kept its result, else the figures of the legs' outcomes; nothing without a leg at
        ``rung``. The store fills a candidate's kept seed results from here (``CandidateResult.from_stored``)."""
        if rung not in legs:
            return {}
        result = cls.merged(legs, rung)
        if result is not None:
            return {f.name: getattr(result, f.name) for f in fields(SeedResult) if f.name not in KEPT_ELSEWHERE}
        leg = legs[rung]
        held: dict[str, Any] = {"fitness": leg.fitness, "timesteps": leg.timesteps}
        if leg.episode_fitness is not None:
            held["episode_fitness"] = list(leg.episode_fitness)
        return {**held, **_folded([legs[r] for r in sorted(legs) if r <= rung])}

    @classmethod
    def held_by(cls, rows: list) -> Callable[[int, int], dict[str, Any]]:
        """``legs(seed, rung)`` over a candidate's stored legs ``rows`` (each [seed, rung, outcome, result], the
        last two as stored JSON text; their trajectories never read): what that seed's legs hold of its result
        at the rung (``held``), each leg parsed only when asked for."""
        def held(seed: int, rung: int) -> dict[str, Any]:
            return cls.held({r: cls.from_json(json.loads(outcome), json.loads(result) if result else None)
                             for s, r, outcome, result in rows if s == seed and r <= rung}, rung)

        return held


# what a candidate's kept seed result leaves out (files hold them): CandidateResult.STORED_RUN_FIELDS_LEFT_OUT
KEPT_ELSEWHERE = ("trajectories", "checkpoint", "log_tail")


def _folded(legs: list[Leg]) -> dict[str, Any]:
    """The figures of one seed's result summed over its ``legs`` (in rung order)."""
    trained, seconds = sum(leg.trained_steps for leg in legs), sum(leg.train_seconds for leg in legs)
    return {"snapshots": [s for leg in legs for s in leg.snapshots], "trained_steps": trained,
            "train_seconds": seconds, "wall_seconds": sum(leg.wall_seconds for leg in legs),
            "steps_per_second": trained / seconds if seconds else 0.0}


@dataclass(frozen=True)
class RungDecision(_Plain):
    """What successive halving decided at one rung a candidate reached, as the candidate keeps it:
    the rung, its target steps, the action ("cut" or "promote"), whether this candidate went on, and
    why (the cut rule's numbers in words)."""

    WHAT = "a stored halving decision"

    rung: int
    timesteps: int | None  # None where the pool's decision named no target (HalvingDecision.timesteps)
    action: str
    kept: bool
    reason: str


@dataclass(frozen=True)
class HalvingDecision:
    """What successive halving decided for a whole pool at one rung (schedule.py: the cut rule's or a
    textbook cut's answer, ``PoolTrainer.decisions``, the ``halving_decision`` event): the rung, the
    action ("cut" or "promote") and why, and the rung's target steps once the pool names it. The cut
    rule adds each ranked candidate's score and noise there (rounded to 6 places) and the random
    policy's fitness; a cut adds who was kept, and the cut rule's cut the closest call's gap (None when
    infinite) and the noise it had to clear. The textbook cut (``schedule.top_of``) keeps no scores."""

    rung: int
    action: str
    reason: str
    timesteps: int | None = None
    scores: dict[str, float] | None = None
    noise: dict[str, float] | None = None
    random_fitness: float | None = None
    kept: list[str] | None = None
    gap: float | None = None
    needed: float | None = None

    def concerns(self, cid: str) -> bool:
        """Whether ``cid`` was among the candidates ranked at this rung (a textbook cut keeps no scores:
        every candidate still in the pool)."""
        return self.scores is None or cid in self.scores

    def for_candidate(self, rung: int) -> RungDecision:
        """This decision as a candidate that ended at ``rung`` keeps it: it went on from every earlier
        rung, and from its last one only when everyone was promoted."""
        return RungDecision(rung=self.rung, timesteps=self.timesteps, action=self.action,
                            kept=self.rung < rung or self.rung == rung and self.action == "promote",
                            reason=self.reason)

    def to_json(self) -> dict:
        """The event's JSON (after the pool): the keys this decision has, in the order the cut rule
        wrote them."""
        out: dict[str, Any] = {"rung": self.rung}
        if self.scores is not None:
            assert self.noise is not None  # the cut rule names each ranked candidate's score and its noise
            out.update(scores=dict(self.scores), noise=dict(self.noise), random_fitness=self.random_fitness)
        out["action"] = self.action
        if self.kept is not None:
            out["kept"] = list(self.kept)
        if self.needed is not None:
            out.update(gap=self.gap, needed=self.needed)
        out["reason"] = self.reason
        if self.timesteps is not None:
            out["timesteps"] = self.timesteps
        return out

    @classmethod
    def from_json(cls, data: dict) -> "HalvingDecision":
        """A stored ``halving_decision`` event's data (its "pool" left to the caller)."""
        what = "a stored pool halving decision"
        scores = data.get("scores") if isinstance(data, dict) else None
        return cls(rung=_need(data, "rung", what), action=_need(data, "action", what),
                   reason=_need(data, "reason", what), timesteps=data.get("timesteps"),
                   scores=None if scores is None else dict(scores),
                   noise=None if scores is None else dict(_need(data, "noise", what)),
                   random_fitness=None if scores is None else _need(data, "random_fitness", what),
                   kept=None if data.get("kept") is None else list(data["kept"]), gap=data.get("gap"),
                   needed=data.get("needed"))


@dataclass(frozen=True)
class HalvingRecord:
    """A candidate's successive halving (``CandidateResult.halving``, schedule.py): the rung it ended at,
    the pool's rung targets and eta, its score and its score's noise at each rung it was scored at, the
    decisions at the rungs it reached, and whether it stopped before the full budget. Release 0.1.0
    kept neither noise nor decisions (None here)."""

    rung: int
    rungs: list[int]
    eta: int
    history: dict[int, float]
    stopped_early: bool
    noise: dict[int, float] | None = None
    decisions: list[RungDecision] | None = None

    def to_json(self) -> dict:
        """Stored with the rungs as string keys, in rung order."""
        out: dict[str, Any] = {"rung": self.rung, "rungs": list(self.rungs), "eta": self.eta,
                               "history": _by_rung(self.history)}
        if self.noise is not None:
            out["noise"] = _by_rung(self.noise)
        if self.decisions is not None:
            out["decisions"] = [d.to_json() for d in self.decisions]
        out["stopped_early"] = self.stopped_early
        return out

    @classmethod
    def from_json(cls, data: dict) -> "HalvingRecord":
        what = "a stored halving record"
        noise, decisions = (data.get("noise"), data.get("decisions")) if isinstance(data, dict) else (None, None)
        return cls(rung=_need(data, "rung", what), rungs=list(_need(data, "rungs", what)), eta=_need(data, "eta", what),
                   history=_rung_keys(_need(data, "history", what)),
                   stopped_early=_need(data, "stopped_early", what),
                   noise=None if noise is None else _rung_keys(noise),
                   decisions=None if decisions is None else [RungDecision.from_json(d) for d in decisions])
