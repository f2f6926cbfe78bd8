"""Each task's default budget is where the task is learned (the baseline ≥ 3 std above both the random policy and
the sparse reward, as benchmarks/task_table.py measures), or its TRAINING['budget_note'] says why not; `rewardsmith
tasks` and the task table show the note."""

import json
import re
import sys
from pathlib import Path

import pytest

from rewardsmith.errors import TaskError
from rewardsmith.task import TrainingSettings, list_tasks
from conftest import invoke

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import task_table  # noqa: E402


def _cells(task):
    cache = json.loads((BENCHMARKS / "results" / "task_table.json").read_text())
    return {r: task_table.column(cache, task, r, [0, 1, 2]) for r in ("random", "sparse", "baseline")}


@pytest.mark.parametrize("task", list_tasks(), ids=lambda t: t.name)
def test_a_task_is_learned_at_its_default_budget_or_says_why_not(task):
    cells = _cells(task)
    assert all(c is not None and c["n"] == 3 for c in cells.values()), \
        f"{task.name}: the task table has no 3-seed figures at these settings; run benchmarks/task_table.py"
    over_random = task_table.signal(cells["random"], cells["baseline"])[1]
    over_sparse = task_table.beats_sparse(cells["sparse"], cells["baseline"])[1]
    note = task.training.budget_note
    if over_random and over_sparse:
        assert not note, f"{task.name}: learned at its budget, yet its budget note says otherwise: {note}"
    else:
        # the note quotes the measured baseline (its mean to 3 figures) and says why a larger default is not taken
        quoted = [float(x.replace(",", "")) for x in re.findall(r"-?\d[\d,]*\.?\d*", note)]
        mean = cells["baseline"]["mean"]
        assert note and any(abs(q - mean) <= 0.005 * abs(mean) for q in quoted), \
            f"{task.name}: its budget note does not quote the measured baseline ({mean:.3g})"


def test_a_budget_note_must_be_text():
    with pytest.raises(TaskError, match=r"TRAINING\['budget_note'\] must be a string"):
        TrainingSettings.from_dict({"timesteps": 1000, "budget_note": 3}, "my_task.py")


def test_tasks_lists_the_first_sentence_of_a_note_under_its_task(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    lines = invoke("tasks").output.splitlines()
    walker = next(i for i, line in enumerate(lines) if line.startswith("walker-forward "))
    assert lines[walker + 2] == "    budget: Not learned yet, 0.3 std: every reward falls early"
    car = next(i for i, line in enumerate(lines) if line.startswith("mountaincar-reach "))
    assert not lines[car + 2].startswith("    budget:")  # learned at its budget: no note


def test_the_task_table_shows_who_beats_the_sparse_reward_and_the_notes(tmp_path):
    task_table.main(["--report-only", "--out", str(tmp_path / "t.md")])
    text = (tmp_path / "t.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| walker-forward "))
    assert row.endswith("| NO: 0.3 std (note) |")
    assert "| mountaincar-reach " in text and "yes: 8.7 std |" in text
    assert "- walker-forward: Not learned yet, 0.3 std" in text


def test_the_task_table_at_another_budget_never_takes_the_default_budgets_cells(tmp_path):
    # the defaults' cache holds walker's 3 seeds at 300k; read at 600k, none of them counts
    cache, out = BENCHMARKS / "results" / "task_table.json", tmp_path / "t.md"
    task_table.main(["--report-only", "--tasks", "walker-forward", "--timesteps", "600000",
                     "--cache", str(cache), "--out", str(out)])
    row = next(line for line in out.read_text().splitlines() if line.startswith("| walker-forward "))
    assert row.startswith("| walker-forward | 600,000 | - | not measured | not measured |")
    assert "budget of 600,000 steps" in out.read_text()
    with pytest.raises(SystemExit):
        task_table.main(["--report-only", "--timesteps", "0"])


def test_the_committed_task_table_quotes_each_tasks_budget_note_as_it_is_now():
    """The README points users at benchmarks/results/task_table.md for why a budget is what it is: a note changed
    in a task file and not regenerated into the table (`benchmarks/task_table.py --report-only`) is a stale figure."""
    committed = (BENCHMARKS / "results" / "task_table.md").read_text()
    stale = [t.name for t in list_tasks()
             if t.training.budget_note and f"- {t.name}: {t.training.budget_note}" not in committed]
    assert not stale, f"task_table.md quotes an old budget note for {stale}; run benchmarks/task_table.py --report-only"


def test_writing_the_task_table_again_keeps_the_notes_a_person_added_below_it(tmp_path):
    out = tmp_path / "t.md"
    task_table.main(["--report-only", "--out", str(out)])
    out.write_text(out.read_text() + "\nLoad average during the measurements: 5-10 (a person's note).\n")
    task_table.main(["--report-only", "--out", str(out)])
    text = out.read_text()
    assert text.count("Load average when written:") == 1 and text.count("a person's note") == 1
    assert text.index("Load average when written:") < text.index("a person's note")
