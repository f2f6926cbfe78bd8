"""The critic's dynamic probe, inside a sandboxed child (``job["kind"] == "check"``, loads candidate code).

Calls the reward, through the reward process's own ``RewardServer`` (the one code path that runs
candidate code: loading, state objects, validation, error messages), on a few hundred transitions
from random-policy rollouts and reports the raw values and the CPU time of each call (not wall time:
a busy machine's preemptions are not the reward's cost); the parent (``rewardsmith.critic``) judges them.

The transitions come with the job: the parent rolls them out once per critic (``random_transitions``, no
candidate code involved) and sends them encoded (``encode_transitions``: every value with its dtype, so
the reward sees exactly what the environment gave), so a probe neither imports the environment's
libraries nor steps it: it only loads and calls the reward.
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
    from ..task import State

    transitions = decode_transitions(job["transitions"])
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


def random_transitions(task, n: int, seed: int) -> list:
    """``n`` transitions ``(state, action, next_state)`` of random actions (the action space seeded with
    ``seed``, the first reset too), each state the task's values (``Task.state_values``); no candidate
    code involved (the parent rolls them out, once per critic)."""
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


# every value a transition holds, with its dtype: a float or numpy array (CONTRACT section 1), a numpy
# scalar, a bool or an int; numbers only (dtype kinds b, i, u, f)
_KINDS = "biuf"


def encode_transitions(transitions: list) -> dict:
    """``random_transitions`` as JSON-able data: each distinct state once (a transition's next state is
    the next one's state), every array and numpy scalar with its dtype."""
    states: list[dict] = []
    index: dict[int, int] = {}

    def state(values: dict) -> int:
        if id(values) not in index:
            index[id(values)] = len(states)
            states.append({name: _encode(v, name) for name, v in values.items()})
        return index[id(values)]

    steps = [[state(s), _encode(a, "the action"), state(s2)] for s, a, s2 in transitions]
    return {"states": states, "steps": steps}


def decode_transitions(data: dict) -> list:
    """The transitions ``encode_transitions`` gave, each state a dict of read-only values again."""
    states = [{name: _decode(v) for name, v in values.items()} for values in data["states"]]
    return [(states[i], _decode(a), states[j]) for i, a, j in data["steps"]]


def _encode(value, name: str):
    if isinstance(value, np.generic):  # first: numpy's float64 is a float too, but divides by zero as numpy does
        if value.dtype.kind not in _KINDS:
            raise _not_a_number(name, f"a numpy {value.dtype} scalar")
        return {"scalar": value.dtype.str, "value": value.item()}
    if isinstance(value, (bool, int, float)):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in _KINDS:
        raise _not_a_number(name, f"a {type(value).__name__}")
    return {"array": array.dtype.str, "shape": list(array.shape), "values": array.ravel().tolist()}


def _not_a_number(name: str, what: str):
    from ..errors import TaskError

    return TaskError(f"the task's state field {name!r} gave {what} on a random-policy step; reward code reads fields "
                     f"as floats or numpy arrays of numbers: make the field return one")


def _decode(value):
    from ..task import frozen

    if not isinstance(value, dict):
        return value
    if "scalar" in value:
        return _dtype(value["scalar"]).type(value["value"])
    dtype = _dtype(value["array"])
    return frozen(np.asarray(value["values"], dtype=dtype).reshape(value["shape"]))


def _dtype(text: str) -> np.dtype:
    dtype = np.dtype(text)
    if dtype.kind not in _KINDS:
        raise ValueError(f"a transition value of dtype {dtype}; expected numbers")
    return dtype
