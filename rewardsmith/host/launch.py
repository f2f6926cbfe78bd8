"""Launching sandboxed jobs (parent side): every piece of reward code runs in a separate, killable process.

Reward code is assumed to achieve arbitrary code execution in the process that runs it, so the
boundary is the operating system. ``run_job`` starts ``python -m rewardsmith.sandbox.child`` under
bubblewrap (``confinement``): new user, network, pid, ipc and uts namespaces, no capabilities, an
unprivileged uid, read-only binds of exactly what a job reads, the job's scratch directory the only
writable place. Inside, the child adds resource limits, Landlock and a seccomp filter before it reads
any reward code (``rewardsmith.sandbox.confine``). Where bubblewrap cannot run, ``--sandbox auto``
(the default) says so once and keeps the other layers; ``--sandbox strict`` refuses to run.

The parent cannot be hung or crashed by what it starts: every wait has a deadline, the job's whole
process tree is gone when ``run_job`` returns (the pid namespace dies with it), scratch removal never
follows a link, recurses or raises and is linear and bounded in time (``scratch``), and child and parent
speak JSON lines of bounded number over a private pipe, each bounded in size and in what it would parse
into before it is parsed (``parsed_size``); the parent never unpickles anything, and any other message
is a protocol error. Anything the child prints is kept as a bounded log tail, shown quoted; a job that
dies is told apart (filter, CPU, memory) from the kernel's count of its CPU time and memory (``_Usage``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable

from .confinement import Layers, bubblewrap_argv, bubblewrap_problem, sandbox_mode, seccomp_problem
from ..errors import SandboxError, SandboxUnavailable
from .scratch import make_scratch, remove_tree, sweep_orphaned_scratch  # noqa: F401 - part of this API
from ..untrusted import child_message, quoted

log = logging.getLogger(__name__)

# Variables a child may inherit. Everything else (API keys, tokens, cloud credentials) is dropped.
_ENV_ALLOW = (
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "MUJOCO_GL", "PYOPENGL_PLATFORM", "LD_LIBRARY_PATH",
    "VIRTUAL_ENV", "PYTHONPATH", "DISPLAY", "PYGLFW_LIBRARY",
)
_LOG_TAIL = 16_384
MAX_MESSAGE = 32 << 20    # bytes of the one line that may be long, the result (a trained policy and
#                           its checkpoint are base64 text: a few MB for big MLPs)
MAX_EVENT_LINE = 1 << 20  # bytes of any other line (progress and phase messages are a few hundred)
MAX_PARSED = 96 << 20     # estimated bytes of the Python objects one line may become (``parsed_size``)
MAX_EVENTS = 20_000       # progress and phase messages per job; training sends a few dozen
_MAX_ERROR_TEXT = 8_000   # characters of a child's error message kept
_KILL_WAIT_S = 10.0       # after SIGKILL, how long to wait for the kernel to tear the job down


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


@functools.cache
def _glfw_library() -> str | None:
    """The GLFW library the ``glfw`` package ships (it is imported by every MuJoCo environment). Named
    in PYGLFW_LIBRARY, the package loads it directly instead of running a Python subprocess to check
    each candidate's version, which the sandbox's seccomp filter refuses."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("glfw")
    except (ImportError, ValueError):
        return None
    for folder in (spec and spec.submodule_search_locations) or ():
        for variant in ("x11", "."):
            path = os.path.join(folder, variant, "libglfw.so")
            if os.path.isfile(path):
                return os.path.normpath(path)
    return None


def child_environment(scratch: str) -> dict:
    """The environment of a sandboxed child: an allow-list, single-threaded math, home in scratch."""
    env = {k: v for k, v in os.environ.items() if k in _ENV_ALLOW}
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # holds rewardsmith/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.update(
        HOME=scratch, TMPDIR=scratch, PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1",
        OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
    )
    if "PYGLFW_LIBRARY" not in env and _glfw_library():
        env["PYGLFW_LIBRARY"] = _glfw_library()
    if "MUJOCO_GL" not in env and _has_osmesa():
        env["MUJOCO_GL"] = "osmesa"  # offscreen CPU rendering for videos; without the library, leave it unset
    return env


def extra_read_paths() -> list[str]:
    """Directories a sandboxed job may read besides the defaults (sandbox.confine.readable_roots), from
    ``$REWARDSMITH_READ_PATHS`` (``os.pathsep``-separated): for libraries or assets in unusual places."""
    text = os.environ.get("REWARDSMITH_READ_PATHS", "")
    return [os.path.abspath(p) for p in text.split(os.pathsep) if p.strip()]


def check_sandbox(mode: str | None = None) -> bool:
    """Whether jobs run under bubblewrap in ``mode`` (default ``$REWARDSMITH_SANDBOX`` or ``auto``).

    ``strict`` raises SandboxUnavailable naming what is missing; ``auto`` logs that once per process
    and runs jobs with the layers that remain.
    """
    mode = sandbox_mode(mode)
    problems = [p for p in (bubblewrap_problem(), seccomp_problem()) if p]
    if problems and mode == "strict":
        install = "Install bubblewrap (apt-get install bubblewrap, or bash scripts/setup) or run" \
            if bubblewrap_problem() else "Run"
        raise SandboxUnavailable(f"--sandbox strict: {'; '.join(problems)}. {install} with --sandbox auto to "
                                 f"accept the remaining layers.")
    for problem in problems:
        _warn_once(problem)
    return bubblewrap_problem() is None


@functools.cache
def _warn_once(problem: str) -> None:
    log.warning("rewardsmith: %s; sandboxed jobs run with the remaining layers (resource limits, Landlock, "
                "seccomp where available). Install bubblewrap: apt-get install bubblewrap (or bash "
                "scripts/setup); --sandbox strict refuses to run without it.", problem)


def run_job(job: dict, limits: Limits, on_event: Callable[[dict], None] | None = None, *,
            sandbox: str | None = None, layers: Layers = Layers(), pass_fds: tuple[int, ...] = (),
            on_start: Callable[[subprocess.Popen], None] | None = None) -> dict:
    """Runs ``job`` in a sandboxed child and gives back its result dict.

    ``on_event`` receives the child's progress events as they arrive; an exception it raises while
    reading one (a malformed payload) ends the job as a protocol error. Raises SandboxError (with
    ``kind`` one of ``timeout``, ``cpu``, ``memory``, ``crash``, ``protocol``, or the child's own error
    kind) when the job does not produce a result, and SandboxUnavailable when ``--sandbox strict``
    cannot be honoured. ``layers`` switches confinement layers off, for a trusted caller only (the
    tests that show what each layer stops on its own). ``pass_fds``: more descriptors the child
    inherits (the caller keeps and closes its own copies); ``on_start`` gets the process once started.
    """
    mode = sandbox_mode(sandbox)
    use_bubblewrap = layers.bubblewrap and check_sandbox(mode)
    if not layers.seccomp or not layers.landlock:
        mode = "auto"  # a trusted caller chose fewer layers; strict applies to the ones it kept
    scratch = make_scratch()
    read_fd, write_fd = os.pipe()
    token = secrets.token_hex(16)  # every protocol message must carry it
    payload = dict(job, limits=limits.for_child(), token=token, read_paths=extra_read_paths(),
                   sandbox=mode, layers={**asdict(layers), "bubblewrap": use_bubblewrap})
    command = [sys.executable, "-m", "rewardsmith.sandbox.child", str(write_fd)]
    env = child_environment(scratch)
    passed = [write_fd]
    info_read = None
    if use_bubblewrap:
        info_read, info_write = os.pipe()  # bubblewrap tells the pid of the namespace's init here
        passed.append(info_write)
        command = bubblewrap_argv(scratch, job.get("task_path"), extra_read_paths(), info_fd=info_write) + command
        env["REWARDSMITH_PID_NAMESPACE"] = "1"  # the child's parent is the namespace's init, pid 1
    try:
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=scratch, env=env, pass_fds=[*passed, *pass_fds], start_new_session=True,
        )
    except OSError as exc:
        for fd in (read_fd, *passed, info_read):
            if fd is not None:
                os.close(fd)
        _remove_scratch(scratch)
        raise SandboxError(f"could not start the sandbox process: {exc}") from exc
    for fd in passed:
        os.close(fd)
    if on_start is not None:
        on_start(proc)
    namespace = None
    try:
        if info_read is not None:
            namespace = _namespace_init(info_read, proc.pid)
        return _collect(proc, read_fd, json.dumps(payload).encode(), limits, on_event, token)
    finally:
        _kill(proc, namespace)
        os.close(read_fd)
        if info_read is not None:
            os.close(info_read)
        _remove_scratch(scratch)


REWARD_PROCESS_MEMORY_MB = 1024  # the reward process imports numpy, never torch
REPLY_SECONDS = 60.0             # how long the learner waits for one batch's rewards


def run_with_reward_process(job: dict, limits: Limits, on_event: Callable[[dict], None] | None = None, *,
                            reads: list[str], sandbox: str | None = None, layers: Layers = Layers(),
                            reply_seconds: float = REPLY_SECONDS) -> dict:
    """Runs a job whose reward is candidate code (``job["code"]``) as two sandboxed processes and gives
    the job's result, as ``run_job`` does.

    The reward process (kind ``reward``, ``rewardsmith.sandbox.rewardserver``) loads the code and only
    turns transitions into reward numbers; the job itself runs without the code (the learner), with
    ``job["reward"]`` naming its ends of two pipes made here and the state keys the code ``reads``
    (``rewardserver.fields_read_by``). Each process has its own scratch directory, confinement and
    limits (the reward process at most REWARD_PROCESS_MEMORY_MB), and neither outlives the other: when
    the learner ends, the reward process is killed; when the reward process ends, the learner's next
    read of its pipe fails. Only the learner's result is used; when it failed because the reward process
    was gone, the reward process's own error (its CPU-time or memory limit, a crash) is the one raised.
    """
    import threading

    requests_read, requests_write = os.pipe()
    replies_read, replies_write = os.pipe()
    learner_job = {key: value for key, value in job.items() if key != "code"}
    learner_job["reward"] = {"requests": requests_write, "replies": replies_read, "reads": list(reads),
                             "reply_seconds": float(reply_seconds)}
    reward_job = {"kind": "reward", "code": job["code"], "requests": requests_read, "replies": replies_write,
                  "batch_seconds": reply_seconds / 2}
    # a little longer than the learner's: the learner's own end (result or limit) is what ends both
    reward_limits = Limits(wall_seconds=limits.wall_seconds + 30.0, cpu_seconds=limits.for_child()["cpu_seconds"],
                           memory_mb=min(REWARD_PROCESS_MEMORY_MB, limits.memory_mb))
    lock, state = threading.Lock(), {"open": {requests_read, requests_write, replies_read, replies_write},
                                     "proc": None, "stopping": False, "outcome": None}

    def close(*fds):  # the parent's copies, once the child that uses them has its own
        with lock:
            for fd in fds:
                if fd in state["open"]:
                    state["open"].discard(fd)
                    os.close(fd)

    def kill_reward_process():
        with lock:
            state["stopping"] = True
            proc = state["proc"]
            if proc is not None and proc.returncode is None:
                try:  # its group: bubblewrap (whose namespace dies with it) or the unwrapped child
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def reward_started(proc):
        close(requests_read, replies_write)
        with lock:
            state["proc"] = proc
        if state["stopping"]:  # the learner ended before this process started
            kill_reward_process()

    def serve():
        try:
            run_job(reward_job, reward_limits, sandbox=sandbox, layers=layers,
                    pass_fds=(requests_read, replies_write), on_start=reward_started)
        except BaseException as exc:  # noqa: BLE001 - reported below, if it explains the learner's end
            state["outcome"] = exc
        finally:
            close(requests_read, replies_write)

    thread = threading.Thread(target=serve, name="reward-process", daemon=True)
    thread.start()
    try:
        return run_job(learner_job, limits, on_event, sandbox=sandbox, layers=layers,
                       pass_fds=(requests_write, replies_read),
                       on_start=lambda proc: close(requests_write, replies_read))
    except SandboxError as exc:
        if exc.kind != "reward_process":
            raise
        thread.join(timeout=_KILL_WAIT_S)  # it ended: its own error says why
        reason = state["outcome"]
        if isinstance(reason, SandboxError) and reason.kind != "reward_process":
            raise SandboxError(f"the reward process failed: {reason}", kind=reason.kind) from exc
        raise
    finally:
        close(requests_write, replies_read)
        kill_reward_process()
        thread.join()


def _remove_scratch(scratch: str) -> None:
    problems = remove_tree(scratch)
    if problems:
        log.warning("could not remove all of the sandbox's scratch directory %s (%d problems, first: %s); "
                    "the next run's sweep retries", scratch, len(problems), problems[0])


def _kill(proc: subprocess.Popen, namespace: int | None) -> None:
    """Kills the job's whole process tree and waits (bounded) until the kernel has torn it down.
    ``namespace``: a pidfd of the init of the job's pid namespace (under bubblewrap), else None."""
    try:  # even when the leader has exited: the rest of its group may not have
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if namespace is not None:
        try:
            signal.pidfd_send_signal(namespace, signal.SIGKILL)
        except OSError:
            pass
    try:
        proc.wait(timeout=_KILL_WAIT_S)
    except subprocess.TimeoutExpired:  # pragma: no cover - an unkillable (D-state) process
        log.warning("sandbox process %d did not die within %.0f s of SIGKILL", proc.pid, _KILL_WAIT_S)
    if namespace is not None:
        # bubblewrap may exit before its init has; the init exits only after the kernel has killed
        # and reaped every process in its namespace, and only then is its pidfd readable
        with selectors.DefaultSelector() as wait:
            wait.register(namespace, selectors.EVENT_READ)
            if not wait.select(timeout=_KILL_WAIT_S):  # pragma: no cover
                log.warning("the sandbox's pid namespace outlived SIGKILL by %.0f s", _KILL_WAIT_S)
        os.close(namespace)


def _namespace_init(info_fd: int, bubblewrap_pid: int) -> int | None:
    """A pidfd of the init of the job's pid namespace, from bubblewrap's ``--info-fd`` JSON (written
    before the job's code starts); None if bubblewrap says nothing within a few seconds or names a
    process that is not its child."""
    text = b""
    deadline = time.monotonic() + _KILL_WAIT_S
    with selectors.DefaultSelector() as wait:
        wait.register(info_fd, selectors.EVENT_READ)
        while len(text) < 4096:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not wait.select(timeout=remaining):
                return None
            chunk = os.read(info_fd, 4096)
            text += chunk
            try:
                pid = json.loads(text).get("child-pid")
                break
            except (ValueError, AttributeError):
                if not chunk:
                    return None
    if not isinstance(pid, int) or pid <= 1:
        return None
    try:
        pidfd = os.pidfd_open(pid)
        with open(f"/proc/{pid}/stat") as stat:  # field 4, after the parenthesised name: the parent
            parent = int(stat.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None
    if parent != bubblewrap_pid:
        os.close(pidfd)
        return None
    return pidfd


class _Protocol:
    """The parent's side of one job's protocol: bounded lines, bounded counts, typed messages."""

    def __init__(self, token: str, on_event):
        self.token, self.on_event = token, on_event
        self.buffer = bytearray()
        self.result, self.error, self.phase, self.events = None, None, "starting", 0
        self.long_line = False  # whether a line longer than MAX_EVENT_LINE came (only the result may)

    def feed(self, chunk: bytes) -> None:
        """Takes bytes from the protocol pipe; raises SandboxError(kind=protocol) on a violation."""
        start = len(self.buffer)
        self.buffer += chunk
        newline = self.buffer.find(b"\n", start)
        while newline >= 0:
            if newline == len(self.buffer) - 1:  # the usual case: the line ends the chunk, no copy
                line, self.buffer = self.buffer, bytearray()
                del line[-1]
            else:
                line = self.buffer[:newline]
                del self.buffer[:newline + 1]
            self._message(line)
            newline = self.buffer.find(b"\n")
        if len(self.buffer) > MAX_MESSAGE:
            raise _violation(f"a message longer than {MAX_MESSAGE >> 20} MB")

    def _message(self, line: bytearray) -> None:
        if self.result is not None or self.error is not None:
            raise _violation("more messages after its result")
        # bounded before it is parsed: a line of ``[{},{},...]`` becomes 20 times its size in objects
        if len(line) > MAX_EVENT_LINE and self.long_line:
            raise _violation(f"a second message longer than {MAX_EVENT_LINE >> 20} MB (only its result may be)")
        self.long_line = self.long_line or len(line) > MAX_EVENT_LINE
        estimate = parsed_size(line)
        if estimate > MAX_PARSED:
            raise _violation(f"a message that would take about {estimate >> 20} MB to read (at most "
                             f"{MAX_PARSED >> 20} MB: too many items or nested containers)")
        try:
            text = line.decode()
            del line  # only the text and what it becomes stay alive while it is parsed
            message = json.loads(text)
        except (ValueError, RecursionError):
            raise _violation("a line that is not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("token"), str) \
                or not secrets.compare_digest(message.pop("token"), self.token):
            raise _violation("a message without this job's token")
        kind = message.get("event")
        if self.long_line and kind not in ("result", "error"):
            raise _violation(f"a {str(kind)[:40]!r} message longer than {MAX_EVENT_LINE >> 20} MB")
        if kind == "result":
            if not isinstance(message.get("result"), dict):
                raise _violation(f"a result of type {type(message.get('result')).__name__} (expected an object)")
            self.result = message["result"]
            return
        if kind == "error":
            text, error_kind = message.get("message"), message.get("kind", "crash")
            if not isinstance(text, str) or not isinstance(error_kind, str) or len(error_kind) > 64:
                raise _violation("an error message that is not text")
            self.error = (error_kind, text[:_MAX_ERROR_TEXT])
            return
        self.events += 1
        if self.events > MAX_EVENTS:
            raise _violation(f"more than {MAX_EVENTS} progress messages")
        if kind == "phase":
            if not isinstance(message.get("phase"), str):
                raise _violation("a phase that is not text")
            self.phase = message["phase"][:200]
        elif not isinstance(kind, str):
            raise _violation("a message without an event name")
        elif self.on_event is not None:
            try:
                self.on_event(message)
            except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
                raise _violation(f"a malformed {kind[:40]!r} message ({type(exc).__name__}: "
                                 f"{str(exc)[:200]})") from exc


def parsed_size(line: bytes | bytearray) -> int:
    """An upper estimate of the bytes ``json.loads(line)`` allocates, counted without parsing: per
    container (``{``/``[``) an empty dict's 64 bytes and a pointer, per item (``,``/``:``) a float's
    24 bytes and room for a dict slot or a short string's header, plus the text itself. Characters
    inside strings are counted too, which only makes it stricter (base64 holds none of them)."""
    return 72 * (line.count(b"{") + line.count(b"[")) + 56 * (line.count(b",") + line.count(b":")) + len(line)


def _violation(what: str) -> SandboxError:
    return SandboxError(f"the sandboxed process sent {what} on its result pipe; its results are discarded. "
                        f"Likely cause: reward code tampering with the sandbox.", kind="protocol")


def _collect(proc, read_fd, payload: bytes, limits: Limits, on_event, token: str) -> dict:
    deadline = time.monotonic() + limits.wall_seconds
    protocol = _Protocol(token, on_event)
    usage = _Usage(proc.pid)
    log_tail = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(read_fd, selectors.EVENT_READ, "protocol")
        selector.register(proc.stdout, selectors.EVENT_READ, "log")
        os.set_blocking(proc.stdin.fileno(), False)  # the job goes in by pieces: a child that never
        selector.register(proc.stdin, selectors.EVENT_WRITE, "job")  # reads cannot block the parent
        open_streams = 2
        while open_streams:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timeout(limits, protocol.phase, log_tail)
            usage.sample()
            for key, _ in selector.select(timeout=min(remaining, _Usage.EVERY_S)):
                if key.data == "job":
                    try:
                        payload = payload[os.write(proc.stdin.fileno(), payload[:1 << 16]):]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # the child is gone; its exit status tells why
                        payload = b""
                    if not payload:
                        selector.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                fd = key.fileobj if isinstance(key.fileobj, int) else key.fileobj.fileno()
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                elif key.data == "log":
                    log_tail += chunk
                    del log_tail[:-_LOG_TAIL]
                else:
                    try:
                        protocol.feed(chunk)
                    except SandboxError as exc:
                        raise SandboxError(f"{exc}{_tail(log_tail)}", kind="protocol") from exc
    # the streams are closed, but a child may close them and keep running: wait only for the time left
    usage.sample()
    exited, counted = _reap(proc, max(0.0, deadline - time.monotonic()))
    usage.add(counted)
    if not exited:
        raise _timeout(limits, protocol.phase, log_tail)
    if protocol.result is not None:
        protocol.result["log_tail"] = log_tail.decode(errors="replace")
        return protocol.result
    if protocol.error is not None:
        kind, message = protocol.error
        message = child_message(message)
        if kind == "unavailable" and protocol.events == 0:  # said before the child reported itself confined
            raise SandboxUnavailable(message)
        raise SandboxError(message, kind=kind)
    raise _exit_error(proc, usage, limits, protocol.phase, log_tail)


class _Usage:
    """The CPU time and peak resident memory of a job's processes as the kernel counts them: sampled
    from /proc while the job runs (under bubblewrap the job is a grandchild: ``os.wait4`` on bubblewrap
    does not count it) and completed by ``os.wait4`` for an unwrapped job. Reward code cannot forge
    either; a sample may lag by ``EVERY_S``."""

    EVERY_S = 0.25
    _TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, pid: int):
        self.pid, self.cpu_s, self.peak_kb, self.next = pid, 0.0, 0, 0.0

    def sample(self) -> None:
        now = time.monotonic()
        if now < self.next or not sys.platform.startswith("linux"):
            return
        self.next = now + self.EVERY_S
        cpu, peak, todo, seen = 0.0, 0, [self.pid], 0
        while todo and seen < 16:  # bubblewrap, its init, the job (and what the job started)
            pid, seen = todo.pop(), seen + 1
            try:
                with open(f"/proc/{pid}/stat", "rb") as stat:  # after the name: utime, stime, cutime, cstime
                    fields = stat.read().rpartition(b")")[2].split()
                cpu += sum(int(fields[i]) for i in (11, 12, 13, 14)) / self._TICK
                with open(f"/proc/{pid}/status", "rb") as status:
                    peak = max([peak] + [int(line.split()[1]) for line in status if line.startswith(b"VmHWM:")])
                with open(f"/proc/{pid}/task/{pid}/children", "rb") as children:
                    todo += [int(child) for child in children.read().split()]
            except (OSError, ValueError, IndexError):
                continue
        self.cpu_s, self.peak_kb = max(self.cpu_s, cpu), max(self.peak_kb, peak)

    def add(self, counted) -> None:
        """Adds what ``os.wait4`` gave (None: nothing)."""
        if counted is not None:
            self.cpu_s = max(self.cpu_s, counted.ru_utime + counted.ru_stime)
            self.peak_kb = max(self.peak_kb, counted.ru_maxrss)


def _reap(proc: subprocess.Popen, timeout: float):
    """Waits at most ``timeout`` s for ``proc`` to exit and reaps it; gives (exited, resource usage or
    None). The usage (``os.wait4``) is the kernel's count for the process and every descendant it
    reaped: under bubblewrap, the whole job. Reward code cannot forge it."""
    if proc.returncode is not None:
        return True, None
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError:  # not Linux >= 5.3, or already reaped
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, None
        return True, None
    try:
        with selectors.DefaultSelector() as wait:
            wait.register(pidfd, selectors.EVENT_READ)
            if not wait.select(timeout=timeout):
                return False, None
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except ChildProcessError:  # reaped by someone else meanwhile
            proc.wait()
            return True, None
        proc.returncode = os.waitstatus_to_exitcode(status)
        return True, usage
    finally:
        os.close(pidfd)


def _exit_signal(proc: subprocess.Popen) -> int | None:
    """The signal that ended the job: the process's own, or (bubblewrap exits with 128 + the signal
    that killed what it ran) its child's."""
    code = proc.returncode
    if code is not None and code < 0:
        return -code
    if code is not None and 128 < code < 128 + 65 and os.path.basename(str(proc.args[0])) == "bwrap":
        return code - 128
    return None


def _exit_error(proc: subprocess.Popen, usage: _Usage, limits: Limits, phase: str, log_tail) -> SandboxError:
    """Why a job ended without a result, told from its exit status and the kernel's count of its CPU
    time and peak memory: the seccomp filter (SIGSYS), the CPU-time limit (SIGXCPU, or SIGKILL at the
    hard limit), memory (SIGKILL below the CPU limit: the kernel's OOM killer; SIGSEGV/SIGABRT/SIGBUS:
    an allocation failed in native code), or a crash."""
    number = _exit_signal(proc)
    name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else f"signal {number}"
    cpu_limit = limits.for_child()["cpu_seconds"]
    spent = f"{usage.cpu_s:.1f} s of CPU time, a peak of {usage.peak_kb / 1024:.0f} MB resident"
    died = f"died with exit code {proc.returncode} ({f'killed by {name}; ' if number else ''}{spent})"
    if number == signal.SIGSYS:
        return SandboxError(
            f"the sandboxed process was stopped by the system-call filter: a call from another system-call "
            f"table (32-bit or x32), the only kind the filter kills for (it was {phase}).{_tail(log_tail)}",
            kind="crash")
    if number == signal.SIGXCPU or number == signal.SIGKILL and usage.cpu_s >= cpu_limit - 0.5:
        return SandboxError(
            f"the sandboxed process used up its CPU-time limit of {cpu_limit:.0f} s (killed by {name} after "
            f"{spent}; it was {phase}); likely cause: an infinite loop.{_tail(log_tail)}", kind="cpu")
    if number in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
        how = "the kernel's out-of-memory killer" if number == signal.SIGKILL else \
            "an allocation that failed in native code, or a crash"
        return SandboxError(
            f"the sandboxed process {died} while {phase}, below its CPU-time limit of {cpu_limit:.0f} s; likely "
            f"cause: it ran out of memory (address-space limit {limits.memory_mb} MB; {how}).{_tail(log_tail)}",
            kind="memory")
    return SandboxError(f"the sandboxed process {died} while {phase}, without a result; likely cause: it "
                        f"crashed, or reward code ended it.{_tail(log_tail)}", kind="crash")


def _timeout(limits: Limits, phase: str, log_tail) -> SandboxError:
    return SandboxError(
        f"the sandboxed process did not finish within the wall-clock limit of {limits.wall_seconds:.0f} s "
        f"(it was {phase}); likely cause: an infinite loop or a reward far too slow to compute.{_tail(log_tail)}",
        kind="timeout",
    )


def _tail(log: bytes, lines: int = 8) -> str:
    """The last ``lines`` lines the job printed, quoted (``untrusted.quoted``): what it printed can
    never pass for a line of rewardsmith's own."""
    text = bytes(log).decode(errors="replace").strip()
    if not text:
        return ""
    return "\nLast output of the job:\n" + quoted("\n".join(text.splitlines()[-lines:]))
