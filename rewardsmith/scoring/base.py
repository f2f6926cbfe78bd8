"""The scoring seam: a ``Scorer`` turns a ``Subject`` (a candidate just evaluated, or one as the run holds
it) into a ``ScoreCard`` of named metrics (and artifacts: files or text a metric rests on). Where training
turns an evaluated candidate's seeds into its fitness (``training.trainer.Score.of``), every registered
scorer judges it and the cards flow on; the ground truth's card (``fitness``) is the fitness the run
stores and selects by. Of a candidate as the run holds it (``Subject.held``), the cards are computed when
read (``judged``: ``show --candidate``) from the facts the run stores once, never stored again. Scorers
join a registry the way designers do: the built-ins from ``DEFAULT_SCORERS``, anyone else's from the
``rewardsmith.scorers`` entry-point group (a module with a ``SCORER`` attribute)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..archive.candidates import Candidate
    from ..archive.records import FinalSummary, SeedResult

DEFAULT_SCORERS = ("rewardsmith.scoring.fitness", "rewardsmith.scoring.preference")
ENTRY_POINT_GROUP = "rewardsmith.scorers"
GROUND_TRUTH = "fitness"  # the scorer whose ``fitness`` metric the run stores, ranks and exports


@dataclass(frozen=True)
class ScoreCard:
    """What one scorer concluded of one candidate: metrics by name (``fitness`` is the task's ground
    truth), how many seeds and which evidence they rest on, and any artifacts by name."""

    scorer: str
    metrics: dict[str, float]
    seeds: int = 1
    evidence: str = "search"
    artifacts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subject:
    """What scorers judge: a candidate's id (None for a reward that is no candidate, e.g. ``rewardsmith
    train``) with either ``runs``, the seeds' results of a training just evaluated (each seed's fitness is
    the evaluation job's, from a process that never loaded candidate code), or ``candidate``, the
    candidate as the run holds it, with the run's final scoring (``final``); and a person's standing
    preferences of the run (``store.preferences()`` rows; read-only, never a fitness)."""

    id: str | None = None
    runs: tuple[SeedResult, ...] | None = None
    candidate: Candidate | None = None
    final: FinalSummary | None = None
    preferences: tuple[dict, ...] = ()

    @classmethod
    def held(cls, store, candidate: Candidate) -> Subject:
        """``candidate`` as the run in ``store`` (a ``RunStore``) holds it: with the run's final scoring and
        its standing preferences, the facts each stored once, from which a card is computed when read."""
        return cls(id=candidate.id, candidate=candidate, final=store.final(), preferences=tuple(store.preferences()))


class Scorer(Protocol):
    """Judges candidates; one method per extension."""

    name: str

    def score(self, subject: Subject) -> ScoreCard | None:
        """The subject's score card (None when this scorer has nothing to say of it)."""


_registry: dict[str, Scorer] = {}


def scorers() -> dict[str, Scorer]:
    """Every scorer: the built-ins, then any installed through the entry-point group, by name."""
    if not _registry:
        found: dict[str, Scorer] = {}  # joined only whole: a module that cannot be used leaves no half registry
        for name in list(DEFAULT_SCORERS) + [e.value for e in entry_points(group=ENTRY_POINT_GROUP)]:
            try:
                scorer = importlib.import_module(name).SCORER
            except (ImportError, AttributeError) as exc:
                raise ConfigError(f"scorer module {name!r} (entry-point group {ENTRY_POINT_GROUP}) cannot be "
                                  f"used: {exc}; a scorer module defines SCORER, an object with a name and "
                                  f"score(subject)") from exc
            found.setdefault(scorer.name, scorer)
        _registry.update(found)
    return _registry


def score_cards(subject: Subject) -> dict[str, ScoreCard]:
    """Every registered scorer's card of ``subject``, by scorer name, the ground truth's first (those with
    nothing to say left out)."""
    cards = {}
    for name, scorer in scorers().items():
        card = scorer.score(subject)
        if card is not None:
            cards[name] = card
    return cards


def judged(subject: Subject) -> list[tuple[str, ScoreCard | Exception]]:
    """For reading a run (``show --candidate``): every registered scorer's card of ``subject``, or what it
    raised, in the registry's order (those with nothing to say left out), so that one scorer's failure hides
    no other's card. Training uses ``score_cards``, where a scorer that raises stops the evaluation."""
    out: list[tuple[str, ScoreCard | Exception]] = []
    for name, scorer in scorers().items():
        try:
            card = scorer.score(subject)
        except Exception as exc:  # a third party's code: reported beside the others, never fatal to a reader
            out.append((name, exc))
            continue
        if card is not None:
            out.append((name, card))
    return out


def ground_truth(cards: dict[str, ScoreCard]) -> ScoreCard:
    """The ground truth's card among ``cards`` (what the run stores as the fitness)."""
    card = cards.get(GROUND_TRUTH)
    if card is None:
        raise ConfigError(f"no {GROUND_TRUTH!r} score card: the ground-truth scorer "
                          f"(rewardsmith.scoring.fitness) had nothing to say of a subject with evaluated seeds")
    return card
