"""A sandboxed job's processes as the parent sees them: its limits, killing its whole tree, reaping it
within a deadline, what the kernel counted of its CPU time and memory (``Usage``), and the error that
says why it died (filter, CPU, memory, crash, timeout) with the tail of what it printed, quoted."""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import cast

from ..errors import SandboxError
from ..untrusted import quoted

log = logging.getLogger(__name__)

KILL_WAIT_S = 10.0       # after SIGKILL, how long to wait for the kernel to tear the job down


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


def kill_tree(proc: subprocess.Popen, namespace: int | None) -> None:
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
        proc.wait(timeout=KILL_WAIT_S)
    except subprocess.TimeoutExpired:  # pragma: no cover - an unkillable (D-state) process
        log.warning("sandbox process %d did not die within %.0f s of SIGKILL", proc.pid, KILL_WAIT_S)
    if namespace is not None:
        # bubblewrap may exit before its init has; the init exits only after the kernel has killed
        # and reaped every process in its namespace, and only then is its pidfd readable
        with selectors.DefaultSelector() as wait:
            wait.register(namespace, selectors.EVENT_READ)
            if not wait.select(timeout=KILL_WAIT_S):  # pragma: no cover
                log.warning("the sandbox's pid namespace outlived SIGKILL by %.0f s", KILL_WAIT_S)
        os.close(namespace)


def namespace_init(info_fd: int, bubblewrap_pid: int) -> int | None:
    """A pidfd of the init of the job's pid namespace, from bubblewrap's ``--info-fd`` JSON (written
    before the job's code starts); None if bubblewrap says nothing within a few seconds or names a
    process that is not its child."""
    text = b""
    deadline = time.monotonic() + KILL_WAIT_S
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


class Usage:
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


def reap(proc: subprocess.Popen, timeout: float):
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


def exit_signal(proc: subprocess.Popen) -> int | None:
    """The signal that ended the job: the process's own, or (bubblewrap exits with 128 + the signal
    that killed what it ran) its child's."""
    code = proc.returncode
    if code is not None and code < 0:
        return -code
    # rewardsmith starts every job with a list of arguments
    if code is not None and 128 < code < 128 + 65 and os.path.basename(str(cast(list, proc.args)[0])) == "bwrap":
        return code - 128
    return None


def exit_error(proc: subprocess.Popen, usage: Usage, limits: Limits, phase: str, log_tail) -> SandboxError:
    """Why a job ended without a result, told from its exit status and the kernel's count of its CPU
    time and peak memory: the seccomp filter (SIGSYS), the CPU-time limit (SIGXCPU, or SIGKILL at the
    hard limit), memory (SIGKILL below the CPU limit: the kernel's OOM killer; SIGSEGV/SIGABRT/SIGBUS:
    an allocation failed in native code), or a crash."""
    number = exit_signal(proc)
    name = signal.Signals(number).name if number is not None and number in signal.Signals._value2member_map_ \
        else f"signal {number}"
    cpu_limit = limits.for_child()["cpu_seconds"]
    spent = f"{usage.cpu_s:.1f} s of CPU time, a peak of {usage.peak_kb / 1024:.0f} MB resident"
    died = f"died with exit code {proc.returncode} ({f'killed by {name}; ' if number else ''}{spent})"
    if number == signal.SIGSYS:
        return SandboxError(
            f"the sandboxed process was stopped by the system-call filter: a call from another system-call "
            f"table (32-bit or x32), the only kind the filter kills for (it was {phase}).{log_tail_text(log_tail)}",
            kind="crash")
    if number == signal.SIGXCPU or number == signal.SIGKILL and usage.cpu_s >= cpu_limit - 0.5:
        return SandboxError(
            f"the sandboxed process used up its CPU-time limit of {cpu_limit:.0f} s (killed by {name} after "
            f"{spent}; it was {phase}); likely cause: an infinite loop.{log_tail_text(log_tail)}", kind="cpu")
    if number in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
        how = "the kernel's out-of-memory killer" if number == signal.SIGKILL else \
            "an allocation that failed in native code, or a crash"
        return SandboxError(
            f"the sandboxed process {died} while {phase}, below its CPU-time limit of {cpu_limit:.0f} s; likely "
            f"cause: it ran out of memory (address-space limit {limits.memory_mb} MB; {how}).{log_tail_text(log_tail)}",
            kind="memory")
    return SandboxError(f"the sandboxed process {died} while {phase}, without a result; likely cause: it "
                        f"crashed, or reward code ended it.{log_tail_text(log_tail)}", kind="crash")


def timeout_error(limits: Limits, phase: str, log_tail) -> SandboxError:
    return SandboxError(
        f"the sandboxed process did not finish within the wall-clock limit of {limits.wall_seconds:.0f} s "
        f"(it was {phase}); likely cause: an infinite loop or a reward far too slow to compute.{log_tail_text(log_tail)}",
        kind="timeout",
    )


def log_tail_text(log: bytes | bytearray, lines: int = 8) -> str:
    """The last ``lines`` lines the job printed, quoted (``untrusted.quoted``): what it printed can
    never pass for a line of rewardsmith's own."""
    text = bytes(log).decode(errors="replace").strip()
    if not text:
        return ""
    return "\nLast output of the job:\n" + quoted("\n".join(text.splitlines()[-lines:]))
