"""A person's edit passes the same duplicate check as a proposal (issue 23: no behaviourally equivalent
candidate is trained; issue 20: one admission for every way code enters): an edit that is its parent's code with
a comment added or its local variables renamed is not recorded or trained, the person is told which candidate it
duplicates, and the code typed is kept as a draft."""

from __future__ import annotations

from conftest import TINY_TASK
from rewardsmith.archive.events import Events
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.people.human import add_edit
from rewardsmith.task import load_task_file


def _run(tmp_path):
    task = load_task_file(TINY_TASK)
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "offline"}, task.path)
    c = store.add_candidate(1, task.baseline, "offline")
    store.update(c.id, status=SCORED, fitness=0.1, seeds=[0])
    return store, task, c


def test_an_edit_that_only_adds_a_comment_or_renames_locals_is_a_duplicate_kept_as_a_draft(tmp_path):
    store, task, c = _run(tmp_path)
    heard = []
    events = Events(store)
    events.subscribe(lambda kind, **data: heard.append(kind))
    for n, edited in enumerate([task.baseline.rstrip() + "\n# tuned by hand\n",
                                task.baseline.replace("shaping", "gain")], start=1):
        outcome = add_edit(store, task, c.id, edited, screen=False, events=events)
        assert outcome.candidate is None and outcome.duplicate is not None and outcome.duplicate.of == c.id
        assert outcome.report.startswith(f"duplicate of {c.id}") and "not trained again" in outcome.report
        assert outcome.draft is not None and outcome.draft.read_text() == edited
    assert [x.id for x in store.candidates()] == [c.id] and "edit" not in heard


def test_an_edit_that_changes_the_reward_is_recorded(tmp_path):
    store, task, c = _run(tmp_path)
    outcome = add_edit(store, task, c.id, task.baseline.replace("10.0 * next_state", "25.0 * next_state"),
                       screen=False)
    assert outcome.candidate is not None and outcome.duplicate is None
    assert outcome.candidate.duplicate_of is None and outcome.candidate.parent == c.id
