"""What this machine gives rewardsmith (``rewardsmith doctor``): each sandbox layer, rendering, the
browser for the page and the report, the PyTorch build and the cores, with what to install or change
for anything missing, and whether ``--sandbox strict`` would run.

The sandbox probes are the ones jobs use (``rewardsmith.host.confinement``, ``launch.check_sandbox``), so
what doctor says is what a run would meet; the others are read from the system without side effects.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from . import confinement

SETUP_HINT = "bash scripts/setup as root does it"


@dataclass(frozen=True)
class Finding:
    """One thing doctor checked. ``ok`` is None for a plain fact (cores, the Python in use)."""

    area: str
    name: str
    ok: bool | None
    detail: str
    fix: str = ""


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _bubblewrap() -> Finding:
    problem = confinement.bubblewrap_problem()
    path = confinement.bubblewrap_path()
    if problem is None:
        assert path is not None  # no problem: it was found
        version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.strip()
        return Finding("sandbox", "bubblewrap", True, f"{version or path} ({path}): a job's namespaces start")
    fix = f"apt-get install bubblewrap ({SETUP_HINT})" if path is None else \
        "allow unprivileged user namespaces (see the user namespaces line)"
    return Finding("sandbox", "bubblewrap", False, problem, fix)


def _user_namespaces(bubblewrap_ok: bool) -> Finding:
    limits = {
        "user.max_user_namespaces": ("/proc/sys/user/max_user_namespaces", "0", "15000"),
        "kernel.unprivileged_userns_clone": ("/proc/sys/kernel/unprivileged_userns_clone", "0", "1"),
        "kernel.apparmor_restrict_unprivileged_userns": ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
                                                         "1", "0"),
    }
    blocking = {name: allow for name, (path, off, allow) in limits.items() if _read(path) == off}
    if os.geteuid() == 0:  # the unprivileged switches do not apply to root
        blocking = {k: v for k, v in blocking.items() if k == "user.max_user_namespaces"}
    if bubblewrap_ok:
        return Finding("sandbox", "user namespaces", True, "bubblewrap created user, net, pid, ipc and uts namespaces")
    if not sys.platform.startswith("linux"):
        return Finding("sandbox", "user namespaces", False, f"need Linux; this is {sys.platform}")
    if blocking:
        return Finding("sandbox", "user namespaces", False,
                       "disabled here: " + ", ".join(f"{k}={limits[k][1]}" for k in blocking),
                       "; ".join(f"sysctl -w {k}={v}" for k, v in blocking.items()))
    if confinement.bubblewrap_path() is None:
        return Finding("sandbox", "user namespaces", None, "not tried (no bubblewrap); no sysctl disables them")
    return Finding("sandbox", "user namespaces", False,
                   "bubblewrap could not create them, though no sysctl disables them: a container's "
                   "seccomp profile or missing capabilities may forbid them",
                   "run in a container that allows them (e.g. docker run --security-opt seccomp=unconfined)")


def _layers() -> list[Finding]:
    """The confinement layers after bubblewrap, as the sandbox itself reports them
    (``confinement.layer_report``): seccomp, Landlock, cgroup v2, the scratch tmpfs and the uid drop. A
    layer that is off with nothing to install (cgroup v2, which rewardsmith does not use) is a plain fact."""
    return [Finding("sandbox", state.layer, state.ok if state.ok or state.how_to_fix else None, state.detail,
                    state.how_to_fix or "")
            for state in confinement.layer_report() if state.layer != "bubblewrap"]


def _rendering() -> list[Finding]:
    osmesa, egl = ctypes.util.find_library("OSMesa"), ctypes.util.find_library("EGL")
    chosen = os.environ.get("MUJOCO_GL") or ("osmesa" if osmesa else None)
    found = [f"{name} ({lib})" for name, lib in (("OSMesa", osmesa), ("EGL", egl)) if lib]
    mujoco = Finding("rendering", "MuJoCo GL", bool(osmesa) or chosen in ("egl", "glfw"),
                     (f"{', '.join(found)}; " if found else "neither OSMesa nor EGL found; ")
                     + (f"jobs render with MUJOCO_GL={chosen}" if chosen else "MuJoCo videos are skipped"),
                     "" if osmesa else f"apt-get install libosmesa6 ({SETUP_HINT})")
    import importlib.util

    pygame = importlib.util.find_spec("pygame") is not None
    classic = Finding("rendering", "classic control", pygame,
                      "pygame is installed" if pygame else "pygame is not installed: no classic-control videos",
                      "" if pygame else "pip install 'gymnasium[classic-control]'")
    return [mujoco, classic]


def _browser() -> list[Finding]:
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                    None)
    import webbrowser

    try:
        opener = webbrowser.get().name
    except webbrowser.Error:
        opener = None
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    found = [Finding("browser", "chromium", bool(chromium),
                     f"{chromium}: the report's headless test runs" if chromium
                     else "not found: the report's browser test is skipped",
                     "" if chromium else "apt-get install chromium (bash scripts/setup --test as root does it)")]
    found.append(Finding("browser", "serve --open", None,
                         f"opens {opener}" + ("" if display else "; no display here: open the printed address "
                                              "yourself (ssh -L for a remote machine)") if opener
                         else "no browser to open; open the printed address yourself"))
    return found


def _torch_and_cores() -> list[Finding]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    facts = [Finding("compute", "cores", None, f"{cores} usable of {os.cpu_count()}"
                     + (f"; load average {load:.1f}" if load is not None else ""))]
    try:
        import torch
    except ImportError as exc:
        return [Finding("compute", "PyTorch", False, f"cannot be imported ({exc})",
                        "bash scripts/setup (the CPU build where there is no GPU)"), *facts]
    if torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s): {torch.cuda.get_device_name(0)}"
    elif torch.version.cuda:
        build = f"a CUDA {torch.version.cuda} build, but no GPU is usable here (the CPU build is smaller)"
    else:
        build = "CPU build"
    threads = f"{torch.get_num_threads()} threads in this process; each sandboxed job uses 1"
    return [Finding("compute", "PyTorch", True, f"{torch.__version__}, {build}; {threads}"), *facts]


def _python() -> Finding:
    where = "a virtualenv" if sys.prefix != sys.base_prefix else "conda" if os.environ.get("CONDA_PREFIX") \
        else "the interpreter itself"
    return Finding("compute", "Python", None, f"{sys.version.split()[0]} at {sys.executable} ({where})")


def findings() -> list[Finding]:
    """Everything doctor checks, in the order it shows them."""
    bubblewrap = _bubblewrap()
    return [bubblewrap, _user_namespaces(bool(bubblewrap.ok)), *_layers(),
            *_rendering(), *_browser(), *_torch_and_cores(), _python()]


def strict_problem(found: list[Finding]) -> str | None:
    """Why ``--sandbox strict`` would refuse to run here, or None: the parent's check
    (``check_sandbox("strict")``: bubblewrap and seccomp) and the child's (Landlock)."""
    from ..errors import SandboxUnavailable
    from .launch import check_sandbox

    try:
        check_sandbox("strict")
    except SandboxUnavailable as exc:
        return str(exc)
    landlock = next(f for f in found if f.name == "Landlock")
    return None if landlock.ok else f"--sandbox strict: Landlock: {landlock.detail}"


MARK = {True: "ok", False: "MISSING", None: "-"}


def render(found: list[Finding], strict: str | None, width: int) -> str:
    """The report as lines of at most ``width`` columns."""
    width = max(60, min(width, 120))
    name_width = max(len(f.name) for f in found)
    indent = " " * (2 + 8 + name_width + 1)
    lines, area = [], None
    for f in found:
        if f.area != area:
            area = f.area
            lines.append(area)
        head = f"  {MARK[f.ok]:<7} {f.name:<{name_width}} "
        lines += textwrap.wrap(f.detail, width, initial_indent=head, subsequent_indent=indent)
        if f.fix:
            lines += textwrap.wrap(f"to fix: {f.fix}", width, initial_indent=indent, subsequent_indent=indent + "  ")
    lines.append("")
    verdict = "--sandbox strict would run here (exit 0)" if strict is None else \
        f"--sandbox strict would refuse to run (exit 1): {strict.removeprefix('--sandbox strict: ')}"
    lines += textwrap.wrap(verdict, width, subsequent_indent="  ")
    return "\n".join(lines)
