"""The analyzer's record of a trained policy: episodes, curves, fields and components."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from ...errors import RunStoreError
from .codec import _need, _Plain


@dataclass
class Finding:
    """One failure mode a detector found, with the numbers that show it."""
    name: str
    message: str
    evidence: dict[str, float]
    brief: str = ""  # a few words for tables (``summary_line``)
    subjects: list[str] = field(default_factory=list)  # the components or fields concerned

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Finding":
        what = "a stored finding"
        return cls(name=_need(data, "name", what), message=_need(data, "message", what),
                   evidence=_need(data, "evidence", what), brief=_need(data, "brief", what),
                   subjects=list(_need(data, "subjects", what)))


@dataclass(frozen=True)
class EvaluationMeans(_Plain):
    """Means over a candidate's evaluation episodes (``Analysis.evaluation``): how many episodes, their
    length, the candidate's reward summed over an episode (stored as "return"), the native return, and
    the reward per step (None with no step)."""

    WHAT = "a stored analysis's evaluation"
    KEYS = {"reward_return": "return"}

    episodes: int
    length: float | None
    reward_return: float | None
    native_return: float | None
    reward_per_step: float | None


@dataclass(frozen=True)
class ActionStats(_Plain):
    """How the trained policy acted in its recorded evaluation episodes (``Analysis.actions``): the action
    dimensions, sign flips per step, the fraction at the bounds and the mean |action| as a fraction of
    the half-range (each None when nothing was recorded to measure it on)."""

    WHAT = "a stored analysis's action statistics"

    dims: int | None
    flip_rate: float | None
    saturation: float | None
    mean_abs: float | None


@dataclass(frozen=True)
class TrainingCurves(_Plain):
    """A candidate's training snapshots as series, one value a snapshot averaged over seeds (None where
    no seed had one; ``Analysis.training``): the step, training episodes' fitness, return and length,
    and the reward and native reward per step."""

    WHAT = "a stored analysis's training series"

    step: list
    fitness: list
    episode_return: list
    episode_length: list
    reward_per_step: list
    native_per_step: list


@dataclass(frozen=True)
class FieldPath(_Plain):
    """One state field over one evaluation episode: its first, last, least, greatest and mean value (a
    vector field's norm) and how far it moved from its start at the most."""

    WHAT = "a stored episode's field summary"

    first: float
    last: float
    min: float
    max: float
    mean: float
    displacement: float | None


@dataclass(frozen=True)
class EpisodeAnalysis(_Plain):
    """One evaluation episode as the analysis keeps it (``Analysis.episodes``): its seed and index, the
    task's fitness, its length, the candidate's reward summed over it (stored as "return"; None before
    it was replayed), the native return, how it ended ("terminated", "truncated" or "other") and each
    recorded state field's path (empty when no trajectory was kept)."""

    WHAT = "a stored analysis's episode"
    KEYS = {"reward_return": "return"}
    TABLES = {"fields": FieldPath}

    seed: int
    index: int
    fitness: float | None
    length: int
    reward_return: float | None
    native_return: float | None
    ended: str
    fields: dict[str, FieldPath]


@dataclass(frozen=True)
class ComponentCurve(_Plain):
    """One reward component's mean per step over training (``ComponentAnalysis.training``): the series
    (one value a snapshot, None where no seed had one) and its least, mean and greatest value."""

    WHAT = "a stored analysis's component series"

    series: list
    min: float | None
    mean: float | None
    max: float | None


@dataclass(frozen=True)
class ComponentAnalysis(_Plain):
    """One reward component as the analysis keeps it (``Analysis.components``): its series over training,
    where its evaluation figures come from ("evaluation": the kept evaluation episodes; "training": the
    last snapshot, when none was kept), its mean per step, its sign ("+", "-", "±" or "0"), its
    correlation with the episodes' fitness (None with too few episodes) and its share of the reward's
    magnitude."""

    WHAT = "a stored analysis's component"
    RECORDS = {"training": ComponentCurve}

    training: ComponentCurve
    source: str
    mean_per_step: float | None
    sign: str
    fitness_corr: float | None
    share: float | None


@dataclass(frozen=True)
class FieldSummary(_Plain):
    """One state field over all recorded evaluation states (``Analysis.fields``): its unit, whether the
    figures are of the value or of a vector's norm ("scalar" or "norm"), its least value, quartiles,
    greatest value and mean."""

    WHAT = "a stored analysis's field summary"

    unit: str
    kind: str
    min: float
    q25: float
    median: float
    q75: float
    max: float
    mean: float


def figure(x, digits: int = 4):
    """A JSON-safe float rounded to ``digits`` significant digits (None when missing or not finite): how the
    analysis keeps its figures (analyzer.py), its candidate's score among them."""
    return None if x is None or not math.isfinite(float(x)) else float(f"{float(x):.{digits}g}")


@dataclass
class Analysis(_Plain):
    """Everything measured about one scored candidate (analyzer.py; ``Candidate.analysis``);
    ``to_dict``/``from_dict`` round-trip through JSON. Its first four fields are the candidate's score
    (``figure``-rounded): the store keeps them once, in the candidate's columns (``SCORE``,
    ``stored_json``/``from_stored``)."""
    fitness: float
    fitness_std: float
    seeds: list[int]
    timesteps: int
    max_steps: int | None
    termination: str  # what the environment ending an episode means here: "failure" or "success"
    evaluation: EvaluationMeans
    episodes: list[EpisodeAnalysis]
    components: dict[str, ComponentAnalysis]
    fields: dict[str, FieldSummary]
    actions: ActionStats
    training: TrainingCurves
    findings: list[Finding]
    diagnosis: str | None = None  # an LLM analyst's text, when --llm-analyzer is on

    WHAT = "a stored analysis"
    RECORDS = {"evaluation": EvaluationMeans, "actions": ActionStats, "training": TrainingCurves}
    TABLES = {"components": ComponentAnalysis, "fields": FieldSummary}
    LISTS = {"episodes": EpisodeAnalysis, "findings": Finding}

    def to_dict(self) -> dict:
        return self.to_json()

    @classmethod
    def from_dict(cls, data: dict) -> "Analysis":
        """A stored analysis: every field (``diagnosis`` null without one); keys this release does not
        know are ignored."""
        if not isinstance(data, dict):
            raise RunStoreError(f"a stored analysis is a {type(data).__name__}; expected a JSON object")
        missing = [f.name for f in fields(cls) if f.name not in data]
        if missing:
            raise RunStoreError(f"a stored analysis has no {', '.join(map(repr, missing))} field")
        return cls(**{f.name: cls._read(f.name, data[f.name]) for f in fields(cls)})

    from_json = from_dict

    SCORE = ("fitness", "fitness_std", "seeds", "timesteps")  # the candidate's columns hold them

    def stored_json(self) -> dict:
        """The analysis as the store keeps it: without its candidate's score."""
        return {k: v for k, v in self.to_json().items() if k not in self.SCORE}

    @classmethod
    def from_stored(cls, data: dict, fitness: float | None, fitness_std: float | None, seeds: list[int] | None,
                    timesteps: int | None) -> "Analysis":
        """A stored analysis (``stored_json``), its score filled from its candidate's columns."""
        if not isinstance(data, dict):
            raise RunStoreError(f"a stored analysis is a {type(data).__name__}; expected a JSON object")
        return cls.from_dict({**data, "fitness": figure(fitness), "fitness_std": figure(fitness_std),
                              "seeds": list(seeds or []), "timesteps": timesteps})

    def finding(self, name: str) -> Finding | None:
        return next((f for f in self.findings if f.name == name), None)
