"""The run store: records, JSON round trips, atomic files, clear errors."""

import json

import pytest

from rewardsmith.errors import RunStoreError
from rewardsmith.store import REJECTED, SCORED, RunStore, code_hash
from rewardsmith.task import load_task


@pytest.fixture
def store(tmp_path):
    task = load_task("mountaincar-reach")
    return RunStore.create(tmp_path / "run", {"task": task.name, "designer": "offline"}, task.path)


def test_create_writes_config_task_copy_and_database(store):
    assert json.loads((store.root / "config.json").read_text())["task"] == "mountaincar-reach"
    assert (store.root / "task.py").read_text().startswith('"""Mountain car')
    assert store.meta("status") == "created"
    with pytest.raises(RunStoreError, match="already holds a run"):
        RunStore.create(store.root, {}, store.root / "task.py")


def test_candidates_round_trip_and_best(store):
    a = store.add_candidate(0, "code a", "baseline")
    b = store.add_candidate(0, "code b", "offline", parent=a.id)
    c = store.add_candidate(1, "code c", "offline", status=REJECTED, reason="bad")
    assert [a.id, b.id, c.id] == ["c0", "c1", "c2"]
    assert (store.root / "candidates" / "c1.py").read_text() == "code b"
    store.update(a.id, status=SCORED, fitness=1.0, result={"runs": [], "components": {"x": {"final": 1}}})
    store.update(b.id, status=SCORED, fitness=2.0)
    assert store.candidate(a.id).result["components"]["x"]["final"] == 1
    assert store.best().id == b.id
    assert store.best(exclude_origins=("offline",)).id == a.id
    assert store.by_hash(code_hash("code c")).reason == "bad"
    assert [x.id for x in store.candidates(status=SCORED)] == [a.id, b.id]
    assert store.new_id(parent=b.id, edit=True) == "c1e1"
    with pytest.raises(RunStoreError, match="no candidate 'c9'.*c0, c1, c2"):
        store.candidate("c9")


def test_feedback_and_llm_calls(store):
    store.add_candidate(0, "x", "offline")
    fid = store.add_feedback("lands on its back", candidate="c0")
    assert store.feedback(unused_only=True)[0]["id"] == fid
    store.mark_feedback_used([fid], 1)
    assert store.feedback(unused_only=True) == []
    with pytest.raises(RunStoreError):
        store.add_feedback("?", candidate="nope")
    store.record_llm_call({"purpose": "design", "model": "m", "messages": [{"role": "user", "content": "hi"}],
                           "response": "ok", "prompt_tokens": 3, "completion_tokens": 4, "cost": 0.5})
    assert store.llm_totals()["cost"] == 0.5
    assert store.llm_calls()[0]["messages"][0]["content"] == "hi"


def test_opening_a_directory_that_is_not_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(RunStoreError, match="not a rewardsmith run"):
        RunStore(tmp_path)
