"""Admission: the one path by which reward code enters the population, in this order: the critic (static
rules, then a sandboxed probe), the optional LLM critic's veto (--llm-critic), screening on recorded
episodes (screening.py); a rejected proposal goes back to its designer for repair up to --repairs times.
Every attempt is recorded, accepted or not."""

from __future__ import annotations

from typing import Callable

from ..archive.store import PENDING, REJECTED, Candidate, RunStore, code_hash
from ..errors import LLMError
from ..task import Task
from .critic import Critic


class Intake:
    """Admits proposals into a run's archive (``admit``); gets only what admission uses."""

    def __init__(self, store: RunStore, task: Task, config, critic: Critic, random_fitness: Callable[[], float],
                 on_event: Callable[..., None], client=None):
        """``random_fitness``: the task's fitness under random actions (screening's reference);
        ``client``: the LLM client the optional LLM critic asks (None: no veto)."""
        self.store, self.task, self.config, self.critic = store, task, config, critic
        self.random_fitness, self.on_event, self.client = random_fitness, on_event, client

    def admit(self, proposal, generation: int, designer) -> Candidate:
        """Checks a proposal (repairing it up to --repairs times) and records every attempt."""
        attempt = proposal
        for round_ in range(self.config.repairs + 1):
            existing = self.store.by_hash(code_hash(attempt.code))
            if existing is not None and existing.generation == generation:
                candidate = existing  # resuming a design phase: the same code is already recorded
            elif existing is not None:
                self.on_event("note", message=f"duplicate of {existing.id}; not trained again")
                return existing
            else:
                verdict = self.critic.check(attempt.code) if not attempt.notes.startswith("no code") else None
                veto = self.llm_veto(attempt) if verdict is not None and verdict.accepted else None
                accepted = verdict is not None and verdict.accepted and veto is None
                reason = attempt.notes if verdict is None else None if accepted else veto or verdict.report()
                screening = self.screen(attempt) if accepted else None
                if screening is not None and not screening.passed:
                    accepted, reason = False, screening.reason
                candidate = self.store.add_candidate(
                    generation, attempt.code, attempt.origin, parent=attempt.parent,
                    status=PENDING if accepted else REJECTED, reason=reason,
                    verdict=None if verdict is None else verdict.record(),
                    notes=attempt.notes)
                if screening is not None:  # rejected or not, what it was judged on; no training spent yet
                    self.store.update(candidate.id, timesteps=0 if not accepted else None, steps_spent=0,
                                      result=screening.record())
                    candidate = self.store.candidate(candidate.id)
                self.on_event("candidate", candidate=candidate)
            if candidate.status != REJECTED or round_ == self.config.repairs:
                return candidate
            repaired = designer.repair(attempt, candidate.reason or "")
            if repaired is None:
                return candidate
            repaired.parent = candidate.id
            attempt = repaired
        return candidate

    def screen(self, proposal):
        """Screening before any RL step (screening.py), or None: switched off (--no-screen), the
        baseline itself, or no recorded episodes to judge on yet."""
        if self.config.no_screen or proposal.origin == "baseline":
            return None
        from .screening import screen_in_run

        return screen_in_run(self.store, self.task, proposal.code, self.config.seed, self.random_fitness(),
                             lambda why: self.on_event("note", message=why))

    def llm_veto(self, proposal) -> str | None:
        """The optional LLM critic (--llm-critic): a reason to veto a sound reward, or None."""
        if not self.config.llm_critic or self.client is None or proposal.origin == "baseline":
            return None
        from ..analysis.analyzer import critic_prompt, parse_veto

        messages = critic_prompt(self.task, proposal.code, self.config.prompts)
        reply = self.client.complete(messages, n=1, purpose="llm-critic")[0]
        try:
            veto, reason = parse_veto(reply.text)
        except LLMError as exc:
            self.on_event("note", message=f"LLM critic gave no verdict ({exc}); the reward goes ahead")
            return None
        return f"vetoed by the LLM critic: {reason}" if veto else None
