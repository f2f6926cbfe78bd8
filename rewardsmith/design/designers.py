"""Designers propose reward code: the LLM designer (via litellm) and the offline designer (mutation).

Both take a ``DesignContext`` (the archive, the best candidate with its reflection, last generation's
failures, feedback, human edits) and give ``Proposal``s; the loop sends each through the same critic,
training and records. Only the LLM designer can repair a rejected proposal.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..analysis.components import DOMINANT_SHARE, magnitude_shares
from ..errors import LLMError
from .mutate import component_variables, crossover, drop_component, rescale_component, rescale_constant
from ..archive.store import Candidate, code_hash

FLAT_SPREAD = 0.05      # a component whose training series moves less than 5 % of its size is "flat"


@dataclass
class Proposal:
    """A reward the designer offers, with where it came from."""

    code: str
    origin: str                 # llm | offline | baseline | repair | human
    parent: str | None = None
    notes: str = ""
    messages: list = field(default_factory=list)  # the prompt the code answered (for repairs)


@dataclass
class DesignContext:
    task: object
    generation: int
    samples: int
    timesteps: int
    archive: list[Candidate]
    best: Candidate | None      # the run's best by selection.run_pick
    baseline: Candidate | None
    failures: list[Candidate]
    feedback: list[dict]
    human_edits: list[Candidate]
    seed: int = 0
    reflection: bool = True     # False: human feedback replaces the automatic reflection in the prompt
    best_score: object = None   # selection.Pick: the score that makes ``best`` the best (None: its own)


class OfflineDesigner:
    """Evolves the baseline and the archive's best by AST mutation; needs no network."""

    name = "offline"

    def propose(self, ctx: DesignContext) -> list[Proposal]:
        rng = random.Random(ctx.seed * 7919 + ctx.generation)
        scored = sorted((c for c in ctx.archive if c.fitness is not None and c.status == "scored"),
                        key=lambda c: -c.fitness)
        edits = [c for c in ctx.human_edits if c.status == "scored"]
        parents = (scored[:2] + edits) or ([ctx.baseline] if ctx.baseline else [])
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


class LLMDesigner:
    """Asks a language model for reward code (Eureka-style prompts), and for repairs."""

    name = "llm"

    def __init__(self, client, prompts, env_source: bool = False):
        self.client = client
        self.prompts = prompts
        self.env_source = env_source
        self._initial = None

    def _base_messages(self, ctx: DesignContext) -> list[dict]:
        if self._initial is None:
            self._initial = self.prompts.initial(ctx.task, ctx.timesteps, self.env_source)
        return [{"role": "system", "content": self.prompts.system()},
                {"role": "user", "content": self._initial}]

    def messages_for(self, ctx: DesignContext) -> list[dict]:
        messages = self._base_messages(ctx)
        if ctx.generation == 0 and not (ctx.best or ctx.feedback or ctx.human_edits):
            return messages
        if ctx.best is not None:
            messages.append({"role": "assistant", "content": f"```python\n{ctx.best.code.strip()}\n```"})
        from ..archive.selection import evidence_of

        score = ctx.best_score if ctx.best_score is not None else evidence_of(ctx.best) if ctx.best else None
        best = {"best_fitness": score.fitness, "best_seeds": score.seeds} if score else {}
        messages.append({"role": "user", "content": self.prompts.iteration(
            ctx.task, best=ctx.best, **best, failures=ctx.failures, feedback=ctx.feedback,
            human_edits=ctx.human_edits, show_reflection=ctx.reflection,
            baseline_fitness=None)})
        return messages

    def propose(self, ctx: DesignContext) -> list[Proposal]:
        from .llm import extract_code

        messages = self.messages_for(ctx)
        replies = self.client.complete(messages, n=ctx.samples, purpose=f"design g{ctx.generation}",
                                       seed=ctx.seed * 1000 + ctx.generation)
        proposals = []
        for reply in replies:
            parent = ctx.best.id if ctx.best is not None else None
            try:
                code = extract_code(reply.text)
                notes = ""
            except LLMError as exc:
                code, notes = reply.text or "", f"no code in the reply: {exc}"
            proposals.append(Proposal(code, "llm", parent=parent, notes=notes, messages=messages))
        return proposals

    def repair(self, proposal: Proposal, report: str) -> Proposal | None:
        from .llm import extract_code

        messages = list(proposal.messages) + [
            {"role": "assistant", "content": f"```python\n{proposal.code.strip()}\n```"},
            {"role": "user", "content": self.prompts.repair(report)},
        ]
        reply = self.client.complete(messages, n=1, purpose="repair", seed=int(code_hash(proposal.code)[:8], 16))[0]
        try:
            code = extract_code(reply.text)
        except LLMError as exc:
            return Proposal(reply.text or "", "repair", notes=f"no code in the reply: {exc}", messages=messages)
        return Proposal(code, "repair", notes="repair after the critic's rejection", messages=messages)
