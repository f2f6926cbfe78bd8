"""MAP-Elites cells: what a trained policy did, in a few coarse buckets of what the analyzer already
measures (archive/records/analysis.py), so that a different way of solving the task keeps a place of its own.

A candidate's cell is five descriptors:

- ``dominant``: the reward component that dominates (analysis/components.py: above 90 % of the reward's
  magnitude, with two or more terms), else ``mixed``;
- ``speed`` and ``height``: the mean of the task's first speed field (unit ``m/s``, else any ``…/s``) and
  first height field (a name with "height") over the evaluation states, ``low`` / ``mid`` / ``high`` against
  the *reference* policy's quartiles of the same field (below its 25th percentile, within, above its 75th);
  the reference is the run's baseline (the first candidate analysed in any run), so the buckets do not move
  as the population grows;
- ``effort``: the mean |action| as a fraction of the half-range, ``low`` (< 1/3) / ``mid`` / ``high`` (> 2/3);
- ``length``: the mean evaluation episode's length over the task's limit, ``short`` (< 1/2) / ``mid`` /
  ``full`` (≥ 99 %).

A descriptor the analysis cannot give (no such field, nothing recorded) is ``-``. A candidate without an
analysis has no cell. The elite of a cell is its best candidate by the population's ranking.
"""

from __future__ import annotations

from typing import NamedTuple

from ..candidates import Candidate
from ..records import Analysis

UNKNOWN = "-"


class Cell(NamedTuple):
    """A behaviour cell (the module docstring). ``dominant`` is a component name: reward code's text,
    shown only through ``untrusted.printable``."""

    dominant: str
    speed: str
    height: str
    effort: str
    length: str

    def label(self) -> str:
        """e.g. "forward·speed high·height mid·effort low·length full" (the dominant term's name is untrusted)."""
        return "·".join([self.dominant] + [f"{name} {value}" for name, value in zip(self._fields[1:], self[1:])])

    def to_json(self) -> dict:
        return self._asdict()


def _speed_field(analysis: Analysis) -> str | None:
    names = list(analysis.fields)
    return next((n for n in names if analysis.fields[n].unit == "m/s"), None) or \
        next((n for n in names if analysis.fields[n].unit.endswith("/s")), None)


def _height_field(analysis: Analysis) -> str | None:
    return next((n for n in analysis.fields if "height" in n), None)


def _against(analysis: Analysis, reference: Analysis | None, name: str | None) -> str:
    if name is None or reference is None or name not in analysis.fields or name not in reference.fields:
        return UNKNOWN
    value, ref = analysis.fields[name].mean, reference.fields[name]
    return "low" if value < ref.q25 else "high" if value > ref.q75 else "mid"


def _thirds(x: float | None) -> str:
    return UNKNOWN if x is None else "low" if x < 1 / 3 else "high" if x > 2 / 3 else "mid"


def cell_of(c: Candidate, reference: Analysis | None) -> Cell | None:
    """``c``'s behaviour cell measured against the ``reference`` policy's analysis (None: no analysis)."""
    from ...analysis.components import dominant_component

    a = c.analysis
    if a is None:
        return None
    dominant = dominant_component({n: comp.share for n, comp in a.components.items()}) or "mixed"
    length = a.evaluation.length
    if length is None or not a.max_steps:
        span = UNKNOWN
    else:
        fraction = length / a.max_steps
        span = "full" if fraction >= 0.99 else "short" if fraction < 0.5 else "mid"
    return Cell(dominant, _against(a, reference, _speed_field(a)), _against(a, reference, _height_field(a)),
                _thirds(a.actions.mean_abs), span)


def reference_analysis(archive: list[Candidate]) -> Analysis | None:
    """The policy the speed and height buckets are measured against: the baseline's analysis, else the
    first analysed candidate's (None while nothing is analysed)."""
    analysed = [c for c in archive if c.analysis is not None]
    if not analysed:
        return None
    return next((c for c in analysed if c.origin == "baseline"), analysed[0]).analysis


def cells(archive: list[Candidate]) -> dict[str, Cell | None]:
    """Every candidate's cell, by id."""
    reference = reference_analysis(archive)
    return {c.id: cell_of(c, reference) for c in archive}


def elites(ranked: list[Candidate], cell: dict[str, Cell | None]) -> dict[Cell, list[Candidate]]:
    """Per cell, its ranked members (the elite first), cells in the order of their elites; ``ranked``:
    candidates best first, ``cell``: each one's cell (``cells``)."""
    out: dict[Cell, list[Candidate]] = {}
    for c in ranked:
        where = cell.get(c.id)
        if where is not None:
            out.setdefault(where, []).append(c)
    return out
