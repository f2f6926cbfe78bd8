"""Installing rewardsmith the ways a user would, and running it from there with the checkout out of reach:
the wheel and sdist that `python -m build` makes, installed into a fresh virtualenv and by pipx; and
scripts/setup on a stock distribution's Python (the system python3, externally managed, PEP 668).

The installed-wheel environments reuse this interpreter's dependencies (torch, stable-baselines3, ...)
and install only rewardsmith's wheel (`--no-deps`): what is tested is what the wheel carries and that
it runs on its own, not pip's resolution of the dependencies again (which would take minutes).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest
from conftest import TINY_TASK

CHECKOUT = Path(__file__).resolve().parents[1]
SHIPPED_TASKS = sorted(p.stem.replace("_", "-") for p in (CHECKOUT / "tasks").glob("*.py") if p.stem != "__init__")
SYSTEM_PYTHON = "/usr/bin/python3"
STOCK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # a distribution's default PATH
NOBODY = 65534

ACCEPTED = """import numpy as np

def compute_reward(state, action, next_state):
    height = float(next_state.position)
    effort = -0.1 * float(np.sum(np.square(action)))
    return height + effort, {"height": height, "effort": effort}
"""
REJECTED = "import os\n\ndef compute_reward(state, action, next_state):\n    return 0.0, {'x': 0.0}\n"


def _copy_checkout(dest: Path) -> Path:
    """The checkout's sources without what a build or an install leaves in it."""
    ignore = shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", "benchmarks")
    shutil.copytree(CHECKOUT, dest, ignore=ignore)
    return dest


def _run(cmd, cwd, env=None, timeout=600, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if check:
        assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _user_env(**extra) -> dict:
    """This interpreter's environment without anything that would reach the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict:
    """The sdist and the wheel built from it, as `python -m build` makes them from a copy of the checkout."""
    root = tmp_path_factory.mktemp("build")
    source = _copy_checkout(root / "src")
    # without build isolation where this interpreter has the build backend pyproject.toml asks for (quicker)
    try:
        backend = int(importlib.metadata.version("setuptools").split(".")[0]) >= 77
    except importlib.metadata.PackageNotFoundError:
        backend = False
    _run([sys.executable, "-m", "build", *(["--no-isolation"] if backend else []), "--outdir", root / "dist", source],
         cwd=root)
    wheel, = (root / "dist").glob("rewardsmith-*.whl")
    sdist, = (root / "dist").glob("rewardsmith-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def _venv_reusing_dependencies(path: Path) -> Path:
    """A fresh virtualenv that sees this interpreter's installed dependencies, but not an editable
    install of rewardsmith (its import hook is a .pth file that only a site directory runs)."""
    _run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", path], cwd=path.parent)
    python = path / "bin" / "python"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=path).stdout.strip()
    # inside a virtualenv, --system-site-packages reaches the base Python, not this one's packages
    Path(purelib, "_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


@pytest.fixture(scope="module")
def wheel_venv(dists, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel-venv")
    python = _venv_reusing_dependencies(root / "venv")
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", dists["wheel"]], cwd=root)
    return root / "venv"


@pytest.mark.slow  # the build
def test_wheel_and_sdist_carry_tasks_prompts_and_templates(dists):
    names = set(zipfile.ZipFile(dists["wheel"]).namelist())
    tasks = {Path(n).stem.replace("_", "-") for n in names
             if n.startswith("rewardsmith/builtin_tasks/") and n.endswith(".py") and not n.endswith("__init__.py")}
    assert tasks == set(SHIPPED_TASKS) and len(tasks) == 15
    for template in ("export.py.j2", "report.html.j2"):
        assert f"rewardsmith/templates/{template}" in names
    prompts = {Path(n).name for n in names if n.startswith("rewardsmith/prompts/") and n.endswith(".j2")}
    assert prompts == {p.name for p in (CHECKOUT / "prompts").glob("*.j2")} and prompts
    assert not any(n.startswith(("tests/", "runs/", "benchmarks/")) for n in names)
    subpackages = {p.parent.relative_to(CHECKOUT).as_posix() for p in (CHECKOUT / "rewardsmith").rglob("__init__.py")}
    assert {f"{p}/__init__.py" for p in subpackages} <= names  # one subpackage per stage, every one shipped
    static = CHECKOUT / "rewardsmith" / "people" / "web" / "static"
    assert {f"rewardsmith/people/web/static/{f.name}" for f in static.iterdir()} <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "rewardsmith = rewardsmith.cli:main" in zipfile.ZipFile(dists["wheel"]).read(entry_points).decode()

    with tarfile.open(dists["sdist"]) as sdist:  # the wheel was built from it, so this is the same check
        in_sdist = {Path(*Path(n).parts[1:]).as_posix() for n in sdist.getnames()}
    assert {"pyproject.toml", "README.md", "tasks/mountaincar_reach.py", "prompts/initial.j2",
            "rewardsmith/templates/export.py.j2", "rewardsmith/cli.py"} <= in_sdist


@pytest.mark.slow
def test_installed_wheel_runs_tasks_check_evolve_and_export(wheel_venv, tmp_path):
    """The commands that matter, from the wheel's console script, in a directory outside the checkout."""
    bin_dir, env = wheel_venv / "bin", _user_env()
    where = _run([bin_dir / "python", "-c", "import rewardsmith; print(rewardsmith.__file__)"], tmp_path, env)
    assert Path(where.stdout.strip()).resolve().is_relative_to(wheel_venv.resolve()), where.stdout

    listed = _run([bin_dir / "rewardsmith", "tasks"], tmp_path, _user_env(COLUMNS="200")).stdout
    assert [name for name in SHIPPED_TASKS if name in listed] == SHIPPED_TASKS

    (tmp_path / "good.py").write_text(ACCEPTED)
    (tmp_path / "bad.py").write_text(REJECTED)
    checked = _run([bin_dir / "rewardsmith", "check", "--task", "mountaincar-reach", "good.py"], tmp_path, env)
    assert "ACCEPTED" in checked.stdout, checked.stdout
    refused = _run([bin_dir / "rewardsmith", "check", "--task", "mountaincar-reach", "bad.py"], tmp_path, env,
                   check=False)
    assert refused.returncode == 1 and "os" in refused.stdout, refused.stdout + refused.stderr

    task = tmp_path / "tiny_mountaincar.py"  # a user's own task file, next to nothing of the checkout
    shutil.copy(TINY_TASK, task)
    _run([bin_dir / "rewardsmith", "evolve", "--task", task, "--iterations", 1, "--samples", 1, "--workers", 1,
          "--final-seeds", 0, "--no-screen", "--schedule", "full", "--out", "run"], tmp_path, env)
    shown = json.loads(_run([bin_dir / "rewardsmith", "show", "run", "--json"], tmp_path, env).stdout)
    assert shown["best"]["id"] and any(c["status"] == "scored" for c in shown["candidates"])

    _run([bin_dir / "rewardsmith", "export", "run", "-o", "exported.py"], tmp_path, env)
    used = _run([bin_dir / "python", "-c",
                 "import json, sys, gymnasium, exported\n"
                 "env = exported.RewardWrapper(gymnasium.make('MountainCarContinuous-v0'))\n"
                 "env.reset(seed=0)\n"
                 "info = env.step(env.action_space.sample())[4]\n"
                 "print(json.dumps([sorted(info['reward_components']),\n"
                 "                  sorted(m for m in sys.modules if m.split('.')[0] == 'rewardsmith')]))"],
                tmp_path, env)
    components, imported = json.loads(used.stdout)
    assert components and imported == [], used.stdout


@pytest.mark.slow
def test_pipx_installs_the_wheel_as_an_app(dists, tmp_path):
    """The README's pipx recipe, with pipx told to reuse this interpreter's dependencies
    (--system-site-packages, pip --no-deps) so that no dependency is downloaded again (pipx itself
    fetches a current pip for its shared libraries)."""
    home, bin_dir = tmp_path / "pipx-home", tmp_path / "pipx-bin"
    env = _user_env(PIPX_HOME=str(home), PIPX_BIN_DIR=str(bin_dir), PIPX_MAN_DIR=str(tmp_path / "man"),
                    PIPX_DEFAULT_PYTHON=sys.executable)
    if sys.prefix != sys.base_prefix:
        pytest.skip("pipx --system-site-packages reaches the base Python, which lacks this virtualenv's dependencies")
    _run([sys.executable, "-m", "pipx", "install", "--system-site-packages", "--pip-args=--no-deps",
          dists["wheel"]], tmp_path, env)
    app = bin_dir / "rewardsmith"
    assert app.exists()
    listed = _run([app, "tasks"], tmp_path, dict(env, COLUMNS="200")).stdout
    assert [name for name in SHIPPED_TASKS if name in listed] == SHIPPED_TASKS
    python = home / "venvs" / "rewardsmith" / "bin" / "python"
    where = _run([python, "-c", "import rewardsmith; print(rewardsmith.__file__)"], tmp_path, env).stdout.strip()
    assert Path(where).resolve().is_relative_to(home.resolve())


# --- scripts/setup on a stock distribution's Python ------------------------------------------------

def _externally_managed_system_python() -> bool:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    done = subprocess.run([SYSTEM_PYTHON, "-c", "import os, sys, sysconfig; sys.exit(not os.path.isfile("
                           "os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))"])
    return done.returncode == 0


stock = pytest.mark.skipif(not _externally_managed_system_python() or not sys.platform.startswith("linux"),
                           reason=f"needs a distribution's externally managed {SYSTEM_PYTHON} (Debian 12, Ubuntu 24.04)")
as_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                             reason="needs root and setpriv to run setup as an ordinary user")


@pytest.fixture
def nobody_dir():
    """A directory an ordinary user owns (pytest's own temporary directories are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="rewardsmith-stock-"))
    path.chmod(0o755)
    os.chown(path, NOBODY, NOBODY)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _setup(args, home: Path, *, checkout: Path = CHECKOUT, user: int | None = None, path: str = STOCK_PATH,
           timeout: float = 120, **env) -> subprocess.CompletedProcess:
    """bash scripts/setup as on a stock distribution: its PATH (no other Python), a home of its own,
    no virtualenv or conda env active; as ``user`` (an ordinary user) when given."""
    environ = {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8", **env}
    prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user is not None else []
    return _run([*prefix, "bash", checkout / "scripts" / "setup", *args], cwd=home, env=environ, timeout=timeout,
                check=False)


@stock
def test_setup_plan_on_the_system_python_as_root(tmp_path):
    venv = tmp_path / "venv"  # not the checkout's .venv, which a developer's own run may have made
    done = _setup(["--plan"], tmp_path, REWARDSMITH_VENV=str(venv))
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert f"{SYSTEM_PYTHON}: it is externally managed (PEP 668)" in said
    assert f"would run: {SYSTEM_PYTHON} -m venv {venv}" in said
    assert f"would run: {venv}/bin/python -m pip install --quiet -c constraints.txt -e ." in said
    assert f"would run: {venv}/bin/python -m compileall -q rewardsmith" in said  # jobs import compiled modules
    assert f"would run: ln -sfn {venv}/bin/rewardsmith /usr/local/bin/rewardsmith" in said
    assert "break-system-packages" not in said
    if os.geteuid() == 0:
        assert "would run: apt-get install bubblewrap libosmesa6" in said
    assert _setup(["--python"], tmp_path).stdout.strip() == f"{CHECKOUT}/.venv/bin/python"  # the default place


@stock
@as_root
def test_setup_plan_on_the_system_python_as_an_ordinary_user(nobody_dir):
    tmp_path = nobody_dir
    venv = tmp_path / "venv"
    done = _setup(["--plan"], tmp_path, user=NOBODY, REWARDSMITH_VENV=str(venv))
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "externally managed (PEP 668)" in said and "apt-get install" not in said.replace("sudo apt-get", "")
    assert f"would run: ln -sfn {venv}/bin/rewardsmith {tmp_path}/.local/bin/rewardsmith" in said
    assert f"{tmp_path}/.local/bin is not on PATH yet" in said  # and it says how to put it there


@stock
def test_setup_chooses_the_pytorch_build_and_says_why(tmp_path):
    """The CPU build where there is no GPU: a local wheel pip's configuration finds, else PyTorch's CPU
    index, else (saying so) pip's default index; the overrides win over all of that."""
    pin = next(line.split("==")[1] for line in (CHECKOUT / "constraints.txt").read_text().splitlines()
               if line.startswith("torch=="))
    if shutil.which("nvidia-smi"):
        pytest.skip("a GPU machine: setup takes the default (CUDA) build")
    # without pip's configuration (no find-links), only the CPU index or the fallback remain
    venv = tmp_path / "venv"
    said = _setup(["--plan"], tmp_path, PIP_CONFIG_FILE=os.devnull, REWARDSMITH_VENV=str(venv)).stdout
    via_index = (f"CPU build of torch=={pin} from https://download.pytorch.org/whl/cpu" in said
                 and f"--index-url https://download.pytorch.org/whl/cpu torch=={pin}" in said)
    fallback = ("CPU wheel index (https://download.pytorch.org/whl/cpu) cannot be reached" in said
                and f"would run: {venv}/bin/python -m pip install --quiet torch=={pin}" in said)
    assert via_index != fallback, said

    said = _setup(["--plan"], tmp_path, REWARDSMITH_TORCH_INDEX="https://mirror.example/cpu").stdout
    assert f"--index-url https://mirror.example/cpu torch=={pin}" in said, said
    said = _setup(["--plan"], tmp_path, REWARDSMITH_TORCH="skip").stdout
    assert "REWARDSMITH_TORCH=skip" in said and "pip install --quiet torch" not in said, said


@stock
@as_root
@pytest.mark.slow
def test_setup_makes_a_virtualenv_and_a_launcher_for_an_ordinary_user(nobody_dir):
    """A real run on the system python3 as an ordinary user, up to the launcher on PATH: the virtualenv,
    rewardsmith installed into it, the link in ~/.local/bin. Dependencies are not installed here
    (PIP_NO_DEPS, REWARDSMITH_TORCH=skip): that is pip's job, and about a minute of downloads and unpacking."""
    checkout = _copy_checkout(nobody_dir / "rewardsmith")
    home = nobody_dir / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    for path in nobody_dir.rglob("*"):
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    link_dir = home / ".local" / "bin"
    done = _setup([], home, checkout=checkout, user=NOBODY, path=f"{link_dir}:{STOCK_PATH}", timeout=300,
                  REWARDSMITH_TORCH="skip", PIP_NO_DEPS="1", XDG_CACHE_HOME=str(home / ".cache"))
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    venv = checkout / ".venv"
    assert "home = /usr/bin" in (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    launcher = link_dir / "rewardsmith"
    assert launcher.is_symlink() and Path(os.readlink(launcher)) == venv / "bin" / "rewardsmith"
    assert (venv / "bin" / "rewardsmith").read_text().splitlines()[0] == f"#!{venv}/bin/python"
    # the README's next command finds it on PATH, and it is the virtualenv's rewardsmith
    found = _run(["bash", "-c", "command -v rewardsmith"], home, {"PATH": f"{link_dir}:{STOCK_PATH}"})
    assert found.stdout.strip() == str(launcher)
    where = _run([venv / "bin" / "python", "-c", "import rewardsmith; print(rewardsmith.__file__)"], home, {})
    assert where.stdout.strip() == str(checkout / "rewardsmith" / "__init__.py")
    assert f"done: rewardsmith is installed for {venv}/bin/python" in said
    assert "rewardsmith" not in _run([SYSTEM_PYTHON, "-m", "pip", "list"], home, {"PATH": STOCK_PATH}).stdout


def test_setup_installs_into_the_active_virtualenv_or_conda_env(tmp_path):
    """With a virtualenv or conda env active, setup installs into it: no .venv of its own, no launcher
    (the env's bin directory is on PATH while it is active)."""
    venv = tmp_path / "env"
    _run([SYSTEM_PYTHON if _externally_managed_system_python() else sys.executable, "-m", "venv", "--without-pip",
          venv], tmp_path)
    said = _setup(["--plan"], tmp_path, path=f"{venv}/bin:{STOCK_PATH}", VIRTUAL_ENV=str(venv)).stdout
    assert f"installing into the active virtualenv {venv}" in said, said
    assert f"would run: {venv}/bin/python -m pip install --quiet -c constraints.txt -e ." in said
    assert " -m venv " not in said and "ln -sfn" not in said
    assert _setup(["--python"], tmp_path, VIRTUAL_ENV=str(venv)).stdout.strip() == f"{venv}/bin/python"

    # a conda env is a prefix with its own, writable Python (here: this interpreter, linked in)
    conda = tmp_path / "conda-env"
    (conda / "bin").mkdir(parents=True)
    (conda / "bin" / "python").symlink_to(sys.executable)
    if sys.prefix != sys.base_prefix or not os.access(sysconfig.get_path("purelib"), os.W_OK):
        pytest.skip("this interpreter is itself a virtualenv or read-only, unlike a conda env's")
    said = _setup(["--plan"], tmp_path, path=f"{conda}/bin:{STOCK_PATH}", CONDA_PREFIX=str(conda)).stdout
    assert f"installing into the active conda env {conda}" in said, said
    assert f"would run: {conda}/bin/python -m pip install --quiet -c constraints.txt -e ." in said
    assert " -m venv " not in said and "ln -sfn" not in said
