"""The ground-truth scorer: the task's fitness, by the most evidence the run holds of a candidate (its
final scoring on fresh seeds, else its confirmed two-seed mean, else its search fitness:
selection.evidence_of, the rule that names the run's best)."""

from __future__ import annotations

from .base import ScoreCard


class FitnessScorer:
    """The task's fitness function over evaluation episodes (never shown to a designer)."""

    name = "fitness"

    def score(self, candidate, final=None) -> ScoreCard | None:
        """``fitness`` (mean over seeds), ``fitness_std`` where known and ``budget_fraction``."""
        from ..archive.selection import evidence_of

        pick = evidence_of(candidate, final)
        if pick is None:
            return None
        metrics = {"fitness": pick.fitness, "budget_fraction": pick.budget_fraction}
        if pick.fitness_std is not None:
            metrics["fitness_std"] = pick.fitness_std
        return ScoreCard(self.name, metrics, seeds=pick.seeds, evidence=pick.evidence)


SCORER = FitnessScorer()
