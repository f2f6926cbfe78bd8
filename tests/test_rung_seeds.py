"""Second seeds at a halving rung's cut-off (training/rung_seeds.py): before a cut stops a candidate within the
noise of the last one it keeps, both get a second seed and the cut is decided on the means, paid from what
the cut saves. Fake trainings: each seed's fitness at each rung is written in the reward code."""

import json
import re
import threading

import pytest

from rewardsmith.archive.records import CandidateResult
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.loop import EvolveConfig
from rewardsmith.output.view import candidate_json
from rewardsmith.task import load_task_file
from rewardsmith.training.collect import Training
from rewardsmith.training.pool import PoolTrainer
from rewardsmith.training.rung_seeds import RUNG_SEED_OFFSET
from rewardsmith.training.schedule import CutRule, near_misses, pooled_seed_spread
from rewardsmith.training.trainer import Budget
from conftest import TINY_TASK, ThreadExecutor, fake_seed_result

EXTRA = RUNG_SEED_OFFSET  # the search seed is 0
CODE = '''
def compute_reward(state, action, next_state):
    # fitness by seed: {curves}
    return 0.0, {{"zero": 0.0}}
'''


# ---------------------------------------------------------------------- the rule


def test_without_a_measured_spread_only_the_closest_call_is_checked_if_near_at_all():
    ranked = ["a", "b", "c", "d"]
    scores = {"a": 1.0, "b": 0.9, "c": 0.8, "d": 0.2}
    noise = {c: 0.05 for c in ranked}  # combined 0.071: a gap up to 3 x that (0.21) may be seed noise
    assert near_misses(ranked, 2, scores, noise, None, {}) == ["c"]
    assert near_misses(ranked, 4, scores, noise, None, {}) == []  # nobody stopped
    assert near_misses(ranked, 3, scores, noise, None, {}) == []  # d is 0.6 behind c: no call to check


def test_with_a_measured_spread_every_stopped_one_within_the_noise_is_checked_closest_first():
    ranked = ["a", "b", "c", "d", "e"]
    scores = {"a": 1.0, "b": 0.9, "c": 0.6, "d": 0.75, "e": 0.1}
    # one seed each: noise 0.2 per score, 0.28 combined: c (0.3 behind b) is not near, d (0.15) is
    assert near_misses(ranked, 2, scores, {}, 0.2, {}) == ["d"]
    # the cut's own (episode) noise counts where it is larger
    assert near_misses(ranked, 2, scores, {"c": 0.3}, 0.2, {}) == ["d", "c"]
    # two seeds each halve the variance: the same gap is now beyond the noise
    assert near_misses(ranked, 2, scores, {}, 0.2, {c: 4 for c in ranked}) == []


def test_the_seed_spread_is_pooled_over_rewards():
    assert pooled_seed_spread([[1.0], [2.0]]) is None
    assert pooled_seed_spread([[0.9, 0.5], [0.8, 1.0]]) == pytest.approx(0.05 ** 0.5)
    assert pooled_seed_spread([[1.0, 1.0, 1.0], [0.0, 2.0]]) == pytest.approx((2 / 3) ** 0.5)


# ---------------------------------------------------------------------- a pool, with fake trainings


class SeededTrainer:
    """Stands in for train_once: the fitness of ``seed`` at a rung is written in the reward code (a seed not
    written scores as seed 0); every call is recorded (code's name, seed, target)."""

    def __init__(self, rungs, crash_after=None):
        self.rungs, self.calls, self.lock, self.crash_after = rungs, [], threading.Lock(), crash_after

    def __call__(self, task, code, seed, budget, on_progress=None, **options):
        curves = json.loads(re.search(r"# fitness by seed: (\{.*\})", code).group(1))
        with self.lock:
            if self.crash_after is not None and len(self.calls) >= self.crash_after:
                raise RuntimeError("simulated crash of the parent")
            self.calls.append((curves["name"], seed, budget.timesteps))
        fitness = curves.get(str(seed), curves["0"])[self.rungs.index(budget.timesteps)]  # unwritten: as seed 0
        start = options["checkpoint"]["timesteps"] if options.get("checkpoint") else 0
        return fake_seed_result(seed, fitness, budget.timesteps, start,
                                checkpoint={"model": f"policy at {budget.timesteps}"}
                                if options.get("return_checkpoint") else None)


Executor = ThreadExecutor


class Recorder:
    """pool.Recorder, recording a scored candidate's mean over its seeds as the run's recorder does."""

    def __init__(self, store):
        self.store = store

    def training_started(self, candidate):
        pass

    def progress(self, candidate):
        return None

    def failed(self, candidate, exc, steps_spent=None):
        raise AssertionError(f"{candidate.id} failed: {exc}")

    def scored(self, candidate, score, budget_fraction=1.0, halving=None, note=None, extra_steps=0):
        self.store.update(candidate.id, status=SCORED, fitness=score.mean, seeds=score.seeds, timesteps=score.timesteps,
                          steps_spent=sum(r.trained_steps for r in score.runs), notes=note,
                          result=CandidateResult(runs=score.runs, budget_fraction=budget_fraction, halving=halving))


def _pool(tmp_path, curves: dict, rungs: list[int], trainer=None, store=None):
    """Trains one halving pool of candidates named by ``curves`` (name -> {seed: fitness per rung})."""
    task = load_task_file(TINY_TASK)
    if store is None:
        config = EvolveConfig(task=task.name, timesteps=rungs[-1], final_seeds=0)
        store = RunStore.create(tmp_path / "run", config.__dict__, task.path)
        for name, by_seed in curves.items():
            store.add_candidate(0, CODE.format(curves=json.dumps({"name": name, **by_seed})), "llm", notes=name)
    trainer = trainer or SeededTrainer(rungs)
    ids = {c.notes.split(";")[0]: c.id for c in store.candidates()}
    training = Training(task, Budget(rungs[-1]), Executor(trainer))
    pool = PoolTrainer(store, training, Recorder(store), list(ids.values()), rungs, 3, [0],
                       CutRule(3, random_fitness=0.0, floor=0.05))
    pool.run()
    return store, ids, trainer, pool


RUNGS = [256, 768, 2304]


def test_a_close_cut_is_decided_on_two_seed_means_and_says_what_it_cost(tmp_path):
    # rung 0 on the search seed: a 1.0, b 0.9 kept, c 0.8 (0.1 behind: beyond the episodes' noise) stopped;
    # on a second seed b scores 0.5 and c 1.0: the means put c ahead of b, and within the noise of each other
    curves = {"a": {"0": [1.0, 1.0, 1.0]}, "b": {"0": [0.9, 0.1, 0.1], str(EXTRA): [0.5, 0, 0]},
              "c": {"0": [0.8, 0.9, 0.9], str(EXTRA): [1.0, 0, 0]}, "d": {"0": [0.2, 0, 0]}}
    store, ids, trainer, pool = _pool(tmp_path, curves, RUNGS)
    extra = sorted((name, target) for name, seed, target in trainer.calls if seed == EXTRA)
    assert [e for e in extra if e[1] == 256] == [("b", 256), ("c", 256)]  # the last one kept, the closest stopped
    [event] = [e for e in store.events("rung_seeds") if e["rung"] == 0]
    assert sorted(event["trained"]) == sorted([ids["b"], ids["c"]]) and event["steps"] == 512
    assert event["saved"] == 2 * (2304 - 256) and event["seeds"][ids["c"]] == [0.8, 1.0]
    first = pool.decisions[0]
    assert first.scores[ids["c"]] == pytest.approx(0.9) and first.scores[ids["b"]] == pytest.approx(0.7)
    assert ids["c"] in first.kept and ids["d"] not in first.kept  # c goes on: on one seed it was stopped
    assert f"second seed (seed {EXTRA}) at the cut-off" in first.reason
    assert "512 env steps of the 4,096 this cut saves" in first.reason
    # the same reason reaches show --json, and the candidates that went on train only their search seed further
    entry = candidate_json(store.candidate(ids["d"]), 2304)
    assert "512 env steps of the 4,096 this cut saves" in entry["halving"][0]["reason"]
    assert all(seed == 0 for name, seed, target in trainer.calls if target > 256 and (name, target) not in extra)
    assert store.candidate(ids["d"]).seeds == [0]


def test_a_candidate_stopped_after_its_second_seed_keeps_its_search_score_and_the_decision_the_mean(tmp_path):
    curves = {"a": {"0": [1.0, 1.0, 1.0], str(EXTRA): [1.0, 0, 0]}, "b": {"0": [0.85, 0, 0], str(EXTRA): [0.75, 0, 0]},
              "c": {"0": [0.1, 0, 0]}}
    store, ids, trainer, pool = _pool(tmp_path, curves, RUNGS)
    b = store.candidate(ids["b"])
    # its own record is its search seed's (a lower rung's pair never outranks a full-budget score in selection)
    assert b.seeds == [0] and b.fitness == pytest.approx(0.85) and b.timesteps == 256
    [decision] = b.result.halving.decisions
    assert decision.kept is False and "second seed" in decision.reason
    assert pool.decisions[0].scores[ids["b"]] == pytest.approx(0.8)  # the cut was decided on the mean
    assert pool.decisions[0].kept == [ids["a"]]
    assert store.best_of_run().id == ids["a"]
    # c was never near: no second seed; nobody trained one at a later rung (a lone survivor has no cut)
    assert sorted((n, s, t) for n, s, t in trainer.calls if s == EXTRA) == [("a", EXTRA, 256), ("b", EXTRA, 256)]


def test_no_second_seed_when_the_cut_saves_too_little_to_pay_for_it(tmp_path):
    rungs = [1024, 1280]  # stopping one candidate at 1024 of 1280 saves 256 steps: not one 1024-step training
    curves = {n: {"0": [v, v]} for n, v in (("a", 1.0), ("b", 0.9), ("c", 0.8), ("d", 0.4))}
    store, ids, trainer, pool = _pool(tmp_path, curves, rungs)
    assert all(seed == 0 for _, seed, _ in trainer.calls)
    [event] = store.events("rung_seeds")
    assert event["trained"] == [] and event["unaffordable"] and event["steps"] == 0
    assert "not afforded" in pool.decisions[0].reason


def test_a_measured_spread_spares_a_stopped_candidate_beyond_it(tmp_path):
    # the first pair (b, c) measures a spread of 0: d, 0.15 behind b (beyond the episodes' noise), gets no second seed
    curves = {"a": {"0": [1.0, 1.0, 1.0]}, "b": {"0": [0.9, 0, 0], str(EXTRA): [0.9, 0, 0]},
              "c": {"0": [0.8, 0, 0], str(EXTRA): [0.8, 0, 0]}, "d": {"0": [0.75, 0, 0]}, "e": {"0": [0.1, 0, 0]}}
    store, ids, trainer, pool = _pool(tmp_path, curves, RUNGS)
    [event] = [e for e in store.events("rung_seeds") if e["rung"] == 0]
    assert sorted(event["trained"]) == sorted([ids["b"], ids["c"]]) and event["spread"] == 0.0
    assert pool.decisions[0].kept == [ids["a"], ids["b"]]


def test_a_resumed_run_replays_the_second_seeds_without_training_them_again(tmp_path):
    curves = {"a": {"0": [1.0, 1.0, 1.0]}, "b": {"0": [0.9, 0.1, 0.1], str(EXTRA): [0.5, 0, 0]},
              "c": {"0": [0.8, 0.9, 0.9], str(EXTRA): [1.0, 0, 0]}, "d": {"0": [0.2, 0, 0]}}
    crashing = SeededTrainer(RUNGS, crash_after=7)  # rung 0, its two second seeds, then one leg of rung 1
    with pytest.raises(RuntimeError, match="simulated crash"):
        _pool(tmp_path, curves, RUNGS, trainer=crashing)
    store = RunStore(tmp_path / "run")
    again = SeededTrainer(RUNGS)
    _, ids, _, pool = _pool(tmp_path, curves, RUNGS, trainer=again, store=store)
    assert [call for call in again.calls if call[2] == 256] == []  # rung 0 and its second seeds: never again
    assert ids["c"] in pool.decisions[0].kept and len(store.events("rung_seeds")) >= 1
    assert len([e for e in store.events("rung_seeds") if e["rung"] == 0]) == 1


def test_show_says_what_the_second_seeds_cost(tmp_path):
    from rewardsmith.output.view import show_json
    from rewardsmith.training.rung_seeds import rung_seeds_text

    curves = {"a": {"0": [1.0, 1.0, 1.0]}, "b": {"0": [0.9, 0.1, 0.1], str(EXTRA): [0.5, 0, 0]},
              "c": {"0": [0.8, 0.9, 0.9], str(EXTRA): [1.0, 0, 0]}, "d": {"0": [0.2, 0, 0]}}
    store, ids, trainer, pool = _pool(tmp_path, curves, RUNGS)
    records = show_json(store)["rung_seeds"]
    assert [r["rung"] for r in records] == [0, 1] and records[0]["steps"] == 512
    spent = sum(r["steps"] for r in records)
    assert spent == 512 + 2 * 768  # rung 1: a kept, c (the closest of c and b stopped) within the unmeasured noise
    assert rung_seeds_text(store) == (f"halving cut-offs: 4 second seed(s) at 2 cut(s) within the noise, {spent:,} env "
                                      f"steps of the {2 * 2048 + 2 * 1536:,} those cuts saved")


def test_a_second_seed_for_the_last_one_kept_alone_is_not_bought(tmp_path):
    # two candidates, one stopped at 1024 of 2048: the cut saves one rung training, not the pair's two
    curves = {"a": {"0": [1.0, 1.0]}, "b": {"0": [0.85, 0.85]}}
    store, ids, trainer, pool = _pool(tmp_path, curves, [1024, 2048])
    assert all(seed == 0 for _, seed, _ in trainer.calls)
    [event] = store.events("rung_seeds")
    assert event["trained"] == [] and event["unaffordable"] == [ids["a"], ids["b"]]
