"""The population's one ranking: candidates by evidence (``selection.picks``: final scoring before
confirmed seeds before a single seed, like with like across halving rungs), and, with a preference weight,
a person's Bradley–Terry score within the ground truth's noise band.

Preferences never move a candidate across what the evidence can tell apart. Candidates are compared only
inside a *tier* (the same number-of-seeds class, the same kind of evidence, the same budget fraction: a
candidate stopped at a lower rung never outranks one measured on the full budget), and inside a tier only
within a *noise band*: those whose scores are within their combined noise (|Δ| ≤ √(std_a² + std_b²), the
rule ``selection.normalization`` uses) of the band's best. Inside a band the order is by

    (fitness − band best's fitness) / their combined noise  +  W × Bradley–Terry score

so with W = 0 nothing changes, and W = 1 lets one logit of the person's preference outweigh a full noise
width of fitness. A candidate no person compared has score 0 (average); the Bradley–Terry prior already
shrinks a score resting on few answers towards 0.
"""

from __future__ import annotations

import math
from typing import Callable

from ..candidates import Candidate
from ..selection import Pick, picks


def preference_scores(preferences: list[dict]) -> dict[str, float]:
    """Each compared candidate's Bradley–Terry score (people/preferences.py) from standing preference rows."""
    from ...people.preferences import summarize

    return {s.id: s.score for s in summarize(preferences, {}).strengths}


def _tier(p: Pick) -> tuple:
    return p.key()[:3]  # (fewer than two seeds, kind of evidence, budget fraction): what picks compares first


def own_spread(p: Pick) -> float:
    """A score's noise from its own spread only (what a pick says of itself)."""
    return p.fitness_std or 0.0


def rank(candidates: list[Candidate], final=None, exclude_origins: tuple[str, ...] = (),
         scores: dict[str, float] | None = None, weight: float = 0.0,
         noise_of: Callable[[Pick], float] = own_spread) -> list[Pick]:
    """The scored candidates, best first: by evidence, then (``weight`` > 0) re-ranked within each noise
    band by the person's Bradley–Terry ``scores`` (the module docstring). ``noise_of``: a score's noise
    (the population passes the final cut-off's rule, ``training.final.score_noise``: a deterministic
    evaluation has no spread of its own, yet seeds of one reward differ)."""
    order = picks(candidates, final, exclude_origins)
    if weight <= 0 or not scores:
        return order

    def _noise(a: Pick, b: Pick) -> float:
        return math.hypot(noise_of(a), noise_of(b))

    out: list[Pick] = []
    i = 0
    while i < len(order):
        top, band = order[i], [order[i]]
        j = i + 1
        while j < len(order) and _tier(order[j]) == _tier(top) \
                and top.fitness - order[j].fitness <= _noise(top, order[j]):
            band.append(order[j])
            j += 1

        def key(p: Pick, top=top) -> tuple:
            gap = p.fitness - top.fitness
            noise = _noise(top, p)
            return (-((gap / noise if noise > 0 else 0.0) + weight * scores.get(p.id, 0.0)), p.candidate.seq)
        out += sorted(band, key=key)
        i = j
    return out
