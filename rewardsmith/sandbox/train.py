"""PPO training of one candidate reward, inside a sandboxed child (``job["kind"] == "train"``, the
learner: it never loads candidate code).

The candidate's reward comes from the reward process (``rewardserver``, a separate sandboxed process
the parent starts beside this one and connects by two pipes, ``job["reward"]``): every vectorised step
sends every env's transition in one batch and trains on the checked numbers that come back. So
whatever that code does in its own process, the policy this job gives is PPO's on those numbers.

Gives the trained policy and, when asked, a checkpoint to resume from, both as plain numbers
(``policy.py``): no pickle, nothing the parent executes. It computes no fitness that selection uses;
a separate evaluation job that never loads candidate code does (``evaluate.py``). Imports torch and
stable-baselines3, so only the child imports this module. The parent-side API is ``rewardsmith.trainer``.
"""

from __future__ import annotations

import time

import numpy as np


def _schedule(value):
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return value


def ppo_kwargs(settings: dict) -> dict:
    """SB3 PPO keyword arguments from a task's ``TRAINING['ppo']`` (zoo notation resolved)."""
    import torch.nn as nn

    kwargs = dict(settings.get("ppo", {}))
    for key in ("learning_rate", "clip_range"):
        if key in kwargs:
            kwargs[key] = _schedule(kwargs[key])
    policy = dict(kwargs.pop("policy_kwargs", {}) or {})
    if isinstance(policy.get("activation_fn"), str):
        policy["activation_fn"] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU,
                                   "gelu": nn.GELU}[policy["activation_fn"].lower()]
    if policy:
        kwargs["policy_kwargs"] = policy
    return kwargs


def _vec_env(env_fns):
    """SB3's DummyVecEnv (every env stepped in this process, one after another) with its per-env bookkeeping
    batched, and, once its ``remote`` is set (a ``rewardserver.RemoteReward``), the candidate's reward for
    every env from the reward process in one round trip per step.

    Without DummyVecEnv's per-step ``deepcopy`` of every info dict: that copy guards against envs that reuse
    one info dict, but gymnasium's environments and RewardWrapper return a fresh dict each step, so copying
    the list is enough, and the deep copy was ~10 % of a HalfCheetah training step. Rewards and dones are
    written into SB3's buffers once per step for all envs, not one numpy item at a time, and an array
    observation is copied out of the buffer as an array, not through ``deepcopy`` of the buffer dict."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    class ShallowInfoVecEnv(DummyVecEnv):
        remote = None

        def step_wait(self):
            # DummyVecEnv.step_wait of stable-baselines3 2.x: the same buffers written with the same values
            # (a float32 write rounds a float the same way one by one or as a list); only the infos are not
            # deep-copied, and every env steps before any resets (each env has its own random state, so
            # the order across envs changes nothing), so that one batch carries every env's transition
            actions, envs, remote = self.actions, self.envs, self.remote
            steps = [env.step(actions[i]) for i, env in enumerate(envs)]
            if remote is not None:
                rewards, components = remote.rewards([env.transition for env in envs])
                for env, step, total, comps in zip(envs, steps, rewards, components):
                    env.settle(total, comps, step[4])
            else:
                rewards = [step[1] for step in steps]
            dones, infos = [], self.buf_infos
            array_obs = self.buf_obs[None] if self._array_obs() else None
            for i, (env, (obs, _, terminated, truncated, info)) in enumerate(zip(envs, steps)):
                done = terminated or truncated
                info["TimeLimit.truncated"] = truncated and not terminated
                if done:
                    info["terminal_observation"] = obs
                    obs, self.reset_infos[i] = env.reset()
                infos[i] = info
                dones.append(done)
                if array_obs is not None:
                    array_obs[i] = obs  # what _save_obs does for an array space, without its loop over keys
                else:
                    self._save_obs(i, obs)
            self.buf_rews[:] = rewards
            self.buf_dones[:] = dones
            return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), list(infos)

        def _array_obs(self) -> bool:
            # SB3 keys an array space's buffer by None, though its annotation says str
            return self.keys == [None] and not self.buf_obs[None].dtype.hasobject  # type: ignore[index]

        def _obs_from_buf(self):
            if self._array_obs():  # an array observation space: deepcopy of {None: array} is this copy
                return self.buf_obs[None].copy()
            return super()._obs_from_buf()

    return ShallowInfoVecEnv(env_fns)


def _snapshot_callback(base_callback, plan):
    class Snapshots(base_callback):
        """Records component means, returns and training episodes' fitness ~N times (figures from
        this child, so for reflection and the live view only, never selection); stops at the
        wall-clock budget."""

        def __init__(self):
            super().__init__()
            self.snapshots = []
            self.stopped_early = None
            self.next_at = (plan["start"] // plan["every"] + 1) * plan["every"]

        def _on_training_start(self):
            # resumed runs keep the full run's learning-rate schedule (successive halving)
            self.model._total_timesteps = plan["planned_total"]

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_at:
                self.next_at += plan["every"]
                self.take()
            if time.monotonic() > plan["deadline"]:
                self.stopped_early = f"wall-clock budget of {plan['max_seconds']:.0f} s reached"
                return False
            return True

        def take(self):
            stats = self.training_env.env_method("pop_stats")
            steps = sum(s["steps"] for s in stats)
            if not steps:
                return
            sums = {}
            for s in stats:
                for k, v in s["sums"].items():
                    sums[k] = sums.get(k, 0.0) + v
            episodes = [e for s in stats for e in s["episodes"]]
            snapshot = {
                "step": int(self.num_timesteps),
                "reward_per_step": sum(s["total"] for s in stats) / steps,
                "native_per_step": sum(s["native"] for s in stats) / steps,
                "components": {k: v / steps for k, v in sums.items()},
                "episodes": len(episodes),
                "fitness": float(np.mean([e["fitness"] for e in episodes])) if episodes else None,
                "episode_return": float(np.mean([e["return"] for e in episodes])) if episodes else None,
                "episode_length": float(np.mean([e["length"] for e in episodes])) if episodes else None,
                "elapsed": time.monotonic() - plan["started"],
            }
            self.snapshots.append(snapshot)
            plan["emit"]({"event": "progress", "snapshot": snapshot})

    return Snapshots()


def train_job(job: dict, emit) -> dict:
    """Trains PPO with the job's reward; gives the policy (and a checkpoint) as plain numbers."""
    import torch

    torch.set_num_threads(1)
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import VecNormalize

    from ..task import load_task_file
    from .checkpoint import restore, save
    from .policy import encode_policy
    from .rewardserver import RemoteReward
    from .wrapper import RewardWrapper

    started = time.monotonic()
    if job.get("code"):
        raise ValueError("the training job never loads reward code; its reward comes from a reward process")
    task = load_task_file(job["task_path"])
    settings = job["settings"]
    channel = job.get("reward")  # None: the native reward
    reads = list(channel["reads"]) if channel else None
    seed = int(job["seed"])

    def make(i):
        def thunk():
            env = RewardWrapper(task.make_env(), task, reads=reads) if channel else RewardWrapper(task.make_env(), task)
            env.reset(seed=seed * 1000 + i)
            env.action_space.seed(seed * 1000 + i)
            return env
        return thunk

    emit({"event": "phase", "phase": "building the environments"})
    venv = _vec_env([make(i) for i in range(int(settings.get("n_envs", 1)))])
    remote = None
    if channel:
        remote = RemoteReward(channel["requests"], channel["replies"], venv.envs[0].reward_keys,
                              float(channel.get("reply_seconds") or 60.0))
        venv.remote = remote
    normalize = settings.get("normalize")
    gamma = settings.get("ppo", {}).get("gamma", 0.99)
    if normalize:
        options = normalize if isinstance(normalize, dict) else {}
        venv = VecNormalize(venv, gamma=gamma, **options)
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **ppo_kwargs(settings))
    checkpoint = job.get("checkpoint")
    if checkpoint:
        restore(model, venv if isinstance(venv, VecNormalize) else None, checkpoint)
    start = int(model.num_timesteps)
    target = int(job["timesteps"])
    planned_total = int(job.get("planned_total") or target)
    max_seconds = float(job.get("max_seconds") or 1e9)
    plan = {"start": start, "every": max(1, (planned_total) // int(job.get("snapshots", 10))),
            "planned_total": planned_total, "deadline": started + max_seconds,
            "max_seconds": max_seconds, "started": started, "emit": emit}
    callback = _snapshot_callback(BaseCallback, plan)
    emit({"event": "phase", "phase": f"training PPO for {target - start} steps"})
    learn_start = time.monotonic()
    if target > start:
        model.learn(total_timesteps=target - start, callback=callback, reset_num_timesteps=not checkpoint)
    train_seconds = time.monotonic() - learn_start
    trained = int(model.num_timesteps) - start
    vecnormalize = venv if isinstance(venv, VecNormalize) else None
    result = {
        "seed": seed, "timesteps": int(model.num_timesteps), "trained_steps": trained,
        "train_seconds": train_seconds,
        "steps_per_second": trained / train_seconds if train_seconds > 0 else 0.0,
        "snapshots": callback.snapshots, "stopped_early": callback.stopped_early,
        "policy": encode_policy(model, vecnormalize),
    }
    if job.get("return_checkpoint"):
        result["checkpoint"] = save(model, vecnormalize)
    venv.close()
    if remote is not None:
        remote.close()  # the reward process reads the end of its pipe and ends
    return result
