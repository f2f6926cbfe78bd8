"""The run store: records, JSON round trips, atomic files, clear errors."""

import json
import shutil
from pathlib import Path

import pytest

from rewardsmith.errors import RunStoreError
from rewardsmith.archive.records import CandidateResult, ComponentTrend
from rewardsmith.archive.store import MIGRATIONS, REJECTED, SCHEMA_VERSION, SCORED, RunStore, code_hash
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
    store.update(a.id, status=SCORED, fitness=1.0,
                 result=CandidateResult(runs=[], components={"x": ComponentTrend(series=[1.0], final=1.0)}))
    store.update(b.id, status=SCORED, fitness=2.0)
    assert store.candidate(a.id).result.components["x"].final == 1
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


# --------------------------------------------------------------------------- schema versions and migrations

RUN_0_1_0 = Path(__file__).parent / "data" / "run-0.1.0"  # written by release 0.1.0 (before migrations)


@pytest.fixture
def old_run(tmp_path):
    """A copy of a run directory written by release 0.1.0: two generations, halving, final scoring."""
    root = tmp_path / "old-run"
    shutil.copytree(RUN_0_1_0, root)
    return root


def test_a_new_run_has_every_migration_and_the_schema_version(store):
    names = [r[0] for r in store.db.execute("SELECT name FROM migrations ORDER BY rowid")]
    assert names == [name for name, _ in MIGRATIONS]
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    assert RunStore(store.root).migrations_applied == []  # reopening applies nothing


def test_a_0_1_0_run_is_migrated_from_its_event_log_and_rungs_files(old_run):
    store = RunStore(old_run)
    assert store.migrations_applied == [name for name, _ in MIGRATIONS]
    assert store.designed_generations() == [0, 1]
    pools = store.training_pools()
    assert [p.generation for p in pools] == [0, 0, 1]  # generation 0: the baseline, then its candidates
    assert pools[0].rungs == [2048] and pools[0].schedule == "full"
    assert len(pools[1].rungs) > 1 and pools[1].schedule == "halving"
    legs = store.legs("c1", 0)
    assert legs and all(leg.fitness is not None for leg in legs.values())
    from rewardsmith.training.collect import merged_result

    top = max(legs)
    assert merged_result(store, "c1", 0, top).fitness == legs[top].fitness


def test_a_0_1_0_run_shows_exports_and_resumes(old_run, tmp_path):
    from conftest import invoke

    shown = invoke("show", old_run, "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["task"] == "tiny-mountaincar" and {c["id"] for c in data["candidates"]} >= {"c0", "c1", "c2"}
    exported = invoke("export", old_run, "-o", tmp_path / "reward.py")
    assert exported.exit_code == 0, exported.output
    assert "def compute_reward" in (tmp_path / "reward.py").read_text()


@pytest.mark.slow
def test_a_0_1_0_run_resumes_for_another_generation(old_run):
    from conftest import invoke

    before = {c.id: (c.status, c.fitness) for c in RunStore(old_run).candidates()}
    result = invoke("evolve", "--resume", old_run, "--iterations", "3")
    assert result.exit_code == 0, result.output
    store = RunStore(old_run)
    after = {c.id: (c.status, c.fitness) for c in store.candidates()}
    assert {cid: after[cid] for cid in before} == before  # nothing scored was scored again
    assert store.designed_generations() == [0, 1, 2]
    assert any(c.generation == 2 and c.status == "scored" for c in store.candidates())
    assert store.meta("status") == "finished"


def test_a_run_from_a_newer_release_is_refused(store):
    store.db.execute("INSERT INTO migrations(name, applied) VALUES ('m999_from_the_future', 0)")
    with pytest.raises(RunStoreError, match="newer rewardsmith.*m999_from_the_future"):
        RunStore(store.root)


def test_a_final_scoring_kept_before_the_noise_rule_loses_its_ratio(old_run):
    """Release 0.1.0 kept a human-normalized score over one seed each of baseline and sparse (its noise
    unknown); migration m004 re-judges the stored summary by today's rule (selection.normalization)."""
    import sqlite3

    before = json.loads(sqlite3.connect(old_run / "run.db").execute(
        "SELECT value FROM meta WHERE key = 'final'").fetchone()[0])
    assert before["normalization"] is not None and before["entries"][0]["normalized"] is not None
    final = RunStore(old_run).final()
    assert final.normalization is None and all(e.normalized is None for e in final.entries)
    assert "noise is unknown" in final.normalization_note
    assert [e.fitness_mean for e in final.entries] == [e["fitness_mean"] for e in before["entries"]]
    assert final.best == before["best"]  # the offline run's baseline, best on the fresh seed
