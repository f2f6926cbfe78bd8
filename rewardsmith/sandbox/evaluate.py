"""The evaluation that decides fitness, inside a sandboxed child (``job["kind"] == "evaluate"``; it
NEVER loads candidate code: the job carries no code, and this module imports nothing that runs it).

Rolls out deterministic episodes of a trained policy (plain numbers, ``policy.NumpyPolicy``) on the
task's environment and scores each with the task's fitness. This process starts clean, so nothing a
reward did in its own process (rebinding the task's globals, overwriting recorded positions, writing
into the protocol) reaches these numbers.
"""

from __future__ import annotations

import numpy as np


def _plain(value):
    return np.asarray(value, dtype=float).round(6).tolist()


def _bounds(space) -> dict:
    """A Box action space's bounds (the analyzer's saturation and jitter need them); else nothing."""
    if not hasattr(space, "low") or not hasattr(space, "high"):
        return {}

    def plain(a):  # unbounded dimensions become None (strict JSON has no infinity)
        return [float(x) if np.isfinite(x) else None for x in np.asarray(a, dtype=float).ravel()]

    return {"action_low": plain(space.low), "action_high": plain(space.high)}


def evaluation_seed(seed: int, episode: int) -> int:
    """The reset seed of evaluation episode ``episode`` of training seed ``seed`` (renders replay the first)."""
    return 10_000 + seed * 100 + episode


def run_episode(task, env, policy, reset_seed: int):
    """One deterministic episode: (Episode with every field, obs rows)."""
    from ..task import Episode

    obs, _ = env.reset(seed=reset_seed)
    values = task.state_values(env, obs)
    fields = {name: [values[name]] for name in task.fields}
    observations, actions, native = [np.asarray(obs, dtype=float)], [], []
    terminated = truncated = False
    while not (terminated or truncated):
        action = policy(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        values = task.state_values(env, obs)
        for name in task.fields:
            fields[name].append(values[name])
        observations.append(np.asarray(obs, dtype=float))
        actions.append(np.asarray(action, dtype=float))
        native.append(float(reward))
    spec = getattr(env, "spec", None)
    episode = Episode(fields={n: np.asarray(v) for n, v in fields.items()}, actions=np.asarray(actions),
                      native_rewards=np.asarray(native, dtype=float), terminated=bool(terminated),
                      truncated=bool(truncated), max_steps=getattr(spec, "max_episode_steps", None))
    return episode, observations


def evaluate_job(job: dict, emit) -> dict:
    """Child side: {"episodes": [summary...], "trajectories": [the first ``keep`` episodes' rows]}."""
    from ..task import load_task_file
    from .policy import NumpyPolicy

    task = load_task_file(job["task_path"])
    policy = NumpyPolicy(job["policy"])
    seed, keep = int(job["seed"]), int(job.get("keep", 0))
    env = task.make_env()
    summaries, trajectories = [], []
    emit({"event": "phase", "phase": "evaluating the policy"})
    try:
        for i in range(int(job["episodes"])):
            episode, observations = run_episode(task, env, policy, evaluation_seed(seed, i))
            summaries.append({"fitness": task.fitness(episode), "length": episode.length,
                              "native_return": float(np.sum(episode.native_rewards)),
                              "terminated": episode.terminated, "truncated": episode.truncated})
            if i < keep:
                trajectories.append({
                    "fields": {k: _plain(v) for k, v in episode.fields.items()}, "obs": _plain(observations),
                    "actions": _plain(episode.actions), "native_rewards": _plain(episode.native_rewards),
                    "terminated": episode.terminated, "truncated": episode.truncated,
                    "max_steps": episode.max_steps, **_bounds(env.action_space)})
    finally:
        env.close()
    return {"episodes": summaries, "trajectories": trajectories}
