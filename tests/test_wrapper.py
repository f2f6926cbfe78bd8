"""The training wrapper's per-step path (rewardsmith/sandbox/wrapper.py and what it calls every step:
State, frozen, Task.state_reader, validate): cheap, but with the same guarantees as the slow path —
nothing the reward gets can be changed, bad return values get the same errors, and the fields the
fitness needs are recorded exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewardsmith.errors import RewardCodeError, UnknownFieldError
from rewardsmith.sandbox.rewardcode import load_reward, validate
from rewardsmith.sandbox.wrapper import RewardWrapper
from rewardsmith.task import State, load_task, state_type

MOUNTAINCAR = load_task("mountaincar-reach")


def test_a_state_reads_fields_and_refuses_everything_else():
    state = State({"position": -0.5, "velocity": 0.01, "obs": np.zeros(2)})
    assert (state.position, state.velocity) == (-0.5, 0.01)
    with pytest.raises(UnknownFieldError, match="'height'.*obs, position, velocity"):
        state.height
    for name in ("count", "index"):  # a tuple's methods are not fields
        with pytest.raises(UnknownFieldError, match=repr(name)):
            getattr(state, name)
    assert State({"count": 3.0}).count == 3.0  # unless the task declares them
    with pytest.raises(AttributeError, match="read-only"):
        state.position = 0.5
    with pytest.raises(AttributeError, match="read-only"):
        state.extra = 1.0
    with pytest.raises(AttributeError, match="read-only"):
        del state.position
    for use in (lambda: state[0], lambda: len(state), lambda: list(state), lambda: -0.5 in state,
                lambda: state + state, lambda: state < state):
        with pytest.raises(TypeError, match="not a sequence"):
            use()
    # equal only to itself and always true, as before a state was a tuple
    assert state == state and state != State({"position": -0.5, "velocity": 0.01, "obs": np.zeros(2)})
    assert bool(State({}))
    assert repr(state) == "State(obs, position, velocity)"
    assert state_type(("position", "velocity", "obs")) is type(state)  # one class per list of names


def test_validate_takes_finite_floats_as_they_are_and_rejects_the_rest_as_before():
    assert validate((1.5, {"forward": 1.0, "energy": 0.5})) == (1.5, {"forward": 1.0, "energy": 0.5})
    # the names are known now; a bad value under a known name still gets the full checks
    total, components = validate((np.float32(1.5), {"forward": np.float64(1.0), "energy": 2}))
    assert (type(total), type(components["forward"]), type(components["energy"])) == (float, float, float)
    cases = [
        ((1.0, {"forward": math.nan}), r"returned nan as component 'forward'; expected a finite real number"),
        ((1.0, {"forward": math.inf}), r"returned inf as component 'forward'"),
        ((math.inf, {"forward": 1.0}), r"returned inf as the total"),
        ((1.0, {"forward": True}), r"a bool \(True\) as component 'forward'.*use float\(condition\)"),
        (("high", {"forward": 1.0}), r"a str \('high'\) as the total"),
        ((1.0, [1.0]), r"a list \(\[1.0\]\) as components; expected a dict"),
        ((1.0, {3: 1.0}), r"component name an int \(3\) is not a str"),
        ((1.0, {"two words": 1.0}), r"'two words' is not a short printable identifier"),
        ([1.0, {"forward": 1.0}], r"expected a tuple \(total, components\).*return a tuple"),
        (None, r"reaches no return statement"),
    ]
    for result, message in cases:
        with pytest.raises(RewardCodeError, match=message):
            validate(result)


def test_a_reward_cannot_change_what_it_is_given_during_training():
    env = RewardWrapper(MOUNTAINCAR.make_env(), MOUNTAINCAR, None)
    env.reset(seed=0)
    for attempt, error in [("next_state.position = 0.6", "read-only"),
                           ("next_state.obs[0] = 0.6", "read-only"),
                           ("action[0] = 0.0", "read-only")]:
        code = (f"def compute_reward(state, action, next_state):\n    {attempt}\n"
                f"    return 0.0, {{'x': 0.0}}\n")
        env = RewardWrapper(MOUNTAINCAR.make_env(), MOUNTAINCAR, load_reward(code), code)
        env.reset(seed=0)
        with pytest.raises(RewardCodeError, match=error):
            env.step(np.array([1.0], dtype=np.float32))
        env.close()


def test_the_wrapper_records_the_fitness_fields_of_every_state_and_gives_the_reward_the_same():
    code = ("def compute_reward(state, action, next_state):\n"
            "    return float(next_state.position), {'seen': float(state.position)}\n")
    env = RewardWrapper(MOUNTAINCAR.make_env(), MOUNTAINCAR, load_reward(code), code)
    obs, _ = env.reset(seed=3)
    positions, seen = [float(obs[0])], []
    for _ in range(30):
        obs, reward, terminated, truncated, info = env.step(np.array([0.7], dtype=np.float32))
        positions.append(float(obs[0]))
        assert reward == positions[-1]
        seen.append(info["reward_components"]["seen"])
    assert seen == positions[:-1]  # each step's reward saw the previous state
    episode = env.episode(False, True)
    assert episode.fields["position"].tolist() == positions
    assert episode.rewards.tolist() == positions[1:]
    env.close()


def test_hopper_is_healthy_is_gymnasiums_own_definition_on_hard_states():
    task = load_task("hopper-forward")
    env = task.make_env()
    env.reset(seed=0)
    hopper = env.unwrapped
    field = task.fields["is_healthy"].fn
    rng = np.random.default_rng(0)
    edges = np.array([0.0, 0.69, 0.7, 0.71, 1.25, -0.2, 0.2, 0.19, -0.19, 99.9, 100.0, -100.0, 1e300,
                      np.inf, -np.inf, np.nan])
    healthy = 0
    for trial in range(3000):
        qpos, qvel = rng.choice(edges, hopper.model.nq), rng.choice(edges, hopper.model.nv)
        if trial % 2:  # upright, so the velocity and joint checks decide
            qpos[1], qpos[2] = 1.25, 0.0
            qpos[3:], qvel[:] = rng.uniform(-99, 99, qpos.size - 3), rng.uniform(-99, 99, qvel.size)
            qvel[rng.integers(qvel.size)] = rng.choice(edges)
        hopper.data.qpos[:], hopper.data.qvel[:] = qpos, qvel  # set as is: set_state would run physics
        assert field(hopper, None) == float(hopper.is_healthy), (qpos, qvel)
        healthy += field(hopper, None)
    assert 100 < healthy < 2900  # both answers were exercised
    env.close()


def test_a_deferred_reward_gets_the_fields_it_reads_and_its_numbers_feed_the_episode():
    """In training the reward comes from the reward process: the wrapper leaves each step's transition
    (only the keys the code reads) and takes the checked numbers back through ``settle``."""
    env = RewardWrapper(MOUNTAINCAR.make_env(), MOUNTAINCAR, reads=["obs", "velocity"])
    assert env.reward_keys == ("obs", "velocity")
    obs, _ = env.reset(seed=3)
    steps = 0
    while True:
        previous = obs
        obs, native, terminated, truncated, info = env.step(np.array([0.7], dtype=np.float32))
        state, action, next_state = env.transition
        assert np.array_equal(state[0], previous) and np.array_equal(next_state[0], obs)
        assert next_state[1] == pytest.approx(float(obs[1])) and action.tolist() == pytest.approx([0.7])
        assert native == info["native_reward"]
        env.settle(2.0, {"two": 2.0}, info)
        assert info["reward_components"] == {"two": 2.0}
        steps += 1
        if terminated or truncated:
            break
    stats = env.pop_stats()
    assert stats["steps"] == steps and stats["total"] == 2.0 * steps and stats["sums"] == {"two": 2.0 * steps}
    (finished,) = stats["episodes"]
    assert finished["return"] == 2.0 * steps and finished["length"] == steps
    assert finished["fitness"] == MOUNTAINCAR.fitness(env.episode(finished["terminated"], finished["truncated"]))
    env.close()
