"""A person's preference scorer: the candidate's Bradley–Terry score from the run's standing preferences
(people/preferences.py), with its uncertainty. Read-only: it reports beside the ground truth and never
changes a fitness, a ranking or what is exported."""

from __future__ import annotations

from .base import ScoreCard, Subject


class PreferenceScorer:
    """How people's comparisons rank the candidate (``preference``: the Bradley–Terry score, 0 = average)."""

    name = "preference"

    def score(self, subject: Subject) -> ScoreCard | None:
        """``preference``, ``preference_sd``, ``wins`` and ``comparisons``; None when no informative
        preference names the candidate."""
        if subject.id is None or not subject.preferences:
            return None
        from ..people.preferences import summarize

        strength = next((s for s in summarize(list(subject.preferences), {}).strengths if s.id == subject.id), None)
        if strength is None:
            return None
        return ScoreCard(self.name, {"preference": strength.score, "preference_sd": strength.sd,
                                     "wins": strength.wins, "comparisons": float(strength.comparisons)},
                         seeds=0, evidence="preferences")


SCORER = PreferenceScorer()
