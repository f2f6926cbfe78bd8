"""How close training runs to the environment's own speed: ``rewardsmith train`` env steps/s divided by
raw gymnasium stepping with random actions on the same environment, measured side by side.

For each task: raw stepping for a few seconds (``gym.make`` of the task's environment, ``action_space.sample()``,
reset when an episode ends), then one real training (``rewardsmith.training.trainer.train``, the path ``rewardsmith
train`` takes: the sandboxed learner and, for a candidate reward, the sandboxed reward process beside it,
one round trip per vectorised step; the task's default PPO settings),
then raw stepping again; the ratio uses the mean of the two raw figures, so drift of a shared machine
hits both sides. Training steps/s is the train result's ``steps_per_second``: env steps over
``model.learn()`` only (process start-up and evaluation are not per-step costs).

    python benchmarks/training_throughput.py                              # hopper, halfcheetah, walker, ant
    python benchmarks/training_throughput.py --tasks hopper-forward --timesteps 100000

Target: ratio >= 0.5 on hopper-forward, halfcheetah-forward, walker-forward and ant-backward.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rewardsmith.task import load_task  # noqa: E402
from rewardsmith.training.trainer import Budget, train  # noqa: E402

TASKS = ("hopper-forward", "halfcheetah-forward", "walker-forward", "ant-backward")
TARGET = 0.5


def raw_steps_per_second(task, seconds: float, seed: int = 0) -> float:
    """Env steps/s of the bare environment under random actions (resets included, as in training)."""
    env = task.make_env()
    env.reset(seed=seed)
    env.action_space.seed(seed)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(200):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            steps += 1
            if terminated or truncated:
                env.reset()
    elapsed = time.perf_counter() - started
    env.close()
    return steps / elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    parser.add_argument("--reward", choices=("baseline", "native"), default="baseline",
                        help="what the training optimizes (baseline: the task's reward code through the wrapper)")
    parser.add_argument("--timesteps", type=int, default=None,
                        help="steps per training (default: each task's default budget)")
    parser.add_argument("--raw-seconds", type=float, default=5.0, help="seconds of raw stepping before and after")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rows = []
    for name in [n.strip() for n in args.tasks.split(",") if n.strip()]:
        task = load_task(name)
        before = raw_steps_per_second(task, args.raw_seconds, args.seed)
        timesteps = args.timesteps or task.training.timesteps
        code = task.baseline if args.reward == "baseline" else None
        run = train(task, code, [args.seed], Budget(timesteps)).runs[0]
        after = raw_steps_per_second(task, args.raw_seconds, args.seed)
        raw = (before + after) / 2
        ratio = run.steps_per_second / raw
        rows.append((task, timesteps, raw, before, after, run, ratio))
        print(f"{name:<22} raw {before:8,.0f} / {after:8,.0f} steps/s   train {run.steps_per_second:8,.0f} "
              f"steps/s ({run.trained_steps or run.timesteps:,} steps in {run.train_seconds:.0f} s)   "
              f"ratio {ratio:.2f}", file=sys.stderr, flush=True)

    print(f"\n`rewardsmith train --reward {args.reward}` env steps/s vs raw random-action stepping "
          f"(target ratio >= {TARGET}); load average at the end: {os.getloadavg()[0]:.2f}\n")
    print("| task | env | n_envs | timesteps | raw steps/s | train steps/s | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for task, timesteps, raw, _, _, run, ratio in rows:
        print(f"| {task.name} | {task.env_id} | {task.training.n_envs} | {timesteps:,} | {raw:,.0f} | "
              f"{run.steps_per_second:,.0f} | {ratio:.2f}{'' if ratio >= TARGET else ' (BELOW)'} |")
    return 0 if all(row[-1] >= TARGET for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
