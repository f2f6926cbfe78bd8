"""The ground-truth scorer: the task's fitness. Of a candidate just evaluated, the mean (and population
std) over its seeds of the evaluation job's fitness; of a candidate as the run holds it, by the most
evidence the run holds (its final scoring on fresh seeds, else its confirmed two-seed mean, else its
search fitness: selection.evidence_of, the rule that names the run's best)."""

from __future__ import annotations

import statistics

from .base import ScoreCard, Subject


class FitnessScorer:
    """The task's fitness function over evaluation episodes (never shown to a designer)."""

    name = "fitness"

    def score(self, subject: Subject) -> ScoreCard | None:
        """``fitness`` (mean over seeds) and ``fitness_std``; of a held candidate also ``budget_fraction``
        (``fitness_std`` where known)."""
        if subject.runs is not None:
            values = [r.fitness for r in subject.runs]
            if not values:
                return None
            std = statistics.pstdev(values) if len(values) > 1 else 0.0
            return ScoreCard(self.name, {"fitness": statistics.fmean(values), "fitness_std": std},
                             seeds=len(values), evidence="evaluation")
        if subject.candidate is None:
            return None
        from ..archive.selection import evidence_of

        pick = evidence_of(subject.candidate, subject.final)
        if pick is None:
            return None
        metrics = {"fitness": pick.fitness}
        if pick.fitness_std is not None:
            metrics["fitness_std"] = pick.fitness_std
        metrics["budget_fraction"] = pick.budget_fraction
        return ScoreCard(self.name, metrics, seeds=pick.seeds, evidence=pick.evidence)


SCORER = FitnessScorer()
