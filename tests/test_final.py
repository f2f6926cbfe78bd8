"""Final multi-seed scoring: the top candidates, the baseline and the task's sparse reward re-trained on
fresh seeds; mean ± std and the human-normalized score, in the store, `show` and `show --json`."""

import json
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from rewardsmith.cli import main
from rewardsmith.final import summarize_final
from rewardsmith.records import FinalRun, FinalSummary
from rewardsmith.store import RunStore

TINY_TASK = str(Path(__file__).parent / "data" / "tiny_mountaincar.py")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


class _Store:
    """Just what summarize_final reads of a store."""

    config = {"designer": "llm"}

    def candidate(self, cid):
        return type("C", (), {"fitness": {"c1": 0.9, "c2": 0.7, "c0": 0.5}[cid]})()


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
    winner = next(c for c in store.candidates() if c.origin != "baseline" and c.result.budget_fraction == 1)
    baseline = store.baseline()
    # top-1 candidate (the one that reached the full budget), the baseline and the sparse reward, 2 fresh seeds
    assert sorted((r.subject, r.seed) for r in rows) == sorted(
        (s, seed) for s in (winner.id, baseline.id, "sparse") for seed in (1, 2))
    assert all(r.status == "scored" and r.timesteps >= 1024 for r in rows)
    summary = store.meta("final")
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
