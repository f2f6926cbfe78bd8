"""People's preferences: stored in the run store (a migration), scriptable with `rewardsmith prefer`, and
summarized as Bradley–Terry scores with their uncertainty, Kendall's τ against fitness and the conflicts
named (`show`, `show --json`)."""

import json
import math
import sqlite3

import numpy as np
import pytest

from rewardsmith.errors import RunStoreError
from rewardsmith.people.preferences import bradley_terry, kendall_tau, summarize
from rewardsmith.archive.records import CandidateResult
from rewardsmith.archive.store import SCORED, RunStore
from conftest import invoke, TINY_TASK

REWARD = "def compute_reward(state, action, next_state):\n    # {name}\n    return 0.0, {{}}\n"


@pytest.fixture
def run(tmp_path):
    """Four scored candidates c0..c3 with fitness 1, 2, 3, 4 (no training)."""
    store = RunStore.create(tmp_path / "run", {"task": "tiny-mountaincar", "designer": "offline"}, TINY_TASK)
    for i in range(4):
        c = store.add_candidate(0, REWARD.format(name=i), "offline")
        store.update(c.id, status=SCORED, fitness=float(i + 1), seeds=[0], timesteps=100,
                     result=CandidateResult(budget_fraction=1.0))
    return store


def test_bradley_terry_recovers_the_order_of_known_strengths():
    """Answers drawn from known strengths: the fit puts them in the same order, within its own uncertainty."""
    rng = np.random.default_rng(0)
    truth = {"a": 1.5, "b": 0.5, "c": -0.5, "d": -1.5}
    pairs = []
    for _ in range(400):
        x, y = rng.choice(list(truth), 2, replace=False)
        p = 1 / (1 + math.exp(truth[y] - truth[x]))
        pairs.append((x, y, 1.0 if rng.random() < p else 0.0))
    fitted = bradley_terry(pairs)
    assert sorted(fitted, key=lambda k: -fitted[k][0]) == ["a", "b", "c", "d"]
    centre = np.mean([s for s, _ in fitted.values()])
    for key, value in truth.items():
        score, sd = fitted[key]
        assert abs(score - centre - value) < 3 * sd + 0.1, (key, score, sd)
        assert 0.05 < sd < 0.5


def test_bradley_terry_stays_finite_and_unsure_with_few_answers():
    """One answer: a clear winner but a large uncertainty (the prior keeps it finite, unlike plain MLE);
    the order of the answers does not change the fit (unlike Elo)."""
    one = bradley_terry([("a", "b", 1.0)])
    assert one["a"][0] > 0 > one["b"][0] and all(math.isfinite(s) for s, _ in one.values())
    assert one["a"][1] > abs(one["a"][0])  # within its uncertainty of the mean: one answer proves little
    answers = [("a", "b", 1.0), ("b", "c", 1.0), ("c", "a", 0.5), ("a", "c", 1.0)]
    forward, backward = bradley_terry(answers), bradley_terry(answers[::-1])
    for key in forward:
        assert forward[key] == pytest.approx(backward[key], abs=1e-9)


def test_kendall_tau():
    assert kendall_tau([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert kendall_tau([1, 1], [1, 2]) is None


def test_summary_names_conflicts_and_leaves_out_cannot_tell():
    prefs = [{"preferred": "low", "other": "high", "outcome": "better", "reason": "it hops upright"},
             {"preferred": "high", "other": "mid", "outcome": "better", "reason": None},
             {"preferred": "mid", "other": "low", "outcome": "unsure", "reason": None}]
    summary = summarize(prefs, {"low": 1.0, "mid": 2.0, "high": 3.0})
    assert summary.answers == 3 and summary.informative == 2
    assert [c.describe() for c in summary.conflicts] == [
        "person prefers low over high; fitness says high by 2 (3 vs 1)"]
    assert summary.conflicts[0].reason == "it hops upright"
    assert summary.tau is not None and summary.tau < 1


def test_preferences_are_stored_by_a_migration_and_survive_reopening(run, tmp_path):
    names = [r[0] for r in run.db.execute("SELECT name FROM migrations ORDER BY rowid")]
    assert "m005_preferences" in names  # later steps (m006_duplicates, ...) follow it
    pid = run.add_preference("c1", "c0", reason="smoother")
    run.add_preference("c2", "c3", "equal")
    with pytest.raises(RunStoreError, match="no candidate 'c9'"):
        run.add_preference("c9", "c0")
    with pytest.raises(RunStoreError, match="two different"):
        run.add_preference("c0", "c0")
    run.close()
    store = RunStore(tmp_path / "run")
    rows = store.preferences()
    assert [(r["preferred"], r["other"], r["outcome"], r["reason"]) for r in rows] == [
        ("c1", "c0", "better", "smoother"), ("c2", "c3", "equal", None)]
    assert store.withdraw_preference(pid) and not store.withdraw_preference(pid)
    assert [r["id"] for r in store.preferences()] == [rows[1]["id"]]
    assert len(store.preferences(withdrawn=True)) == 2


def test_a_run_without_the_preferences_table_gets_it_on_opening(run, tmp_path):
    """A run written before this migration (its table and migration row removed) opens and gains it."""
    run.close()
    db = sqlite3.connect(tmp_path / "run" / "run.db")
    db.execute("DROP TABLE preferences")
    db.execute("DELETE FROM migrations WHERE name = 'm005_preferences'")
    db.commit()
    db.close()
    store = RunStore(tmp_path / "run")
    assert store.migrations_applied == ["m005_preferences"] and store.preferences() == []


def test_prefer_command_and_show(run, tmp_path):
    root = tmp_path / "run"
    run.close()
    result = invoke("prefer", root, "c0", "c3", "--reason", "c3 cheats: it spins")
    assert result.exit_code == 0, result.output
    assert "preference #1 recorded: c0 better than c3" in result.output
    assert "1 conflict(s)" in result.output and "person prefers c0 over c3" in result.output
    assert invoke("prefer", root, "c1", "c2", "--equal").exit_code == 0
    bad = invoke("prefer", root, "c0", "nope")
    assert bad.exit_code == 2 and "no candidate 'nope'" in bad.output
    shown = invoke("show", root)
    assert "preferences: 2 answers (2 informative)" in shown.output and "Kendall τ" in shown.output
    doc = json.loads(invoke("show", root, "--json").output)
    assert {"task", "status", "random_fitness", "candidates", "best"} <= set(doc)  # the contract's keys stay
    prefs = doc["preferences"]
    assert prefs["answers"] == 2 and prefs["conflicts"][0]["preferred"] == "c0"
    assert prefs["conflicts"][0]["reason"] == "c3 cheats: it spins"
    assert {s["id"] for s in prefs["scores"]} == {"c0", "c1", "c2", "c3"}
    assert prefs["scores"][0]["id"] == "c0"
