"""The offline designer's mutation operators, and what it reads of a parent before it applies one.

``read`` turns a parent into a ``Reading``: the analyzer's findings (or, for a candidate the analyzer has
not seen, what its component statistics say), which terms dominate, which are flat, which the reflection
calls hacked, each component's size and the observed ranges of the task's fields. Every operator obeys
the findings (issue 23):

- a term that dominates, or that reward hacking is blamed on, is never made larger: ``scale_up``,
  ``constant``, ``tune_threshold`` and ``crossover`` leave it alone; ``scale_down`` and ``reshape``
  (bounded shapes) go for it first;
- "falls early" makes ``add_term`` add a term about staying up (a tilt or height penalty from a state
  field) and ``scale_up`` raise a term that reads a health field;
- a flat term is what ``drop`` and ``reshape`` go for first.

An operator gives a ``Mutation`` (the code and a note saying what it did and why) or None where it does
not apply; ``apply`` runs one by name.
"""

from __future__ import annotations

import ast
import random
from dataclasses import dataclass, field

from ..analysis.components import DOMINANT_SHARE, magnitude_shares
from . import mutate
from .terms import PURPOSES, field_terms

OPERATORS = ("scale_down", "scale_up", "drop", "reshape", "add_term", "tune_threshold", "crossover", "constant")
FLAT_SPREAD = 0.05  # a component whose training series moves less than 5 % of its size is "flat"
NO_FINDING = "none"
# which new terms a finding asks for (add_term), first the likeliest
WANTED = {"early_termination": ("health", "steady"), "no_progress": ("progress",),
          "action_saturation": ("effort",), "jitter": ("effort",)}


@dataclass
class Reading:
    """What the designer reads of a parent before mutating it."""

    id: str
    findings: tuple[str, ...]              # the analyzer's finding names; (NO_FINDING,) when none
    briefs: dict[str, str]                 # finding -> its few words ("falls early in 3/3 episodes")
    shares: dict[str, float]               # component -> share of the reward's magnitude
    per_step: dict[str, float]             # component -> mean value per step (signed)
    signs: dict[str, str] = field(default_factory=dict)  # component -> "+", "-", "±" or "0" (its values' signs)
    dominant: set[str] = field(default_factory=set)
    flat: set[str] = field(default_factory=set)
    hacked: set[str] = field(default_factory=set)
    summaries: dict = field(default_factory=dict)   # field -> the analyzer's FieldSummary
    directions: dict = field(default_factory=dict)  # fitness field -> +1/-1, the way better episodes moved it

    @property
    def protected(self) -> set[str]:
        """The terms no operator may make larger: those that dominate and those called hacked."""
        return self.dominant | self.hacked

    @property
    def magnitude(self) -> float:
        """The reward's size per step (sum of its components' |mean|), 1 when unknown."""
        return sum(abs(v) for v in self.per_step.values()) or 1.0

    def why(self, finding: str) -> str:
        return f"{self.briefs.get(finding) or finding} in parent {self.id}"


def component_stats(candidate) -> dict[str, dict]:
    """Per component: share of the reward magnitude (the analyzer's, else from the last training
    snapshot), mean per step and whether its training series is flat."""
    comps = (candidate.result.components if candidate.result else None) or {}
    analysed = candidate.analysis.components if candidate.analysis else {}
    shares = magnitude_shares({n: [c.final or 0.0] for n, c in comps.items()})
    shares.update({n: a.share for n, a in analysed.items() if n in comps and a.share is not None})
    out = {}
    for name, entry in comps.items():
        series = [v for v in entry.series if v == v]
        spread = (max(series) - min(series)) if series else 0.0
        size = max(abs(v) for v in series) if series else 0.0
        mean = analysed[name].mean_per_step if name in analysed and analysed[name].mean_per_step is not None \
            else (entry.final or 0.0)
        sign = analysed[name].sign if name in analysed else _sign(series)
        out[name] = {"share": shares.get(name) or 0.0, "flat": size == 0 or spread < FLAT_SPREAD * size,
                     "mean": mean, "sign": sign}
    for name, a in analysed.items():  # a component the analyzer saw that no snapshot recorded
        out.setdefault(name, {"share": a.share or 0.0, "flat": False, "mean": a.mean_per_step or 0.0, "sign": a.sign})
    return out


def _sign(series) -> str:
    """"+", "-", "±" or "0": the signs a component's values took."""
    pos, neg = any(v > 0 for v in series), any(v < 0 for v in series)
    return "±" if pos and neg else "+" if pos else "-" if neg else "0"


def read(candidate, archive=()) -> Reading:
    """What ``candidate`` tells the designer: its findings, dominant, flat and hacked terms, sizes and the
    field ranges its episodes (else the archive's latest analysed candidate's) showed."""
    stats = component_stats(candidate)
    analysis = candidate.analysis
    found = list(analysis.findings) if analysis else []
    names = [f.name for f in found]
    briefs = {f.name: f.brief or f.name for f in found}
    subjects = {f.name: set(f.subjects or []) for f in found}
    big = {n for n, s in stats.items() if s["share"] > DOMINANT_SHARE} if len(stats) >= 2 else set()
    flat = {n for n, s in stats.items() if s["flat"]} if analysis is None else subjects.get("flat_component", set())
    if analysis is None:  # no analysis yet: what the statistics say stands in for the detectors
        for name, terms in (("dominating_component", big), ("flat_component", flat)):
            if terms:
                names.append(name)
                briefs[name] = f"{', '.join(sorted(terms))} {'dominating' if name[0] == 'd' else 'flat in training'}"
    dominant = subjects.get("dominating_component", set()) | big
    hacked: set[str] = set()
    if "reward_hacking" in names:  # the hacked term: the one named, else the dominant, else the largest
        hacked = subjects.get("reward_hacking") or dominant or (
            {max(stats, key=lambda n: stats[n]["share"])} if stats else set())
    source = analysis if analysis and analysis.fields else next(
        (c.analysis for c in reversed(list(archive)) if c.analysis and c.analysis.fields), None)
    return Reading(id=candidate.id, findings=tuple(names) or (NO_FINDING,), briefs=briefs,
                   shares={n: s["share"] for n, s in stats.items()}, per_step={n: s["mean"] for n, s in stats.items()},
                   signs={n: s["sign"] for n, s in stats.items()},
                   dominant=dominant, flat=flat, hacked=set(hacked),
                   summaries=dict(source.fields) if source else {}, directions=directions(archive))


def directions(archive) -> dict[str, float]:
    """Per fitness field, +1 or −1: the sign of the correlation between how far an evaluation episode
    moved the field and its fitness, over the archive's analysed episodes (at least 4, |r| > 0.5)."""
    moved: dict[str, list[tuple[float, float]]] = {}
    for c in archive:
        for e in (c.analysis.episodes if c.analysis else []):
            for name, path in e.fields.items():
                if e.fitness is not None:
                    moved.setdefault(name, []).append((path.last - path.first, e.fitness))
    out = {}
    for name, pairs in moved.items():
        if len(pairs) >= 4:
            import numpy as np

            x, y = np.array(pairs).T
            if np.std(x) > 1e-12 and np.std(y) > 1e-12:
                r = float(np.corrcoef(x, y)[0, 1])
                if abs(r) > 0.5:
                    out[name] = 1.0 if r > 0 else -1.0
    return out


@dataclass(frozen=True)
class Mutation:
    code: str
    note: str


def _reads(code: str, name: str, names: bool = False) -> set[str]:
    """The attributes (state fields) component ``name``'s assignments read (with ``names``, also the
    variables and parameters they read, an action say)."""
    var = mutate.component_variables(code).get(name)
    fn = mutate._compute_reward(ast.parse(code))
    if var is None or fn is None:
        return set()
    values = [a.value for a in mutate._assignments(fn, var) if a.value is not None]  # _assignments keeps those
    attrs = {n.attr for v in values for n in ast.walk(v) if isinstance(n, ast.Attribute)}
    params = {a.arg for a in fn.args.args[:3]}
    used = {n.id for v in values for n in ast.walk(v) if isinstance(n, ast.Name) and n.id not in params
            and not (isinstance(n.ctx, ast.Load) and n.id in ("float", "int", "abs", "min", "max"))}
    return attrs | used if names else attrs


def _health_fields(task) -> set[str]:
    return {t.field for t in field_terms(task, {}, 1.0) if t.purpose in ("health", "steady") and t.field}


def _pick(rng, preferred, allowed):
    pool = sorted(preferred & allowed) or sorted(allowed)
    return rng.choice(pool) if pool else None


def scale_down(code, r: Reading, task, rng, others):
    mutable = set(mutate.component_variables(code))
    if len(mutable) < 2:
        return None
    name = _pick(rng, r.protected, mutable)
    factor = rng.choice([0.25, 0.5])
    why = "dominating" if name in r.dominant else "called hacked" if name in r.hacked else "exploring its weight"
    new = mutate.rescale_component(code, name, factor)
    return new and Mutation(new, f"scaled component {name!r} by {factor:g} ({why})")


def scale_up(code, r: Reading, task, rng, others):
    mutable = set(mutate.component_variables(code)) - r.protected
    health = {n for n in mutable if _reads(code, n) & _health_fields(task)}
    fitness = {n for n in mutable if _reads(code, n) & set(task.fitness_fields)}
    wanted = health if "early_termination" in r.findings else fitness if "no_progress" in r.findings else set()
    name = _pick(rng, wanted, mutable)
    if name is None:
        return None
    factor = rng.choice([1.5, 2.0])
    why = (f"raise a health term: {r.why('early_termination')}" if name in wanted and name in health else
           f"raise a progress term: {r.why('no_progress')}" if name in wanted else "exploring its weight")
    new = mutate.rescale_component(code, name, factor)
    return new and Mutation(new, f"scaled component {name!r} by {factor:g} ({why})")


def drop(code, r: Reading, task, rng, others):
    mutable = set(mutate.component_variables(code))
    # a progress term (it reads a fitness field) goes only when flat; a health term not while it falls early
    mutable -= {n for n in mutable if _reads(code, n) & set(task.fitness_fields) and n not in r.flat}
    if "early_termination" in r.findings:
        mutable -= {n for n in mutable if _reads(code, n) & _health_fields(task)}
    if len(mutate.component_variables(code)) < 2 or not mutable:
        return None
    name = _pick(rng, r.flat, mutable)
    new = mutate.drop_component(code, name)
    return new and Mutation(new, f"dropped component {name!r}" + (" (flat in training)" if name in r.flat else ""))


def reshape(code, r: Reading, task, rng, others):
    # a term of on/off fields alone only scales when reshaped (clip(1·healthy, ±0.5) is 0.5·healthy)
    switches = {n for n, f in task.fields.items() if f.unit.strip() == "bool"}
    mutable = {n for n in mutate.component_variables(code) if not _reads(code, n, names=True) <= switches}
    # beyond the terms the findings name, only penalties: bounding a progress term would cap the progress
    mutable &= r.protected | r.flat | {n for n, sign in r.signs.items() if sign == "-"}
    # of one sign only: there the mean per step is the mean size; a term of both signs (shaping) averages
    # near 0, and a bound from that would erase it
    mutable &= {n for n, sign in r.signs.items() if sign in "+-"}
    named = r.protected | r.flat
    if named and not named & mutable:
        return None  # the findings name terms, and none of them can be reshaped: not another one instead
    name = _pick(rng, named, mutable)
    if name is None:
        return None
    size = abs(r.per_step.get(name) or 0.0) or 1.0
    penalty = r.signs[name] == "-"
    if name in r.protected:  # bound it below its present size
        shape, scale = rng.choice(["saturating", "clipped"]), size / 2
        why = "dominating" if name in r.dominant else "called hacked"
    else:
        shape = rng.choice(["exponential", "thresholded", "clipped"] if penalty else ["thresholded", "saturating"])
        scale = size / 4 if shape == "thresholded" else size * 2
        why = "flat in training" if name in r.flat else "exploring its shape"
    new = mutate.reshape_component(code, name, shape, float(f"{scale:.3g}"), penalty=penalty)
    return new and Mutation(new, f"reshaped component {name!r} to {shape} (scale {scale:.3g}; {why})")


def add_term(code, r: Reading, task, rng, others):
    weight = float(f"{rng.choice([0.1, 0.25, 0.5]) * r.magnitude:.3g}")
    terms = field_terms(task, r.summaries, weight, r.directions)
    tree = ast.parse(code)
    read_now = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    fn = mutate._compute_reward(tree)
    action = fn.args.args[1].arg if fn is not None and len(fn.args.args) > 1 else "action"
    uses_action = any(isinstance(n, ast.Name) and n.id == action for n in ast.walk(fn)) if fn else True
    fresh = [t for t in terms if (t.field not in read_now if t.field else not uses_action)]
    wanted = [p for f in r.findings for p in WANTED.get(f, ())]
    for purpose in wanted + [None]:
        pool = [t for t in fresh if purpose is None or t.purpose == purpose]
        if pool:
            term = rng.choice(pool)
            break
    else:
        return None
    made = mutate.add_component(code, term.name, term.expression)
    if made is None:
        return None
    cause = next((f for f in r.findings if term.purpose in WANTED.get(f, ())), None)
    why = r.why(cause) if cause else f"exploring a {term.purpose} term"
    return Mutation(made[0], f"add term {made[1]} from {term.why}, weight {weight:g}: {why}")


def tune_threshold(code, r: Reading, task, rng, others):
    factor = rng.choice([0.8, 0.9, 1.1, 1.25])
    tuned = mutate.tune_threshold(code, rng, factor, avoid=r.protected)
    return tuned and Mutation(tuned[0], f"tuned a threshold from {tuned[1]:g} to {tuned[2]:g}")


def crossover(code, r: Reading, task, rng, others):
    pool = [o for o in others if o.id != r.id and o.code != code]
    if not pool:
        return None
    other = rng.choice(pool)
    crossed = mutate.crossover(code, other.code, rng)
    if crossed is None or any(crossed[1] == f"took component {n!r} from the other parent" for n in r.protected):
        return None  # replacing a dominating or hacked term by another's could make it larger
    return Mutation(crossed[0], f"{crossed[1]} ({other.id})")


def constant(code, r: Reading, task, rng, others):
    factor = rng.choice([0.5, 0.8, 1.25, 2.0])
    new = mutate.rescale_constant(code, rng, factor, avoid=r.protected)
    if not new:
        return None
    pairs = zip(mutate._literal_walk(ast.parse(code)), mutate._literal_walk(ast.parse(new)))
    literals = [(a.value, b.value) for a, b in pairs if a.value != b.value]
    which = f" ({literals[0][0]:g} → {literals[0][1]:g})" if literals else ""
    return Mutation(new, f"scaled a constant by {factor:g}{which}")


TABLE = {"scale_down": scale_down, "scale_up": scale_up, "drop": drop, "reshape": reshape, "add_term": add_term,
         "tune_threshold": tune_threshold, "crossover": crossover, "constant": constant}
assert tuple(TABLE) == OPERATORS and set(PURPOSES) >= {p for v in WANTED.values() for p in v}


def apply(operator: str, code: str, reading: Reading, task, rng: random.Random, others=()) -> Mutation | None:
    """``operator``'s mutation of ``code`` (the parent's) with its note prefixed by the operator's name
    ("add_term: add term upright from field torso_angle ..."), or None where it does not apply."""
    made = TABLE[operator](code, reading, task, rng, list(others))
    if not made or canonical(made.code) == canonical(code):
        return None  # the parent again, up to layout and comments (a term crossed in that was already the same)
    return Mutation(made.code, f"{operator}: {made.note}")


def canonical(code: str) -> str:
    """Code as its syntax tree prints it: the same for two rewards that differ only in layout, comments,
    quotes or how a literal is written (1e-3 and 0.001)."""
    try:
        return ast.unparse(ast.parse(code))
    except SyntaxError:
        return code
