"""People in the loop: hand edits of candidates become new candidates (checked like any other)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..intake.admission import judge
from ..intake.critic import Critic, Verdict
from ..config import EvolveConfig
from ..errors import ConfigError
from ..archive.events import Events
from ..archive.store import PENDING, Candidate, RunStore, write_atomic
from ..task import Task

if TYPE_CHECKING:
    from ..intake.duplicates import Examination, Match
    from ..intake.screening import Verdict as ScreeningVerdict

log = logging.getLogger(__name__)


def next_generation(store: RunStore) -> int:
    """The generation the loop designs next (where an edit made now is trained)."""
    return max(store.designed_generations(), default=-1) + 1


@dataclass
class Edit:
    """What became of a person's edit: the new candidate, or why not and where the code was kept."""

    candidate: Candidate | None
    verdict: Verdict                           # the critic's
    draft: Path | None = None                  # a rejected edit's code, kept in the run
    screening: "ScreeningVerdict | None" = None  # None: not screened (--no-screen, or the critic rejected it)
    duplicate: "Match | None" = None           # the archived candidate it behaves as (not trained), or None

    @property
    def report(self) -> str:
        if self.duplicate is not None:
            return f"{self.duplicate.reason}; not trained again"
        if self.screening is not None and not self.screening.passed:
            return self.screening.reason or "rejected by screening"
        return self.verdict.report()


def add_edit(store: RunStore, task: Task, parent_id: str, code: str, screen: bool = True, events=None) -> Edit:
    """Checks a person's edit of ``parent_id`` in admission's order (intake/admission.judge): the critic,
    then screening on the run's recorded episodes (unless ``screen`` is False or the run has --no-screen;
    a person's edit has no LLM veto); if both accept it, records
    it as a new pending candidate ``<parent>e<n>`` (origin "human") trained in the next generation. A
    rejected edit is kept as a draft file in the run so nothing typed is lost. An accepted edit is told to
    ``events``, the run's event sink when the run is live (archive/events.py; default: one that persists it
    to ``store``), as an ``edit`` event."""
    parent = store.candidate(parent_id)
    if code.strip() == parent.code.strip():
        raise ConfigError(f"the edited code is the same as {parent_id}'s; nothing to record")
    config = EvolveConfig.from_dict(store.config, where=str(store.root / "config.json"))
    verdict = Critic.for_run(task, config).check(code)  # probed as the run probes a proposal
    new_id = store.new_id(parent=parent_id, edit=True)
    screens = screen and not config.no_screen
    emit = Events.of(store, events).emit
    exam = None
    if verdict.accepted:  # the duplicate check, as a proposal's (intake/duplicates.py); it shares screening's replay
        from ..intake.duplicates import Duplicates

        exam = Duplicates(store, task, config.seed, lambda why: emit("note", message=why)).examine(
            code, screening=screens)
    judged = judge(verdict, screen=(lambda: _screen(store, task, code, config.seed, exam)) if screens else None,
                   dedupe=exam.duplicate if exam is not None else None)  # no veto
    screening = judged.screening
    if not judged.accepted:
        draft = store.root / "edits" / f"{new_id}.draft.py"
        write_atomic(draft, code)
        return Edit(None, verdict, draft, screening, judged.duplicate)
    from ..archive.population import island_for, settings

    generation = next_generation(store)
    near = exam.near if exam is not None else None
    notes = f"edited by hand from {parent_id}" + (f"\n{near.reason}" if near is not None else "")
    candidate = store.add_candidate(generation, code, "human", parent=parent_id, status=PENDING,
                                    verdict=verdict.record(), notes=notes, candidate_id=new_id,
                                    island=island_for(store, parent_id, generation, settings(store.config)[0]))
    if exam is not None:
        exam.keep(candidate.id)
    if screening is not None:
        candidate = store.update(candidate, result=screening.record())  # as written: not read back
    if near is not None:  # trained, and flagged as a proposal's near-duplicate is
        emit("near_duplicate", candidate=candidate.id, of=near.of, reason=near.reason)
    emit("edit", candidate=candidate.id, parent=parent_id, screened=screening is not None)
    return Edit(candidate, verdict, None, screening)


def _screen(store: RunStore, task: Task, code: str, seed: int,
            exam: "Examination | None" = None) -> "ScreeningVerdict | None":
    """Screening on the run's recorded episodes, as the loop screens a proposal (screening.screen_in_run),
    on the duplicate check's replay where it made one, against the run's one random reference (as a
    proposal's: measured on first use where the run has not stored its mean yet)."""
    from ..analysis.reference import RandomReference
    from ..intake.screening import screen_in_run

    random_fitness = RandomReference(store, task, seed).fitness()
    if exam is None or exam.refs is None:
        return screen_in_run(store, task, code, seed, random_fitness, log.warning)
    return screen_in_run(store, task, code, seed, random_fitness, log.warning, refs=exam.refs, replay=exam.replay)
