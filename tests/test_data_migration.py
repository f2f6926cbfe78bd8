"""Old data is migrated once (m008_data_shapes, archive/old_shapes.py): opening a run recorded in an older
shape rewrites its stored records into today's, byte for byte what today's records write, so the readers
know only the current shape (a record lacking a key today's writer always writes is an error naming it),
and what a user reads (`show --json`, the exported module) stays the golden files' bytes."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import invoke
from rewardsmith.archive.migrations import MIGRATIONS
from rewardsmith.archive.records import (Analysis, CandidateResult, ComponentTrend, Confirmation, EpisodeSummary,
                                         FinalEntry, FinalRun, FinalSummary, Finding, HalvingDecision, Leg, SeedResult,
                                         Snapshot)
from rewardsmith.archive.store import RunStore
from rewardsmith.errors import RunStoreError

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"
LEFT_OUT = CandidateResult.STORED_RUN_FIELDS_LEFT_OUT


@pytest.fixture
def old_run(tmp_path):
    root = tmp_path / "run-0.1.0"
    shutil.copytree(DATA / "run-0.1.0", root)  # never opened in place: opening migrates it
    return root


def _stored(root):
    """Every stored JSON record of a run, as (what, its record's writer, the stored text)."""
    db = sqlite3.connect(root / "run.db")
    out = []
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    stored_legs = db.execute("SELECT candidate, seed, rung, outcome, result FROM legs").fetchall() \
        if "legs" in tables else []

    def held_by(cid):  # what a candidate's legs hold of a seed's result at a rung (m010: its kept seed results)
        return lambda seed, rung: Leg.held({r: Leg.from_json(json.loads(o), json.loads(x) if x else None)
                                            for c, s, r, o, x in stored_legs if (c, s) == (cid, seed) and r <= rung},
                                           rung)

    # today's writers are the stored forms (m009_facts_once: what another place holds is read from there)
    for cid, result, analysis, *score in db.execute(
            "SELECT id, result, analysis, fitness, fitness_std, seeds, timesteps FROM candidates"):
        score[2] = json.loads(score[2]) if score[2] else None
        out += [(f"{cid} result", lambda d, f=score[0], held=held_by(cid):
                 CandidateResult.from_stored(d, f, held).stored_json(held), result),
                (f"{cid} analysis", lambda d, s=score: Analysis.from_stored(d, *s).stored_json(), analysis)]
    legs = db.execute("SELECT candidate, seed, rung, outcome, result FROM legs") if "legs" in tables else []
    for cid, seed, rung, outcome, result in legs:  # 0.1.0 kept its legs in rungs files (m003 moves them)
        out.append((f"leg {cid} {seed} {rung}", lambda d: Leg.from_json(d).to_json(), outcome))
        if result:
            out.append((f"leg result {cid} {seed} {rung}",
                        lambda d, o=json.loads(outcome): Leg.from_json(o, d).result_json(), result))
    for subject, seed, result, *columns in db.execute(
            "SELECT subject, seed, result, role, status, fitness, timesteps, steps_spent FROM final"):
        row = dict(zip(("subject", "seed", "role", "status", "fitness", "timesteps", "steps_spent"),
                       (subject, seed, *columns)))
        out.append((f"final {subject} {seed}", lambda d, r=row: FinalRun.from_json({**r, "result": d}).result_json(),
                    result))
    for (value,) in db.execute("SELECT value FROM meta WHERE key = 'final'"):
        out.append(("meta final", lambda d: FinalSummary.from_stored(d, [], {}).stored_json(), value))
    db.close()
    return out


def _rewrite(root, select, update, change):
    db = sqlite3.connect(root / "run.db")
    for *key, text in db.execute(select).fetchall():
        data = json.loads(text)
        change(data)
        db.execute(update, (json.dumps(data), *key))
    db.commit()
    db.close()


def test_m008_follows_the_other_steps():
    names = [name for name, _ in MIGRATIONS]
    assert "m008_data_shapes" in names
    assert names.index("m008_data_shapes") > max(i for i, n in enumerate(names) if n < "m008")


def test_a_0_1_0_run_is_stored_in_todays_shape_byte_for_byte(old_run):
    # before: 0.1.0 wrote the same values with keys in other places (a snapshot's "elapsed", an episode's "return")
    assert any(json.dumps(write(json.loads(text))) != text for _, write, text in _stored(old_run))
    store = RunStore(old_run)
    assert "m008_data_shapes" in store.migrations_applied
    for what, write, text in _stored(old_run):
        assert json.dumps(write(json.loads(text))) == text, what
    assert RunStore(old_run).migrations_applied == []  # once


def test_shapes_lacking_keys_get_what_the_readers_assumed_and_show_the_same(old_run, tmp_path, monkeypatch):
    def strip_result(result):
        run = result["runs"][0]
        for key in ("steps_per_second", "train_seconds", "trained_steps", "worker", "wall_seconds", "stopped_early"):
            run.pop(key)
        run["snapshots"][0].pop("elapsed")
        run["snapshots"][0].pop("episode_length")
        run["episodes"][0].pop("terminated")
        next(iter(result["components"].values())).pop("series")

    def strip_analysis(analysis):
        analysis.pop("diagnosis")
        for finding in analysis["findings"]:
            finding.pop("brief")
            finding.pop("subjects")

    _rewrite(old_run, "SELECT id, result FROM candidates WHERE id = 'c0'",
             "UPDATE candidates SET result = ? WHERE id = ?", strip_result)
    _rewrite(old_run, "SELECT id, analysis FROM candidates", "UPDATE candidates SET analysis = ? WHERE id = ?",
             strip_analysis)
    _rewrite(old_run, "SELECT subject, seed, result FROM final", "UPDATE final SET result = ? WHERE subject = ? AND seed = ?",
             lambda r: r.pop("snapshots"))
    store = RunStore(old_run)
    c0 = store.candidate("c0")
    run = c0.result.runs[0]
    assert (run.steps_per_second, run.train_seconds, run.trained_steps, run.worker, run.wall_seconds) == \
        (0.0, 0.0, None, None, None)
    assert run.snapshots[0].elapsed == 0.0 and run.snapshots[0].episode_length is None
    assert run.episodes[0].terminated is False
    assert next(iter(c0.result.components.values())).series == []
    assert all(c.analysis.diagnosis is None and all(f.brief == "" and f.subjects == [] for f in c.analysis.findings)
               for c in store.candidates())
    assert all(r.result.snapshots == [] for r in store.final_runs())
    for what, write, text in _stored(old_run):
        assert json.dumps(write(json.loads(text))) == text, what
    monkeypatch.chdir(tmp_path)
    shown = invoke("show", old_run.name, "--json")
    assert shown.exit_code == 0 and shown.output == (GOLDEN / "run-0.1.0.show.json").read_text()
    assert invoke("export", old_run.name, "-o", tmp_path / "reward.py").exit_code == 0
    assert (tmp_path / "reward.py").read_text() == (GOLDEN / "run-0.1.0.export.py").read_text()


def test_a_final_scoring_summary_without_its_counts_gets_what_the_readers_assumed(old_run):
    def strip_final(final):
        final.pop("timesteps")
        for entry in final["entries"]:
            for key in ("seeds", "failed", "per_seed", "search_fitness"):
                entry.pop(key, None)

    _rewrite(old_run, "SELECT key, value FROM meta WHERE key = 'final'", "UPDATE meta SET value = ? WHERE key = ?",
             strip_final)
    store = RunStore(old_run)
    final = store.final()
    assert final.timesteps is None
    # since m009 an entry's counts and search fitness are read from the final table and the candidates (kept once)
    assert all(e.seeds == 1 and e.per_seed == [r.fitness for r in store.final_runs() if r.subject == e.id]
               and e.failed == 0 for e in final.entries)
    assert [e.search_fitness for e in final.entries] == [store.candidate("c3").fitness, store.candidate("c0").fitness,
                                                         None]
    stored = json.loads(sqlite3.connect(old_run / "run.db").execute(
        "SELECT value FROM meta WHERE key = 'final'").fetchone()[0])
    assert [list(e) for e in stored["entries"]] == [list(e) for e in final.stored_json()["entries"]]


def test_a_confirmation_without_its_figures_gets_null_ones():
    from rewardsmith.archive.old_shapes import candidate_result

    shaped = candidate_result({"budget_fraction": 1.0, "confirmation": {"seed": 1000}})
    assert CandidateResult.from_json(shaped).confirmation == Confirmation(seed=1000, fitness=None,
                                                                          search_fitness=None, mean=None)


def test_a_halving_decision_event_without_the_random_fitness_gets_a_null_one(old_run):
    db = sqlite3.connect(old_run / "run.db")
    db.execute("INSERT INTO events(created, kind, data) VALUES (0, 'halving_decision', ?)", (json.dumps(
        {"pool": 1, "rung": 0, "scores": {"c1": 0.5}, "noise": {"c1": 0.1}, "action": "promote", "reason": "r"}),))
    db.commit()
    db.close()
    (event,) = RunStore(old_run).events("halving_decision")
    assert list(event)[2:] == ["pool", "rung", "scores", "noise", "random_fitness", "action", "reason"]
    decision = HalvingDecision.from_json({k: v for k, v in event.items() if k not in ("created", "kind", "pool")})
    assert decision.random_fitness is None and decision.scores == {"c1": 0.5}


def test_a_run_in_todays_shape_is_left_as_it_was(tmp_path):
    root = tmp_path / "run-offline"
    shutil.copytree(DATA / "run-offline", root)
    RunStore(root).close()  # recorded before m009_facts_once: opening it drops what it repeated
    before = [text for _, _, text in _stored(root)]
    RunStore(root)
    assert [text for _, _, text in _stored(root)] == before


@pytest.mark.parametrize("record, text, named", [
    (Snapshot, '{"step": 1, "reward_per_step": 0.1, "native_per_step": 0.1, "components": {}, "episodes": 0, '
               '"fitness": null, "episode_return": null, "episode_length": null}', "'elapsed'"),
    (EpisodeSummary, '{"fitness": 0.1, "length": 9, "native_return": 0.0, "truncated": true}', "'terminated'"),
    (Finding, '{"name": "no_progress", "message": "m", "evidence": {}, "subjects": []}', "'brief'"),
    (ComponentTrend, '{"final": 0.1}', "'series'"),
    (Confirmation, '{"seed": 1000, "fitness": 0.1, "mean": 0.1}', "'search_fitness'"),
    (FinalEntry, '{"id": "c1", "role": "candidate", "failed": 0, "per_seed": [0.1], "fitness_mean": 0.1, '
                 '"fitness_std": 0.0, "timesteps": 9, "search_fitness": 0.1, "normalized": null}', "'seeds'"),
    (FinalSummary, '{"seeds": [1], "timesteps": 9, "entries": [], "normalization": null}', "'best'"),
    (HalvingDecision, '{"rung": 0, "scores": {"c1": 0.5}, "noise": {"c1": 0.1}, "action": "promote", "reason": "r"}',
     "'random_fitness'"),
])
def test_the_readers_know_only_todays_shape(record, text, named):
    with pytest.raises(RunStoreError, match=named):
        record.from_json(json.loads(text))


def test_an_analysis_without_its_diagnosis_or_a_result_without_its_timing_is_named(old_run):
    analysis = json.loads(sqlite3.connect(old_run / "run.db").execute(
        "SELECT analysis FROM candidates WHERE id = 'c0'").fetchone()[0])
    analysis.pop("diagnosis", None)
    with pytest.raises(RunStoreError, match="'diagnosis'"):
        Analysis.from_json(analysis)
    result = json.loads(sqlite3.connect(old_run / "run.db").execute(
        "SELECT result FROM candidates WHERE id = 'c0'").fetchone()[0])["runs"][0]
    result.pop("wall_seconds")
    with pytest.raises(RunStoreError, match="'wall_seconds'"):
        SeedResult.from_json(result)
