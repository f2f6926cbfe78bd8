"""PPO training of one candidate reward, inside a sandboxed child (``job["kind"] == "train"``, loads candidate code).

Imports torch and stable-baselines3, so only the child imports this module. The parent-side API is
``rewardsmith.trainer``.
"""

from __future__ import annotations

import base64
import io
import pickle
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


def _snapshot_callback(base_callback, plan):
    class Snapshots(base_callback):
        """Records component means, returns and fitness ~N times; stops at the wall-clock budget."""

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
                "reward_per_step": sums.pop("__total__", 0.0) / steps,
                "native_per_step": sums.pop("__native__", 0.0) / steps,
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
    """Trains PPO with the job's reward, evaluates with the task's fitness, reports everything."""
    import torch

    torch.set_num_threads(1)
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from .rewardcode import load_reward
    from ..task import load_task_file
    from .wrapper import RewardWrapper

    started = time.monotonic()
    task = load_task_file(job["task_path"])
    settings = job["settings"]
    code = job.get("code")
    reward = load_reward(code) if code else None
    seed = int(job["seed"])

    def make(i):
        def thunk():
            env = RewardWrapper(task.make_env(), task, reward, code or "")
            env.reset(seed=seed * 1000 + i)
            env.action_space.seed(seed * 1000 + i)
            return env
        return thunk

    emit({"event": "phase", "phase": "building the environments"})
    venv = DummyVecEnv([make(i) for i in range(int(settings.get("n_envs", 1)))])
    normalize = settings.get("normalize")
    checkpoint = job.get("checkpoint")
    gamma = settings.get("ppo", {}).get("gamma", 0.99)
    if checkpoint:
        blob = pickle.loads(base64.b64decode(checkpoint["vecnormalize"])) if checkpoint.get("vecnormalize") else None
        if blob is not None:
            blob.set_venv(venv)
            venv = blob
        model = PPO.load(io.BytesIO(base64.b64decode(checkpoint["model"])), env=venv, device="cpu")
        start = int(model.num_timesteps)
    else:
        if normalize:
            options = normalize if isinstance(normalize, dict) else {}
            venv = VecNormalize(venv, gamma=gamma, **options)
        model = PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **ppo_kwargs(settings))
        start = 0
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

    emit({"event": "phase", "phase": "evaluating the policy"})
    evaluation = evaluate(model, venv if isinstance(venv, VecNormalize) else None, task, reward, code,
                          episodes=int(job.get("eval_episodes", settings.get("eval_episodes", 5))),
                          seed=seed, keep=int(job.get("keep_trajectories", 0)))
    result = {
        "seed": seed, "timesteps": int(model.num_timesteps), "trained_steps": trained,
        "train_seconds": train_seconds,
        "steps_per_second": trained / train_seconds if train_seconds > 0 else 0.0,
        "snapshots": callback.snapshots, "stopped_early": callback.stopped_early,
        **evaluation,
    }
    if job.get("return_checkpoint"):
        buffer = io.BytesIO()
        model.save(buffer)
        result["checkpoint"] = {
            "model": base64.b64encode(buffer.getvalue()).decode(),
            "vecnormalize": base64.b64encode(pickle.dumps(venv)).decode()  # __getstate__ drops the envs
            if isinstance(venv, VecNormalize) else None,
        }
    venv.close()
    return result


def evaluate(model, vecnormalize, task, reward, code, episodes: int, seed: int, keep: int = 0) -> dict:
    """Deterministic rollouts scored by the task's fitness (never by candidate code)."""
    from .wrapper import RewardWrapper

    env = RewardWrapper(task.make_env(), task, reward, code or "", record_all=True)
    summaries, trajectories = [], []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=10_000 + seed * 100 + i)
            done = False
            while not done:
                policy_obs = vecnormalize.normalize_obs(obs) if vecnormalize is not None else obs
                action, _ = model.predict(policy_obs, deterministic=True)
                obs, _, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
            summary = env.pop_stats()["episodes"][-1]
            summaries.append(summary)
            if i < keep:
                trajectories.append({**_trajectory(env.last_episode), **_action_bounds(env.action_space)})
    finally:
        env.close()
    fitness = [s["fitness"] for s in summaries]
    return {"fitness": float(np.mean(fitness)), "episode_fitness": fitness, "episodes": summaries,
            "trajectories": trajectories}


def _action_bounds(space) -> dict:
    """A Box action space's bounds (the analyzer's saturation and jitter need them); else nothing."""
    if not hasattr(space, "low") or not hasattr(space, "high"):
        return {}

    def plain(a):  # unbounded dimensions become None (strict JSON has no infinity)
        return [float(x) if np.isfinite(x) else None for x in np.asarray(a, dtype=float).ravel()]

    return {"action_low": plain(space.low), "action_high": plain(space.high)}


def _trajectory(episode) -> dict:
    def plain(a):
        return np.asarray(a, dtype=float).round(6).tolist()

    return {
        "fields": {k: plain(v) for k, v in episode.fields.items()},
        "actions": plain(episode.actions), "native_rewards": plain(episode.native_rewards),
        "components": {k: plain(v) for k, v in episode.components.items()},
        "rewards": plain(episode.rewards), "terminated": episode.terminated,
        "truncated": episode.truncated, "max_steps": episode.max_steps,
    }
