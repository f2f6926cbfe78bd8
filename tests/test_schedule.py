"""Successive halving and parallel training: the rungs, who is promoted (synthetic fitness through a fake
train function), resuming from checkpoints (real PPO), and kill -9 in the middle of a halving generation
followed by --resume (a real run)."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from rewardsmith.training import executor as executor_module
from rewardsmith.design.offline import OfflineDesigner
from rewardsmith.loop import EvolveConfig, Evolution
from rewardsmith.training.executor import LocalExecutor
from rewardsmith.archive.records import Snapshot
from rewardsmith.training.schedule import (CurvePoint, CutRule, Halving, keep_count, place_rungs,
                                           separation_step, successive_halving)
from rewardsmith.archive.store import RunStore
from rewardsmith.task import load_task_file
from rewardsmith.training.trainer import Budget, train_once
from conftest import TINY_TASK, ThreadExecutor, fake_seed_result


# ---------------------------------------------------------------------- the rungs


def test_rungs_are_geometric_from_the_top_and_whole_rollouts():
    assert Halving(3, 1 / 9).fractions() == pytest.approx([1 / 9, 1 / 3, 1])
    assert Halving(2, 1 / 8).fractions() == pytest.approx([1 / 8, 1 / 4, 1 / 2, 1])
    assert Halving(3, 0.1).fractions() == pytest.approx([1 / 9, 1 / 3, 1])  # 1/27 is below 0.1
    assert Halving(3, 1).fractions() == [1.0]
    assert Halving(3, 1 / 9).rungs(30_000, 8) == [3336, 10_000, 30_000]
    assert Halving(3, 1 / 9).rungs(1024, 256) == [256, 512, 1024]  # 113 and 341 round up to rollouts
    assert Halving(3, 1 / 9).rungs(256, 256) == [256]  # one rollout: nothing to halve
    assert [keep_count(n, 3) for n in (1, 2, 3, 4, 8, 9, 10)] == [1, 1, 1, 2, 3, 3, 4]


# ---------------------------------------------------------------------- the algorithm


def _fake_fitness(curves):
    """A train_rung that reports the fitness of each candidate's curve at the rung, recording calls."""
    calls = []

    def train_rung(rung, ids, report):
        calls.append((rung, list(ids)))
        for cid in ids:
            report(cid, curves[cid][rung])

    return train_rung, calls


def test_halving_promotes_the_best_third_at_each_rung():
    # fitness at rungs 0, 1, 2; the ranking changes between rungs: promotion must use each rung's own
    curves = {"a": [0.9, 0.2, 0.1], "b": [0.8, 0.7, 0.3], "c": [0.7, 0.8, 0.9], "d": [0.6, 0.9, 0.2],
              "e": [0.5, 1, 1], "f": [0.4, 1, 1], "g": [0.3, 1, 1], "h": [0.2, 1, 1], "i": [0.1, 1, 1]}
    train_rung, calls = _fake_fitness(curves)
    stops, scores = {}, {}
    successive_halving(list(curves), 3, 3, scores, train_rung, lambda cid, rung: stops.setdefault(cid, rung))
    assert calls == [(0, list(curves)), (1, ["a", "b", "c"]), (2, ["c"])]
    assert stops == {**{k: 0 for k in "defghi"}, "a": 1, "b": 1, "c": 2}
    assert scores["c"] == {0: 0.7, 1: 0.8, 2: 0.9} and scores["d"] == {0: 0.6}


def test_a_lone_survivor_goes_straight_to_the_top_and_failures_leave_the_pool():
    curves = {"a": [0.9, 0.9, 0.9, 0.9], "b": [0.8, 0.8, 0.8, 0.8], "c": [None, 0, 0, 0]}
    train_rung, calls = _fake_fitness(curves)
    stops = {}
    successive_halving(["a", "b", "c"], 4, 2, {}, train_rung, lambda cid, rung: stops.setdefault(cid, rung))
    # c failed at rung 0 (never stopped, never ranked); of a, b one goes on (ceil(2/2)) and skips rungs 1, 2
    assert calls == [(0, ["a", "b", "c"]), (3, ["a"])]
    assert stops == {"b": 0, "a": 3}


def test_replaying_recorded_scores_trains_only_what_is_missing():
    curves = {k: [v, v, v] for k, v in zip("abcdef", (0.1, 0.2, 0.3, 0.4, 0.5, 0.6))}
    train_rung, calls = _fake_fitness(curves)
    first_stops = {}
    successive_halving(list(curves), 3, 3, {}, train_rung, lambda c, r: first_stops.setdefault(c, r))
    # a run that stopped after rung 0 and half of rung 1: those scores are on disk
    recorded = {k: {0: curves[k][0]} for k in curves}
    recorded["f"][1] = curves["f"][1]
    train_rung, calls = _fake_fitness(curves)
    stops = {}
    successive_halving(list(curves), 3, 3, recorded, train_rung, lambda c, r: stops.setdefault(c, r))
    assert calls == [(1, ["e"]), (2, ["f"])]
    assert stops == first_stops


# ---------------------------------------------------------------------- never cutting on noise


def test_a_rung_where_nobody_beats_random_promotes_everyone():
    rule = CutRule(eta=3, random_fitness=0.07, floor=0.05)
    ranked = ["a", "b", "c", "d", "e", "f"]
    scores = dict(zip(ranked, (0.09, 0.08, 0.08, 0.07, 0.06, 0.06)))  # the README run's first rung
    kept, decision = rule.decide(0, ranked, scores, {c: 0.0 for c in ranked})
    assert kept == 6 and decision.action == "promote"
    assert "random policy's 0.07" in decision.reason


def test_a_candidate_is_stopped_only_when_clearly_behind_each_of_the_best():
    rule = CutRule(eta=3, random_fitness=0.0, floor=0.05)
    ranked = ["a", "b", "c", "d", "e", "f"]
    # the top 2 would be kept, but c trails b by 0.02; d trails both a and b by more than the noise: cut there
    scores = dict(zip(ranked, (1.5, 1.24, 1.22, 0.7, 0.6, 0.1)))
    kept, decision = rule.decide(1, ranked, scores, {c: 0.0 for c in ranked})
    assert kept == 3 and decision.action == "cut" and decision.kept == ["a", "b", "c"]
    assert "closest: b 1.24 vs d 0.7" in decision.reason and "moved down from 2" in decision.reason
    # a candidate's own noise (its evaluation episodes' spread) widens what counts as clearly behind:
    # d (0.7 ± 0.6) is within the noise of b, e (0.6 ± 0.6) is not; the cut keeps d and stops e and f
    noisy = {c: 0.0 for c in ranked} | {"c": 0.6, "d": 0.6, "e": 0.6}
    kept, decision = rule.decide(1, ranked, scores | {"f": -0.1}, noisy)
    assert kept == 4 and "closest: b 1.24 vs e 0.6" in decision.reason
    # no neighbour gap is wide, but the last is clearly behind both of the best two: only it stops
    close = dict(zip(ranked, (1.0, 0.98, 0.96, 0.94, 0.92, 0.9)))
    kept, decision = rule.decide(1, ranked, close, {c: 0.0 for c in ranked})
    assert kept == 5 and "closest: b 0.98 vs f 0.9" in decision.reason
    # one clearly ahead, the rest bunched within the noise: the cut moves up, keeping fewer than 1/eta
    ahead = dict(zip(ranked, (1.5, 0.5, 0.49, 0.48, 0.47, 0.46)))
    kept, decision = rule.decide(1, ranked, ahead, {c: 0.0 for c in ranked})
    assert kept == 1 and "moved up from 2" in decision.reason
    # two far ahead of a bunched middle, two useless: clear cuts keep 2 or 7 of 9; the nearer to 3 is taken
    nine = [*"abcdefghi"]
    split = dict(zip(nine, (1.6, 1.45, 0.25, 0.24, 0.23, 0.22, 0.21, 0.04, 0.03)))
    kept, decision = rule.decide(1, nine, split, {c: 0.0 for c in nine})
    assert kept == 2 and decision.kept == ["a", "b"] and "moved up from 3" in decision.reason
    # clear cuts as near one way as the other (keep 1 or 3, where ceil(6/3) = 2): the one that keeps more
    both = dict(zip(ranked, (1.5, 1.2, 1.19, 0.5, 0.49, 0.48)))
    kept, decision = rule.decide(1, ranked, both, {c: 0.0 for c in ranked})
    assert kept == 3 and "moved down from 2" in decision.reason
    # scores all within the noise of each other: everyone goes on
    bunched = dict(zip(ranked, (1.0, 0.99, 0.98, 0.97, 0.96, 0.95)))
    kept, decision = rule.decide(1, ranked, bunched, {c: 0.0 for c in ranked})
    assert kept == 6 and decision.action == "promote" and "nobody is clearly behind" in decision.reason


def _snap(step, fitness, episodes=1):
    """A point of a baseline's training-snapshot curve."""
    return CurvePoint.of_snapshot(Snapshot(step=step, reward_per_step=0.0, native_per_step=0.0, components={},
                                           episodes=episodes, elapsed=0.0, fitness=fitness))


def test_rungs_start_where_the_baselines_curve_leaves_random():
    shape = Halving(3, 1 / 9)
    curve = [_snap(s, f) for s, f in
             ((1000, 0.05), (2000, 0.2), (3000, 0.06), (4000, 0.4), (5000, 0.9), (6000, 1.2), (9000, 1.3))]
    assert separation_step(curve, 0.07) == 4000  # 2000 was one lucky snapshot; 4000 and 5000 both clear
    rungs, why = place_rungs(shape, 9000, 100, curve, 0.07)
    assert rungs == [4000, 9000] and "step 4,000" in why  # 1/3 (3000) is below the separation point
    early = [_snap(s, 1.0) for s in (500, 1000, 9000)]
    assert place_rungs(shape, 9000, 100, early, 0.07)[0] == [1000, 3000, 9000]  # never before min_fraction
    flat = [_snap(s, 0.07) for s in (1000, 5000, 9000)]
    rungs, why = place_rungs(shape, 9000, 100, flat, 0.07)
    assert rungs == [9000] and "never rose" in why
    assert place_rungs(shape, 9000, 100, None, None)[0] == [1000, 3000, 9000]
    # the random policy's own spread: a training fitness a little above its mean is not yet a separation
    # (the spread counts less the more training episodes a snapshot averages)
    noisy = [_snap(s, f, episodes=4) for s, f in
             ((3000, 0.5), (6000, 0.6), (9000, 0.5), (12000, 0.62), (15000, 1.4), (18000, 1.4))]
    assert separation_step(noisy, 0.37, random_spread=0.0) == 3000
    assert separation_step(noisy, 0.37, random_spread=0.3) == 15000  # line: 0.37 + 2 × 0.3 / √4 = 0.67
    rungs, why = place_rungs(shape, 27000, 100, noisy, 0.37, random_spread=0.3)
    assert rungs == [15000, 27000] and "episode spread 0.3" in why
    # separating after two thirds of the budget leaves nothing worth a rung
    late = [CurvePoint(s, f, noise=0.0) for s, f in ((3000, 0.1), (6000, 0.1), (7000, 1.0), (9000, 1.2))]
    rungs, why = place_rungs(shape, 9000, 100, late, 0.07)
    assert rungs == [9000] and "too late for a rung to save much" in why and "evaluated fitness" in why
    # a budget under one rollout: the only evaluation comes after the whole rollout, past the budget
    rungs, why = place_rungs(shape, 4096, 8192, [CurvePoint(8192, 1.0, noise=0.0)], 0.07)
    assert rungs == [4096] and "only in its last rollout (step 8,192; the budget of 4,096 steps" in why


# ---------------------------------------------------------------------- the loop, with a fake trainer


FAKE_CODE = '''
def compute_reward(state, action, next_state):
    # curve: {curve}
    return 0.0, {{"zero": 0.0}}
'''


class FakeTrainer:
    """Stands in for train_once: fitness follows the curve written in the reward code (one value per
    rung), checkpoints are plain dicts, and every call is recorded."""

    def __init__(self, rungs, crash_after=None):
        self.rungs, self.calls, self.lock = rungs, [], threading.Lock()
        self.crash_after = crash_after

    def __call__(self, task, code, seed, budget, on_progress=None, **options):
        with self.lock:
            if self.crash_after is not None and len(self.calls) >= self.crash_after:
                raise RuntimeError("simulated crash of the parent")
            self.calls.append({"code": code, "target": budget.timesteps, "seed": seed, **options})
        start = options["checkpoint"]["timesteps"] if options.get("checkpoint") else 0
        curve = json.loads(re.search(r"# curve: (\[.*\])", code).group(1))
        fitness = curve[self.rungs.index(budget.timesteps)]
        result = fake_seed_result(seed, fitness, budget.timesteps, start,
                                  checkpoint={"model": f"policy at {budget.timesteps}", "vecnormalize": None})
        if on_progress:
            on_progress(seed, result.snapshots[0])
        return result


def FakeExecutor(trainer, workers=3):
    """The shared thread executor (conftest), three trainings at a time by default."""
    return ThreadExecutor(trainer, workers)


def _pool_run(tmp_path, curves, trainer, store=None):
    task = load_task_file(TINY_TASK)
    config = EvolveConfig(task=task.name, timesteps=2304, workers=3, halving_eta=3, halving_min_fraction=1 / 9,
                          final_seeds=0)
    if store is None:
        store = RunStore.create(tmp_path / "run", config.__dict__, task.path)
        for name, curve in curves.items():
            store.add_candidate(0, FAKE_CODE.format(curve=json.dumps(curve)), "llm", notes=name)
    evolution = Evolution(store, task, config, OfflineDesigner(), executor=FakeExecutor(trainer))
    try:
        evolution.train_generation(0)
    finally:
        evolution.close()
    return store


def test_halving_in_the_loop_records_every_candidate_truthfully(tmp_path):
    rungs = [256, 768, 2304]  # 2304 / 9 and / 3, already whole rollouts of 256
    # "w" wins; it gets worse with training, so losers stopped early show higher (rung) fitness numbers
    curves = {"a": [0.1, 0, 0], "b": [0.2, 0, 0], "c": [0.3, 0, 0], "d": [0.4, 0, 0], "e": [0.5, 0, 0],
              "f": [0.6, 0, 0], "g": [0.7, 0.3, 0], "h": [0.8, 0.4, 0], "w": [0.9, 0.9, 0.2]}
    trainer = FakeTrainer(rungs)
    store = _pool_run(tmp_path, curves, trainer)
    by_name = {c.notes.split(";")[0]: c for c in store.candidates()}
    assert all(c.status == "scored" for c in by_name.values())
    search = [c for c in trainer.calls if c["seed"] == 0]  # second seeds at a cut-off: tests/test_rung_seeds.py
    assert [(c["target"], c["checkpoint"]) for c in search[:9]] == [(256, None)] * 9
    resumed = search[9:]
    assert [c["target"] for c in resumed] == [768, 768, 768, 2304]
    assert all(c["checkpoint"]["model"] == f"policy at {256 if c['target'] == 768 else 768}" for c in resumed)
    assert all(c["planned_total"] == 2304 and c["return_checkpoint"] for c in search)
    for name, (timesteps, fraction) in {"a": (256, 1 / 9), "f": (256, 1 / 9), "g": (768, 1 / 3),
                                        "h": (768, 1 / 3), "w": (2304, 1.0)}.items():
        c = by_name[name]
        # steps spent: its search seed's, and a second seed's at a cut-off where it had one (rung_seeds.py)
        second = sum(call["target"] for call in trainer.calls if call["seed"] != 0 and call["code"] == c.code)
        assert (c.timesteps, c.steps_spent) == (timesteps, timesteps + second)
        assert c.result.budget_fraction == pytest.approx(fraction)
        assert ("stopped by successive halving" in c.notes) == (fraction < 1)
    assert by_name["w"].result.halving.history == {0: 0.9, 1: 0.9, 2: 0.2}
    # like with like: the full-budget winner is the best, though stopped candidates show higher numbers
    assert store.best_of_run().id == by_name["w"].id and by_name["w"].fitness < by_name["h"].fitness
    # every candidate keeps its latest policy where videos look for it
    for c in by_name.values():
        saved = json.loads(store.checkpoint_path(c.id, 0).read_text())
        assert saved["model"] == f"policy at {c.timesteps}" and saved["timesteps"] == c.timesteps


def test_a_rung_without_separated_scores_stops_nobody_and_show_json_can_audit_it(tmp_path):
    from rewardsmith.output.view import show_json

    rungs = [256, 768, 2304]
    # rung 0: all within 0.01 of each other (noise); rung 1: "e" and "d" clearly ahead of the rest
    curves = {n: [0.5 + 0.002 * i, v, v] for i, (n, v) in enumerate(zip("abcde", (0.1, 0.2, 0.3, 0.9, 1.0)))}
    trainer = FakeTrainer(rungs)
    store = _pool_run(tmp_path, curves, trainer)
    assert sorted(c["target"] for c in trainer.calls if c["seed"] == 0) == [256] * 5 + [768] * 5 + [2304] * 2
    by_name = {c.notes.split(";")[0]: c for c in store.candidates()}
    first, second = by_name["a"].result.halving.decisions
    assert first.action == "promote" and first.kept and "nobody is clearly behind" in first.reason
    assert second.action == "cut" and not second.kept and f"{by_name['d'].id} 0.9 vs {by_name['c'].id} 0.3" in second.reason
    # the pool's decisions are logged with the keys, in the order, earlier releases wrote
    promoted, cut = store.events("halving_decision")
    assert list(promoted)[2:] == ["pool", "rung", "scores", "noise", "random_fitness", "action", "reason", "timesteps"]
    assert list(cut)[2:] == ["pool", "rung", "scores", "noise", "random_fitness", "action", "kept", "gap", "needed",
                             "reason", "timesteps"]
    assert cut["kept"] == [by_name["e"].id, by_name["d"].id] and cut["timesteps"] == 768
    doc = show_json(store)
    assert "random_fitness" in doc and doc["random_fitness"] is not None
    entry = next(c for c in doc["candidates"] if c["id"] == by_name["a"].id)
    assert entry["rungs"] == [{"timesteps": 256, "fitness": 0.5}, {"timesteps": 768, "fitness": 0.1}]
    assert entry["timesteps"] == 768 and entry["budget_fraction"] == pytest.approx(1 / 3)
    assert entry["origin"] == "llm" and entry["status"] == "scored"
    winner = next(c for c in doc["candidates"] if c["id"] == by_name["e"].id)
    assert winner["budget_fraction"] == 1 and [r["timesteps"] for r in winner["rungs"]] == rungs


def test_the_baseline_trains_in_evaluated_legs_and_its_evaluations_place_the_rungs(tmp_path):
    from rewardsmith.output.view import show_json

    probe = [256, 512, 768, 1024, 1280, 1536, 2304]  # every 1/9 of 2,304 steps up to two thirds, then all
    # the baseline's evaluations: at the random policy's level (0.1) until 1,024 steps, clearly above after;
    # its training snapshots (the same numbers here) are no longer what places the rungs
    baseline = [0.1, 0.12, 0.1, 0.9, 1.0, 1.1, 1.3]
    trainer = FakeTrainer(probe)
    task = load_task_file(TINY_TASK)
    config = EvolveConfig(task=task.name, timesteps=2304, workers=3, halving_eta=3, halving_min_fraction=1 / 9,
                          final_seeds=0)
    store = RunStore.create(tmp_path / "run", config.__dict__, task.path)
    store.set_meta("random_fitness", 0.1)
    base = store.add_candidate(0, FAKE_CODE.format(curve=json.dumps(baseline)), "baseline")
    evolution = Evolution(store, task, config, OfflineDesigner(), executor=FakeExecutor(trainer))
    try:
        assert Halving(3, 1 / 9).probe_rungs(2304, 256) == probe
        evolution.train_generation(0)
        # one training, in legs: each resumes the last one's policy and is evaluated
        assert [c["target"] for c in trainer.calls] == probe
        assert [c["checkpoint"]["model"] if c["checkpoint"] else None for c in trainer.calls] == \
            [None] + [f"policy at {t}" for t in probe[:-1]]
        base = store.candidate(base.id)
        assert base.status == "scored" and base.fitness == 1.3 and base.result.budget_fraction == 1
        assert store.training_pools(0)[0].schedule == "probe"
        for name, v in zip("ab", (0.2, 0.3)):
            store.add_candidate(1, FAKE_CODE.format(curve=json.dumps([v] * 7)), "llm", notes=name)
        evolution.train_generation(1)
    finally:
        evolution.close()
    # the first rung is where the evaluations cleared 0.1 + 0.05 twice in a row (1,024 and 1,280 steps)
    assert store.training_pools(1)[0].rungs == [1024, 2304]
    why = [e["why"] for e in store.events("rungs")][-1]
    assert "baseline's evaluated fitness cleared the random policy's 0.1" in why and "step 1,024" in why
    entry = next(c for c in show_json(store)["candidates"] if c["id"] == base.id)
    assert [r["timesteps"] for r in entry["rungs"]] == probe and entry["rungs"][3]["fitness"] == 0.9


def test_a_crash_mid_halving_resumes_without_retraining_finished_rungs(tmp_path):
    rungs = [256, 768, 2304]
    curves = {n: [v, v, v] for n, v in zip("abcdefghi", (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9))}
    crashing = FakeTrainer(rungs, crash_after=12)  # all of rung 0 and its 2 second seeds, then one leg of rung 1
    with pytest.raises(RuntimeError, match="simulated crash"):
        _pool_run(tmp_path, curves, crashing)
    store = RunStore(tmp_path / "run")
    assert all(c.status in ("training", "scored") for c in store.candidates())
    assert any(c.status == "training" for c in store.candidates())
    saved_rung_1 = [c.id for c in store.candidates() if 1 in store.legs(c.id, 0)]
    assert len(saved_rung_1) < 3
    again = FakeTrainer(rungs)
    _pool_run(tmp_path, curves, again, store=store)
    assert [c["target"] for c in again.calls if c["target"] == 256] == []  # rung 0 is never trained again
    assert len([c for c in again.calls if c["target"] == 768 and c["seed"] == 0]) == 3 - len(saved_rung_1)
    best = store.best_of_run()
    assert best.notes == "i" and best.timesteps == 2304
    assert sorted(c.timesteps for c in store.candidates()) == [256] * 6 + [768] * 2 + [2304]


def test_local_executor_runs_workers_trainings_at_once(monkeypatch):
    running, peak, lock = [0], [0], threading.Lock()

    def slow(task, code, seed, budget, on_progress=None, **options):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return seed

    monkeypatch.setattr(executor_module, "train_once", slow)
    pool = LocalExecutor(3)
    futures = [pool.submit(None, "", seed, Budget(64)) for seed in range(7)]
    assert sorted(f.result() for f in futures) == list(range(7))
    pool.close()
    assert peak[0] == 3


# ---------------------------------------------------------------------- real PPO


@pytest.mark.slow
def test_a_resumed_leg_continues_from_its_checkpoint():
    task = load_task_file(TINY_TASK)
    first = train_once(task, task.baseline, 0, Budget(256), planned_total=1024, return_checkpoint=True)
    assert first.timesteps == 256 and first.trained_steps == 256 and first.checkpoint["params"]
    second = train_once(task, task.baseline, 0, Budget(1024), checkpoint=first.checkpoint, planned_total=1024)
    assert second.timesteps == 1024  # num_timesteps continues from 256 ...
    assert second.trained_steps == 768 < second.timesteps  # ... and only the rest is trained
    assert second.snapshots and min(s.step for s in second.snapshots) > 256


def _rows(db):
    try:
        with sqlite3.connect(db) as con:
            return {r[0]: r[1:] for r in con.execute("SELECT id, status, origin FROM candidates")}
    except sqlite3.OperationalError:  # the run has not created its tables yet
        return {}


def _finished_legs(db, rung: int) -> set[str]:
    try:
        with sqlite3.connect(db) as con:
            return {r[0] for r in con.execute("SELECT candidate FROM legs WHERE seed = 0 AND rung = ?", (rung,))}
    except sqlite3.OperationalError:  # the run has not created its tables yet
        return set()


@pytest.mark.slow
def test_kill_9_mid_halving_then_resume_finishes_without_retraining_finished_rungs(tmp_path):
    cmd = [sys.executable, "-m", "rewardsmith.cli", "evolve", "--task", str(TINY_TASK), "--iterations", "1",
           "--samples", "3", "--workers", "2", "--final-seeds", "0", "--out", str(tmp_path / "run")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    db = tmp_path / "run" / "run.db"
    deadline = time.monotonic() + 400
    store = before = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if not db.exists():
                continue
            rows = _rows(db)
            pool = [cid for cid, (status, origin) in rows.items() if origin != "baseline"]
            # kill as soon as the first leg of the pool is recorded: the others are still training
            if len(pool) == 3 and set(pool) & _finished_legs(db, rung=0):
                store = RunStore(tmp_path / "run")
                before = {cid: store.legs(cid, 0) for cid in pool}
                before = {cid: rungs for cid, rungs in before.items() if 0 in rungs}
                if before:
                    break
        assert before, "the run never finished a leg of its halving generation"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    unfinished = [cid for cid, (status, _) in _rows(db).items() if status != "scored"]
    assert unfinished, "the kill came after the generation had finished"

    result = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--resume", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    store = RunStore(tmp_path / "run")
    assert store.meta("status") == "finished"
    after = {c.id: store.legs(c.id, 0) for c in store.candidates() if c.origin != "baseline"}
    for cid in before:
        assert after[cid][0] == before[cid][0]  # the finished rung was not trained again
    winner = next(c for c in store.candidates() if c.origin != "baseline" and c.result.budget_fraction == 1)
    top = max(after[winner.id])
    rungs = next(p.rungs for p in store.training_pools(0) if winner.id in p.members)
    # the tiny task's baseline may not separate from random within 1,024 steps: then the pool has one rung
    # (schedule.place_rungs) and there is nothing to resume mid-way; otherwise the winner resumed
    assert winner.timesteps == 1024 and after[winner.id][top].trained_steps == 1024 - (rungs[-2] if len(rungs) > 1 else 0)
    # its steps: the search seed's, and a second seed's at a cut-off where it had one (rung_seeds.py)
    assert winner.steps_spent == 1024 + sum(leg.trained_steps for leg in store.legs(winner.id, 2000).values())
    assert all(c.status == "scored" for c in store.candidates())
    assert len(store.candidates()) == 4  # the baseline and 3 candidates: nothing designed twice
