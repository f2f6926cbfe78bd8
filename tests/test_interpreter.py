"""A sandboxed child's Python starts without ``site`` (``host/interpreter.py``), with the import path ``site``
would have given it, and with ``site`` where another package's editable install needs its import hook."""

import json
import os
import subprocess
import sys

import pytest

from rewardsmith.host import interpreter
from rewardsmith.host.confinement import Layers
from rewardsmith.host.launch import Limits, run_job

LIMITS = Limits(wall_seconds=60, cpu_seconds=20, memory_mb=1024)


def path_of(*flags: str) -> list[str]:
    """``sys.path`` of a fresh interpreter with ``flags``, no PYTHONPATH and no user site (as a child has)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONNOUSERSITE": "1"}
    done = subprocess.run([sys.executable, *flags, "-c", "import json, sys; print(json.dumps(sys.path))"],
                          capture_output=True, text=True, env=env, cwd="/", check=True)
    return json.loads(done.stdout)


def test_the_child_gets_the_entries_site_adds_in_its_order():
    added = [p for p in path_of() if p not in path_of("-S")]
    assert added, "site adds at least the site-packages folder"
    assert interpreter.site_path() == tuple(added)


def child_path(monkeypatch, site_path) -> list[str]:
    monkeypatch.setattr(interpreter, "site_path", lambda: site_path)
    job = {"kind": "unguarded", "code": "import sys\nresult = [sys.flags.no_site, sys.path[1:]]"}
    return run_job(job, LIMITS, layers=Layers(python=False))["value"]


def test_a_job_imports_from_the_same_path_with_and_without_site(monkeypatch):
    entries = interpreter.site_path()
    without_site, path = child_path(monkeypatch, entries)
    with_site, path_with_site = child_path(monkeypatch, None)
    assert (without_site, with_site) == (1, 0)
    assert path == path_with_site
    assert set(entries) <= set(path)


def write_pth(folder, name: str, *lines: str) -> None:
    (folder / name).write_text("\n".join(lines) + "\n")


def test_path_lines_count_and_hooks_add_nothing(tmp_path):
    (tmp_path / "extra").mkdir()
    write_pth(tmp_path, "b.pth", "# a comment", "extra", "missing", "import os; os.environ.setdefault('X', '1')")
    write_pth(tmp_path, "__editable__.rewardsmith-0.1.0.pth", "import __editable___rewardsmith_0_1_0_finder")
    write_pth(tmp_path, ".hidden.pth", "import nothing_at_all")
    assert list(interpreter.pth_entries(str(tmp_path))) == [str(tmp_path / "extra")]


@pytest.mark.parametrize("name", ["__editable__.my_robot_env-0.3.pth", "__editable___my_robot_env-0.3.pth"])
def test_another_packages_editable_finder_keeps_site(tmp_path, name):
    write_pth(tmp_path, name, "import __editable___my_robot_env_0_3_finder; __editable___my_robot_env_0_3_finder.install()")
    assert None in list(interpreter.pth_entries(str(tmp_path)))


def test_a_child_starts_with_site_when_it_must(monkeypatch):
    monkeypatch.setattr(interpreter, "site_path", lambda: None)
    command, env = interpreter.child_command("5")
    assert command == [sys.executable, "-m", "rewardsmith.sandbox.child", "5"] and env == {}


def test_the_files_that_share_a_heavy_import_exist():
    """conftest's SHARED_IMPORTS (the quick loop's files that import litellm or PyTorch run on one worker)."""
    from conftest import SHARED_IMPORTS

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert [f for f in SHARED_IMPORTS if not os.path.isfile(os.path.join(root, f))] == []
