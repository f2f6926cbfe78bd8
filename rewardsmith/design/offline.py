"""The offline designer: evolves the baseline and the archive's best by AST mutation (no network).

Like every designer it takes a ``DesignContext`` (the archive, the best candidate with its reflection,
last generation's failures, feedback, human edits) and gives ``Proposal``s (design/base.py).
"""

from __future__ import annotations

import random

from ..analysis.components import DOMINANT_SHARE, magnitude_shares
from ..archive.candidates import Candidate, code_hash
from .base import DesignContext, DesignerPlugin, Proposal
from .mutate import component_variables, crossover, drop_component, rescale_component, rescale_constant

FLAT_SPREAD = 0.05      # a component whose training series moves less than 5 % of its size is "flat"


class OfflineDesigner:
    """Mutates the parents the population chose (``ctx.parents``) by AST mutation; needs no network."""

    name = "offline"

    def propose(self, ctx: DesignContext) -> list[Proposal]:
        rng = random.Random(ctx.seed * 7919 + ctx.generation)
        parents = ctx.parents or []  # the population's choice (archive/population.py)
        if not parents:
            return [Proposal(ctx.task.baseline, "baseline", notes="the task's human-written reward")]
        seen = {c.code_hash for c in ctx.archive}
        proposals: list[Proposal] = []
        attempts = 0
        while len(proposals) < ctx.samples and attempts < ctx.samples * 20:
            attempts += 1
            parent = parents[0] if rng.random() < 0.7 or len(parents) == 1 else rng.choice(parents[1:])
            other = rng.choice([p for p in parents if p.id != parent.id] or [parent])
            mutated = self.mutate(parent, other, rng)
            if mutated is None:
                continue
            code, note = mutated
            digest = code_hash(code)
            if digest in seen:
                continue
            seen.add(digest)
            proposals.append(Proposal(code, "offline", parent=parent.id, notes=note))
        return proposals

    def mutate(self, parent: Candidate, other: Candidate, rng: random.Random) -> tuple[str, str] | None:
        """One or two mutations of ``parent``'s code, guided by its component statistics."""
        code, notes = parent.code, []
        for _ in range(1 if rng.random() < 0.6 else 2):
            step = self._one(code, parent, other, rng)
            if step is None:
                continue
            code, note = step
            notes.append(note)
        return (code, "; ".join(notes)) if notes else None

    def _one(self, code, parent, other, rng):
        mutable = component_variables(code)
        stats = _component_stats(parent)
        roll = rng.random()
        if mutable and stats and roll < 0.45:
            flat = [n for n in mutable if stats.get(n, {}).get("flat")]
            dominant = [n for n in mutable if stats.get(n, {}).get("share", 0) > DOMINANT_SHARE]
            if dominant and rng.random() < 0.6:
                name, factor = rng.choice(dominant), rng.choice([0.25, 0.5])
                why = "dominating"
            elif flat:
                name, factor = rng.choice(flat), rng.choice([2.0, 4.0])
                why = "flat in training"
            else:
                name, factor = rng.choice(sorted(mutable)), rng.choice([0.5, 2.0])
                why = "exploring its weight"
            new = rescale_component(code, name, factor)
            return new and (new, f"scaled component {name!r} by {factor:g} ({why})")
        if mutable and len(mutable) > 1 and roll < 0.55:
            name = rng.choice(sorted(mutable))
            new = drop_component(code, name)
            return new and (new, f"dropped component {name!r}")
        if other is not None and other.id != parent.id and roll < 0.75:
            crossed = crossover(code, other.code, rng)
            if crossed:
                return crossed[0], f"{crossed[1]} ({other.id})"
        factor = rng.choice([0.5, 0.8, 1.25, 2.0])
        new = rescale_constant(code, rng, factor)
        return new and (new, f"scaled a constant by {factor:g}")

    def repair(self, proposal: Proposal, report: str) -> Proposal | None:
        return None


def _component_stats(candidate: Candidate) -> dict[str, dict]:
    """Per component: share of the reward magnitude (the analyzer's, else from the last training
    snapshot) and whether its training series is flat."""
    comps = (candidate.result.components if candidate.result else None) or {}
    analysed = candidate.analysis.components if candidate.analysis else {}
    shares = magnitude_shares({n: [c.final or 0.0] for n, c in comps.items()})
    shares.update({n: a.share for n, a in analysed.items() if n in comps and a.share is not None})
    out = {}
    for name, entry in comps.items():
        series = [v for v in entry.series if v == v]
        spread = (max(series) - min(series)) if series else 0.0
        size = max(abs(v) for v in series) if series else 0.0
        out[name] = {"share": shares.get(name) or 0.0, "flat": size == 0 or spread < FLAT_SPREAD * size}
    return out


DESIGNER = DesignerPlugin("offline", lambda config, client: OfflineDesigner(), baseline_competes=True,
                          title="offline designer", label="offline designer")
