"""`rewardsmith doctor`: one screen of what this machine gives rewardsmith, with what to install for
anything missing, and an exit status that says whether --sandbox strict would run."""

import ctypes.util

import pytest

from conftest import invoke
from rewardsmith.host import confinement, doctor
from rewardsmith.errors import SandboxUnavailable
from rewardsmith.host.launch import check_sandbox

LAYERS = ("bubblewrap", "user namespaces", "seccomp", "Landlock", "cgroup v2", "scratch tmpfs", "uid drop")


@pytest.fixture
def fresh_probes():
    """bubblewrap's probe is cached per process; a test that hides bubblewrap must not leave that behind."""
    confinement.bubblewrap_problem.cache_clear()
    yield
    confinement.bubblewrap_problem.cache_clear()


def run_doctor(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke("doctor")
    assert all(len(line) <= 80 for line in result.output.splitlines()), result.output
    return result


def strict_runs_here() -> bool:
    try:
        check_sandbox("strict")
    except SandboxUnavailable:
        return False
    return confinement.landlock_abi() > 0  # the child refuses strict without Landlock


def test_doctor_names_every_layer_and_exits_as_strict_would(monkeypatch, fresh_probes):
    result = run_doctor(monkeypatch)
    lines = result.output.splitlines()
    for name in (*LAYERS, "MuJoCo GL", "chromium", "PyTorch", "cores"):
        assert any(line[10:].startswith(name) for line in lines), f"{name} not reported:\n{result.output}"
    assert "PyTorch" in result.output and ("CPU build" in result.output or "CUDA" in result.output)
    assert result.exit_code == (0 if strict_runs_here() else 1)
    assert ("--sandbox strict would run here" in result.output) == (result.exit_code == 0)


def test_without_bubblewrap_doctor_says_what_to_install_and_strict_would_refuse(monkeypatch, fresh_probes):
    monkeypatch.setattr(confinement, "bubblewrap_path", lambda: None)
    result = run_doctor(monkeypatch)
    assert result.exit_code == 1, result.output
    assert "MISSING bubblewrap" in " ".join(result.output.split())
    assert "to fix: apt-get install bubblewrap" in result.output
    assert "--sandbox strict would refuse to run (exit 1): bubblewrap (bwrap) is not installed" in \
        " ".join(result.output.split())


def test_without_osmesa_or_chromium_doctor_says_what_to_install(monkeypatch, tmp_path, fresh_probes):
    real = ctypes.util.find_library
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None if name in ("OSMesa", "EGL") else real(name))
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on it (bubblewrap is also found in /usr/bin)
    result = run_doctor(monkeypatch)
    text = " ".join(result.output.split())
    assert "MISSING MuJoCo GL neither OSMesa nor EGL found; MuJoCo videos are skipped" in text
    assert "to fix: apt-get install libosmesa6" in text
    assert "MISSING chromium not found" in text and "to fix: apt-get install chromium" in text


def test_when_bubblewrap_cannot_make_namespaces_doctor_says_what_to_change(monkeypatch):
    monkeypatch.setattr(confinement, "bubblewrap_problem",
                        lambda: "/usr/bin/bwrap cannot create the sandbox's namespaces here (Operation not permitted)")
    found = {f.name: f for f in doctor.findings()}
    assert found["bubblewrap"].ok is False and "user namespaces" in found["bubblewrap"].fix
    namespaces = found["user namespaces"]
    assert namespaces.ok is False and namespaces.fix  # a sysctl to set, or a container setting
    text = doctor.render(list(found.values()), "--sandbox strict: bwrap cannot create namespaces", 80)
    assert "MISSING user namespaces" in " ".join(text.split()) and "would refuse to run (exit 1)" in text
