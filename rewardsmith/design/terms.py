"""New reward terms built from a task's state fields, for the offline designer's ``add_term`` operator.

A field's name, doc and unit (task.py ``StateField``) say what kind of quantity it is; its observed range
(the analyzer's ``FieldSummary`` of a candidate's recorded episodes, else numbers in the doc, else a
default for the unit) sets the term's scale. Each term has a *purpose* the analyzer's findings ask for:

- "health": staying up (episodes end early): a tilt penalty ``w·(exp(−(angle/s)²) − 1)`` for an angle
  measured from upright, a height penalty below the usual height, an uprightness bonus, an alive bonus;
- "steady": a bounded penalty on a body's pitch rate;
- "progress": no progress: the change of a position the doc says is forward (``forward is +x``), the
  negated distance to a goal, a success flag;
- "effort": actions at their bounds or jittering: a penalty on the mean squared action.

Expressions read the reward's arguments as ``S``, ``A``, ``N`` (state, action, next state) and numpy as
``np`` (mutate.add_component renames them) and are bounded where they can be, so a new term cannot
dominate the reward by itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PURPOSES = ("health", "steady", "progress", "effort")
_UNIT_SPREAD = {"rad": 0.2, "deg": 10.0, "m": 0.2, "m/s": 1.0, "rad/s": 1.0, "1": 0.2}
_ALIVE_WORDS = re.compile(r"healthy|upright|alive|episode goes on", re.IGNORECASE)


@dataclass(frozen=True)
class Range:
    """What a field's values were seen to be (or what the doc and unit suggest): centre and spread."""

    centre: float
    spread: float
    low: float
    high: float
    source: str  # "observed" | "doc" | "unit"


@dataclass(frozen=True)
class Term:
    """A term ``add_term`` can add: its component name, expression, purpose and where it comes from."""

    name: str
    expression: str
    purpose: str
    field: str | None
    why: str  # "field torso_angle (rad), observed spread 0.05"


def _num(x: float) -> str:
    return repr(float(f"{x:.3g}"))


def field_range(spec, summary=None) -> Range:
    """A field's range: the analyzer's ``FieldSummary`` when there is one, else the doc's "±L" bound,
    else a default for its unit."""
    if summary is not None:
        spread = max(abs(summary.q75 - summary.q25), (summary.max - summary.min) / 4, 1e-3)
        return Range(summary.median, spread, summary.min, summary.max, "observed")
    bound = re.search(r"±\s*([0-9.]+)", spec.doc or "")
    if bound:
        value = float(bound.group(1).rstrip("."))
        return Range(0.0, value / 2, -value, value, "doc")
    spread = _UNIT_SPREAD.get(spec.unit.strip(), 1.0)
    return Range(0.0, spread, -2 * spread, 2 * spread, "unit")


def _direction(doc: str) -> float | None:
    """+1 when the doc says the field grows going forward ("forward is +x"), −1 for "backward is −x"."""
    text = (doc or "").lower()
    if re.search(r"forward is \+", text):
        return 1.0
    if re.search(r"backward is [-−]", text):
        return -1.0
    return None


def field_terms(task, summaries: dict, weight: float, directions: dict | None = None) -> list[Term]:
    """Every term the task's scalar fields (and the action) offer, with magnitude about ``weight`` per
    step; ``summaries``: field name -> the analyzer's ``FieldSummary`` (may be empty); ``directions``:
    fitness field -> +1 or −1, the way it moved in the archive's better episodes (else the doc's)."""
    out: list[Term] = []
    w = _num(weight)
    fitness = set(getattr(task, "fitness_fields", ()) or ())
    for name, spec in task.fields.items():
        summary = summaries.get(name)
        if summary is not None and getattr(summary, "kind", "scalar") != "scalar":
            continue  # a vector field: no scalar term of it here
        r = field_range(spec, summary)
        unit, doc, low = spec.unit.strip(), spec.doc or "", name.lower()
        seen = f"field {name} ({unit or 'no unit'}), {r.source} spread {_num(r.spread)}"
        field_doc = doc.lower()
        if unit == "bool":
            seen = f"field {name} (bool)"
            if name in fitness:
                out.append(Term(f"{name}_bonus", f"{w} * float(N.{name})", "progress", name, seen))
            elif _ALIVE_WORDS.search(name) or _ALIVE_WORDS.search(doc):
                out.append(Term("alive", f"{w} * float(N.{name})", "health", name, seen))
            continue
        if _is_vector_doc(spec):
            continue
        if unit in ("rad", "deg") and re.search(r"from (upright|vertical)|0 is upright", field_doc):
            s = _num(max(abs(r.low), abs(r.high), r.spread) / 2 if r.source == "observed" else r.spread)
            out.append(Term("upright", f"{w} * (float(np.exp(-(N.{name} / {s}) ** 2)) - 1.0)", "health", name,
                            seen + ": tilt from upright costs"))
        elif "upright" in low:
            out.append(Term("upright", f"{w} * float(N.{name})", "health", name, seen + ": 1 is upright"))
        elif "height" in low and unit == "m":
            health = name not in fitness
            centre = r.centre if r.source == "observed" else _doc_centre(doc)
            if centre is None:
                continue
            spread = r.spread if r.source == "observed" else max(abs(centre) / 10, 1e-3)
            if r.source != "observed":
                seen = f"field {name} ({unit}), doc's usual {_num(centre)}"
            top = "0.0" if health else "1.0"  # a health term only costs; a height the fitness wants also pays
            out.append(Term("height", f"{w} * float(np.clip((N.{name} - {_num(centre)}) / {_num(spread)}, -1.0, "
                                      f"{top}))", "health" if health else "progress", name,
                            seen + (": falling below the usual height costs" if health else ": height pays")))
        elif unit == "rad/s" and re.search(r"torso|pole|pitch", low):
            out.append(Term("steady", f"-{w} * float(np.minimum((N.{name} / {_num(r.spread)}) ** 2, 4.0)) / 4.0",
                            "steady", name, seen + ": spinning costs"))
        elif "distance" in low and unit == "m":
            out.append(Term("closer", f"-{w} * float(N.{name}) / {_num(max(abs(r.centre), r.spread))}",
                            "progress", name, seen + ": distance costs"))
        elif name in fitness and unit == "m" and (direction := (directions or {}).get(name) or _direction(doc)):
            sign = "" if direction > 0 else "-"
            step = max(r.spread, 1e-3) / 100
            out.append(Term("advance", f"{sign}{w} * float(N.{name} - S.{name}) / {_num(step)}", "progress", name,
                            seen + f": moving {name} {'up' if direction > 0 else 'down'} pays"))
    out.append(Term("effort", f"-{w} * float(np.mean(np.square(A)))", "effort", None, "the action's mean square"))
    return out


def _doc_centre(doc: str) -> float | None:
    """The usual value a doc names ("1.25 standing", "about 0.7 at the start"), or None."""
    found = re.search(r"([0-9]*\.?[0-9]+)\s*(?:m\s*)?(?:standing|at the start)", doc or "")
    return float(found.group(1)) if found else None


def _is_vector_doc(spec) -> bool:
    """Whether a field holds several values (its doc lists them: "Thigh, leg and foot joint angles")."""
    doc = (spec.doc or "").lower()
    return bool(re.search(r"\(x, y\)|\bangles\b|\bvelocities\b|forces", doc))
