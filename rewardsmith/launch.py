"""Launching sandboxed jobs (parent side): every piece of reward code runs in a separate, killable process.

The parent starts ``python -m rewardsmith.sandbox.child`` in a fresh session (so the whole process group can be
killed), in a scratch working directory that is deleted afterwards, with an environment built from a
short allow-list (no API keys or other secrets). The child applies its own CPU-time, memory and
file-size limits before it reads any reward code. The parent enforces the wall-clock limit.

Child and parent speak JSON lines over a private pipe; the parent never unpickles anything the child
sends. Anything the child prints (the reward code may print) is kept as a bounded log tail.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, asdict
from pathlib import Path
from typing import Callable

from .errors import SandboxError

# Variables a child may inherit. Everything else (API keys, tokens, cloud credentials) is dropped.
_ENV_ALLOW = (
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "MUJOCO_GL", "PYOPENGL_PLATFORM", "LD_LIBRARY_PATH",
    "VIRTUAL_ENV", "PYTHONPATH", "DISPLAY",
)
_LOG_TAIL = 16_384
_MAX_MESSAGE = 256 << 20  # bytes; results with checkpoints and trajectories stay far below


@dataclass
class Limits:
    """Resource limits of one sandboxed job."""

    wall_seconds: float = 60.0
    cpu_seconds: float | None = None  # default: the wall limit
    memory_mb: int = 2048

    def for_child(self) -> dict:
        data = asdict(self)
        data["cpu_seconds"] = self.cpu_seconds or self.wall_seconds
        return data


@functools.cache
def _has_osmesa() -> bool:
    """Whether OSMesa is installed (MUJOCO_GL=osmesa without it breaks every MuJoCo environment)."""
    import ctypes.util

    return sys.platform.startswith("linux") and ctypes.util.find_library("OSMesa") is not None


def child_environment(scratch: str) -> dict:
    """The environment of a sandboxed child: an allow-list, single-threaded math, home in scratch."""
    env = {k: v for k, v in os.environ.items() if k in _ENV_ALLOW}
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.update(
        HOME=scratch, TMPDIR=scratch, PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1",
        OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
    )
    if "MUJOCO_GL" not in env and _has_osmesa():
        env["MUJOCO_GL"] = "osmesa"  # offscreen CPU rendering for videos; without the library, leave it unset
    return env


_SCRATCH_PREFIX = "rewardsmith-sandbox-"
_ORPHAN_AGE_S = 600.0
_swept: set[str] = set()


def _scratch_directory() -> str:
    """A new scratch directory named after this process; the first one in each temp directory also
    sweeps away those of runs that were killed (kill -9 leaves no chance to remove them)."""
    root = tempfile.gettempdir()
    if root not in _swept:
        _swept.add(root)
        sweep_orphaned_scratch(root)
    return tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-")


def sweep_orphaned_scratch(root: str, min_age_s: float = _ORPHAN_AGE_S) -> list[str]:
    """Removes this user's scratch directories in ``root`` whose process is gone and that have not
    changed for ``min_age_s`` seconds; gives their paths."""
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        pid = entry.name[len(_SCRATCH_PREFIX):].partition("-")[0]
        if not entry.name.startswith(_SCRATCH_PREFIX) or not pid.isdigit():
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not entry.is_dir(follow_symlinks=False) or info.st_uid != os.getuid() \
                or now - info.st_mtime < min_age_s or _process_exists(int(pid)):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def extra_read_paths() -> list[str]:
    """Directories a sandboxed job may read besides the defaults (sandbox.confine.readable_roots), from
    ``$REWARDSMITH_READ_PATHS`` (``os.pathsep``-separated): for libraries or assets in unusual places."""
    text = os.environ.get("REWARDSMITH_READ_PATHS", "")
    return [os.path.abspath(p) for p in text.split(os.pathsep) if p.strip()]


def run_job(job: dict, limits: Limits, on_event: Callable[[dict], None] | None = None) -> dict:
    """Runs ``job`` in a sandboxed child and gives back its result dict.

    ``on_event`` receives the child's progress events as they arrive. Raises SandboxError (with
    ``kind`` one of ``timeout``, ``cpu``, ``memory``, ``crash``, or the child's own error kind) when the
    job does not produce a result.
    """
    scratch = _scratch_directory()
    read_fd, write_fd = os.pipe()
    token = secrets.token_hex(16)  # every protocol message must carry it: reward code cannot forge one
    payload = dict(job, limits=limits.for_child(), token=token, read_paths=extra_read_paths())
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rewardsmith.sandbox.child", str(write_fd)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=scratch, env=child_environment(scratch), pass_fds=(write_fd,),
            start_new_session=True,
        )
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        shutil.rmtree(scratch, ignore_errors=True)
        raise SandboxError(f"could not start the sandbox process: {exc}") from exc
    os.close(write_fd)
    try:
        proc.stdin.write(json.dumps(payload).encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    try:
        return _collect(proc, read_fd, limits, on_event, token)
    finally:
        _kill(proc)
        os.close(read_fd)
        shutil.rmtree(scratch, ignore_errors=True)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait on the child
        pass


def _collect(proc, read_fd, limits: Limits, on_event, token: str) -> dict:
    deadline = time.monotonic() + limits.wall_seconds
    selector = selectors.DefaultSelector()
    selector.register(read_fd, selectors.EVENT_READ, "protocol")
    selector.register(proc.stdout, selectors.EVENT_READ, "log")
    buffer, log, result, error, phase = b"", b"", None, None, "starting"
    open_streams = 2
    while open_streams:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _kill(proc)
            raise SandboxError(
                f"the sandboxed process did not finish within the wall-clock limit of "
                f"{limits.wall_seconds:.0f} s (it was {phase}); likely cause: an infinite loop or a "
                f"reward far too slow to compute.{_tail(log)}",
                kind="timeout",
            )
        for key, _ in selector.select(timeout=min(remaining, 1.0)):
            fd = key.fileobj if isinstance(key.fileobj, int) else key.fileobj.fileno()
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                selector.unregister(key.fileobj)
                open_streams -= 1
                continue
            if key.data == "log":
                log = (log + chunk)[-_LOG_TAIL:]
                continue
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            if len(buffer) > _MAX_MESSAGE:
                lines.append(b"")  # a message this long is not ours: a protocol violation
            for line in lines:
                message = _protocol_message(line, token)
                if message is None:
                    _kill(proc)
                    raise SandboxError(
                        "the sandboxed process wrote something other than its protocol messages to the "
                        "result pipe; its results are discarded. Likely cause: reward code tampering "
                        f"with the sandbox.{_tail(log)}", kind="protocol")
                kind = message.get("event")
                if kind == "result":
                    result = message["result"]
                elif kind == "error":
                    error = message
                elif kind == "phase":
                    phase = message["phase"]
                elif on_event is not None:
                    on_event(message)
    proc.wait()
    if result is not None:
        result["log_tail"] = log.decode(errors="replace")
        return result
    if error is not None:
        raise SandboxError(error["message"], kind=error.get("kind", "crash"))
    code = proc.returncode
    if code in (-signal.SIGXCPU, -signal.SIGKILL) and limits.cpu_seconds:
        raise SandboxError(
            f"the sandboxed process used up its CPU-time limit of {limits.for_child()['cpu_seconds']:.0f} s "
            f"(it was {phase}); likely cause: an infinite loop.{_tail(log)}",
            kind="cpu",
        )
    raise SandboxError(
        f"the sandboxed process died with exit code {code} while {phase}; likely cause: it ran out "
        f"of memory (limit {limits.memory_mb} MB) or crashed.{_tail(log)}",
        kind="memory" if code in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT) else "crash",
    )


def _protocol_message(line: bytes, token: str) -> dict | None:
    """The message on ``line`` if it is well-formed and carries this job's token, else None."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict) or not secrets.compare_digest(str(message.pop("token", "")), token):
        return None
    return message


def _tail(log: bytes, lines: int = 8) -> str:
    text = log.decode(errors="replace").strip()
    if not text:
        return ""
    return "\nLast output:\n" + "\n".join(text.splitlines()[-lines:])
