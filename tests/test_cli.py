"""The command line at 80 columns: `rewardsmith tasks` one task to two lines, every --help within width."""

import os
import subprocess
import sys

import pytest

from conftest import invoke
from rewardsmith.cli import main
from rewardsmith.task import list_tasks


def test_tasks_reads_at_80_columns():
    env = dict(os.environ, COLUMNS="80")
    out = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "tasks"], capture_output=True, text=True,
                         env=env, check=True).stdout
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), "\n".join(line for line in lines if len(line) > 80)
    tasks = list_tasks()
    for task in tasks:  # the facts on one line, the goal (cut to the width) on the next
        at = next(i for i, line in enumerate(lines) if line.split()[:1] == [task.name])
        assert lines[at].split()[1:3] == [task.env_id, f"{task.training.timesteps:,}"]
        goal = lines[at + 1]
        assert goal.startswith("    ") and " ".join(task.goal.split()).startswith(goal.strip().removesuffix(" ..."))
    assert len([line for line in lines if line and not line.startswith(" ")]) >= 1 + len(tasks)


@pytest.mark.parametrize("command", [None, *sorted(main.commands)])
def test_help_fits_80_columns(command):
    args = [command, "--help"] if command else ["--help"]
    result = invoke(*args, terminal_width=80)
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.output.splitlines()), result.output
