"""Admission: the one path by which reward code enters the population, in this order: the critic (static
rules, then a sandboxed probe), the optional LLM critic's veto (--llm-critic), screening on recorded
episodes (screening.py); a rejected proposal goes back to its designer for repair up to --repairs times.
Every attempt is recorded, accepted or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..archive.events import Events, Sink
from ..archive.store import PENDING, REJECTED, Candidate, RunStore, code_hash
from ..errors import LLMError
from ..task import Task
from .critic import Critic, Verdict

if TYPE_CHECKING:
    from .duplicates import Match
    from .screening import Verdict as ScreeningVerdict


@dataclass(frozen=True)
class Judgement:
    """What admission concluded of one piece of code: the critic's verdict (None: there was no code to
    check), the LLM critic's veto, screening's verdict (None: not screened) and the outcome."""

    verdict: Verdict | None
    veto: str | None = None
    screening: ScreeningVerdict | None = None
    duplicate: Match | None = None  # the archived candidate it duplicates (duplicates.py): not trained

    @property
    def accepted(self) -> bool:
        return self.verdict is not None and self.verdict.accepted and self.veto is None and \
            self.duplicate is None and (self.screening is None or self.screening.passed)

    @property
    def reason(self) -> str | None:
        """Why it was rejected (None when accepted, or when there was no code: the proposal says why)."""
        if self.verdict is None or self.accepted:
            return None
        if not self.verdict.accepted or self.veto is not None:
            return self.veto or self.verdict.report()
        if self.duplicate is not None:
            return self.duplicate.reason
        assert self.screening is not None  # not accepted, yet no critic, veto or duplicate refused it
        return self.screening.reason


def judge(verdict: Verdict | None, veto: Callable[[], str | None] | None = None,
          screen: Callable[[], ScreeningVerdict | None] | None = None,
          dedupe: Callable[[], Match | None] | None = None) -> Judgement:
    """Admission's order, for every way code enters the population: the critic's ``verdict`` first;
    only code it accepts is put to the LLM critic (``veto``: a reason to refuse, or None), only code
    both accept is checked for duplicates (``dedupe``: the archived candidate it duplicates, or None),
    and only code that duplicates none is screened (``screen``: screening's verdict, or None when it
    does not apply)."""
    if verdict is None or not verdict.accepted:
        return Judgement(verdict)
    refused = veto() if veto is not None else None
    if refused is not None:
        return Judgement(verdict, refused)
    duplicate = dedupe() if dedupe is not None else None
    if duplicate is not None:
        return Judgement(verdict, None, None, duplicate)
    return Judgement(verdict, None, screen() if screen is not None else None)


class Intake:
    """Admits proposals into a run's archive (``admit``); gets only what admission uses."""

    def __init__(self, store: RunStore, task: Task, config, critic: Critic, random_fitness: Callable[[], float],
                 events: Events | Sink | None, client=None):
        """``random_fitness``: the task's fitness under random actions (screening's reference);
        ``events``: the run's event sink (archive/events.py; a function ``(kind, **data)`` is subscribed to a
        new one); ``client``: the LLM client the optional LLM critic asks (None: no veto)."""
        self.store, self.task, self.config, self.critic = store, task, config, critic
        self.random_fitness, self.client = random_fitness, client
        self.emit = emit = Events.of(store, events).emit
        from .duplicates import Duplicates

        self.duplicates = Duplicates(store, task, config.seed, lambda why: emit("note", message=why))

    def admit(self, proposal, generation: int, designer) -> Candidate:
        """Checks a proposal (repairing it up to --repairs times) and records every attempt."""
        attempt = proposal
        for round_ in range(self.config.repairs + 1):
            existing = self.store.by_hash(code_hash(attempt.code))
            if existing is not None and existing.generation == generation:
                candidate = existing  # resuming a design phase: the same code is already recorded
            elif existing is not None:
                self.emit("note", message=f"duplicate of {existing.id}; not trained again")
                return existing
            else:
                verdict = self.critic.check(attempt.code) if not attempt.notes.startswith("no code") else None
                exam = None if verdict is None or attempt.origin == "baseline" else \
                    self.duplicates.examine(attempt.code, screening=not self.config.no_screen)
                judged = judge(verdict, veto=lambda: self.llm_veto(attempt), screen=lambda: self.screen(attempt, exam),
                               dedupe=exam.duplicate if exam is not None else None)
                reason = attempt.notes if verdict is None else judged.reason
                near = exam.near if exam is not None and judged.duplicate is None else None
                candidate = self.store.add_candidate(
                    generation, attempt.code, attempt.origin, parent=attempt.parent,
                    status=PENDING if judged.accepted else REJECTED, reason=reason,
                    verdict=None if verdict is None else verdict.record(),
                    notes=attempt.notes if near is None else f"{attempt.notes}\n{near.reason}".strip(),
                    island=self.island(attempt.parent, generation))
                if exam is not None:
                    exam.keep(candidate.id)
                if judged.duplicate is not None or near is not None:
                    candidate = self.duplicate_found(candidate, judged.duplicate or near)
                if judged.screening is not None:  # rejected or not, what it was judged on; no training spent
                    candidate = self.store.update(candidate, timesteps=0 if not judged.accepted else None,
                                                  steps_spent=0, result=judged.screening.record())
                self.emit("candidate", candidate=candidate)
            if candidate.status != REJECTED or round_ == self.config.repairs or candidate.duplicate_of:
                return candidate  # a duplicate is sound code: nothing to repair
            repaired = designer.repair(attempt, candidate.reason or "")
            if repaired is None:
                return candidate
            repaired.parent = candidate.id
            attempt = repaired
        return candidate

    def island(self, parent: str | None, generation: int) -> int:
        """The population's island a proposal of ``generation`` built on ``parent`` joins (its parent decides)."""
        from ..archive.population import island_for, settings

        return island_for(self.store, parent, generation, settings(self.config)[0])

    def duplicate_found(self, candidate: Candidate, match) -> Candidate:
        """Records a duplicate (0 RL steps, the candidate it duplicates) or a near-duplicate (an event)."""
        if match.duplicate:
            candidate = self.store.update(candidate, duplicate_of=match.of, timesteps=0, steps_spent=0)
        self.emit("duplicate" if match.duplicate else "near_duplicate", candidate=candidate.id, of=match.of,
                  reason=match.reason)
        return candidate

    def screen(self, proposal, exam=None):
        """Screening before any RL step (screening.py), or None: switched off (--no-screen), the
        baseline itself, or no recorded episodes to judge on yet. ``exam``: the duplicate check, whose
        sandboxed replay screening shares (one replay job per proposal)."""
        if self.config.no_screen or proposal.origin == "baseline":
            return None
        from .screening import screen_in_run

        shared = exam is not None and exam.refs is not None
        return screen_in_run(self.store, self.task, proposal.code, self.config.seed, self.random_fitness(),
                             lambda why: self.emit("note", message=why),
                             refs=exam.refs if shared else None, replay=exam.replay if shared else None)

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
            self.emit("note", message=f"LLM critic gave no verdict ({exc}); the reward goes ahead")
            return None
        return f"vetoed by the LLM critic: {reason}" if veto else None
