"""What rewardsmith's reward path costs PPO: steps/s with the task's BASELINE reward through the real
training path vs. plain stable-baselines3 on the native reward, same settings, side by side.

A (rewardsmith): ``rewardsmith.trainer.train_once`` — a sandboxed child (limits, Landlock, audit
hook), the candidate reward loaded under restricted builtins, ``RewardWrapper`` computing the fields,
calling ``compute_reward``, validating, recording fitness traces, and the snapshot callback.

B (plain SB3): a fresh process building the same ``DummyVecEnv`` (``n_envs``), ``VecNormalize`` and
``PPO(**ppo_kwargs)`` on the bare environment, with torch and BLAS single-threaded as in A.

Both report steps/s over ``model.learn()`` only (trained steps / learn time): process start-up and
evaluation are not per-step costs. Repetitions alternate A/B, B/A, ... to cancel machine drift;
the ratio is the median of the paired ratios A/B. A second, cheaper figure isolates the wrapper:
raw env steps/s with random actions, wrapper + baseline reward vs. the bare environment, here.

    python benchmarks/reward_overhead.py                          # hopper-forward (if shipped)
    python benchmarks/reward_overhead.py --task mountaincar-reach --timesteps 4096 --reps 3

Target: ratio >= 0.90.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rewardsmith.task import load_task  # noqa: E402
from rewardsmith.trainer import Budget, job_for, train_once  # noqa: E402

SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def default_task() -> str:
    from rewardsmith.errors import TaskError

    try:
        load_task("hopper-forward")
        return "hopper-forward"
    except TaskError:
        return "mountaincar-reach"


def run_rewardsmith(task, timesteps: int, seed: int) -> float:
    """A: the real training path; steps/s as the child measured it over learn()."""
    result = train_once(task, task.baseline, seed, Budget(timesteps), eval_episodes=1)
    return result.steps_per_second


def run_plain(task, timesteps: int, seed: int) -> float:
    """B: plain SB3 on the native reward in a fresh process, same settings as A."""
    settings = job_for(task, None, seed, Budget(timesteps))["settings"]
    spec = json.dumps({"task": str(task.path), "settings": settings, "timesteps": timesteps, "seed": seed})
    done = subprocess.run([sys.executable, __file__, "--plain-worker", spec], capture_output=True, text=True,
                          env={**os.environ, **SINGLE_THREADED}, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"plain SB3 worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["steps_per_second"]


def plain_worker(spec: dict) -> None:
    """The B process: the same construction as rewardsmith.ppo.train_job, minus rewardsmith."""
    import torch

    torch.set_num_threads(1)
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from rewardsmith.ppo import ppo_kwargs
    from rewardsmith.task import load_task_file

    task = load_task_file(spec["task"])
    settings, seed = spec["settings"], int(spec["seed"])

    def make(i):
        def thunk():
            env = task.make_env()
            env.reset(seed=seed * 1000 + i)
            env.action_space.seed(seed * 1000 + i)
            return env
        return thunk

    venv = DummyVecEnv([make(i) for i in range(int(settings.get("n_envs", 1)))])
    normalize = settings.get("normalize")
    if normalize:
        options = normalize if isinstance(normalize, dict) else {}
        venv = VecNormalize(venv, gamma=settings.get("ppo", {}).get("gamma", 0.99), **options)
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **ppo_kwargs(settings))
    start = time.monotonic()
    model.learn(total_timesteps=int(spec["timesteps"]))
    seconds = time.monotonic() - start
    print(json.dumps({"steps_per_second": model.num_timesteps / seconds}))


def env_steps_per_second(task, wrapped: bool, steps: int, seed: int = 0) -> float:
    """Raw environment throughput with random actions (no PPO): isolates the wrapper's own cost."""
    import numpy as np

    from rewardsmith.rewardcode import load_reward
    from rewardsmith.wrapper import RewardWrapper

    env = task.make_env()
    if wrapped:
        env = RewardWrapper(env, task, load_reward(task.baseline), task.baseline)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(1000)]
    env.reset(seed=seed)
    start = time.perf_counter()
    for i in range(steps):
        _, _, terminated, truncated, _ = env.step(np.asarray(actions[i % 1000]))
        if terminated or truncated:
            env.reset()
    seconds = time.perf_counter() - start
    env.close()
    return steps / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default=None, help="task name or file (default: hopper-forward if shipped)")
    parser.add_argument("--timesteps", type=int, default=None,
                        help="PPO steps per repetition (default: 4 rollouts of the task's n_steps, >= 2048)")
    parser.add_argument("--reps", type=int, default=3, help="A/B repetitions (alternating order)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-steps", type=int, default=20_000, help="steps for the wrapper-only figure")
    parser.add_argument("--plain-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_worker:
        plain_worker(json.loads(args.plain_worker))
        return

    task = load_task(args.task or default_task())
    n_steps = int(task.training.ppo.get("n_steps", 2048)) * task.training.n_envs
    timesteps = args.timesteps or max(2048, 4 * n_steps)
    print(f"task {task.name} ({task.env_id}), {timesteps} PPO steps per run, {args.reps} A/B repetitions, "
          f"n_envs={task.training.n_envs}, normalize={task.training.normalize}")
    a_runs, b_runs = [], []
    for rep in range(args.reps):
        order = ("A", "B") if rep % 2 == 0 else ("B", "A")
        for which in order:
            if which == "A":
                a_runs.append(run_rewardsmith(task, timesteps, args.seed))
            else:
                b_runs.append(run_plain(task, timesteps, args.seed))
        print(f"  rep {rep + 1} ({'/'.join(order)}): rewardsmith {a_runs[-1]:8.1f} steps/s   "
              f"plain SB3 {b_runs[-1]:8.1f} steps/s   ratio {a_runs[-1] / b_runs[-1]:.3f}", flush=True)
    a, b = statistics.median(a_runs), statistics.median(b_runs)
    ratio = statistics.median(x / y for x, y in zip(a_runs, b_runs))  # paired: robust to drift
    print(f"PPO steps/s (median of {args.reps}): rewardsmith+baseline {a:.1f}, plain SB3+native {b:.1f}")
    print(f"ratio rewardsmith / plain SB3 (median of the paired ratios): {ratio:.3f} "
          f"({'meets' if ratio >= 0.90 else 'BELOW'} the 0.90 target)")

    wrapped, bare = [], []
    for rep in range(3):
        for is_wrapped in ((True, False) if rep % 2 == 0 else (False, True)):
            (wrapped if is_wrapped else bare).append(env_steps_per_second(task, is_wrapped, args.env_steps))
    w, n = statistics.median(wrapped), statistics.median(bare)
    print(f"raw env steps/s, random actions (median of 3): wrapper+baseline {w:.0f}, bare env {n:.0f}; "
          f"the wrapper costs {1e6 * (1 / w - 1 / n):.1f} us per step ({100 * (1 - w / n):.1f}% of env throughput)")


if __name__ == "__main__":
    main()
