"""What a user reads from a recorded run does not change when the code is rearranged: `show --json` and
the exported module are byte-identical to the golden files committed beside the runs.

The runs: the 0.1.0 fixture (migrated when opened) and a tiny offline evolve recorded with this release
(tests/data/run-offline: tiny mountain car, 2 generations of 2 samples, 1 worker, seed 0, 2 final seeds;
its policy checkpoints, trajectories, video and the legs' resume states left out, which neither command
reads, to keep the fixture small). A change that means to alter these outputs
regenerates the golden files in the same commit and says why.
"""

import shutil
from pathlib import Path

import pytest

from conftest import invoke

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"
RUNS = ["run-0.1.0", "run-offline"]


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """Copies a recorded run into the test's own directory (opening it may migrate it) and runs there."""
    monkeypatch.chdir(tmp_path)

    def copy(name):
        shutil.copytree(DATA / name, tmp_path / name)
        return name
    return copy


def output(*args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("name", RUNS)
def test_show_json_is_byte_identical_to_the_golden_file(recorded, name):
    run = recorded(name)
    assert output("show", run, "--json") == (GOLDEN / f"{name}.show.json").read_text()


@pytest.mark.parametrize("name", RUNS)
def test_the_exported_module_is_byte_identical_to_the_golden_file(recorded, name, tmp_path):
    run = recorded(name)
    output("export", run, "-o", tmp_path / "reward.py")
    assert (tmp_path / "reward.py").read_text() == (GOLDEN / f"{name}.export.py").read_text()
