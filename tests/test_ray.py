"""`--executor ray`: a small evolve on a local Ray with 2 CPUs, trainings running as Ray tasks that
still train inside rewardsmith's sandboxed child; and the message when Ray is not installed."""

import os
import sys

import pytest

from rewardsmith.archive.store import RunStore
from conftest import invoke, TINY_TASK


def test_without_ray_the_flag_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = invoke("evolve", "--task", TINY_TASK, "--executor", "ray", "--out", "run")
    assert result.exit_code == 2
    assert "pip install 'rewardsmith[ray]'" in result.output
    assert not (tmp_path / "run").exists()
    result = invoke("evolve", "--task", TINY_TASK, "--ray-address", "auto", "--out", "run")
    assert result.exit_code == 2 and "--ray-address needs --executor ray" in result.output


@pytest.mark.slow
def test_evolve_on_a_local_ray_with_2_cpus(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'rewardsmith[ray]'")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REWARDSMITH_MODEL", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    result = invoke("evolve", "--task", TINY_TASK, "--executor", "ray", "--workers", 2, "--iterations", 1,
                    "--samples", 2, "--final-seeds", 0, "--out", "run")
    assert result.exit_code == 0, result.output
    assert not ray.is_initialized()  # the local Ray started for the run is shut down with it
    store = RunStore("run")
    assert store.meta("status") == "finished"
    [executor] = store.events("executor")
    assert executor["kind"] == "ray" and "local Ray (2 CPUs, 1 per training)" in executor["where"]
    scored = store.candidates(status="scored")
    assert len(scored) == 3  # the baseline and both candidates
    for c in scored:
        for run in c.result.runs:
            # trained by a Ray worker process (which ran the sandboxed child), not by this process
            assert run.worker["executor"] == "ray" and run.worker["pid"] != os.getpid()
        assert store.checkpoint_path(c.id, 0).is_file()
        assert (store.root / "candidates" / f"{c.id}.log").read_text().count("step=") >= 1
    # the pool went through the halving schedule (its rungs and cuts depend on the scores) through Ray
    assert all(0 < c.result.budget_fraction <= 1 for c in scored)
    assert len(store.training_pools(0)) == 2  # the baseline's pool, then the candidates' one
