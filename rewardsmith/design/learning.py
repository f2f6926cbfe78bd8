"""What the offline designer learns from the archive: how often each mutation operator, applied to a
parent with a given analyzer finding, gave a child that beat its parent, and a Thompson-sampling choice
of the next operator from that.

Nothing is stored: ``OperatorStats.from_archive`` recounts every generation from the candidates (their
``notes`` name the operator, their ``parent`` the parent, whose analysis holds the findings), so a
resumed run counts the same and chooses the same. A child beat its parent when its most evidence
(``archive.selection.evidence_of``) is higher at a like budget: like with like (a one-seed child against
a parent with a confirmation seed: both on the search seed), compared at the same halving rung where they
were scored at one, else a child stopped at a lower rung than its parent lost; a child rejected, failed
or recorded as a duplicate lost.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass

from .operators import OPERATORS, Reading

# a rule's push on an operator's prior (Beta(1 + boost, 1)) for a parent with the finding
PRIOR_BOOST = {
    "early_termination": {"add_term": 2.0, "scale_up": 1.0},
    "dominating_component": {"scale_down": 2.0, "reshape": 1.5},
    "reward_hacking": {"scale_down": 1.5, "reshape": 1.5},
    "flat_component": {"drop": 1.0, "reshape": 1.0},
    "no_progress": {"add_term": 1.0, "scale_up": 1.0},
    "action_saturation": {"add_term": 1.0},
    "jitter": {"add_term": 1.0},
}
OTHER_FINDINGS_WEIGHT = 0.5  # outcomes on parents with other findings count half
DUPLICATE_PENALTY = 2.0      # failures added per duplicate an operator made from the same parent
_LEGACY = ((re.compile(r"scaled component '.*' by ([0-9.]+)"), None), (re.compile(r"dropped component"), "drop"),
           (re.compile(r"(took|added) component .* from the other parent"), "crossover"),
           (re.compile(r"scaled a constant"), "constant"))


def operators_of(notes: str | None) -> list[str]:
    """The operators a child's notes name ("add_term: ..."; releases before 0.3 wrote only the
    description: "scaled component 'x' by 0.5" is scale_down)."""
    found = []
    for part in (notes or "").split("; "):
        head = part.split(":", 1)[0].strip()
        if head in OPERATORS:
            found.append(head)
            continue
        for pattern, name in _LEGACY:
            match = pattern.match(part.strip())
            if match:
                found.append(name or ("scale_down" if float(match.group(1).rstrip(".")) < 1 else "scale_up"))
                break
    return found


def _rung_scores(c) -> dict[int, float]:
    halving = c.result.halving if c.result else None
    if halving and halving.history:
        return {halving.rungs[r]: f for r, f in halving.history.items() if r < len(halving.rungs)}
    return {c.timesteps: c.fitness} if c.timesteps and c.fitness is not None else {}


def beat_parent(child, parent) -> bool | None:
    """Whether ``child`` scored above ``parent`` at a like budget (None: the parent has no score, or
    the child is not done yet)."""
    from ..archive.candidates import FAILED, REJECTED, SCORED
    from ..archive.selection import evidence_of

    if getattr(child, "duplicate_of", None) or child.status in (REJECTED, FAILED):
        return False
    if child.status != SCORED:
        return None
    mine, theirs = evidence_of(child), evidence_of(parent)
    if theirs is None:
        return None
    if mine is None:
        return False
    if mine.budget_fraction == theirs.budget_fraction:
        if (mine.evidence, mine.seeds) != (theirs.evidence, theirs.seeds):
            # a one-seed child against a parent's two-seed mean: compare what both have, the search seed
            return child.fitness > parent.fitness
        return mine.fitness > theirs.fitness
    ours, others = _rung_scores(child), _rung_scores(parent)
    common = set(ours) & set(others)
    if common:
        at = max(common)
        return ours[at] > others[at]
    return mine.budget_fraction > theirs.budget_fraction and mine.fitness > theirs.fitness


@dataclass(frozen=True)
class Outcome:
    """One child of an operator: its parent, the parent's findings, and whether it beat the parent."""

    child: str
    parent: str
    operator: str
    findings: tuple[str, ...]
    won: bool
    duplicate: bool


class OperatorStats:
    """Per operator and finding, children that beat their parent out of those judged."""

    def __init__(self, outcomes: list[Outcome]):
        self.outcomes = outcomes
        self.duplicates = Counter((o.operator, o.parent) for o in outcomes if o.duplicate)

    @classmethod
    def from_archive(cls, archive, duplicates=(), findings_of=None) -> "OperatorStats":
        """Counts the offline children of ``archive`` (and ``duplicates``, the proposals recorded as
        duplicates); ``findings_of(parent)``: its finding names (default: ``operators.read``'s)."""
        from .operators import read

        by_id = {c.id: c for c in archive}
        findings_of = findings_of or (lambda p: read(p).findings)
        cache, out, seen, duplicate_ids = {}, [], set(), {c.id for c in duplicates}
        for child in list(archive) + list(duplicates):
            if child.id in seen or child.parent not in by_id or child.origin not in ("offline", "repair"):
                continue
            seen.add(child.id)
            ops = operators_of(child.notes)
            won = False if child.id in duplicate_ids else beat_parent(child, by_id[child.parent])
            if not ops or won is None:
                continue
            if child.parent not in cache:
                cache[child.parent] = tuple(findings_of(by_id[child.parent]))
            duplicate = bool(getattr(child, "duplicate_of", None)) or child.id in duplicate_ids
            out += [Outcome(child.id, child.parent, op, cache[child.parent], won, duplicate) for op in ops]
        return cls(out)

    def table(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(operator, finding) -> (children that beat their parent, children judged)."""
        wins: Counter[tuple[str, str]] = Counter()
        tries: Counter[tuple[str, str]] = Counter()
        for o in self.outcomes:
            for f in o.findings:
                tries[o.operator, f] += 1
                wins[o.operator, f] += o.won
        return {key: (wins[key], tries[key]) for key in sorted(tries)}

    def record(self, operator: str, findings: tuple[str, ...]) -> tuple[int, int]:
        """(wins, tries) of ``operator`` on parents sharing one of ``findings``."""
        rows = [o for o in self.outcomes if o.operator == operator and set(o.findings) & set(findings)]
        return sum(o.won for o in rows), len(rows)

    def posterior(self, operator: str, reading: Reading, penalty: float = 0.0) -> tuple[float, float]:
        """Beta(a, b) of ``operator`` beating the parent ``reading`` reads: a prior the findings push,
        outcomes on parents with one of its findings, half of those on others, and failures for every
        duplicate it made from this parent (``penalty`` more for those made in this generation)."""
        a = 1.0 + sum(PRIOR_BOOST.get(f, {}).get(operator, 0.0) for f in reading.findings)
        b = 1.0 + DUPLICATE_PENALTY * (self.duplicates[operator, reading.id] + penalty)
        for o in self.outcomes:
            if o.operator != operator:
                continue
            weight = 1.0 if set(o.findings) & set(reading.findings) else OTHER_FINDINGS_WEIGHT
            if o.won:
                a += weight
            else:
                b += weight
        return a, b

    def choose(self, operators, reading: Reading, rng: random.Random, penalties=None) -> str:
        """The operator with the highest draw from its posterior (Thompson sampling; ``rng`` decides)."""
        penalties = penalties or {}
        draws = [(rng.betavariate(*self.posterior(op, reading, penalties.get(op, 0.0))), op) for op in operators]
        return max(draws)[1]


def summary(stats: OperatorStats, reading: Reading, operator: str) -> str:
    """A few words on what the archive says of ``operator`` for this parent: "2 of 5 beat their parent"."""
    wins, tries = stats.record(operator, reading.findings)
    return f"{wins} of {tries} such children beat their parent" if tries else "first try on such a parent"
