"""The ``unguarded`` job: code run with the real builtins and no Python-level layer, so that tests can
show what the operating-system layers (bubblewrap, seccomp, Landlock, resource limits) stop on their
own. It models the threat the sandbox is built for: reward code that has achieved arbitrary code
execution in its process. Only a trusted parent chooses a job's kind, and the child runs this one only
with the Python layers switched off (``Layers(python=False)``), never for a candidate's reward.
"""

from __future__ import annotations


def unguarded_job(job: dict, emit) -> dict:
    """Runs ``job["code"]`` as a module with ``job``, ``emit`` and ``protocol_fd`` in its globals;
    gives ``{"value": <its global named result>}``."""
    import sys

    if (job.get("layers") or {}).get("python", True):
        raise ValueError("the unguarded job runs only with the Python layers switched off (Layers(python=False))")
    namespace = {"__name__": "unguarded", "job": job, "emit": emit, "protocol_fd": int(sys.argv[1])}
    exec(compile(job["code"], "<unguarded>", "exec"), namespace)  # noqa: S102 - the point of this job
    return {"value": namespace.get("result")}
