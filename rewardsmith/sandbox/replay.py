"""Replaying a reward on recorded trajectories, inside a sandboxed child (``job["kind"] == "replay"``,
loads candidate code), through the reward process's own ``RewardServer`` (the one code path that runs
candidate code).

Gives, per trajectory, the reward's total and components on every recorded step. The parent side
(``rewardsmith.replay``) validates every number before anything uses it.
"""

from __future__ import annotations

import numpy as np


def _row(value):
    """One recorded field row as reward code saw it in training: a float, or a read-only array."""
    from ..task import frozen

    if isinstance(value, list):
        return frozen(np.asarray(value, dtype=float))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _states(trajectory: dict, names: list[str]) -> list:
    from ..task import State

    fields = trajectory["fields"]
    obs = trajectory.get("obs")  # absent from trajectories recorded before release 0.2
    count = len(trajectory["actions"]) + 1
    return [State({**({"obs": _row(obs[k])} if obs is not None else {}),
                   **{n: _row(fields[n][k]) for n in names}}) for k in range(count)]


def replay_job(job: dict, emit) -> dict:
    """Child side: ``{"episodes": [{"rewards": [...], "components": {...}}, ...]}`` or
    ``{"error": message, "episode": i, "step": k}`` when reward code fails."""
    from ..task import frozen, load_task_file
    from .confine import CpuTimeExceeded
    from .rewardcode import describe_exception
    from .rewardserver import RewardServer, load
    from ..errors import RewardCodeError

    task = load_task_file(job["task_path"])
    names = [n for n in task.fields]
    code = job["code"]
    emit({"event": "phase", "phase": "loading the reward code"})
    try:
        server = RewardServer(load(code), code)
    except (MemoryError, CpuTimeExceeded):
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit etc. are the reward's failure, not ours
        return {"error": describe_exception(exc, code, "while loading the module"), "episode": None, "step": None}
    emit({"event": "phase", "phase": "replaying recorded trajectories"})
    episodes = []
    for e, trajectory in enumerate(job["trajectories"]):
        states = _states(trajectory, [n for n in names if n in trajectory["fields"]])
        actions = trajectory["actions"]
        rewards: list[float] = []
        components: dict[str, list[float]] = {}
        for k, action in enumerate(actions):
            where = f"on step {k + 1} of recorded episode {e + 1}"
            try:
                total, comps = server.call(states[k], frozen(np.asarray(action, dtype=float)), states[k + 1], where)
            except RewardCodeError as exc:
                return {"error": str(exc), "episode": e, "step": k}
            rewards.append(total)
            for name in set(comps) | set(components):
                components.setdefault(name, [0.0] * k).append(comps.get(name, 0.0))
        episodes.append({"rewards": rewards, "components": components})
    return {"episodes": episodes}
