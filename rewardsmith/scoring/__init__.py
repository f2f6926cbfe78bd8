"""Scorers: what a candidate is judged by, as named metrics and artifacts (``base.py``: the ``Scorer``
protocol, ``ScoreCard`` and the registry). The task's ground-truth fitness is one scorer (``fitness.py``);
a person's preferences will be another."""
