"""Applying reward code to an environment: a small gymnasium wrapper (used inside sandboxed children).

``RewardWrapper`` replaces the environment's reward with the candidate's total (or keeps the native
reward when there is no candidate), puts the components and the native reward in ``info``, keeps
per-component sums for the training callback, and records the fields the task's fitness needs so
every finished training episode gets a fitness.
"""

from __future__ import annotations

import ast

import gymnasium as gym
import numpy as np

from .rewardcode import describe_exception, validate
from ..errors import RewardCodeError
from ..task import Episode, frozen, state_type


def fields_read_by(code: str, field_names) -> list[str]:
    """The task fields reward code can read: every attribute name it mentions that is a field.

    Reflection-free code (the critic bans getattr and friends) can reach a field only through a
    literal attribute, so this is complete; computing only these keeps the wrapper cheap.
    """
    names = {n.attr for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Attribute)}
    return [f for f in field_names if f in names]


class RewardWrapper(gym.Wrapper):
    """Trains on ``reward``'s total (``reward=None``: the native reward); components go in ``info``."""

    def __init__(self, env, task, reward=None, code: str = "", record_all: bool = False):
        super().__init__(env)
        self.task = task
        self.reward = reward
        self.code = code
        names = list(task.fields)
        used = fields_read_by(code, names) if reward is not None else []
        self._compute = [n for n in names if record_all or n in used or n in task.fitness_fields]
        self._record = names if record_all else list(task.fitness_fields)
        self._record_all = record_all
        # per-step costs the training loop pays: field functions get the bare env (looked up once, not
        # through the wrapper chain every step), and the observation is copied only for a reward that reads it
        self._unwrapped = env.unwrapped
        self._with_obs = record_all or (reward is not None and bool(fields_read_by(code, ["obs"])))
        # the state's values come as a list in ``keys`` order, read by one closure and wrapped in the
        # state class for those keys without a dict in between; recorded fields are read by position
        keys, self._read = task.state_reader(self._compute, self._with_obs)
        self._state_type = state_type(keys)
        self._record_at = [keys.index(n) for n in self._record]
        self._state = None
        self._stats = {}
        self._total_sum = self._native_sum = 0.0
        self._steps = 0
        self._finished: list[dict] = []
        self._trace = None
        self._max_steps = getattr(getattr(env, "spec", None), "max_episode_steps", None)  # a property: once

    # -- bookkeeping the callback and evaluation read
    def pop_stats(self) -> dict:
        """Per-component sums since the last call, the sums of the total and the native reward (kept
        apart: a component may be called anything), the step count, and finished-episode summaries."""
        out = {"sums": self._stats, "total": self._total_sum, "native": self._native_sum,
               "steps": self._steps, "episodes": self._finished}
        self._stats, self._steps, self._finished = {}, 0, []
        self._total_sum = self._native_sum = 0.0
        return out

    def _new_trace(self, values):
        self._trace = {"fields": {n: [values[i]] for n, i in zip(self._record, self._record_at)},
                       "actions": [], "native": [], "components": {}, "rewards": []}
        # what step() appends to, looked up once per episode
        self._columns = list(zip(self._record_at, self._trace["fields"].values()))
        self._natives, self._rewards = self._trace["native"], self._trace["rewards"]

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        values = self._read(self._unwrapped, obs)
        self._state = tuple.__new__(self._state_type, values)
        self._new_trace(values)
        return obs, info

    def step(self, action):
        obs, native, terminated, truncated, info = self.env.step(action)
        native = float(native)
        values = self._read(self._unwrapped, obs)
        next_state = tuple.__new__(self._state_type, values)
        if self.reward is None:
            total, components = native, {}
        else:
            seen = frozen(action if type(action) is np.ndarray else np.asarray(action))
            try:
                total, components = validate(self.reward(self._state, seen, next_state))
            except RewardCodeError as exc:
                raise RewardCodeError(describe_exception(exc, self.code, "during training")) from None
            except Exception as exc:  # noqa: BLE001 - any failure of reward code is the reward's
                raise RewardCodeError(describe_exception(exc, self.code, "during training")) from exc
        self._state = next_state
        self._total_sum += total
        self._native_sum += native
        if components:
            stats = self._stats
            for name, value in components.items():
                stats[name] = stats.get(name, 0.0) + value
        self._steps += 1
        for i, column in self._columns:
            column.append(values[i])
        self._natives.append(native)
        self._rewards.append(total)
        if self._record_all:
            trace = self._trace
            trace["actions"].append(np.array(action, dtype=float))
            for name, value in components.items():
                trace["components"].setdefault(name, []).append(value)
        if terminated or truncated:
            self._finish(terminated, truncated)
        info["native_reward"] = native
        info["reward_components"] = components
        return obs, total, terminated, truncated, info

    def _finish(self, terminated, truncated):
        episode = self.episode(terminated, truncated)
        self._finished.append({
            # np.add.reduce: np.sum's own reduction of a 1-d array (the same float) without its dispatch
            "fitness": self.task.fitness(episode), "length": episode.length,
            "return": float(np.add.reduce(episode.rewards)),
            "native_return": float(np.add.reduce(episode.native_rewards)),
            "terminated": bool(terminated), "truncated": bool(truncated),
        })
        self.last_episode = episode if self._record_all else None

    def episode(self, terminated, truncated) -> Episode:
        trace = self._trace
        return Episode(
            fields={n: np.asarray(v) for n, v in trace["fields"].items()},
            actions=np.asarray(trace["actions"]),
            native_rewards=np.asarray(trace["native"], dtype=float),
            terminated=bool(terminated), truncated=bool(truncated),
            max_steps=self._max_steps,
            components={n: np.asarray(v, dtype=float) for n, v in trace["components"].items()},
            rewards=np.asarray(trace["rewards"], dtype=float),
        )
