"""The critic's dynamic probe, inside a sandboxed child (``job["kind"] == "check"``, loads candidate code).

Calls the reward, through the reward process's own ``RewardServer`` (the one code path that runs
candidate code: loading, state objects, validation, error messages), on a few hundred transitions
from random-policy rollouts and reports the raw values and the CPU time of each call (not wall time:
a busy machine's preemptions are not the reward's cost); the parent (``rewardsmith.critic``) judges them.
"""

from __future__ import annotations

import time

import numpy as np


def probe_reward(job: dict, emit) -> dict:
    """Sandboxed child: call the reward on random-policy transitions; report values and timings."""
    from .confine import CpuTimeExceeded
    from .rewardcode import describe_exception
    from .rewardserver import RewardServer, load
    from ..errors import RewardCodeError
    from ..task import State, load_task_file

    task = load_task_file(job["task_path"])
    transitions = _random_transitions(task, job["transitions"], job["seed"])
    emit({"event": "phase", "phase": "loading the reward code"})
    try:
        server = RewardServer(load(job["code"]), job["code"])
    except (MemoryError, CpuTimeExceeded):
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit etc. are findings, not our exit
        return {"ok": False, "message": describe_exception(exc, job["code"], "while loading the module")}
    emit({"event": "phase", "phase": "calling compute_reward"})
    totals, times, key_sets = [], [], set()
    components: dict[str, list[float]] = {}
    for k, (s, a, s2) in enumerate(transitions):
        start = time.process_time()
        try:
            total, comps = server.call(State(s), a, State(s2), f"on transition {k + 1} of {len(transitions)}")
        except RewardCodeError as exc:
            return {"ok": False, "message": str(exc)}
        times.append(time.process_time() - start)
        totals.append(total)
        key_sets.add(tuple(sorted(comps)))
        for name in set(comps) | set(components):
            components.setdefault(name, [0.0] * k).append(comps.get(name, 0.0))
    return {"ok": True, "totals": totals, "components": components, "times": times,
            "key_sets": [list(k) for k in key_sets]}


def _random_transitions(task, n: int, seed: int) -> list:
    from ..task import frozen

    env = task.make_env()
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    state = task.state_values(env, obs)
    out: list[tuple] = []
    try:
        while len(out) < n:
            action = np.asarray(env.action_space.sample())
            obs, _, terminated, truncated, _ = env.step(action)
            next_state = task.state_values(env, obs)
            out.append((state, frozen(action), next_state))
            state = next_state
            if terminated or truncated:
                obs, _ = env.reset()
                state = task.state_values(env, obs)
    finally:
        env.close()
    return out
