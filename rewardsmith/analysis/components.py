"""What a reward's components say about it, defined once for the critic, the analyzer and the designer.

A component's *share* is its mean absolute value per step over the sum of all components' mean absolute
values per step (measured on whatever transitions the caller has: the critic's random-policy probe, the
analyzer's evaluation episodes). A component *dominates* when there are at least two and its share is
above ``DOMINANT_SHARE``: the other terms then barely move the total.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

DOMINANT_SHARE = 0.9


def magnitude_shares(per_step: Mapping[str, Sequence[float] | np.ndarray]) -> dict[str, float | None]:
    """Each component's share of the reward's magnitude (None for all when every component is zero)."""
    magnitude = {name: float(np.mean(np.abs(np.asarray(values, dtype=float)))) if len(values) else 0.0
                 for name, values in per_step.items()}
    whole = sum(magnitude.values())
    return {name: (m / whole if whole > 0 else None) for name, m in magnitude.items()}


def dominant_component(shares: Mapping[str, float | None]) -> str | None:
    """The component that dominates the reward (see the module docstring), or None."""
    if len(shares) < 2:
        return None
    name, share = max(shares.items(), key=lambda item: item[1] or 0.0)
    return name if share is not None and share > DOMINANT_SHARE else None
