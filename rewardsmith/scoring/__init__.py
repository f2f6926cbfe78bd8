"""Scorers: what a candidate is judged by, as named metrics and artifacts (``base.py``: the ``Scorer``
protocol, ``Subject``, ``ScoreCard`` and the registry). The task's ground-truth fitness is one scorer
(``fitness.py``; the fitness the run stores); a person's Bradley–Terry preference score is another
(``preference.py``, read-only). A new scorer is a module with a ``SCORER`` in the ``rewardsmith.scorers``
entry-point group."""
