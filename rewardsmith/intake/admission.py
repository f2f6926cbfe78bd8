"""Admission: the one path by which reward code enters the population, whatever its source (a designer's
proposal, a person's edit from ``rewardsmith edit``, the --interactive prompt or the page), in this order:
the critic (static rules, then a sandboxed probe), the optional LLM critic's veto (--llm-critic: the run's,
for a person's edit too), the duplicate check (duplicates.py), screening on recorded episodes
(screening.py). ``Intake.enter`` is that path for one attempt; what differs by source is only its
parameters: the origin label, whether a rejected attempt goes back to its designer for repair (up to
--repairs times; a person's edit never), and whether it is kept as a draft for the person instead of
recorded. Every attempt of a designer is recorded, accepted or not."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..archive.events import Events, Sink
from ..archive.held import Held
from ..archive.store import PENDING, REJECTED, Candidate, RunStore, code_hash, write_atomic
from ..design.base import Proposal
from ..errors import ConfigError, LLMError
from ..task import Task
from .critic import Critic, Verdict

if TYPE_CHECKING:
    from .duplicates import Examination, Match
    from .screening import Verdict as ScreeningVerdict


def next_generation(store: RunStore) -> int:
    """The generation the loop designs next (where a person's edit made now is trained)."""
    return max(store.designed_generations(), default=-1) + 1


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


@dataclass(frozen=True)
class Admission:
    """What became of one attempt (``Intake.enter``): its judgement, and either the candidate recorded (an
    accepted attempt, or a designer's rejected one) or the draft file kept for the person (their rejected
    edit, so nothing typed is lost)."""

    judgement: Judgement
    candidate: Candidate | None
    draft: Path | None = None


class Intake:
    """Admits code into a run's archive: a designer's proposals (``admit``) and a person's edits
    (``admit_edit``), both through ``enter``; gets only what admission uses."""

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

    @classmethod
    def for_run(cls, store: RunStore, task: Task, events: Events | Sink | None = None, client=None) -> "Intake":
        """A run's intake outside its loop (a person's edit): the run's stored settings, its critic
        (Critic.for_run, as the loop's) and its one random reference; ``client``: the LLM client the run's
        veto asks, by default one made from the run's settings when it has --llm-critic and a model."""
        from ..analysis.reference import RandomReference
        from ..config import EvolveConfig

        config = EvolveConfig.from_dict(store.config, where=str(store.root / "config.json"))
        if client is None and config.llm_critic and config.model:
            from ..design.run_llm import run_client

            client = run_client(config, store, lambda: next_generation(store))
        reference = RandomReference(store, task, config.seed)
        return cls(store, task, config, Critic.for_run(task, config), reference.fitness, events, client)

    def admit(self, proposal: Proposal, generation: int, designer, held: Held | None = None) -> Candidate:
        """Admits a designer's proposal (repairing it up to --repairs times) and records every attempt.
        ``held``: the run's candidates as the generation holds them (archive/held.py: its design context's
        archive and what intake admitted since), judged against and given every attempt recorded (so a later
        proposal sees an earlier one); None: read from the store once, here."""
        held = Held.read(self.store) if held is None else held
        attempt = proposal
        for round_ in range(self.config.repairs + 1):
            digest = code_hash(attempt.code)
            existing = next((c for c in held.all() if c.code_hash == digest), None)
            if existing is not None and existing.generation == generation:
                candidate = existing  # resuming a design phase: the same code is already recorded
            elif existing is not None:
                self.emit("note", message=f"duplicate of {existing.id}; not trained again")
                return existing
            else:
                recorded = self.enter(attempt, generation, held=held).candidate
                assert recorded is not None  # a proposal is recorded, accepted or not
                candidate = recorded
                self.emit("candidate", candidate=candidate)
            if candidate.status != REJECTED or round_ == self.config.repairs or candidate.duplicate_of:
                return candidate  # a duplicate is sound code: nothing to repair
            repaired = designer.repair(attempt, candidate.reason or "")
            if repaired is None:
                return candidate
            repaired.parent = candidate.id
            attempt = repaired
        return candidate

    def admit_edit(self, parent_id: str, code: str, screen: bool = True) -> Admission:
        """Admits a person's edit of ``parent_id`` as a pending candidate ``<parent>e<n>`` (origin "human")
        of the next generation; ``screen``: False skips screening (as --no-screen does for the run). A
        rejected edit is never repaired: its code is kept as a draft file for the person, not recorded.
        An accepted edit is told to the run's events as an ``edit``. The run's candidates are read once."""
        held = Held.read(self.store)
        parent = held.get(parent_id) or self.store.candidate(parent_id)  # unknown: the store's error says so
        if code.strip() == parent.code.strip():
            raise ConfigError(f"the edited code is the same as {parent_id}'s; nothing to record")
        edit = Proposal(code, "human", parent=parent_id, notes=f"edited by hand from {parent_id}")
        new_id = self.store.new_id(parent=parent_id, edit=True)
        try:
            admitted = self.enter(edit, next_generation(self.store), screen=screen, candidate_id=new_id,
                                  keep_draft=True, held=held)
        except LLMError as exc:  # the run's veto could not be asked: not admitted unjudged, nor lost
            draft = self._draft(new_id, code)
            raise LLMError(f"the run's LLM critic (--llm-critic) could not judge the edit: {exc}\n"
                           f"your code is kept in {draft}") from exc
        if admitted.candidate is not None:
            self.emit("edit", candidate=admitted.candidate.id, parent=parent_id,
                      screened=admitted.judgement.screening is not None)
        return admitted

    def enter(self, attempt: Proposal, generation: int, screen: bool = True, candidate_id: str | None = None,
              keep_draft: bool = False, held: Held | None = None) -> Admission:
        """The one path of one attempt, whatever its source: the critic, the LLM critic's veto (where the run
        has one), the duplicate check and screening (``judge``'s order; neither for the baseline itself,
        screening not with ``screen`` False or --no-screen); then the attempt recorded as a pending or
        rejected candidate of ``generation`` (``candidate_id``: its id, default the next ``c<n>``), or,
        rejected with ``keep_draft``, its code kept as a draft file instead. ``held``: the run's candidates it is
        judged against, given the candidate recorded (None: read from the store once, here), and the recorded
        episodes it is judged on (read from the run's files once per ``held``: screening.py ``recorded``)."""
        held = Held.read(self.store) if held is None else held
        code = attempt.code
        verdict = self.critic.check(code) if not attempt.notes.startswith("no code") else None
        checks = verdict is not None and attempt.origin != "baseline"
        screens = checks and screen and not self.config.no_screen
        exam = self.duplicates.examine(code, screening=screens, held=held) if checks else None
        judged = judge(verdict, veto=lambda: self.llm_veto(attempt),
                       screen=(lambda: self.screen(attempt, exam, held)) if screens else None,
                       dedupe=exam.duplicate if exam is not None else None)
        if keep_draft and not judged.accepted:
            return Admission(judged, None, self._draft(candidate_id or self.store.new_id(), code))
        return Admission(judged, held.put(self._record(attempt, generation, verdict, judged, exam, candidate_id,
                                                       held)))

    def _record(self, attempt: Proposal, generation: int, verdict: Verdict | None, judged: Judgement,
                exam: "Examination | None", candidate_id: str | None, held: Held) -> Candidate:
        """Records an attempt as judged: its verdict and reason, a near-duplicate noted, a duplicate marked
        (0 RL steps), what screening judged it on; ``held``: the run's candidates (the island it joins)."""
        near = exam.near if exam is not None and judged.duplicate is None else None
        candidate = self.store.add_candidate(
            generation, attempt.code, attempt.origin, parent=attempt.parent,
            status=PENDING if judged.accepted else REJECTED,
            reason=attempt.notes if verdict is None else judged.reason,
            verdict=None if verdict is None else verdict.record(),
            notes=attempt.notes if near is None else f"{attempt.notes}\n{near.reason}".strip(),
            candidate_id=candidate_id, island=self.island(attempt.parent, generation, held))
        if exam is not None:
            exam.keep(candidate.id)
        if judged.duplicate is not None or near is not None:
            candidate = self.duplicate_found(candidate, judged.duplicate or near)
        if judged.screening is not None:  # rejected or not, what it was judged on; no training spent
            candidate = self.store.update(candidate, timesteps=0 if not judged.accepted else None,
                                          steps_spent=0, result=judged.screening.record())
        return candidate

    def _draft(self, candidate_id: str, code: str) -> Path:
        """Keeps a person's code that was not admitted as ``edits/<id>.draft.py`` in the run."""
        draft = self.store.root / "edits" / f"{candidate_id}.draft.py"
        write_atomic(draft, code)
        return draft

    def island(self, parent: str | None, generation: int, held: Held | None = None) -> int:
        """The population's island a proposal of ``generation`` built on ``parent`` joins (its parent decides;
        ``held``: the run's candidates as intake holds them, None: the store's)."""
        from ..archive.population import island_for, settings

        return island_for(self.store, parent, generation, settings(self.config)[0], held)

    def duplicate_found(self, candidate: Candidate, match) -> Candidate:
        """Records a duplicate (0 RL steps, the candidate it duplicates) or a near-duplicate (an event)."""
        if match.duplicate:
            candidate = self.store.update(candidate, duplicate_of=match.of, timesteps=0, steps_spent=0)
        self.emit("duplicate" if match.duplicate else "near_duplicate", candidate=candidate.id, of=match.of,
                  reason=match.reason)
        return candidate

    def screen(self, proposal, exam, held: Held):
        """Screening before any RL step (screening.py), or None: switched off (--no-screen), the
        baseline itself, or no recorded episodes to judge on yet. ``exam``: the duplicate check, whose
        sandboxed replay screening shares (one replay job per attempt); ``held``: the run's candidates as
        intake holds them, whose recorded episodes it judges on."""
        if self.config.no_screen or proposal.origin == "baseline":
            return None
        from .screening import screen_in_run

        shared = exam is not None and exam.refs is not None
        return screen_in_run(self.store, self.task, proposal.code, self.config.seed, self.random_fitness(),
                             lambda why: self.emit("note", message=why), held,
                             refs=exam.refs if shared else None, replay=exam.replay if shared else None)

    def llm_veto(self, proposal) -> str | None:
        """The optional LLM critic (--llm-critic): a reason to veto a sound reward (a designer's or a
        person's), or None."""
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
