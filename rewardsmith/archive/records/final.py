"""What final scoring concluded: each subject's seeds and the summary."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from typing import cast

from ...errors import RunStoreError
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

    # what the final table's rows and the candidate's fitness column hold: the store keeps only ``id`` and
    # ``normalized`` (the summary's judgement) of an entry and computes these on read (``of``)
    FIGURES = ("role", "seeds", "failed", "per_seed", "fitness_mean", "fitness_std", "timesteps", "search_fitness")

    @classmethod
    def of(cls, subject: str, rows: list["FinalRun"], seeds: list[int], search_fitness: float | None,
           normalized: float | None = None) -> "FinalEntry":
        """``subject``'s entry from the final-scoring ``rows`` on ``seeds`` (their order kept): mean ± population
        std of the scored seeds' fitness, the failed ones counted; ``search_fitness``: its candidate's."""
        mine = [r for r in rows if r.subject == subject and r.seed in seeds]
        values = [cast(float, r.fitness) for r in mine if r.status == "scored"]  # a scored seed has its fitness
        return cls(id=subject, role=mine[0].role if mine else None, seeds=len(values),
                   failed=sum(r.status == "failed" for r in mine), per_seed=values,
                   fitness_mean=statistics.fmean(values) if values else None,
                   fitness_std=statistics.pstdev(values) if len(values) > 1 else 0.0 if values else None,
                   timesteps=max((r.timesteps or 0 for r in mine), default=None),
                   search_fitness=None if subject == "sparse" else search_fitness, normalized=normalized)

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
    checkpoint and log; its fitness, steps and steps trained are the row's columns, stored once there:
    ``COLUMNS``) and when the store recorded it (None before). A duplicate's seed (intake/duplicates.py: not
    trained) names the subject it shares its fitness with (``same_as``): its fitness and steps are that
    subject's row's on the same seed, stored there alone (``referred``)."""

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
    same_as: str | None = None

    # the result's fields the row's columns hold: {field of the result: column}
    COLUMNS = {"fitness": "fitness", "timesteps": "timesteps", "trained_steps": "steps_spent"}

    def result_json(self) -> dict | None:
        """The row's stored result (what its columns hold left out)."""
        return None if self.result is None else \
            self.result.to_json(leave_out=CandidateResult.STORED_RUN_FIELDS_LEFT_OUT + tuple(self.COLUMNS))

    @classmethod
    def from_json(cls, row: dict) -> "FinalRun":
        """A row of the ``final`` table, its result column read as JSON (and completed from the columns)."""
        what = "a stored final-scoring run"
        result = row.get("result") if isinstance(row, dict) else None
        held = {field: row.get(column) for field, column in cls.COLUMNS.items()} if result is not None else {}
        return cls(subject=_need(row, "subject", what), role=_need(row, "role", what), seed=_need(row, "seed", what),
                   status=_need(row, "status", what), fitness=row.get("fitness"), timesteps=row.get("timesteps"),
                   steps_spent=row.get("steps_spent"), reason=row.get("reason"),
                   result=None if result is None else SeedResult.from_json(result, held=held),
                   created=row.get("created"), same_as=row.get("same_as"))

    @staticmethod
    def referred(runs: list["FinalRun"]) -> list["FinalRun"]:
        """The final table's ``runs`` with each duplicate's fitness and steps filled from the row it refers to."""
        rows = {(r.subject, r.seed): r for r in runs}
        out = []
        for run in runs:
            if run.same_as is not None:
                other = rows.get((run.same_as, run.seed))
                if other is None:
                    raise RunStoreError(f"final scoring of {run.subject} seed {run.seed} shares {run.same_as}'s, "
                                        f"which has no row on that seed")
                run = replace(run, fitness=other.fitness, timesteps=other.timesteps)
            out.append(run)
        return out


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
    normalization: dict | None = None  # {"baseline": fitness mean, "sparse": fitness mean} (stored: ``stored_json``)
    normalization_note: str | None = None  # why there is no normalization (selection.normalization)
    duplicates: dict | None = None  # {id: why it shares another's fitness, not trained} (intake/duplicates.py)

    def entry(self, subject: str) -> FinalEntry | None:
        return next((e for e in self.entries if e.id == subject), None)

    def by_role(self, role: str) -> FinalEntry | None:
        return next((e for e in self.entries if e.role == role), None)

    def means(self) -> dict[str, float] | None:
        """The baseline's and the sparse reward's fitness means as its entries hold them (the first entry in
        each role, as selection.normalized takes them); None without both."""
        base, sparse = self.by_role("baseline"), self.by_role("sparse")
        if base is None or sparse is None or base.fitness_mean is None or sparse.fitness_mean is None:
            return None
        return {"baseline": base.fitness_mean, "sparse": sparse.fitness_mean}

    def to_json(self) -> dict:
        return {"seeds": list(self.seeds), "timesteps": self.timesteps,
                "entries": [e.to_json() for e in self.entries], "best": self.best,
                "normalization": None if self.normalization is None else dict(self.normalization),
                **({"normalization_note": self.normalization_note} if self.normalization_note else {}),
                **({"duplicates": dict(self.duplicates)} if self.duplicates else {})}

    def stored_json(self) -> dict:
        """The summary as the store keeps it (meta ``final``): of each entry its id and normalized score,
        the figures being the final table's and the candidates' (``FinalEntry.FIGURES``); its normalization
        ``true`` where it divides by its entries' means (``means``), the final table's too."""
        out = self.to_json()
        out["entries"] = [{k: v for k, v in e.items() if k not in FinalEntry.FIGURES} for e in out["entries"]]
        if self.normalization is not None and self.normalization == self.means():
            out["normalization"] = True
        return out

    @classmethod
    def from_stored(cls, data: dict, rows: list[FinalRun], search_fitness: dict[str, float | None]) -> "FinalSummary":
        """A stored summary (``stored_json``), each entry's figures computed from the final table's ``rows``
        and ``search_fitness`` (each candidate's fitness column, by id)."""
        what = "the stored final scoring (meta 'final')"
        seeds, stored = list(_need(data, "seeds", what)), _need(data, "entries", what)
        if not isinstance(stored, list):
            raise RunStoreError(f"{what}'s 'entries' is a {type(stored).__name__}; expected a JSON array")
        entries = [FinalEntry.of(_need(e, "id", "a stored final-scoring entry"), rows, seeds,
                                 search_fitness.get(e["id"]), _need(e, "normalized", "a stored final-scoring entry"))
                   for e in stored]
        summary = cls(seeds=seeds, timesteps=_need(data, "timesteps", what), entries=entries,
                      best=_need(data, "best", what), normalization=_need(data, "normalization", what),
                      normalization_note=data.get("normalization_note"), duplicates=data.get("duplicates"))
        return replace(summary, normalization=summary.means()) if summary.normalization is True else summary

    @classmethod
    def from_json(cls, data: dict) -> "FinalSummary":
        what = "the stored final scoring (meta 'final')"
        return cls(seeds=list(_need(data, "seeds", what)), timesteps=_need(data, "timesteps", what),
                   entries=[FinalEntry.from_json(e) for e in _need(data, "entries", what)],
                   best=_need(data, "best", what), normalization=_need(data, "normalization", what),
                   normalization_note=data.get("normalization_note"), duplicates=data.get("duplicates"))
