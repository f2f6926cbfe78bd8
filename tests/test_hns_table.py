"""benchmarks/hns_table.py: evolve options from --set, the verdicts, and a table that labels its preset and the
tasks it did not run (no training: results are written by hand)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import hns_table  # noqa: E402
from rewardsmith.task import load_task  # noqa: E402


def test_set_takes_evolve_options_by_name_and_refuses_others():
    sets = hns_table.parse_sets(["final_seeds=5", "no-screen=true", "halving_eta=4"])
    assert sets == {"final_seeds": "5", "no_screen": "true", "halving_eta": "4"}
    assert hns_table.evolve_options(sets) == ["--final-seeds", "5", "--halving-eta", "4", "--no-screen"]
    assert hns_table.evolve_options({"no_screen": "false"}) == []
    with pytest.raises(SystemExit, match="'colour' is not an evolve option"):
        hns_table.parse_sets(["colour=red"])
    with pytest.raises(SystemExit, match="expected KEY=VALUE"):
        hns_table.parse_sets(["final_seeds"])


def _entry(id, role, values):
    import statistics

    return {"id": id, "role": role, "seeds": len(values), "per_seed": values, "mean": statistics.fmean(values),
            "std": statistics.pstdev(values), "normalized": None, "search_fitness": None}


def test_the_pick_beats_the_baseline_only_beyond_their_noise():
    base = _entry("c0", "baseline", [1.0, 1.2])
    assert hns_table.beats(_entry("c3", "candidate", [1.5, 1.7]), base).startswith("yes")
    assert hns_table.beats(_entry("c3", "candidate", [1.0, 1.4]), base).startswith("no")
    assert hns_table.beats(_entry("c0", "baseline", [1.0, 1.2]), base) == "is the baseline"
    assert hns_table.beats(_entry("c3", "candidate", [2.0]), base) == "unknown (1 seed)"


def test_report_only_prints_the_table(tmp_path, capsys):
    task = load_task("mountaincar-reach")
    args = hns_table.argparse.Namespace(quick=True, workers=2, model=None, api_base=None)
    settings = hns_table.settings_of(args, {})
    base, sparse = _entry("c0", "baseline", [1.2, 1.3]), _entry("sparse", "sparse", [0.1, 0.3])
    pick = {**_entry("c3", "candidate", [1.4, 1.5]), "normalized": 1.2}
    (tmp_path / "mountaincar-reach.json").write_text(json.dumps({
        "task": task.name, "key": hns_table.result_key(task, settings), "settings": settings, "wall_seconds": 600.0,
        "load_before": 3.0, "load_after": 4.0, "commit": "abc1234", "timesteps": 30000, "pick": pick,
        "baseline": base, "sparse": sparse}))
    hns_table.main(["--quick", "--report-only", "--results", str(tmp_path), "--out", str(tmp_path / "t.md"),
                    "--tasks", "mountaincar-reach,acrobot-swingup"])
    text = capsys.readouterr().out
    assert "**--quick preset**: --iterations 1, --samples 4, --final-top 1, --final-seeds 2" in text
    row = next(line for line in text.splitlines() if line.startswith("| mountaincar-reach "))
    assert "| 1.45 ± 0.05 (c3) | 1.20 | yes (+0.2 vs noise 0.071) | 10.0 min (3.0–4.0) |" in row
    assert "Not run (1): acrobot-swingup." in text
    assert "on 1 of 1 tasks run" in text
    # other settings are another table: the same result does not count for them
    hns_table.main(["--report-only", "--results", str(tmp_path), "--out", str(tmp_path / "t.md"),
                    "--tasks", "mountaincar-reach"])
    assert "Not run (1): mountaincar-reach." in capsys.readouterr().out


def test_a_run_writes_its_results_directorys_whole_table_beside_it_not_over_the_default(tmp_path, capsys):
    # both tasks already done in this results directory: a run for one of them trains nothing, and the table it
    # writes (to <results>.md, not benchmarks/results/hns_table.md) still has the other's row
    results = tmp_path / "hns_defaults"
    results.mkdir()
    args = hns_table.argparse.Namespace(quick=False, workers=2, model=None, api_base=None)
    settings = hns_table.settings_of(args, {})
    for name in ("mountaincar-reach", "acrobot-swingup"):
        task = load_task(name)
        (results / f"{name}.json").write_text(json.dumps({
            "task": name, "key": hns_table.result_key(task, settings), "settings": settings, "wall_seconds": 60.0,
            "load_before": 1.0, "load_after": 1.0, "commit": "abc1234", "timesteps": 30000,
            "pick": _entry("c0", "baseline", [1.2, 1.3]), "baseline": _entry("c0", "baseline", [1.2, 1.3]),
            "sparse": _entry("sparse", "sparse", [0.1, 0.3])}))
    default_table = hns_table.TABLE.read_text()
    hns_table.main(["--results", str(results), "--tasks", "mountaincar-reach"])
    capsys.readouterr()
    written = (tmp_path / "hns_defaults.md").read_text()
    assert "| mountaincar-reach " in written and "| acrobot-swingup " in written
    assert hns_table.TABLE.read_text() == default_table
