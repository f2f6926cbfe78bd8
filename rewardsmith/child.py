"""Entry point of a sandboxed process: ``python -m rewardsmith.child PROTOCOL_FD``.

Reads one job (JSON) from stdin, applies the resource limits, runs the job and writes JSON lines to
the protocol pipe: ``{"event": "phase"|"progress"|..., ...}`` then one ``result`` or ``error``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback


def apply_limits(limits: dict) -> None:
    mem = int(limits["memory_mb"]) * 1024 * 1024
    cpu = max(1, int(limits["cpu_seconds"]))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # no file may grow: nothing gets written
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main() -> None:
    out = os.fdopen(int(sys.argv[1]), "w")

    def emit(message: dict) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    job = json.loads(sys.stdin.read())
    import tempfile

    tempfile.gettempdir()  # probes by writing a file: must happen before the zero file-size limit
    apply_limits(job["limits"])
    # reward code may print; keep its chatter on the log stream, never on the protocol pipe
    sys.stdout = sys.stderr
    try:
        if job["kind"] == "check":
            from .critic import probe_reward as handler
        elif job["kind"] == "train":
            from .ppo import train_job as handler
        else:
            raise ValueError(f"unknown job kind {job['kind']!r}")
        emit({"event": "result", "result": handler(job, emit)})
    except MemoryError:
        emit({"event": "error", "kind": "memory", "message":
              f"the sandboxed process ran out of memory (limit {job['limits']['memory_mb']} MB); "
              f"likely cause: a huge array or an ever-growing list in the reward code."})
    except BaseException as exc:  # noqa: BLE001 - everything must reach the parent as a message
        from .errors import RewardsmithError, SandboxError

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
    main()
