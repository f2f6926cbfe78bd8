"""People in the loop: hand edits of candidates become new candidates (checked like any other)."""

from __future__ import annotations

from pathlib import Path

from .critic import Critic, Verdict
from .errors import ConfigError
from .store import PENDING, Candidate, RunStore, write_atomic
from .task import Task


def next_generation(store: RunStore) -> int:
    """The generation the loop designs next (where an edit made now is trained)."""
    return max(store.designed_generations(), default=-1) + 1


def add_edit(store: RunStore, task: Task, parent_id: str, code: str) -> tuple[Candidate | None, Verdict, Path | None]:
    """Checks a person's edit of ``parent_id``; if the critic accepts it, records it as a new pending
    candidate ``<parent>e<n>`` (origin "human") trained in the next generation. A rejected edit is
    kept as a draft file in the run (its path is the third value) so nothing typed is lost."""
    parent = store.candidate(parent_id)
    if code.strip() == parent.code.strip():
        raise ConfigError(f"the edited code is the same as {parent_id}'s; nothing to record")
    verdict = Critic(task).check(code)
    new_id = store.new_id(parent=parent_id, edit=True)
    if not verdict.accepted:
        draft = store.root / "edits" / f"{new_id}.draft.py"
        write_atomic(draft, code)
        return None, verdict, draft
    candidate = store.add_candidate(next_generation(store), code, "human", parent=parent_id, status=PENDING,
                                    verdict={"errors": [], "warnings": [str(w) for w in verdict.warnings],
                                             "stats": verdict.stats},
                                    notes=f"edited by hand from {parent_id}", candidate_id=new_id)
    store.event("edit", {"candidate": candidate.id, "parent": parent_id})
    return candidate, verdict, None
