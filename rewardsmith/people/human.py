"""People in the loop: a person's hand edit of a candidate, admitted by the run's one admission path
(intake/admission.Intake.admit_edit: the critic, the run's LLM critic veto where it has one, the duplicate
check, screening); here only what the person is told of it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..archive.store import Candidate, RunStore
from ..intake.admission import Intake
from ..intake.critic import Verdict
from ..task import Task
from ..untrusted import printable

if TYPE_CHECKING:
    from ..intake.duplicates import Match
    from ..intake.screening import Verdict as ScreeningVerdict

log = logging.getLogger(__name__)


@dataclass
class Edit:
    """What became of a person's edit: the new candidate, or why not and where the code was kept."""

    candidate: Candidate | None
    verdict: Verdict                           # the critic's
    draft: Path | None = None                  # a rejected edit's code, kept in the run
    screening: "ScreeningVerdict | None" = None  # None: not screened (--no-screen, or refused before screening)
    duplicate: "Match | None" = None           # the archived candidate it behaves as (not trained), or None
    veto: str | None = None                    # the run's LLM critic's reason to refuse it (--llm-critic), or None

    @property
    def report(self) -> str:
        """What the person is told (printable: it may quote their code or the model's words)."""
        if self.veto is not None:
            return printable(self.veto)
        if self.duplicate is not None:
            return printable(f"{self.duplicate.reason}; not trained again")
        if self.screening is not None and not self.screening.passed:
            return printable(self.screening.reason or "rejected by screening")
        return printable(self.verdict.report())


def add_edit(store: RunStore, task: Task, parent_id: str, code: str, screen: bool = True, events=None,
             client=None) -> Edit:
    """Admits a person's edit of ``parent_id`` as the run admits a proposal (Intake.admit_edit): if the
    critic, the run's LLM critic (only where the run has --llm-critic; ``client``: the model to ask, by
    default one made from the run's settings), the duplicate check and screening (unless ``screen`` is
    False or the run has --no-screen) accept it, it is a new pending candidate ``<parent>e<n>`` (origin
    "human") trained in the next generation, told to ``events`` (the run's event sink when the run is live;
    default: one that persists it to ``store``, the notes logged) as an ``edit`` event. A rejected edit is
    kept as a draft file in the run so nothing typed is lost."""
    intake = Intake.for_run(store, task, events if events is not None else _logged, client)
    admitted = intake.admit_edit(parent_id, code, screen=screen)
    judged = admitted.judgement
    assert judged.verdict is not None  # an edit always has code for the critic
    return Edit(admitted.candidate, judged.verdict, admitted.draft, judged.screening, judged.duplicate, judged.veto)


def _logged(kind: str, **data) -> None:
    """Outside a live run, what admission notes (a check that could not run) is logged for the person."""
    if kind == "note":
        log.warning("%s", printable(data.get("message", "")))
