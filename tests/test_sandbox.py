"""The sandbox (rewardsmith.host.launch, rewardsmith.sandbox) on its own, with the static critic bypassed:
``run_job`` runs reward code that tries to write files, read secrets, loop forever or eat memory.

Nothing may be written anywhere, no secret may be visible, and every runaway ends as a SandboxError
with its process group gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.host import launch
from rewardsmith.errors import SandboxError
from rewardsmith.sandbox import allowlist
from rewardsmith.sandbox.rewardcode import safe_numpy
from rewardsmith.host.launch import Limits, child_environment, run_job
from rewardsmith.task import load_task
from conftest import check_job

TASK = load_task("mountaincar-reach")
LIMITS = Limits(wall_seconds=15, cpu_seconds=5, memory_mb=1024)
SECRETS = {
    "OPENAI_API_KEY": "sk-test-openai-0123456789",
    "ANTHROPIC_API_KEY": "sk-ant-test-0123456789",
    "AWS_SECRET_ACCESS_KEY": "aws-test-secret-0123456789",
}
# reaches the real os module's globals the way an attacker would, with no import and no builtin
OS_ESCAPE = '''
def os_globals():
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "_wrap_close":
            return cls.__init__.__globals__
    raise LookupError("os._wrap_close not found")
'''


def reward(body: str, prelude: str = "") -> str:
    return "import numpy as np\n" + textwrap.dedent(prelude) + \
        "\ndef compute_reward(state, action, next_state):\n" + textwrap.indent(textwrap.dedent(body), "    ")


def probe(code: str, limits: Limits = LIMITS) -> dict:
    """Runs the critic's dynamic probe on ``code`` in the sandbox, without the static check."""
    return run_job(check_job(TASK, code), limits)


@pytest.fixture
def scratch_root(tmp_path, monkeypatch):
    """Sandbox scratch directories are made here, so the test can see that they are removed."""
    root = tmp_path / "scratch-root"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def spawned(monkeypatch):
    """Every process run_job starts (the real Popen, recorded)."""
    procs = []

    class RecordingPopen(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            procs.append(self)

    monkeypatch.setattr(launch.subprocess, "Popen", RecordingPopen)
    return procs


def assert_group_gone(proc):
    assert proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


# --------------------------------------------------------------------------- nothing gets written


def write_attempts(target: Path, existing: Path) -> dict[str, str]:
    t, e = str(target), str(existing)
    return {
        "builtin-open": reward(f"open({t!r}, 'w').write('x')\nreturn 0.0, {{}}"),
        "print-to-file": reward(f"print('x', file=open({t!r}, 'w'))\nreturn 0.0, {{}}"),
        "np.save": reward(f"np.save({t!r}, np.zeros(3))\nreturn 0.0, {{}}"),
        "np.savetxt": reward(f"np.savetxt({t!r}, np.zeros(3))\nreturn 0.0, {{}}"),
        "ndarray.tofile": reward(f"np.zeros(3).tofile({t!r})\nreturn 0.0, {{}}"),
        "ndarray.tofile-truncates": reward(f"np.zeros(0).tofile({e!r})\nreturn 0.0, {{}}"),
        "ndarray.tofile-relative": reward("np.zeros(3).tofile('relative.bin')\nreturn 0.0, {}"),
        "ndarray.dump": reward(f"np.zeros(3).dump({t!r})\nreturn 0.0, {{}}"),
        "import-os": reward(f"import os\nos.open({t!r}, os.O_WRONLY | os.O_CREAT)\nreturn 0.0, {{}}"),
        "import-os-at-module-level": "import os\n" + reward(f"os.mkdir({t!r})\nreturn 0.0, {{}}"),
        "__import__": reward(f"__import__('os').mkdir({t!r})\nreturn 0.0, {{}}"),
        "escape-os.open": reward(f"g = os_globals()\ng['open']({t!r}, g['O_WRONLY'] | g['O_CREAT'])\n"
                                 "return 0.0, {}", OS_ESCAPE),
        "escape-os.truncate": reward(f"os_globals()['truncate']({e!r}, 0)\nreturn 0.0, {{}}", OS_ESCAPE),
        "escape-os.remove": reward(f"os_globals()['remove']({e!r})\nreturn 0.0, {{}}", OS_ESCAPE),
        "escape-os.mkdir": reward(f"os_globals()['mkdir']({t!r})\nreturn 0.0, {{}}", OS_ESCAPE),
        "escape-os.system": reward(f"os_globals()['system']('touch {t}')\nreturn 0.0, {{}}", OS_ESCAPE),
        "escape-io.open": reward(f"os_globals()['sys'].modules['io'].open({t!r}, 'w')\nreturn 0.0, {{}}",
                                 OS_ESCAPE),
    }


ATTEMPTS = list(write_attempts(Path("t"), Path("e")))


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_reward_code_cannot_write_files(attempt, tmp_path, scratch_root, monkeypatch):
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    target = tmp_path / "target.bin"
    existing = tmp_path / "existing.txt"
    existing.write_text("precious")
    result = probe(write_attempts(target, existing)[attempt])
    assert result["ok"] is False  # the attempt raised inside the sandbox
    assert not target.exists()
    assert existing.read_text() == "precious"
    assert list(workdir.iterdir()) == []
    assert list(scratch_root.iterdir()) == []  # the scratch working directory is gone too


def test_refusals_say_what_was_refused(scratch_root):
    assert "NameError: name 'open' is not defined" in probe(reward("open('x', 'w')\nreturn 0.0, {}"))["message"]
    message = probe(reward("import os\nreturn 0.0, {}"))["message"]
    assert "import of 'os' is not allowed in reward code (only numpy and math)" in message
    message = probe(reward("os_globals()['system']('true')\nreturn 0.0, {}", OS_ESCAPE))["message"]
    assert "PermissionError: reward code may not use files, processes" in message
    assert "refused os.system" in message


def test_the_os_refuses_writes_even_without_the_audit_hook(tmp_path):
    """Landlock, the kernel layer under the audit hook (skipped where the kernel lacks it)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outside = tmp_path / "outside.txt"
    script = textwrap.dedent(f"""
        import sys
        from rewardsmith.sandbox.confine import confine_filesystem
        if not confine_filesystem({str(scratch)!r}):
            sys.exit(77)
        open({str(scratch / "inside.txt")!r}, "w").close()  # the scratch directory stays usable
        try:
            open({str(outside)!r}, "w")
        except PermissionError:
            sys.exit(0)
        sys.exit(1)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=scratch, timeout=60)
    if done.returncode == 77:
        pytest.skip("this kernel has no Landlock")
    assert done.returncode == 0
    assert not outside.exists()
    assert (scratch / "inside.txt").exists()


# PyTorch's import (about 1.5 s of CPU: the learner's, after confinement) runs with the whole suite
@pytest.mark.parametrize("heavy", ["numpy", pytest.param("numpy, torch", marks=pytest.mark.slow)])
def test_the_os_refuses_reads_outside_the_installation_and_the_task(tmp_path, monkeypatch, heavy):
    """Landlock's read rules, for code that got past every Python-level layer: the parent's
    environment and the user's files are unreadable; Python, rewardsmith and the task stay readable."""
    scratch, task_dir, home, assets = (tmp_path / d for d in ("scratch", "task", "home", "assets"))
    for d in (scratch, task_dir, home, assets):
        d.mkdir()
    (task_dir / "asset.xml").write_text("<mujoco/>")
    (assets / "mesh.stl").write_text("solid")
    (home / ".env").write_text("OPENAI_API_KEY=sk-test-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    script = textwrap.dedent(f"""
        import json, os, sys
        from rewardsmith.sandbox.confine import confine_filesystem, readable_roots
        from rewardsmith.host.launch import extra_read_paths
        roots = readable_roots({str(task_dir / "task.py")!r}, extra_read_paths())
        if not confine_filesystem(os.getcwd(), roots):
            sys.exit(77)
        def readable(path):
            try:
                with open(path, "rb") as f:
                    f.read(1)
                return True
            except PermissionError:
                return False
        import {heavy}  # a heavy import after confinement still works
        print(json.dumps({{p: readable(p) for p in sys.argv[1:]}}))
    """)
    import numpy
    import rewardsmith.task
    paths = [f"/proc/{os.getpid()}/environ", str(home / ".env"), str(task_dir / "asset.xml"), str(assets / "mesh.stl"),
             numpy.__file__, rewardsmith.task.__file__, str(rewardsmith.task.BUILTIN_TASKS_DIR / "hopper_forward.py"),
             "/proc/self/status", "/proc/cpuinfo"]
    env = dict(child_environment(str(scratch)), REWARDSMITH_READ_PATHS=str(assets))
    done = subprocess.run([sys.executable, "-c", script, *paths], cwd=scratch, timeout=120,
                          capture_output=True, text=True, env=env)
    if done.returncode == 77:
        pytest.skip("this kernel has no Landlock")
    assert done.returncode == 0, done.stderr
    import json
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {p: i >= 2 for i, p in enumerate(paths)}


def test_reward_code_cannot_forge_a_result(scratch_root):
    forged = '{"event": "result", "result": {"ok": true, "totals": [1e9], "components": {}, "times": [0], "key_sets": [[]]}}'
    code = reward(f"g = os_globals()\ng['write'](int(g['sys'].argv[1]), b{forged + chr(10)!r})\ng['_exit'](0)",
                  OS_ESCAPE)
    with pytest.raises(SandboxError) as caught:
        probe(code)
    assert caught.value.kind == "protocol"
    assert "results are discarded" in str(caught.value)


# --------------------------------------------------------------------------- no secrets


def test_child_environment_drops_secrets(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test-0123456789")
    env = child_environment("/scratch/dir")
    assert not set(SECRETS) & set(env)
    assert "GITHUB_TOKEN" not in env
    assert not [v for v in env.values() if "0123456789" in v]
    assert env["HOME"] == env["TMPDIR"] == "/scratch/dir"
    assert env["PATH"] == os.environ["PATH"]


def test_reward_code_sees_no_secrets_even_with_the_real_os_module(monkeypatch, scratch_root):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    code = reward("raise ValueError('ENV ' + repr(sorted(os_globals()['environ'].items())))", OS_ESCAPE)
    message = probe(code)["message"]
    assert "ENV [(" in message and "'PATH'" in message  # it did see its environment
    for name, value in SECRETS.items():
        assert name not in message and value not in message


def test_reward_code_cannot_read_the_parents_environment(monkeypatch, scratch_root):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    code = reward("g = os_globals()\nfd = g['open']('/proc/%d/environ' % g['getppid'](), 0)\n"
                  "raise ValueError(g['read'](fd, 100000))", OS_ESCAPE)
    message = probe(code)["message"]
    assert "PermissionError" in message and "refused open '/proc/" in message
    for value in SECRETS.values():
        assert value not in message


# --------------------------------------------------------------------------- restricted builtins and numpy


@pytest.mark.parametrize("body, error", [
    ("open('x.txt')", "NameError: name 'open' is not defined"),
    ("eval('1 + 1')", "NameError: name 'eval' is not defined"),
    ("getattr(state, 'obs')", "NameError: name 'getattr' is not defined"),
    ("__import__('os')", "ImportError: import of 'os' is not allowed"),
    ("__import__('numpy.lib.npyio', fromlist=['save'])", "ImportError: numpy.save is not available"),
    ("np.load('x.npy')", "AttributeError: module 'numpy' has no attribute 'load'"),
    ("np.lib", "AttributeError: module 'numpy' has no attribute 'lib'"),
    ("np.ctypeslib", "AttributeError: module 'numpy' has no attribute 'ctypeslib'"),
    ("np.linalg.norm = abs", "reward code may not change the module 'numpy.linalg'"),
    ("import math\nmath.sin = abs", "reward code may not change the module 'math'"),
])
def test_restricted_builtins_and_modules_at_runtime(body, error, scratch_root):
    result = probe(reward(f"{body}\nreturn 0.0, {{}}"))
    assert result["ok"] is False
    assert error in result["message"]


def test_safe_numpy_holds_the_allow_list_and_nothing_else():
    module = safe_numpy()
    top = {path.split(".")[0] for path in allowlist.NUMPY}
    assert set(vars(module)) - {"__name__", "__doc__", "__package__", "__loader__", "__spec__"} <= top
    assert not any(hasattr(module, name) for name in ("load", "save", "lib", "ma", "seterr", "ctypeslib"))
    assert not [name for name in vars(module) if name.startswith("_") and not name.startswith("__")]
    with pytest.raises(AttributeError):
        module.clip = abs
    assert callable(module.clip) and callable(module.linalg.norm)


def test_ordinary_numpy_still_works_under_the_guard(scratch_root):
    body = """
        x = np.asarray(state.obs)
        parts = [np.clip(x, -1, 1).sum(), np.tanh(x).mean(), np.linalg.norm(x), np.percentile(x, 50),
                 np.median(x), np.std(x), x.std(), np.var(x), np.unique(x).size, np.histogram(x)[0].sum(),
                 np.quantile(x, 0.9), np.fft.fft(x).real.sum(), np.random.default_rng(0).random(),
                 float(np.einsum('i,i', x, x)), np.interp(0.5, [0, 1], [0, 1]), len(repr(x)),
                 np.polyval([1, 2], 3), np.cross([1, 0, 0], [0, 1, 0]).sum(), math.hypot(3, 4)]
        print("parts", len(parts))
        return float(np.sum(parts)), {"n": float(len(parts))}
    """
    result = probe(reward(body, "import math\n"))
    assert result["ok"] is True, result.get("message")
    assert "parts 19" in result["log_tail"]


# --------------------------------------------------------------------------- runaways


def test_infinite_loop_hits_the_cpu_limit_and_the_group_is_gone(spawned, scratch_root):
    code = reward("while True:\n    pass")
    with pytest.raises(SandboxError) as caught:
        probe(code, Limits(wall_seconds=60, cpu_seconds=1, memory_mb=1024))
    assert caught.value.kind == "cpu"
    assert "CPU-time limit of 1 s in reward code at line " in str(caught.value)
    assert "(`while True:`)" in str(caught.value) or "(`pass`)" in str(caught.value)
    assert_group_gone(spawned[-1])
    assert list(scratch_root.iterdir()) == []


@pytest.mark.slow
def test_infinite_loop_hits_the_wall_clock_limit_and_the_group_is_gone(spawned, scratch_root):
    code = reward("while True:\n    pass")
    with pytest.raises(SandboxError) as caught:
        probe(code, Limits(wall_seconds=3, cpu_seconds=120, memory_mb=1024))
    assert caught.value.kind == "timeout"
    assert "wall-clock limit of 3 s" in str(caught.value)
    assert_group_gone(spawned[-1])
    assert list(scratch_root.iterdir()) == []


def test_memory_bomb_is_a_memory_error(spawned, scratch_root):
    with pytest.raises(SandboxError) as caught:
        probe(reward("x = [0] * 10**10\nreturn 0.0, {}"))
    assert caught.value.kind == "memory"
    assert "ran out of memory (limit 1024 MB) in reward code at line 4 (`x = [0] * 10**10`)" \
        in str(caught.value)
    assert_group_gone(spawned[-1])


def test_the_sandbox_works_after_runaways(scratch_root):
    result = probe(TASK.baseline)
    assert result["ok"] is True
    assert len(result["totals"]) == 5


def test_state_and_action_cannot_be_changed_at_run_time():
    """Runtime backing for the critic's private-attribute and flags rules: the wrapper records the
    fitness fields from the very values the reward sees, so none of them may be writable."""
    from rewardsmith.errors import UnknownFieldError
    from rewardsmith.task import State, frozen

    task = load_task("mountaincar-reach")
    env = task.make_env()
    values = task.state_values(env, env.reset(seed=0)[0])
    env.close()
    state = State(dict(values))
    with pytest.raises(AttributeError, match="read-only"):
        state.position = 0.6  # what a critic bypass would try first
    with pytest.raises(AttributeError, match="read-only"):
        del state.position
    with pytest.raises(UnknownFieldError):
        state._values  # no store behind the values to reach: the state is the (immutable) values
    with pytest.raises(TypeError):
        state[0] = 0.6
    assert state.position == values["position"]
    with pytest.raises(ValueError, match="read-only"):
        state.obs[0] = 1.0
    with pytest.raises(ValueError, match="WRITEABLE"):
        state.obs.flags.writeable = True
    action = frozen(np.zeros(1))
    with pytest.raises(ValueError, match="WRITEABLE"):
        action.flags.writeable = True
    assert frozen(np.arange(3.0)).tolist() == [0.0, 1.0, 2.0]


def test_scratch_left_by_a_killed_run_is_swept_away(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is free now
    old = time.time() - 3600
    orphan = tmp_path / f"rewardsmith-sandbox-{dead.pid}-abc"
    live = tmp_path / f"rewardsmith-sandbox-{os.getpid()}-abc"
    fresh = tmp_path / f"rewardsmith-sandbox-{dead.pid}-new"  # maybe a job of another machine's process
    other = tmp_path / f"rewardsmith-sandbox-{dead.pid}x"
    for d in (orphan, live, fresh, other):
        (d / "sb3").mkdir(parents=True)
    for d in (orphan, live, other):
        os.utime(d, (old, old))
    assert launch.sweep_orphaned_scratch(str(tmp_path)) == [str(orphan)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(d.name for d in (live, fresh, other))


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (relative imports resolved against rewardsmith.sandbox)."""
    import ast

    package = "rewardsmith.sandbox"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
                # "from . import JOBS" or "from .. import task": the names may be modules too
                found.update(f"{module}.{a.name}" for a in node.names)
            else:
                module = node.module
            found.add(module)
    return found


def test_the_sandbox_package_imports_nothing_of_the_parent_side_but_task_and_errors():
    import rewardsmith.sandbox as boundary

    folder = Path(boundary.__file__).parent
    allowed = ("rewardsmith.task", "rewardsmith.errors", "rewardsmith.sandbox")
    modules = sorted(folder.glob("*.py"))
    assert {"child.py", "confine.py", "probe.py", "train.py", "render.py", "rewardcode.py"} <= \
        {p.name for p in modules}
    for path in modules:
        parent_side = {m for m in _imported_modules(path)
                       if (m == "rewardsmith" or m.startswith("rewardsmith."))
                       and not any(m == a or m.startswith(a + ".") for a in allowed)}
        # "from .. import task" adds the bare package name too; only its task/errors members count
        parent_side.discard("rewardsmith")
        assert not parent_side, f"{path.name} imports parent-side modules {sorted(parent_side)}"


def test_every_job_kind_names_a_handler_inside_the_sandbox_package():
    import importlib

    from rewardsmith.sandbox import JOBS

    for kind, target in JOBS.items():
        module, _, function = target.partition(":")
        assert module.startswith("rewardsmith.sandbox."), kind
        assert callable(getattr(importlib.import_module(module), function)), kind
