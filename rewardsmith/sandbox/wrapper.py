"""Applying a reward to an environment: a small gymnasium wrapper (used inside sandboxed children).

``RewardWrapper`` replaces the environment's reward with the candidate's total (or keeps the native
reward when there is no candidate), puts the components and the native reward in ``info``, keeps
per-component sums for the training callback, and records the fields the task's fitness needs so
every finished training episode gets a fitness.

In training the candidate's code runs in another process (``rewardserver``): the wrapper is made with
``reads`` (the state keys that reward reads), computes those fields, and leaves each step's
``transition`` for the vectorised env to send with every other env's in one batch; the env then hands
the checked answer back through ``settle``. With ``reward`` (a callable), the wrapper calls it in this
process: for tests and trusted callers, never for a candidate inside the sandbox.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from .rewardcode import describe_exception, validate
from .rewardserver import fields_read_by  # noqa: F401 - part of this module's API
from ..errors import RewardCodeError
from ..task import Episode, frozen, state_type


class RewardWrapper(gym.Wrapper):
    """Trains on ``reward``'s total (``reward=None``: the native reward); components go in ``info``."""

    def __init__(self, env, task, reward=None, code: str = "", record_all: bool = False, reads=None):
        super().__init__(env)
        if reads is not None and (reward is not None or record_all):
            raise ValueError("a wrapper defers to another process's reward (reads) or calls its own, not both")
        self.task = task
        self.reward = reward
        self.code = code
        self.deferred = reads is not None
        names = list(task.fields)
        if reads is not None:
            used, reads_obs = [n for n in names if n in reads], "obs" in reads
        elif reward is not None:
            used, reads_obs = fields_read_by(code, names), bool(fields_read_by(code, ["obs"]))
        else:
            used, reads_obs = [], False
        # the reward's fields first, so that the values a deferred reward reads are a prefix of the state's
        self._compute = used + [n for n in names if n not in used and (record_all or n in task.fitness_fields)]
        self._record = names if record_all else list(task.fitness_fields)
        self._record_all = record_all
        # per-step costs the training loop pays: field functions get the bare env (looked up once, not
        # through the wrapper chain every step), and the observation is copied only for a reward that reads it
        self._unwrapped = env.unwrapped
        self._with_obs = record_all or reads_obs
        # the state's values come as a list in ``keys`` order, read by one closure and wrapped in the
        # state class for those keys without a dict in between; recorded fields are read by position
        keys, self._read = task.state_reader(self._compute, self._with_obs)
        self.reward_keys = keys[:len(used) + reads_obs]  # what a deferred reward is sent, in this order
        self._sent = len(self.reward_keys)
        self._state_type = state_type(keys)
        self._record_at = [keys.index(n) for n in self._record]
        self._values = None
        self.transition = None
        self._stats: dict[str, float] = {}
        self._total_sum = self._native_sum = 0.0
        self._steps = 0
        self._finished: list[dict] = []
        self._trace: dict[str, Any] = {}  # the episode's rows (lists, and dicts of them by name), from reset on
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
        self._values = values
        self._new_trace(values)
        return obs, info

    def step(self, action):
        """The usual step; deferred, the reward it gives is the native one until ``settle`` (the
        vectorised env calls it before PPO sees the step)."""
        obs, native, terminated, truncated, info = self.env.step(action)
        native = float(native)
        values = self._read(self._unwrapped, obs)
        state, self._values = self._values, values
        self._native_sum += native
        self._steps += 1
        for i, column in self._columns:
            column.append(values[i])
        self._natives.append(native)
        if self._record_all:
            self._trace["actions"].append(np.array(action, dtype=float))
        info["native_reward"] = native
        self._done = (terminated, truncated)
        if self.deferred:
            sent = self._sent
            self.transition = (state[:sent], action if type(action) is np.ndarray else np.asarray(action),
                               values[:sent])
            return obs, native, terminated, truncated, info
        if self.reward is None:
            total, components = native, {}
        else:
            make = self._state_type
            seen = frozen(action if type(action) is np.ndarray else np.asarray(action))
            try:
                total, components = validate(self.reward(tuple.__new__(make, state), seen,
                                                         tuple.__new__(make, values)))
            except RewardCodeError as exc:
                raise RewardCodeError(describe_exception(exc, self.code, "during training")) from None
            except Exception as exc:  # noqa: BLE001 - any failure of reward code is the reward's
                raise RewardCodeError(describe_exception(exc, self.code, "during training")) from exc
        self.settle(total, components, info)
        return obs, total, terminated, truncated, info

    def settle(self, total: float, components: dict, info: dict) -> None:
        """Takes the reward of the last step (checked numbers): sums, the episode's trace, ``info``;
        a finished episode gets its fitness."""
        self._total_sum += total
        if components:
            stats = self._stats
            for name, value in components.items():
                stats[name] = stats.get(name, 0.0) + value
        self._rewards.append(total)
        if self._record_all:
            trace = self._trace
            for name, value in components.items():
                trace["components"].setdefault(name, []).append(value)
        info["reward_components"] = components
        terminated, truncated = self._done
        if terminated or truncated:
            self._finish(terminated, truncated)

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
