"""What the critic judged of a reward: its probe's statistics and its verdict."""

from __future__ import annotations

from dataclasses import dataclass

from .codec import _need, _Plain


@dataclass(frozen=True)
class ComponentStats(_Plain):
    """One reward component over the critic's random-policy transitions: its mean, std, min and max."""

    WHAT = "a stored critic component statistic"

    mean: float
    std: float
    min: float
    max: float


@dataclass(frozen=True)
class ProbeStats(_Plain):
    """What the critic measured calling a reward on random-policy transitions (critic.py, its sandboxed
    probe): how many calls, the mean time per call (ms, the first call left out), the total reward's
    range, mean and std, and each component's statistics."""

    WHAT = "a stored critic probe"
    TABLES = {"components": ComponentStats}

    calls: int
    mean_call_ms: float
    total_min: float
    total_max: float
    total_mean: float
    total_std: float
    components: dict[str, ComponentStats]


@dataclass(frozen=True)
class CriticVerdict:
    """The critic's verdict as a candidate keeps it (``Candidate.verdict``; ``critic.Verdict.record``):
    every reason it rejected the code and every warning, as the text the designer and the person read,
    and what its probe measured (None when the code was rejected before the probe finished; stored as
    an empty object)."""

    errors: list[str]
    warnings: list[str]
    stats: ProbeStats | None = None

    def to_json(self) -> dict:
        return {"errors": list(self.errors), "warnings": list(self.warnings),
                "stats": {} if self.stats is None else self.stats.to_json()}

    @classmethod
    def from_json(cls, data: dict) -> "CriticVerdict":
        what = "a stored critic verdict"
        stats = _need(data, "stats", what)
        return cls(errors=list(_need(data, "errors", what)), warnings=list(_need(data, "warnings", what)),
                   stats=ProbeStats.from_json(stats) if stats else None)
