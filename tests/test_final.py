"""Final multi-seed scoring: the top candidates, the baseline and the task's sparse reward re-trained on
fresh seeds; mean ± std and the human-normalized score, in the store, `show` and `show --json`."""

import json
import statistics
from pathlib import Path

import pytest

from rewardsmith.training.final import summarize_final
from rewardsmith.archive.records import FinalRun, FinalSummary
from rewardsmith.archive.store import RunStore
from conftest import invoke, TINY_TASK


class _Store:
    """Just what summarize_final reads of a store."""

    config = {"designer": "llm"}

    def candidate(self, cid):
        return type("C", (), {"fitness": {"c1": 0.9, "c2": 0.7, "c0": 0.5}[cid]})()

    def candidates(self):
        return [type("C", (), {"id": cid, "seq": seq})() for seq, cid in enumerate(("c0", "c1", "c2"))]


def test_a_tie_in_the_final_scoring_goes_to_the_earlier_candidate_as_run_pick_breaks_it():
    # a duplicate that shares its original's fitness, or rewards that all reach a task's cap, tie: the
    # summary's best is the earlier candidate whatever order the entries come in, as Pick.key says
    from rewardsmith.archive.selection import final_best

    rows = [FinalRun(s, r, seed, "scored", fitness=f, timesteps=1000)
            for s, r, f in (("c2", "candidate", 500.0), ("c1", "candidate", 500.0), ("c0", "baseline", 500.0),
                            ("sparse", "sparse", 10.0)) for seed in (1, 2)]
    store = _Store()
    store.config = {"designer": "offline"}  # the baseline competes
    summary = summarize_final(rows, ["c2", "c1", "c0", "sparse"], [1, 2], store)
    assert summary.best == "c0"
    assert final_best(summary.entries, {"designer": "offline"}) == "c2"  # without the archive's order: first entry
    store.config = {"designer": "llm"}
    assert summarize_final(rows, ["c2", "c1", "c0", "sparse"], [1, 2], store).best == "c1"


def test_normalized_score_is_relative_to_sparse_and_baseline():
    rows = [FinalRun(s, r, seed, "scored", fitness=f, timesteps=1000)
            for s, r, fits in (("c1", "candidate", (1.0, 2.0)), ("c2", "candidate", (0.5, 0.5)),
                               ("c0", "baseline", (0.75, 1.25)), ("sparse", "sparse", (0.25, 0.25)))
            for seed, f in zip((1, 2), fits)]
    rows.append(FinalRun("c2", "candidate", 3, "failed"))
    summary = summarize_final(rows, ["c1", "c2", "c0", "sparse"], [1, 2, 3], _Store())
    entries = {e.id: e for e in summary.entries}
    # (fitness - sparse) / |baseline - sparse| with baseline 1.0 and sparse 0.25
    assert entries["c1"].fitness_mean == 1.5 and entries["c1"].fitness_std == 0.5
    assert entries["c1"].normalized == pytest.approx((1.5 - 0.25) / 0.75)
    assert entries["c0"].normalized == pytest.approx(1.0) and entries["sparse"].normalized == 0.0
    assert entries["c2"].normalized == pytest.approx((0.5 - 0.25) / 0.75)
    assert entries["c2"].seeds == 2 and entries["c2"].failed == 1
    assert summary.best == "c1"  # an LLM run: the baseline is a reference, not a contender
    assert summary.normalization == {"baseline": 1.0, "sparse": 0.25}
    # stored as JSON: the sparse reward's entry has no search fitness; a round trip changes nothing
    stored = json.loads(json.dumps(summary.to_json()))
    assert "search_fitness" not in next(e for e in stored["entries"] if e["id"] == "sparse")
    assert FinalSummary.from_json(stored) == summary


@pytest.mark.slow
def test_final_scoring_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REWARDSMITH_MODEL", raising=False)
    result = invoke("evolve", "--task", TINY_TASK, "--iterations", 1, "--samples", 2, "--workers", 2,
                    "--final-top", 1, "--final-seeds", 2, "--out", "run")
    assert result.exit_code == 0, result.output
    store = RunStore("run")
    rows = store.final_runs()
    best = store.best_of_run()
    # the top candidate of those that reached the full budget (a cut within the noise after its second seeds,
    # training/rung_seeds.py, may let both go on)
    from rewardsmith.training.final import final_subjects

    winner = final_subjects(store, 1)[0]
    assert winner.origin != "baseline" and winner.result.budget_fraction == 1
    baseline = store.baseline()
    # top-1 candidate, the baseline and the sparse reward, 2 fresh seeds
    assert sorted((r.subject, r.seed) for r in rows) == sorted(
        (s, seed) for s in (winner.id, baseline.id, "sparse") for seed in (1, 2))
    assert all(r.status == "scored" and r.timesteps >= 1024 for r in rows)
    summary = store.final().to_json()  # the summary as read (the store keeps each entry's figures once: m009)
    entries = {e["id"]: e for e in summary["entries"]}
    for subject in (winner.id, baseline.id, "sparse"):
        values = [r.fitness for r in rows if r.subject == subject]
        assert entries[subject]["fitness_mean"] == pytest.approx(statistics.fmean(values))
        assert entries[subject]["fitness_std"] == pytest.approx(statistics.pstdev(values))
    sparse, base = entries["sparse"]["fitness_mean"], entries[baseline.id]["fitness_mean"]
    if summary["normalization"] is not None:  # baseline and sparse apart beyond their noise
        expected = (entries[winner.id]["fitness_mean"] - sparse) / abs(base - sparse)
        assert entries[winner.id]["normalized"] == pytest.approx(expected)
    else:
        assert entries[winner.id]["normalized"] is None and summary["normalization_note"]
    # every final training keeps its policy
    assert all(store.checkpoint_path(r.subject, r.seed).is_file() for r in rows)
    assert "final scoring" in result.output and "normalized" in result.output

    doc = json.loads(invoke("show", "run", "--json").output)
    assert {"task", "status", "candidates", "best"} <= set(doc)
    contract = {"id", "generation", "parent", "origin", "status", "fitness", "reason", "timesteps",
                "budget_fraction", "rungs"}
    assert all(contract <= set(c) for c in doc["candidates"])
    assert doc["random_fitness"] == store.meta("random_fitness") is not None
    base_entry = next(c for c in doc["candidates"] if c["origin"] == "baseline")
    # the baseline trains the whole budget in legs evaluated at its probe points (they place the rungs)
    assert base_entry["budget_fraction"] == 1 and base_entry["rungs"][-1] == {
        "timesteps": baseline.timesteps, "fitness": baseline.fitness}
    assert [r["timesteps"] for r in base_entry["rungs"]] == [256, 512, 768, 1024]
    # the run's best is the final scoring's, with its fresh-seed mean
    assert doc["best"]["id"] == best.id == summary["best"] and doc["best"]["evidence"] == "final"
    assert doc["best"]["fitness"] == entries[best.id]["fitness_mean"] and doc["best"]["seeds"] == 2
    assert doc["final"]["entries"] == summary["entries"]
    text = invoke("show", "run").output
    assert "final scoring" in text and "sparse" in text

    # the exported header carries the final multi-seed score, not the single search seed's
    assert invoke("export", "run", "--candidate", winner.id, "-o", "w.py").exit_code == 0
    header = Path("w.py").read_text().split("BEGIN reward code")[0]
    mean, std = entries[winner.id]["fitness_mean"], entries[winner.id]["fitness_std"]
    assert f"{mean:.4g} ± {std:.4g} (mean ± std over 2 seeds; final scoring on fresh seeds)" in header
    assert "1, 2" in header

    # resuming a finished run trains nothing again
    created = {(r.subject, r.seed): r.created for r in rows}
    assert invoke("evolve", "--resume", "run").exit_code == 0
    assert {(r.subject, r.seed): r.created for r in RunStore("run").final_runs()} == created


def test_normalization_needs_baseline_and_sparse_apart_beyond_their_noise():
    def summary(base, sparse):
        rows = [FinalRun(s, r, seed, "scored", fitness=f, timesteps=1000)
                for s, r, fits in (("c1", "candidate", (5.0, 6.0)), ("c0", "baseline", base),
                                   ("sparse", "sparse", sparse)) for seed, f in zip((1, 2), fits)]
        return summarize_final(rows, ["c1", "c0", "sparse"], [1, 2], _Store())

    # baseline 3.5 ± 1, sparse 3.0 ± 1: |Δ| 0.5 ≤ √2: no ratio, and a note that says why
    close = summary((2.5, 4.5), (2.0, 4.0))
    assert close.normalization is None and all(e.normalized is None for e in close.entries)
    assert "within their noise" in close.normalization_note and "1.4" in close.normalization_note
    assert FinalSummary.from_json(json.loads(json.dumps(close.to_json()))) == close
    # the same means with a tight spread: the ratio means something
    apart = summary((3.4, 3.6), (2.9, 3.1))
    assert apart.normalization == {"baseline": 3.5, "sparse": 3.0} and apart.normalization_note is None
    assert apart.entry("c1").normalized == pytest.approx((5.5 - 3.0) / 0.5)
    assert "normalization_note" not in apart.to_json()


# ---------------------------------------------------------------------- evidence at the top-k cut-off

BY_SEED = '''
def compute_reward(state, action, next_state):
    # {name} by seed: {by_seed}
    return 0.0, {{"zero": 0.0}}
'''


class SeededExecutor:
    """Trainings whose fitness is written in the reward code, per seed (an executor's interface)."""

    def __init__(self):
        self.calls = []

    def submit(self, task, code, seed, budget, on_progress=None, **options):
        from concurrent.futures import Future

        from rewardsmith.archive.records import EpisodeSummary, SeedResult

        self.calls.append((code.split("# ")[1].split(" by seed")[0] if "by seed" in code else "other", seed))
        by_seed = json.loads(code.split("by seed: ")[1].splitlines()[0]) if "by seed" in code else {}
        fitness = by_seed.get(str(seed), 1.0)
        future = Future()
        future.set_result(SeedResult(seed=seed, fitness=fitness, episode_fitness=[fitness], timesteps=budget.timesteps,
                                     steps_per_second=1.0, train_seconds=0.0, snapshots=[],
                                     episodes=[EpisodeSummary(fitness=fitness, length=10, reward_return=0.0,
                                                              native_return=0.0, terminated=False, truncated=True)],
                                     trained_steps=budget.timesteps))
        return future


def _boundary_run(tmp_path, stopped_early: int):
    """Three full-budget candidates of 1,024 steps: a (5.0) and b (4.6) within their evaluation noise
    (about ±1.15), c (1.0) far behind; and ``stopped_early`` more stopped by halving at 1/8."""
    from rewardsmith.archive.records import CandidateResult, EpisodeSummary, SeedResult
    from rewardsmith.task import load_task_file
    from rewardsmith.training.collect import merged_result, save_leg

    task = load_task_file(TINY_TASK)
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "llm"}, task.path)

    def add(name, fitness, episodes, fraction, second):
        c = store.add_candidate(0, BY_SEED.format(name=name, by_seed=json.dumps({"1000": second})), "llm", notes=name)
        run = SeedResult(seed=0, fitness=fitness, episode_fitness=episodes, timesteps=int(1024 * fraction),
                         steps_per_second=1.0, train_seconds=0.0, snapshots=[],
                         episodes=[EpisodeSummary(fitness=f, length=10, reward_return=0.0, native_return=0.0,
                                                  terminated=False, truncated=True) for f in episodes])
        save_leg(store, c.id, 0, 0, run.timesteps, run)  # a candidate's seed results are its legs merged (m010)
        store.update(c.id, status="scored", fitness=fitness, seeds=[0], timesteps=int(1024 * fraction),
                     result=CandidateResult(runs=[merged_result(store, c.id, 0, 0)], budget_fraction=fraction))
        return c.id

    store.add_candidate(0, BY_SEED.format(name="baseline", by_seed="{}"), "baseline")
    ids = {"a": add("a", 5.0, [4.0, 5.0, 6.0], 1.0, 3.0), "b": add("b", 4.6, [3.6, 4.6, 5.6], 1.0, 5.0),
           "c": add("c", 1.0, [0.9, 1.0, 1.1], 1.0, 9.0)}
    for i in range(stopped_early):
        add(f"stopped{i}", 0.1, [0.1, 0.1], 1 / 8, 0.0)
    return store, task, ids


def test_the_top_k_cut_off_is_drawn_on_two_seeds_where_the_gap_is_within_the_noise(tmp_path):
    from rewardsmith.training.final import CONFIRM_SEED_OFFSET
    from rewardsmith.training.final import FinalPlan, boundary_seeds, final_subjects
    from rewardsmith.training.collect import Training
    from rewardsmith.training.trainer import Budget

    store, task, ids = _boundary_run(tmp_path, stopped_early=3)  # halving saved 3 × 7/8 budgets: 2 affordable
    assert [c.id for c in final_subjects(store, 1)] == [ids["a"]]  # on one seed each, a is ahead
    executor, notes = SeededExecutor(), []
    plan = FinalPlan(seed=0, seeds=2, top=1, note=notes.append)
    record = boundary_seeds(store, Training(task, Budget(1024), executor), plan)
    # a (last in) and b (0.4 behind, within the noise) get a second seed; c (4 behind) does not
    assert sorted(executor.calls) == [("a", CONFIRM_SEED_OFFSET), ("b", CONFIRM_SEED_OFFSET)]
    assert record == {"top": 1, "last_in": ids["a"], "close": [ids["b"]], "trained": [ids["a"], ids["b"]],
                      "unaffordable": [], "seed": CONFIRM_SEED_OFFSET, "steps": 2048, "halving_saved": 3 * 896}
    assert store.candidate(ids["b"]).result.confirmation.mean == pytest.approx(4.8)
    # on two-seed means b (4.8) is ahead of a (4.0): b is the one the final scoring re-trains
    assert [c.id for c in final_subjects(store, 1)] == [ids["b"]]
    assert any("2,048 extra env steps, 76% of what halving saved" in n for n in notes)
    assert json.loads(invoke("show", store.root, "--json").output)["final_boundary"] == record
    from rewardsmith.output.view import boundary_text

    assert boundary_text(record) == (f"top-1 cut-off drawn on two-seed means: second seed (seed 1000) for "
                                     f"{ids['a']}, {ids['b']}, within the noise of {ids['a']}; 2,048 env steps "
                                     f"of the 2,688 halving saved")
    # done once: asking again trains nothing
    assert boundary_seeds(store, Training(task, Budget(1024), executor), plan) == record
    assert len(executor.calls) == 2


def test_the_extra_seeds_are_paid_from_what_halving_saved(tmp_path):
    from rewardsmith.training.final import FinalPlan, boundary_seeds, final_subjects
    from rewardsmith.training.collect import Training
    from rewardsmith.training.trainer import Budget

    store, task, ids = _boundary_run(tmp_path, stopped_early=1)  # 7/8 of a budget saved: no full training
    executor, notes = SeededExecutor(), []
    record = boundary_seeds(store, Training(task, Budget(1024), executor), FinalPlan(0, 2, 1, note=notes.append))
    assert executor.calls == [] and record["trained"] == [] and record["unaffordable"] == [ids["a"], ids["b"]]
    assert "(affords 0)" in notes[0]
    assert [c.id for c in final_subjects(store, 1)] == [ids["a"]]
