# =============================================================================
# tiny-mountaincar: reward module exported by rewardsmith 0.1.0
# Needs numpy and gymnasium only; paste it into your training script or import it.
#
# Task:         tiny-mountaincar
# Environment:  MountainCarContinuous-v0
# Goal:         An under-powered car sits in a valley between two hills. Make it reach
#               the flag on top of the right hill (position >= 0.45) as quickly as
#               possible. The engine alone cannot climb the hill; the car must swing
#               back and forth to build momentum. Action: engine force in [-1, 1].
# Candidate:    c0 (run run-offline)
# Fitness:      0.008463 ± 0.007242 (mean ± std over 2 seeds; final scoring on fresh seeds)
# Seeds:        1, 2
# Timesteps:    1024 per seed
# Code sha256:  64444a5d5968f2b4f4683c161f52a6412b954cd45d42d2b657e4fdea4f5e4a47
#               (of the reward code between the BEGIN/END markers below)
# Trained with: n_envs=1, normalize=False, PPO {'n_steps': 256, 'batch_size': 64,
#               'n_epochs': 2}
#               (the task's defaults)
#
# Usage (stable-baselines3 PPO):
#     import gymnasium as gym
#     from stable_baselines3 import PPO
#     from reward import TinyMountaincarReward
#     env = TinyMountaincarReward(gym.make("MountainCarContinuous-v0"))
#     PPO("MlpPolicy", env, verbose=1).learn(total_timesteps=1_024)
# =============================================================================
"""The tiny-mountaincar reward (rewardsmith candidate c0) as a gymnasium wrapper.

``compute_reward(state, action, next_state)`` is the reward code exactly as it was
scored. ``TinyMountaincarReward(env)`` makes a MountainCarContinuous-v0 environment
train on it: the step reward becomes compute_reward's total,
``info["reward_components"]`` holds its terms and ``info["native_reward"]`` the
environment's own reward. ``state_of(env, obs)`` builds the ``state`` objects
compute_reward reads; ``FIELDS`` describes their fields. A step whose total or any term
is not finite, or above ``MAX_REWARD`` in magnitude, raises ValueError, as it failed the
candidate in rewardsmith's sandbox.
"""

import math

import gymnasium as gym
import numpy as np

ENV_ID = "MountainCarContinuous-v0"
ENV_KWARGS = {}
# The largest magnitude of a step's reward (the total and each term), as rewardsmith's
# sandbox bounded it when this reward was scored: a larger value fails there and here.
MAX_REWARD = 1000000.0


# -----------------------------------------------------------------------------
# State fields: what ``state.<name>`` means. Each function gets the unwrapped
# environment and the raw observation it returned.


def _field_position(env, obs):
    """Car position along the track, in [-1.2, 0.6]; the valley bottom is near -0.52, the flag at 0.45."""
    return float(obs[0])


def _field_velocity(env, obs):
    """Car velocity along the track, in [-0.07, 0.07]; positive is towards the flag."""
    return float(obs[1])


def _field_height(env, obs):
    """Height of the car on the track surface, sin(3·position); the flag stands at about 0.98."""
    return float(math.sin(3.0 * obs[0]))


def _field_distance_to_flag(env, obs):
    """Distance along the track from the car to the flag (0 at or past the flag)."""
    return float(max(0.0, 0.45 - obs[0]))


def _field_at_flag(env, obs):
    """1.0 when the car is at or past the flag (the episode ends there), else 0.0."""
    return float(obs[0] >= 0.45)


FIELDS = {
    # name: (function, unit, description)
    "position": (
        _field_position,
        "m",
        "Car position along the track, in [-1.2, 0.6]; the valley bottom is near -0.52, the flag at 0.45.",
    ),
    "velocity": (
        _field_velocity,
        "m/step",
        "Car velocity along the track, in [-0.07, 0.07]; positive is towards the flag.",
    ),
    "height": (
        _field_height,
        "m",
        "Height of the car on the track surface, sin(3·position); the flag stands at about 0.98.",
    ),
    "distance_to_flag": (
        _field_distance_to_flag,
        "m",
        "Distance along the track from the car to the flag (0 at or past the flag).",
    ),
    "at_flag": (
        _field_at_flag,
        "bool",
        "1.0 when the car is at or past the flag (the episode ends there), else 0.0.",
    ),
}


class State:
    """A read-only view of one environment state: ``obs`` plus the named fields."""

    __slots__ = ("_values",)

    def __init__(self, values):
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            known = ", ".join(sorted(self._values))
            raise AttributeError(
                f"state has no field {name!r}; the fields that exist are: {known}"
            ) from None

    def __setattr__(self, name, value):
        raise AttributeError(f"state is read-only (tried to set {name!r})")

    def __repr__(self):
        return f"State({', '.join(sorted(self._values))})"


def _read_only(value):
    """A read-only view of an array, so reward code cannot change the state it reads."""
    if isinstance(value, np.ndarray):
        value = value.view()
        value.flags.writeable = False
    return value


def state_of(env, obs):
    """The state compute_reward sees once ``env`` (or a wrapper) returned ``obs``."""
    unwrapped = env.unwrapped
    values = {"obs": _read_only(obs)}
    for name, (function, _unit, _doc) in FIELDS.items():
        values[name] = _read_only(function(unwrapped, obs))
    return State(values)


# -----------------------------------------------------------------------------
# The reward, exactly as scored (candidate c0).

# ---- BEGIN reward code (exactly as scored; sha256 in the header) ----
import numpy as np

def compute_reward(state, action, next_state):
    # energy shaping: reward the gain in mechanical energy (potential + kinetic), a flag bonus,
    # and the environment's own small action penalty
    def energy(s):
        return 0.0025 * np.sin(3.0 * s.position) + 0.5 * s.velocity ** 2

    shaping = 100.0 * (energy(next_state) - energy(state)) / 0.0025
    flag = 10.0 * next_state.at_flag
    effort = -0.1 * float(np.sum(np.square(action)))
    return shaping + flag + effort, {"energy_gain": shaping, "flag": flag, "effort": effort}
# ---- END reward code ----


def _finite(value, what):
    """``value`` as a float; a clear error instead of training on NaN, infinity or a
    value above MAX_REWARD in magnitude (rewardsmith's sandbox stopped on them too)."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(
            f"compute_reward returned {value} as {what}; expected a finite number"
        )
    if abs(value) > MAX_REWARD:
        raise ValueError(
            f"compute_reward returned {value:.6g} as {what}; expected a magnitude of at"
            f" most {MAX_REWARD:g} per step, the bound rewardsmith's sandbox"
            " held this reward to when it was scored"
        )
    return value


class TinyMountaincarReward(gym.Wrapper):
    """Trains on compute_reward's total; its terms and the native reward go in ``info``.

    ``info["reward_components"]``: term name -> float, as compute_reward returned them.
    ``info["native_reward"]``: the reward the wrapped environment gave.
    """

    def __init__(self, env):
        super().__init__(env)
        self._state = None

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._state = state_of(self.env, obs)
        return obs, info

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        obs, native_reward, terminated, truncated, info = self.env.step(action)
        next_state = state_of(self.env, obs)
        # the caller's array (a learner may store it): reward code may not write into it
        action = _read_only(np.asarray(action))
        total, components = compute_reward(self._state, action, next_state)
        reward = _finite(total, "the total")  # checked first, as the sandbox does
        self._state = next_state
        info["native_reward"] = float(native_reward)
        info["reward_components"] = {
            name: _finite(value, f"component {name!r}")
            for name, value in components.items()
        }
        return obs, reward, terminated, truncated, info


RewardWrapper = TinyMountaincarReward


def make_env(**kwargs):
    """A new task environment wrapped with this reward; ``kwargs`` update ENV_KWARGS."""
    env = gym.make(ENV_ID, **{**ENV_KWARGS, **kwargs})
    return TinyMountaincarReward(env)
