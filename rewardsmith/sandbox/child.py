"""Entry point of a sandboxed process: ``python -m rewardsmith.sandbox.child PROTOCOL_FD``.

Reads one job (JSON) from stdin, confines itself (``confine``), runs the job's handler (``JOBS`` in
this package) and writes JSON lines to the protocol pipe: ``{"event": "phase"|"progress"|..., ...}``
then one ``result`` or ``error``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback

from . import JOBS
from .confine import CpuTimeExceeded, confine, die_with_parent


def _in_reward(exc: BaseException, job: dict) -> str:
    """`` in reward code at line N (`source`)`` when ``exc`` was raised there, else ""."""
    from .rewardcode import location, reward_line

    line = reward_line(exc)
    return f" in reward code{location(job.get('code') or '', line)}" if line else ""


def main() -> None:
    die_with_parent()
    out = os.fdopen(int(sys.argv[1]), "w")

    job = json.loads(sys.stdin.read())
    token = job.pop("token", None)  # kept out of the job the handlers (and reward code) could see

    def emit(message: dict) -> None:
        out.write(json.dumps({**message, "token": token}) + "\n")
        out.flush()

    import tempfile

    tempfile.gettempdir()  # probes by writing a file: must happen before the zero file-size limit
    # reward code may print; keep its chatter on the log stream, never on the protocol pipe
    sys.stdout = sys.stderr
    try:
        confine(job)  # before any reward code is read
        emit({"event": "phase", "phase": "starting the job"})  # from here on, "unavailable" is not believed
        target = JOBS.get(job["kind"])
        if target is None:
            raise ValueError(f"unknown job kind {job['kind']!r}")
        module, _, function = target.partition(":")
        handler = getattr(importlib.import_module(module), function)
        emit({"event": "result", "result": handler(job, emit)})
    except MemoryError as exc:
        at = _in_reward(exc, job)
        emit({"event": "error", "kind": "memory", "message":
              f"the sandboxed process ran out of memory (limit {job['limits']['memory_mb']} MB){at}; "
              f"expected reward code to need almost none. Likely cause: a huge array or an "
              f"ever-growing list."})
    except CpuTimeExceeded as exc:
        at = _in_reward(exc, job)
        emit({"event": "error", "kind": "cpu", "message":
              f"the sandboxed process used up its CPU-time limit of {job['limits']['cpu_seconds']:.0f} s"
              f"{at}; expected reward code to take well under a millisecond per call. Likely cause: "
              f"an infinite loop{' or a loop over a huge range' if at else ''}."})
    except BaseException as exc:  # noqa: BLE001 - everything must reach the parent as a message
        from ..errors import RewardsmithError, SandboxError

        if isinstance(exc, SandboxError):
            kind = exc.kind
        elif isinstance(exc, RewardsmithError):
            kind = type(exc).__name__
        else:
            kind = "crash"
        message = str(exc) if isinstance(exc, RewardsmithError) else \
            "".join(traceback.format_exception(exc)[-6:])
        emit({"event": "error", "kind": kind, "message": message})
    finally:
        out.flush()


if __name__ == "__main__":
    # run the importable module, not this __main__ copy: its exception classes are the ones
    # the job handlers catch
    from rewardsmith.sandbox.child import main as child_main

    child_main()
