"""The LLM designer: asks a language model for reward code (Eureka-style prompts), and for repairs.

A generation's samples are asked for per parent (the population's contract, design.base.DesignContext):
sample i builds on ``ctx.parents[i % len(ctx.parents)]``, so one call per parent asks for that parent's
share of the samples, and each island's samples see their own parent beside the run's best. Every prompt
also shows the population's inspirations (elites of other behaviour cells), a person's latest preferences
with the code diff between the preferred and the rejected reward and their reasons (ICPL), and the
proposals recorded as duplicates of earlier rewards. The human baseline is never shown to the model (it is
what the model's rewards are compared with), so a baseline parent counts as no parent.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from ..archive.candidates import code_hash
from ..errors import LLMError
from .base import DesignContext, DesignerPlugin, Proposal

if TYPE_CHECKING:
    from ..archive.candidates import Candidate

PREFERENCES_SHOWN = 4   # a person's latest informative answers a prompt carries (ICPL shows one round's)
DUPLICATES_SHOWN = 5    # the latest proposals recorded as duplicates
DIFF_LINES = 40         # lines of a preferred-vs-rejected diff shown; the rest is counted


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

    def parent_groups(self, ctx: DesignContext) -> list[tuple[Candidate | None, list[int]]]:
        """(parent, the sample indices built on it), in order of first sample: sample i on the population's
        ``parents[i % len(parents)]``, a baseline parent left out; with none, every sample on ``ctx.best``."""
        parents: list[Candidate | None] = [p for p in (ctx.parents or []) if p.origin != "baseline"] or [ctx.best]
        groups: dict[str | None, tuple[Candidate | None, list[int]]] = {}
        for i in range(ctx.samples):
            parent = parents[i % len(parents)]
            groups.setdefault(parent.id if parent is not None else None, (parent, []))[1].append(i)
        return list(groups.values())

    def messages_for(self, ctx: DesignContext, parent: Candidate | None = None) -> list[dict]:
        """The conversation that asks for samples built on ``parent`` (default: the first group's)."""
        if parent is None and ctx.parents:
            parent = self.parent_groups(ctx)[0][0]
        messages = self._base_messages(ctx)
        if ctx.generation == 0 and not (ctx.best or ctx.feedback or ctx.human_edits or parent):
            return messages
        from .prompting import fence

        if ctx.best is not None:
            messages.append({"role": "assistant", "content": fence(ctx.best.code)})
        from ..archive.selection import evidence_of

        score = ctx.best_score if ctx.best_score is not None else evidence_of(ctx.best) if ctx.best else None
        best = {"best_fitness": score.fitness, "best_seeds": score.seeds} if score else {}
        other = parent if parent is not None and (ctx.best is None or parent.id != ctx.best.id) else None
        messages.append({"role": "user", "content": self.prompts.iteration(
            ctx.task, best=ctx.best, **best, failures=ctx.failures, feedback=ctx.feedback,
            human_edits=ctx.human_edits, show_reflection=ctx.reflection,
            baseline_fitness=None, parent=_shown(other) if other else None,
            inspirations=[_shown(c) for c in ctx.inspirations if c.origin != "baseline"],
            preferences=preferences_shown(ctx), duplicates=ctx.duplicates[-DUPLICATES_SHOWN:])})
        return messages

    def propose(self, ctx: DesignContext) -> list[Proposal]:
        from .llm import extract_code

        proposals: dict[int, Proposal] = {}
        for parent, samples in self.parent_groups(ctx):
            messages = self.messages_for(ctx, parent)
            purpose = f"design g{ctx.generation}" + (f" from {parent.id}" if parent is not None else "")
            replies = self.client.complete(messages, n=len(samples), purpose=purpose,
                                           seed=ctx.seed * 1000 + ctx.generation)
            for i, reply in zip(samples, replies):
                try:
                    code = extract_code(reply.text)
                    notes = ""
                except LLMError as exc:
                    code, notes = reply.text or "", f"no code in the reply: {exc}"
                proposals[i] = Proposal(code, "llm", parent=parent.id if parent is not None else None,
                                        notes=notes, messages=messages)
        return [proposals[i] for i in sorted(proposals)]

    def repair(self, proposal: Proposal, report: str) -> Proposal | None:
        from .llm import extract_code
        from .prompting import fence

        messages = list(proposal.messages) + [
            {"role": "assistant", "content": fence(proposal.code)},
            {"role": "user", "content": self.prompts.repair(report)},
        ]
        reply = self.client.complete(messages, n=1, purpose="repair", seed=int(code_hash(proposal.code)[:8], 16))[0]
        try:
            code = extract_code(reply.text)
        except LLMError as exc:
            return Proposal(reply.text or "", "repair", notes=f"no code in the reply: {exc}", messages=messages)
        return Proposal(code, "repair", notes="repair after the critic's rejection", messages=messages)


def _shown(c) -> dict:
    """What a prompt says of a parent or an inspiration: its id, code, score with its evidence, and what the
    analyzer found (its findings in brief; the reflection for a parent)."""
    from ..archive.selection import evidence_of

    pick = evidence_of(c)
    found = None
    if c.analysis is not None:
        from ..analysis.analyzer import summary_line

        found = summary_line(c.analysis)
    return {"id": c.id, "code": c.code, "evidence": pick.describe() if pick else "not scored",
            "findings": found, "reflection": c.reflection}


def preferences_shown(ctx: DesignContext) -> list[dict]:
    """A person's latest informative answers (``ctx.preferences``: "better" and "equal"; "unsure" says
    nothing) between candidates of the archive, newest last, each with the unified diff from the rejected
    reward's code to the preferred one's (at most ``DIFF_LINES`` lines) and the person's reason."""
    by_id = {c.id: c for c in ctx.archive}
    shown = []
    for p in ctx.preferences:
        a, b = by_id.get(str(p.get("preferred"))), by_id.get(str(p.get("other")))
        if a is None or b is None or p.get("outcome") not in ("better", "equal"):
            continue
        diff = []
        if p["outcome"] == "better":
            diff = list(difflib.unified_diff(b.code.strip().splitlines(), a.code.strip().splitlines(),
                                             fromfile=b.id, tofile=a.id, lineterm="", n=2))
            if len(diff) > DIFF_LINES:
                diff = diff[:DIFF_LINES] + [f"... ({len(diff) - DIFF_LINES} more lines)"]
        shown.append({"preferred": a.id, "other": b.id, "outcome": p["outcome"], "reason": p.get("reason"),
                      "diff": "\n".join(diff)})
    return shown[-PREFERENCES_SHOWN:]


def _make(config, client) -> LLMDesigner:
    from .prompting import Prompts

    return LLMDesigner(client, Prompts(config.prompts), env_source=config.env_source)


DESIGNER = DesignerPlugin("llm", _make, needs_model=True, title="LLM designer", label="model")
