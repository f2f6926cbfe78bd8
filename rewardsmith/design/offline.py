"""The offline designer: mutates the parents the population chose by AST mutation (no network), choosing
each mutation from what the analyzer found and from what worked before in this run.

Sample i of a generation builds on ``ctx.parents[i % len(ctx.parents)]`` (the population interleaves its
islands' parents) and may cross with ``ctx.inspirations`` (other cells' elites). For each sample it reads
the parent (design/operators.py ``read``: findings, dominating, flat and hacked terms, field ranges),
draws an operator by Thompson sampling from how often each operator's children beat their parent on
parents with the same findings (design/learning.py, recounted from the archive, so a resumed run chooses
the same), and applies it (design/operators.py, design/mutate.py). An operator that does not apply, or
whose child is already in the archive, is drawn again less likely. ``Proposal.notes`` names the operator
and why: "add_term: add term upright from field torso_angle (rad) ...: falls early in 3/3 episodes in
parent c3 [first try on such a parent]".
"""

from __future__ import annotations

import random

from ..archive.candidates import code_hash
from .base import DesignContext, DesignerPlugin, Proposal
from .learning import OperatorStats, summary
from .operators import OPERATORS, apply, canonical, component_stats, read

_component_stats = component_stats  # where tests and older callers look for it
ATTEMPTS = 24  # draws per sample before it gives up on a parent


class OfflineDesigner:
    """Mutates the parents the population chose (``ctx.parents``) by AST mutation; needs no network."""

    name = "offline"

    def propose(self, ctx: DesignContext) -> list[Proposal]:
        parents = ctx.parents or []  # the population's choice (archive/population/)
        if not parents:
            return [Proposal(ctx.task.baseline, "baseline", notes="the task's human-written reward")]
        rng = random.Random(f"offline:{ctx.seed}:{ctx.generation}")
        earlier = [c for c in ctx.archive if c.generation < ctx.generation]  # a resumed design phase sees the same
        stats = OperatorStats.from_archive(earlier, ctx.duplicates)
        # what was proposed before, up to layout and comments (the baseline's text keeps its comments)
        seen = {code_hash(canonical(c.code)) for c in earlier + list(ctx.duplicates)}
        others = list(ctx.inspirations) + list(parents)
        readings: dict[str, object] = {}
        proposals: list[Proposal] = []
        for i in range(ctx.samples):
            parent = parents[i % len(parents)]
            if parent.id not in readings:
                readings[parent.id] = read(parent, earlier)
            proposal = self._one(parent, readings[parent.id], ctx.task, stats, seen, others, rng)
            if proposal is not None:
                seen.add(code_hash(canonical(proposal.code)))
                proposals.append(proposal)
        return proposals

    def _one(self, parent, reading, task, stats: OperatorStats, seen: set, others, rng) -> Proposal | None:
        """One child of ``parent``: operators drawn until one gives new code (None after ATTEMPTS draws)."""
        penalties: dict[str, float] = {}
        available = list(OPERATORS)
        for _ in range(ATTEMPTS):
            if not available:
                return None
            operator = stats.choose(available, reading, rng, penalties)
            made = apply(operator, parent.code, reading, task, rng, others)
            if made is None:
                available.remove(operator)  # does not apply to this parent
            elif code_hash(canonical(made.code)) in seen:
                penalties[operator] = penalties.get(operator, 0.0) + 1.0  # a duplicate: less likely again
            else:
                return Proposal(made.code, "offline", parent=parent.id,
                                notes=f"{made.note} [{summary(stats, reading, operator)}]")
        return None

    def repair(self, proposal: Proposal, report: str) -> Proposal | None:
        return None


DESIGNER = DesignerPlugin("offline", lambda config, client: OfflineDesigner(), baseline_competes=True,
                          title="offline designer", label="offline designer")
