"""What final scoring concluded: each subject's seeds and the summary."""

from __future__ import annotations

from dataclasses import dataclass

from .codec import _need
from .kept import CandidateResult
from .training import SeedResult


@dataclass(frozen=True)
class FinalEntry:
    """One reward's final multi-seed score: mean ± std fitness over the fresh seeds that scored, how
    many failed, its search fitness (for a candidate or the baseline; never for the sparse reward) and
    its human-normalized score (None when undefined)."""

    id: str
    role: str | None
    seeds: int
    failed: int
    per_seed: list[float]
    fitness_mean: float | None
    fitness_std: float | None
    timesteps: int | None
    search_fitness: float | None = None
    normalized: float | None = None

    def to_json(self) -> dict:
        out = {"id": self.id, "role": self.role, "seeds": self.seeds, "failed": self.failed,
               "per_seed": list(self.per_seed), "fitness_mean": self.fitness_mean,
               "fitness_std": self.fitness_std, "timesteps": self.timesteps}
        if self.id != "sparse":  # the task's sparse reward has no search fitness; its entry has no key
            out["search_fitness"] = self.search_fitness
        out["normalized"] = self.normalized
        return out

    @classmethod
    def from_json(cls, data: dict) -> "FinalEntry":
        what = "a stored final-scoring entry"
        need = lambda key: _need(data, key, what)  # noqa: E731
        subject = need("id")
        return cls(id=subject, role=need("role"), seeds=need("seeds"), failed=need("failed"),
                   per_seed=list(need("per_seed")), fitness_mean=need("fitness_mean"), fitness_std=need("fitness_std"),
                   timesteps=need("timesteps"), search_fitness=None if subject == "sparse" else need("search_fitness"),
                   normalized=need("normalized"))


@dataclass(frozen=True)
class FinalRun:
    """One seed of the final scoring (the store's ``final`` table): whose reward (a candidate's id, or
    "sparse") in which role, the fresh seed, whether it scored or failed (and why), its fitness, steps
    and steps trained, the seed's result (kept as a candidate's runs are: without trajectories,
    checkpoint and log) and when the store recorded it (None before)."""

    subject: str
    role: str
    seed: int
    status: str
    fitness: float | None = None
    timesteps: int | None = None
    steps_spent: int | None = None
    reason: str | None = None
    result: SeedResult | None = None
    created: float | None = None

    def result_json(self) -> dict | None:
        """The row's stored result."""
        return None if self.result is None else \
            self.result.to_json(leave_out=CandidateResult.STORED_RUN_FIELDS_LEFT_OUT)

    @classmethod
    def from_json(cls, row: dict) -> "FinalRun":
        """A row of the ``final`` table, its result column read as JSON."""
        what = "a stored final-scoring run"
        result = row.get("result") if isinstance(row, dict) else None
        return cls(subject=_need(row, "subject", what), role=_need(row, "role", what), seed=_need(row, "seed", what),
                   status=_need(row, "status", what), fitness=row.get("fitness"), timesteps=row.get("timesteps"),
                   steps_spent=row.get("steps_spent"), reason=row.get("reason"),
                   result=None if result is None else SeedResult.from_json(result), created=row.get("created"))


@dataclass(frozen=True)
class FinalSummary:
    """The final multi-seed scoring of a run (final.py; meta ``final``): the fresh seeds, the budget,
    every reward's entry, the best one's id (selection.final_best), and the fitness pair normalization
    divides by (None when the baseline and the sparse reward are within their noise or one is missing;
    ``normalization_note`` then says which, selection.normalization)."""

    seeds: list[int]
    timesteps: int | None
    entries: list[FinalEntry]
    best: str | None
    normalization: dict | None = None  # {"baseline": fitness mean, "sparse": fitness mean}
    normalization_note: str | None = None  # why there is no normalization (selection.normalization)
    duplicates: dict | None = None  # {id: why it shares another's fitness, not trained} (intake/duplicates.py)

    def entry(self, subject: str) -> FinalEntry | None:
        return next((e for e in self.entries if e.id == subject), None)

    def by_role(self, role: str) -> FinalEntry | None:
        return next((e for e in self.entries if e.role == role), None)

    def to_json(self) -> dict:
        return {"seeds": list(self.seeds), "timesteps": self.timesteps,
                "entries": [e.to_json() for e in self.entries], "best": self.best,
                "normalization": None if self.normalization is None else dict(self.normalization),
                **({"normalization_note": self.normalization_note} if self.normalization_note else {}),
                **({"duplicates": dict(self.duplicates)} if self.duplicates else {})}

    @classmethod
    def from_json(cls, data: dict) -> "FinalSummary":
        what = "the stored final scoring (meta 'final')"
        return cls(seeds=list(_need(data, "seeds", what)), timesteps=_need(data, "timesteps", what),
                   entries=[FinalEntry.from_json(e) for e in _need(data, "entries", what)],
                   best=_need(data, "best", what), normalization=_need(data, "normalization", what),
                   normalization_note=data.get("normalization_note"), duplicates=data.get("duplicates"))
