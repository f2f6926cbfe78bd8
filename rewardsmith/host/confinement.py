"""How a sandboxed job is confined, as the parent sets it up: the sandbox mode, the layers, and the
bubblewrap command line (what the job's namespaces contain).

The child adds its own layers before it reads reward code (``rewardsmith.sandbox.confine``); this
module decides what the child's world looks like from outside.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import ConfigError

SANDBOX_MODES = ("auto", "strict")
SANDBOX_HELP = ("strict: bubblewrap, seccomp, Landlock and resource limits around every job, or refuse to "
                "run; auto: the same where this machine allows, saying once what is missing "
                "(default: $REWARDSMITH_SANDBOX or auto).")
SANDBOX_UID = "65534"  # "nobody": the job's user inside its user namespace, with no capabilities

# Namespaces and process settings of every job (bubblewrap(1)): no network, its own pids (the whole
# tree dies with the namespace's init), ipc and hostname; a new session (no terminal to inject into)
NAMESPACE_ARGS = (
    "--unshare-user", "--uid", SANDBOX_UID, "--gid", SANDBOX_UID, "--cap-drop", "ALL",
    "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "sandbox",
    "--die-with-parent", "--new-session",
)
# what any Python process reads besides its installation: shared libraries and the loader's
# configuration, the time zone, the CPU topology numpy and torch ask for
SYSTEM_BINDS = (
    "/usr", "/lib", "/lib64", "/lib32", "/libx32", "/nix/store", "/gnu/store", "/home/linuxbrew/.linuxbrew",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
    "/sys/devices/system/cpu", "/sys/devices/system/node",
)


@dataclass(frozen=True)
class Layers:
    """The confinement layers of a job; all on unless a trusted caller (a test showing what one layer
    stops on its own) switches some off. ``python``: the audit hook and the restricted loading of
    reward code; off, the ``unguarded`` job kind runs code with the real builtins."""

    bubblewrap: bool = True
    seccomp: bool = True
    landlock: bool = True
    python: bool = True
    uid: bool = True  # as root without bubblewrap: the job drops to an unprivileged uid, or no job runs


def sandbox_mode(requested: str | None = None) -> str:
    """``requested``, else ``$REWARDSMITH_SANDBOX``, else ``auto``; ConfigError for anything else."""
    mode = requested or os.environ.get("REWARDSMITH_SANDBOX") or "auto"
    if mode not in SANDBOX_MODES:
        where = "--sandbox" if requested else "REWARDSMITH_SANDBOX"
        raise ConfigError(f"{where}={mode!r}: expected {' or '.join(SANDBOX_MODES)}")
    return mode


def bubblewrap_path() -> str | None:
    return shutil.which("bwrap") or next((p for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.access(p, os.X_OK)), None)


@functools.cache
def bubblewrap_problem() -> str | None:
    """Why bubblewrap cannot confine jobs on this machine, or None when it can. Asked once per process:
    it starts bubblewrap with every namespace a job gets and runs ``true``."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux; this is {sys.platform}"
    bwrap = bubblewrap_path()
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    command = [bwrap, *NAMESPACE_ARGS, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--", "true"]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{bwrap} could not be run: {exc}"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return (f"{bwrap} cannot create the sandbox's namespaces here ({said[-1] if said else done.returncode}); "
                f"unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone, or "
                f"kernel.apparmor_restrict_unprivileged_userns on Ubuntu 24.04) or forbidden by a container")
    return None


def seccomp_problem() -> str | None:
    """Why the seccomp filter cannot be installed on this machine, or None."""
    from ..sandbox.seccomp import architecture

    if architecture() is None:
        import platform

        return (f"the seccomp filter knows the system calls of Linux on x86_64 and aarch64 only; this is "
                f"{sys.platform} on {platform.machine() or 'an unknown machine'}")
    return None


def bubblewrap_argv(scratch: str, task_path: str | None, extra: list[str], info_fd: int | None = None) -> list[str]:
    """The bubblewrap command (up to ``--``) that runs a job: its namespaces, and a file system of
    read-only binds of exactly what it reads (``readable_paths``), a minimal ``/dev``, its own
    ``/proc``, and ``scratch``, the only writable place and its working directory."""
    argv = [bubblewrap_path() or "bwrap", *NAMESPACE_ARGS]
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    for path in SYSTEM_BINDS:
        if os.path.islink(path) and os.path.dirname(path) == "/":  # /lib -> usr/lib on merged-/usr systems
            argv += ["--symlink", os.readlink(path), path]
    for real, seen_as in _binds([p for p in SYSTEM_BINDS if not os.path.islink(p)]
                                + readable_paths(task_path, extra)):
        argv += ["--ro-bind-try", real, real]
        if seen_as != real:
            argv += ["--symlink", real, seen_as]
    argv += ["--dev", "/dev", "--proc", "/proc", *scratch_args(scratch), "--chdir", scratch,
             "--remount-ro", "/dev", "--remount-ro", "/", "--"]
    return argv


def scratch_args(scratch: str) -> list[str]:
    """How the job's scratch appears: a tmpfs of its own namespace (nothing a job makes reaches this
    machine's disk or outlives it), limited to ``SCRATCH_BYTES`` where bubblewrap has --size; and where
    bubblewrap can leave the job CAP_SYS_ADMIN in its user namespace, the child mounts its own tmpfs
    over it, limited in inodes too, and drops every capability (``sandbox.confine.private_scratch``)."""
    from ..sandbox.confine import SCRATCH_BYTES

    features = bubblewrap_features()
    args = ["--cap-add", "CAP_SYS_ADMIN"] if "cap-add" in features else []
    args += ["--size", str(SCRATCH_BYTES)] if "size" in features else []
    return args + ["--perms", "0700", "--tmpfs", scratch] if "size" in features or "cap-add" in features \
        else ["--bind", os.path.realpath(scratch), scratch]


@functools.cache
def bubblewrap_features() -> frozenset[str]:
    """What this bubblewrap offers beyond the basics: ``size`` (a tmpfs size, bubblewrap >= 0.8 in
    Debian 12's build) and ``cap-add`` (CAP_SYS_ADMIN left in the job's user namespace)."""
    bwrap = bubblewrap_path()
    if bwrap is None or bubblewrap_problem() is not None:
        return frozenset()
    features = set()
    try:
        text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30).stdout
        base = [bwrap, *NAMESPACE_ARGS, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        if "--size" in text and subprocess.run(base + ["--size", "4096", "--tmpfs", "/tmp", "--", "true"],
                                               capture_output=True, timeout=30).returncode == 0:
            features.add("size")
        if subprocess.run(base + ["--cap-add", "CAP_SYS_ADMIN", "--", "true"], capture_output=True,
                          timeout=30).returncode == 0:
            features.add("cap-add")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return frozenset(features)


def readable_paths(task_path: str | None, extra: list[str]) -> list[str]:
    """What a job reads besides the system: the Python installation (prefixes, standard library,
    site-packages and whatever ``.pth`` files and PYTHONPATH add), LD_LIBRARY_PATH, rewardsmith's own
    package and shipped tasks, the task file's directory, and ``extra`` ($REWARDSMITH_READ_PATHS).
    Never the home directory, the checkout rewardsmith runs from, or any directory holding one of them
    (a task file directly in one of those is bound alone), nor a folder inside the checkout (its tests,
    benchmarks or anything a script put on ``sys.path``) but the package, the shipped tasks and a Python
    installation that lives there (setup's ``.venv``)."""
    import site
    import sysconfig

    from ..task import BUILTIN_TASKS_DIR

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # rewardsmith/, this file's parent's
    checkout = os.path.dirname(package)  # a checkout (may hold a .env), unless rewardsmith is installed
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    installed = any(os.path.realpath(checkout).startswith(p.rstrip("/") + "/") for p in prefixes)
    private = {os.path.realpath(p) for p in (os.path.expanduser("~"), *([] if installed else [checkout]))}
    cwd = os.path.realpath(os.getcwd())

    inside = None if installed else os.path.realpath(checkout).rstrip("/") + "/"

    def within(real: str, folder: str) -> bool:
        return real == folder or real.startswith(folder.rstrip("/") + "/")

    def allowed(path: str) -> bool:  # absolute, neither private nor holding something private, nor in the checkout
        real = os.path.realpath(path)
        return os.path.isabs(path) and real != cwd \
            and not any(real == p or p.startswith(real.rstrip("/") + "/") for p in private) \
            and not (inside and real.startswith(inside) and not any(within(real, p) for p in prefixes))

    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values(),
             *site.getsitepackages(), *sys.path[1:],
             *os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)]
    paths = [p for p in paths if p and allowed(p)] + [package, str(BUILTIN_TASKS_DIR)]
    if task_path:
        task_path = os.path.abspath(task_path)
        folder = os.path.dirname(task_path)
        paths.append(folder if allowed(folder) else task_path)
    return paths + list(extra)


def _binds(paths: list[str]) -> list[tuple[str, str]]:
    """(real path, path as given) of each existing path, parents before children, without a path
    that a bind of its parent already covers."""
    chosen: dict[str, str] = {}
    for path in sorted({os.path.abspath(p) for p in paths}, key=lambda p: (os.path.realpath(p).count("/"), p)):
        real = os.path.realpath(path)
        if not os.path.exists(real) or any(real == c or real.startswith(c.rstrip("/") + "/") for c in chosen):
            continue
        # show the path under its own name too, unless a link higher up already leads there
        seen_as = path if os.path.realpath(os.path.dirname(path)) == os.path.dirname(path) else real
        chosen[real] = seen_as
    return list(chosen.items())


class LayerState(NamedTuple):
    """One confinement layer on this machine, as ``layer_report`` gives it."""

    layer: str
    ok: bool
    detail: str
    how_to_fix: str | None


_INSTALL_BUBBLEWRAP = "apt-get install bubblewrap (or bash scripts/setup)"


def layer_report() -> list[LayerState]:
    """Each confinement layer's state on this machine, as data (for ``rewardsmith doctor``): bubblewrap,
    seccomp, Landlock, cgroup v2, the scratch tmpfs's limits, and the uid a job runs as. Probes the
    way jobs do (bubblewrap is started; as root, a child process checks what uid 65534 can read)."""
    from ..sandbox.confine import SCRATCH_BYTES, SCRATCH_INODES, UNPRIVILEGED_UID
    from ..sandbox.seccomp import DENIED, architecture

    wrapped = bubblewrap_problem()
    report = [LayerState("bubblewrap", wrapped is None, wrapped or f"{bubblewrap_path()}: user, network, pid, "
                         f"ipc and uts namespaces, read-only binds of what a job reads",
                         None if wrapped is None else _INSTALL_BUBBLEWRAP)]
    filtered = seccomp_problem()
    report.append(LayerState("seccomp", filtered is None, filtered or f"a filter for {architecture()} refusing "
                             f"{len(DENIED)} system calls", None if filtered is None else
                             "run on Linux on x86_64 or aarch64"))
    abi = landlock_abi()
    report.append(LayerState("Landlock", abi > 0, f"ABI {abi}" if abi else "this kernel has no Landlock",
                             None if abi else "Linux 5.13 or later with landlock among its LSMs (lsm= boot option)"))
    report.append(LayerState("cgroup v2", False, f"not used by rewardsmith ({_cgroup_state()}); memory, shared "
                             f"memory included, is bounded by the address-space limit, the seccomp filter (no "
                             f"System V IPC or memfd) and the scratch tmpfs", None))
    features = bubblewrap_features()
    scratch: tuple[bool, str, str | None]  # (in place, what, how to get it)
    if "size" in features and "cap-add" in features:
        scratch = (True, f"a tmpfs of the job's own: {SCRATCH_BYTES >> 20} MB, {SCRATCH_INODES} inodes", None)
    elif features:
        scratch = (True, f"a tmpfs of the job's own, {SCRATCH_BYTES >> 20} MB" if "size" in features else
                   "a tmpfs of the job's own with inodes limited", "bubblewrap 0.8 or later, not installed setuid")
    elif wrapped is None:
        scratch = (False, "a directory on this machine's disk", "bubblewrap 0.8 or later (--size)")
    elif os.geteuid() == 0:
        scratch = (True, f"a tmpfs of the job's own: {SCRATCH_BYTES >> 20} MB, {SCRATCH_INODES} inodes (mounted "
                   f"as root before the job drops to uid {UNPRIVILEGED_UID})", None)
    else:
        scratch = (False, "a directory on this machine's disk, bounded only by its removal's deadline",
                   _INSTALL_BUBBLEWRAP)
    report.append(LayerState("scratch tmpfs", *scratch))
    uid: tuple[bool, str, str | None]
    if wrapped is None:
        uid = (True, f"uid {SANDBOX_UID} in the job's own user namespace, no capabilities", None)
    elif os.geteuid() != 0:
        uid = (True, f"uid {os.geteuid()}, this user's own (not root)", None)
    else:
        unreadable = _unreadable_as(UNPRIVILEGED_UID, os.path.dirname(os.__file__))
        uid = (unreadable is None, f"root drops to uid {UNPRIVILEGED_UID}" if unreadable is None else
               f"root cannot drop to uid {UNPRIVILEGED_UID}, which cannot read {unreadable}: no job runs",
               None if unreadable is None else f"{_INSTALL_BUBBLEWRAP}, or run rewardsmith as an ordinary user")
    report.append(LayerState("uid drop", *uid))
    return report


def landlock_abi() -> int:
    """The Landlock ABI this kernel offers (0: none)."""
    if not sys.platform.startswith("linux"):
        return 0
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return max(0, int(libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))))


def _cgroup_state() -> str:
    try:
        with open("/proc/self/mountinfo") as mounts:
            kinds = {line.split(" - ")[0].split()[4]: line.split(" - ")[1].split()[0] for line in mounts}
    except OSError:
        return "no /proc here"
    kind = kinds.get("/sys/fs/cgroup")
    if kind != "cgroup2":
        return f"/sys/fs/cgroup is {kind or 'not mounted'}, not a cgroup v2 hierarchy"
    try:
        with open("/proc/self/cgroup") as own:
            path = "/sys/fs/cgroup" + own.read().strip().partition("::")[2]
    except OSError:
        return "cgroup v2, this process's group unknown"
    return f"cgroup v2, {'delegated to this user' if os.access(path, os.W_OK) else 'not delegated to this user'}"


def _unreadable_as(uid: int, *paths: str) -> str | None:
    """The first of ``paths`` that ``uid`` cannot list, asked of the kernel by a child that became it."""
    for path in paths:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - reports through its exit status
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.listdir(path)
                os._exit(0)
            except BaseException:
                os._exit(1)
        if os.waitpid(pid, 0)[1] != 0:
            return path
    return None
