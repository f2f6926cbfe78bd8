"""The scoring seam: a ``Scorer`` turns a candidate the run holds into a ``ScoreCard`` of named metrics
(and artifacts: files or text a metric rests on). Scorers join a registry the way designers do: the
built-ins from ``DEFAULT_SCORERS``, anyone else's from the ``rewardsmith.scorers`` entry-point group (a
module with a ``SCORER`` attribute)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..archive.candidates import Candidate
    from ..archive.records import FinalSummary

DEFAULT_SCORERS = ("rewardsmith.scoring.fitness",)
ENTRY_POINT_GROUP = "rewardsmith.scorers"


@dataclass(frozen=True)
class ScoreCard:
    """What one scorer concluded of one candidate: metrics by name (``fitness`` is the task's ground
    truth), how many seeds and which evidence they rest on, and any artifacts by name."""

    scorer: str
    metrics: dict[str, float]
    seeds: int = 1
    evidence: str = "search"
    artifacts: dict[str, str] = field(default_factory=dict)


class Scorer(Protocol):
    """Judges candidates; one method per extension."""

    name: str

    def score(self, candidate: Candidate, final: FinalSummary | None = None) -> ScoreCard | None:
        """The candidate's score card (None when this scorer has nothing to say of it yet)."""


_registry: dict[str, Scorer] = {}


def scorers() -> dict[str, Scorer]:
    """Every scorer: the built-ins, then any installed through the entry-point group, by name."""
    if not _registry:
        for name in list(DEFAULT_SCORERS) + [e.value for e in entry_points(group=ENTRY_POINT_GROUP)]:
            scorer = importlib.import_module(name).SCORER
            _registry.setdefault(scorer.name, scorer)
    return _registry
