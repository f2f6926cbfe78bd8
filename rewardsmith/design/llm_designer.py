"""The LLM designer: asks a language model for reward code (Eureka-style prompts), and for repairs."""

from __future__ import annotations

from ..archive.candidates import code_hash
from ..errors import LLMError
from .base import DesignContext, DesignerPlugin, Proposal


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


def _make(config, client) -> LLMDesigner:
    from .prompting import Prompts

    return LLMDesigner(client, Prompts(config.prompts), env_source=config.env_source)


DESIGNER = DesignerPlugin("llm", _make, needs_model=True, title="LLM designer", label="model")
