"""A candidate with the score "the best" is judged by (``Pick``): the record ``selection``'s rule gives and
everything that names a best reads (``show``, the report, the page, a designer's context). Kept apart from
the rule so that a designer's context (``design/base.py``) can name it without reaching the rule, which asks
the designer registry whether the baseline competes."""

from __future__ import annotations

from dataclasses import dataclass

from .candidates import Candidate

EVIDENCE = ("final", "confirmed", "search")  # most evidence first
_DESCRIBED = {"final": "final scoring on fresh seeds", "confirmed": "search and confirmation seeds",
              "search": "search"}


@dataclass(frozen=True)
class Pick:
    """A candidate with the score the rule ranked it by: its mean (and spread) over ``seeds`` seeds
    of the given ``evidence``, measured at ``budget_fraction`` of the search budget."""

    candidate: Candidate
    fitness: float
    fitness_std: float | None
    seeds: int
    evidence: str
    budget_fraction: float

    @property
    def id(self) -> str:
        return self.candidate.id

    def key(self) -> tuple:
        """Sort key, best first when sorted ascending (the order ``selection``'s docstring gives)."""
        return (self.seeds < 2, EVIDENCE.index(self.evidence), -self.budget_fraction, -self.fitness,
                self.candidate.seq)

    def to_json(self) -> dict:
        """``show --json``'s ``best``: the contract's ``{"id", "fitness"}`` and how it was measured."""
        return {"id": self.id, "fitness": self.fitness, "fitness_std": self.fitness_std, "seeds": self.seeds,
                "evidence": self.evidence}

    def describe(self) -> str:
        """e.g. "9.06 ± 1.1 (mean of 3 seeds; final scoring on fresh seeds)"."""
        spread = f" ± {self.fitness_std:.2g}" if self.fitness_std else ""
        over = f"mean of {self.seeds} seeds" if self.seeds > 1 else "1 seed"
        return f"{self.fitness:.4g}{spread} ({over}; {_DESCRIBED[self.evidence]})"
