"""What the archive keeps of a candidate: its result (screening, halving, confirmation), its timings."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from typing import Any, Callable

from ...errors import RunStoreError
from .codec import _need, _Plain
from .halving import KEPT_ELSEWHERE, HalvingRecord
from .training import SeedResult


@dataclass(frozen=True)
class ComponentTrend:
    """One reward component over training: its mean per step at each snapshot (averaged over seeds;
    NaN where no seed had one) and at the last."""

    series: list[float]
    final: float

    def to_json(self) -> dict:
        return {"series": list(self.series), "final": self.final}

    @classmethod
    def from_json(cls, data: dict) -> "ComponentTrend":
        what = "a stored component summary"
        return cls(series=list(_need(data, "series", what)), final=_need(data, "final", what))


@dataclass(frozen=True)
class Confirmation:
    """A second seed at the same budget for the designer's best so far (training/confirmation.py):
    its fitness (None if that training failed), the search fitness, and their mean; for a challenger
    also whom it was measured against and whether its advantage held. The search fitness is the
    candidate's fitness column and the mean follows from the two: the store keeps neither here
    (``stored_json``/``from_stored``)."""

    seed: int
    fitness: float | None
    search_fitness: float | None
    mean: float | None
    against: str | None = None
    against_mean: float | None = None
    confirmed: bool | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"seed": self.seed, "fitness": self.fitness, "search_fitness": self.search_fitness,
                               "mean": self.mean}
        if self.against is not None:
            out.update(against=self.against, against_mean=self.against_mean, confirmed=self.confirmed)
        return out

    DERIVED = ("search_fitness", "mean")

    def stored_json(self) -> dict:
        return {k: v for k, v in self.to_json().items() if k not in self.DERIVED}

    @classmethod
    def from_stored(cls, data: dict, search_fitness: float | None) -> "Confirmation":
        """A stored confirmation (``stored_json``), given its candidate's search fitness."""
        fitness = _need(data, "fitness", "a stored confirmation")
        mean = None if fitness is None or search_fitness is None else (search_fitness + fitness) / 2
        return cls.from_json({**data, "search_fitness": search_fitness, "mean": mean})

    @classmethod
    def from_json(cls, data: dict) -> "Confirmation":
        what = "a stored confirmation"
        against = data.get("against") if isinstance(data, dict) else None
        return cls(seed=_need(data, "seed", what), fitness=_need(data, "fitness", what),
                   search_fitness=_need(data, "search_fitness", what), mean=_need(data, "mean", what),
                   against=against, against_mean=None if against is None else _need(data, "against_mean", what),
                   confirmed=None if against is None else _need(data, "confirmed", what))


@dataclass(frozen=True)
class Timings:
    """How long a scored candidate's training took (``Candidate.timings``), summed over its seeds: wall
    time as the executor saw it (start-up, training and evaluation), training time alone, and the mean
    training speed in env steps per second (``of``: what its seed results give; the store keeps only timings
    they do not give, ``stored``/``read``, m011). Runs before release 0.1.0 kept only the wall time of a
    failed training (the others None, and left out of the stored object)."""

    wall_seconds: float
    train_seconds: float | None = None
    steps_per_second: float | None = None

    def to_json(self) -> dict:
        out = {"wall_seconds": self.wall_seconds}
        if self.train_seconds is not None:
            out["train_seconds"] = self.train_seconds
        if self.steps_per_second is not None:
            out["steps_per_second"] = self.steps_per_second
        return out

    @classmethod
    def of(cls, runs: list[SeedResult]) -> "Timings":
        """The timings of a candidate's seed results ``runs`` (not empty): wall and training seconds summed, the
        mean speed (``Score.steps_per_second``)."""
        return cls(wall_seconds=sum(r.wall_seconds or 0.0 for r in runs),
                   train_seconds=sum(r.train_seconds for r in runs),
                   steps_per_second=statistics.fmean(r.steps_per_second for r in runs))

    @classmethod
    def stored(cls, timings: "Timings | None", result: "CandidateResult | None") -> "Timings | None":
        """What the store keeps of a candidate's ``timings``: nothing where its ``result``'s seed results give
        them (``of``: every scored candidate's), else as they are (a failed training's wall time)."""
        runs = result.runs if result is not None else None
        return None if timings is not None and runs and timings == cls.of(runs) else timings

    @classmethod
    def read(cls, stored: "Timings | None", result: "CandidateResult | None") -> "Timings | None":
        """A candidate's timings: as stored, else those its ``result``'s seed results give (``stored``)."""
        runs = result.runs if result is not None else None
        return stored if stored is not None or not runs else cls.of(runs)

    @classmethod
    def from_json(cls, data: dict) -> "Timings":
        what = "a stored candidate's timings"
        return cls(wall_seconds=_need(data, "wall_seconds", what), train_seconds=data.get("train_seconds"),
                   steps_per_second=data.get("steps_per_second"))


@dataclass(frozen=True)
class ScreeningRow(_Plain):
    """One recorded episode screening judged on, as the verdict's table shows it: where it came from
    ("random", "baseline c0", a candidate's id), its fitness, its length and the reward's return on it
    (stored as "return")."""

    WHAT = "a stored screening table row"
    KEYS = {"reward_return": "return"}

    source: str
    fitness: float
    steps: int
    reward_return: float


@dataclass(frozen=True)
class ScreeningRecord:
    """What screening judged a reward on (screening.py; ``CandidateResult.screening``): whether it
    passed, how many recorded episodes, and, when it was judged by the preference test, the clearly
    ordered pairs and the share it ranks right (overall and against the random policy's episodes; None
    with no such pair), the Spearman rho of return against fitness, the fitness margin a pair needs and
    the table of episodes. ``table`` is None when it was not judged: fewer than two distinct fitnesses
    (``pairs`` 0), or the reward failed on a recorded episode (``pairs`` None)."""

    passed: bool
    episodes: int
    pairs: int | None = None
    agreement: float | None = None
    pairs_vs_random: int | None = None
    agreement_vs_random: float | None = None
    spearman: float | None = None
    margin: float | None = None
    table: list[ScreeningRow] | None = None

    JUDGED = ("agreement", "pairs_vs_random", "agreement_vs_random", "spearman", "margin")

    def to_json(self) -> dict:
        out: dict[str, Any] = {"passed": self.passed, "episodes": self.episodes}
        if self.pairs is not None:
            out["pairs"] = self.pairs
        if self.table is not None:
            out.update({key: getattr(self, key) for key in self.JUDGED})
            out["table"] = [row.to_json() for row in self.table]
        return out

    @classmethod
    def from_json(cls, data: dict) -> "ScreeningRecord":
        what = "a stored screening verdict"
        passed, episodes = _need(data, "passed", what), _need(data, "episodes", what)
        if "table" not in data:
            return cls(passed=passed, episodes=episodes, pairs=data.get("pairs"))
        return cls(passed=passed, episodes=episodes, pairs=_need(data, "pairs", what),
                   **{key: _need(data, key, what) for key in cls.JUDGED},
                   table=[ScreeningRow.from_json(row) for row in data["table"]])


@dataclass(frozen=True)
class CandidateResult:
    """What the archive keeps of a candidate's training (``Candidate.result``): each seed's result
    (without trajectories, checkpoint and log, which live in files), each component's trend, the
    fraction of the search budget its fitness was measured at, and, when they happened, its screening
    verdict and evidence, its successive-halving record (rung scores and decisions) and its
    confirmation seed. A candidate rejected by screening has only
    ``budget_fraction`` (0) and ``screening``."""

    runs: list[SeedResult] | None = None
    components: dict[str, ComponentTrend] | None = None
    screening: ScreeningRecord | None = None
    budget_fraction: float | None = None
    halving: HalvingRecord | None = None
    confirmation: Confirmation | None = None

    STORED_RUN_FIELDS_LEFT_OUT = KEPT_ELSEWHERE

    @property
    def rung(self) -> int:
        """The halving rung its seed results were measured at (its last: 0 without halving)."""
        return self.halving.rung if self.halving is not None else 0

    def to_json(self) -> dict:
        out: dict[str, Any] = {}
        if self.runs is not None:
            out["runs"] = [r.to_json(leave_out=self.STORED_RUN_FIELDS_LEFT_OUT) for r in self.runs]
        if self.components is not None:
            out["components"] = {name: c.to_json() for name, c in self.components.items()}
        if self.runs is None and self.budget_fraction is not None:
            out["budget_fraction"] = self.budget_fraction  # an untrained candidate's row began with it
        if self.screening is not None:
            out["screening"] = self.screening.to_json()
        if self.runs is not None and self.budget_fraction is not None:
            out["budget_fraction"] = self.budget_fraction
        if self.halving is not None:
            out["halving"] = self.halving.to_json()
        if self.confirmation is not None:
            out["confirmation"] = self.confirmation.to_json()
        return out

    def stored_json(self, legs: Callable[[int, int], dict[str, Any]] | None = None) -> dict:
        """The result as the store keeps it: of each seed's result its seed and what its legs at ``rung`` do not
        hold (``legs(seed, rung)``, ``Leg.held``; without ``legs``, its seed alone: a result the run's training
        made is its legs merged, ``Leg.merged``), its confirmation without what the candidate's row holds."""
        out = self.to_json()
        if self.runs is not None:
            out["runs"] = [_kept_run(r, self.rung, legs) for r in self.runs]
        if self.confirmation is not None:
            out["confirmation"] = self.confirmation.stored_json()
        return out

    @classmethod
    def from_stored(cls, data: dict, fitness: float | None,
                    legs: Callable[[int, int], dict[str, Any]] | None = None) -> "CandidateResult":
        """A stored result (``stored_json``); ``fitness``: the candidate's, its confirmation's search fitness;
        ``legs(seed, rung)``: what that seed's legs hold of its result at the rung (``Leg.held``), which fills
        each kept seed result's fields it does not hold itself (those stay as stored: what no leg holds)."""
        if not isinstance(data, dict):
            return cls.from_json(data)  # the error naming what it is
        runs = data.get("runs")
        result = cls.from_json({k: v for k, v in data.items() if k not in ("confirmation", "runs")})
        if isinstance(runs, list):
            result = replace(result, runs=[_seed_result(run, result.rung, legs) for run in runs])
        elif runs is not None:
            raise RunStoreError(f"a stored candidate result's runs are a {type(runs).__name__}; expected a JSON array")
        confirmation = data.get("confirmation")
        return result if confirmation is None else replace(result, confirmation=Confirmation.from_stored(
            confirmation, fitness))

    @classmethod
    def from_json(cls, data: dict) -> "CandidateResult":
        if not isinstance(data, dict):
            raise RunStoreError(f"a stored candidate result is a {type(data).__name__}; expected a JSON object")
        runs, components, confirmation = data.get("runs"), data.get("components"), data.get("confirmation")
        screening, halving = data.get("screening"), data.get("halving")
        return cls(runs=None if runs is None else [SeedResult.from_json(r) for r in runs],
                   components=None if components is None else
                   {name: ComponentTrend.from_json(c) for name, c in components.items()},
                   screening=None if screening is None else ScreeningRecord.from_json(screening),
                   budget_fraction=data.get("budget_fraction"),
                   halving=None if halving is None else HalvingRecord.from_json(halving),
                   confirmation=None if confirmation is None else Confirmation.from_json(confirmation))


def _kept_run(run: SeedResult, rung: int, legs: Callable[[int, int], dict[str, Any]] | None) -> dict:
    """One seed result as a candidate's stored result keeps it: its seed, and what its legs do not hold."""
    if legs is None:
        return {"seed": run.seed}
    held = legs(run.seed, rung)
    return {"seed": run.seed, **{k: v for k, v in run.to_json(leave_out=KEPT_ELSEWHERE).items()
                                 if k != "seed" and (k not in held or held[k] != getattr(run, k))}}


def _seed_result(stored: dict, rung: int, legs: Callable[[int, int], dict[str, Any]] | None) -> SeedResult:
    """One kept seed result: what it stores, the rest from its seed's legs at ``rung``."""
    seed = _need(stored, "seed", "a stored candidate's seed result")
    held = {k: v for k, v in (legs(seed, rung) if legs is not None else {}).items() if k not in stored}
    missing = [k for k in ("fitness", "timesteps", "episodes") if k not in stored and k not in held]
    if missing:
        raise RunStoreError(f"the result of seed {seed} at rung {rung} is neither stored nor in a stored leg "
                            f"(no {', '.join(map(repr, missing))}): a candidate's seed results are its legs merged, "
                            f"so its legs are stored first (RunStore.save_leg)")
    return SeedResult.from_json(stored, held=held)
