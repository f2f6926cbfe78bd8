"""What rewardsmith's reward path costs PPO: steps/s with the task's BASELINE reward through the real
training path vs. plain stable-baselines3 on the native reward, same settings, side by side.

A (rewardsmith): ``rewardsmith.training.trainer.train_once`` — a sandboxed child (limits, Landlock, audit
hook), the candidate reward loaded under restricted builtins, ``RewardWrapper`` computing the fields,
calling ``compute_reward``, validating, recording fitness traces, and the snapshot callback.

B (plain SB3): a fresh process building the same vectorized env (``n_envs`` in one process, as SB3's
``DummyVecEnv`` does), ``VecNormalize`` and ``PPO(**ppo_kwargs)`` on the bare environment, with torch and BLAS
single-threaded as in A. B uses SB3's own ``DummyVecEnv``, as a user would; A's vectorized env skips
``DummyVecEnv``'s per-step deep copies of the info dicts and the observation buffer and writes rewards
and dones once per step (``rewardsmith.sandbox.train._vec_env``), which is why A can come out faster
than B. The wrapper-only figure below leaves that out: it is the wrapper's and the reward's own
per-step cost.

Both report steps/s over ``model.learn()`` only (trained steps / learn time): process start-up and
evaluation are not per-step costs. Repetitions alternate A/B, B/A, ... to cancel machine drift;
the ratio is the median of the paired ratios A/B. A second figure, without PPO's noise, isolates the
wrapper: the time of one env step with random actions, wrapper + baseline reward vs. the bare
environment, in short interleaved blocks (before the A/B runs, in a process as fresh as a training
child), and the ratio that extra time predicts at plain SB3's speed; once in wall-clock time and once
in CPU time (against plain SB3's steps per CPU second), which other processes on the machine do not
inflate. On a shared machine the paired wall-clock ratios scatter widely (one other busy process is
enough): raise --reps and read all three figures.

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
from rewardsmith.training.trainer import Budget, job_for, train_once  # noqa: E402

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


def run_plain(task, timesteps: int, seed: int) -> dict:
    """B: plain SB3 on the native reward in a fresh process, same settings as A: its steps per second
    of wall-clock time and of its own CPU time."""
    settings = job_for(task, None, seed, Budget(timesteps))["settings"]
    spec = json.dumps({"task": str(task.path), "settings": settings, "timesteps": timesteps, "seed": seed})
    # a session of its own, like the sandboxed child: with autogroup scheduling (Linux's default) the
    # CPU is shared between sessions, so A and B must be treated alike
    done = subprocess.run([sys.executable, __file__, "--plain-worker", spec], capture_output=True, text=True,
                          env={**os.environ, **SINGLE_THREADED}, check=False, start_new_session=True)
    if done.returncode != 0:
        raise RuntimeError(f"plain SB3 worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plain_worker(spec: dict) -> None:
    """The B process: the same construction as rewardsmith.sandbox.train.train_job, minus rewardsmith."""
    import torch

    torch.set_num_threads(1)
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from rewardsmith.sandbox.train import ppo_kwargs
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
    start, cpu_start = time.monotonic(), time.process_time()
    model.learn(total_timesteps=int(spec["timesteps"]))
    seconds, cpu_seconds = time.monotonic() - start, time.process_time() - cpu_start
    print(json.dumps({"steps_per_second": model.num_timesteps / seconds,
                      "steps_per_cpu_second": model.num_timesteps / cpu_seconds}))


def step_costs(task, blocks: int, block_steps: int = 250, seed: int = 0) -> dict:
    """Median seconds per env step with random actions (no PPO), bare vs. wrapper + baseline reward,
    measured in short interleaved blocks so that machine drift hits both alike: ``{"wall": (bare,
    wrapped), "cpu": (bare, wrapped)}``. CPU time is this thread's own: on a loaded machine the
    wall-clock time also counts the turns other processes take, which scatter from block to block."""
    import numpy as np

    from rewardsmith.sandbox.rewardcode import load_reward
    from rewardsmith.sandbox.wrapper import RewardWrapper

    envs = {"bare": task.make_env(),
            "wrapped": RewardWrapper(task.make_env(), task, load_reward(task.baseline), task.baseline)}
    rng = np.random.default_rng(seed)
    space = envs["bare"].action_space
    actions = [np.asarray(space.sample()) for _ in range(block_steps)]
    times = {name: [] for name in envs}
    cpu = {name: [] for name in envs}
    for name, env in envs.items():
        env.reset(seed=seed)
    for block in range(blocks):
        for name in (("bare", "wrapped") if block % 2 == 0 else ("wrapped", "bare")):
            env = envs[name]
            start, cpu_start = time.perf_counter(), time.thread_time()
            for action in actions:
                _, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    env.reset(seed=int(rng.integers(1 << 30)))
            times[name].append((time.perf_counter() - start) / block_steps)
            cpu[name].append((time.thread_time() - cpu_start) / block_steps)
    for env in envs.values():
        env.close()
    return {kind: (statistics.median(values["bare"]), statistics.median(values["wrapped"]))
            for kind, values in (("wall", times), ("cpu", cpu))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default=None, help="task name or file (default: hopper-forward if shipped)")
    parser.add_argument("--timesteps", type=int, default=None,
                        help="PPO steps per repetition (default: 8 rollouts of n_steps x n_envs, >= 16384)")
    parser.add_argument("--reps", type=int, default=5, help="A/B repetitions (alternating order)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blocks", type=int, default=40, help="interleaved blocks for the wrapper-only figure")
    parser.add_argument("--plain-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_worker:
        plain_worker(json.loads(args.plain_worker))
        return

    task = load_task(args.task or default_task())
    n_steps = int(task.training.ppo.get("n_steps", 2048)) * task.training.n_envs
    timesteps = args.timesteps or max(16_384, 8 * n_steps)
    print(f"task {task.name} ({task.env_id}), {timesteps} PPO steps per run, {args.reps} A/B repetitions, "
          f"n_envs={task.training.n_envs}, normalize={task.training.normalize}")
    print(f"load average at the start: {load_average()} ({os.cpu_count()} CPUs)")
    # first, while this process is as fresh as the sandboxed child that runs the wrapper in training
    # (after the A/B runs the same wrapper once measured more per step with every run launched, though
    # the machine's load moves the figure at least as much)
    costs = step_costs(task, args.blocks)
    a_runs, b_runs, b_cpu = [], [], []
    for rep in range(args.reps):
        order = ("A", "B") if rep % 2 == 0 else ("B", "A")
        for which in order:
            if which == "A":
                a_runs.append(run_rewardsmith(task, timesteps, args.seed))
            else:
                plain = run_plain(task, timesteps, args.seed)
                b_runs.append(plain["steps_per_second"])
                b_cpu.append(plain["steps_per_cpu_second"])
        print(f"  rep {rep + 1} ({'/'.join(order)}): rewardsmith {a_runs[-1]:8.1f} steps/s   "
              f"plain SB3 {b_runs[-1]:8.1f} steps/s   ratio {a_runs[-1] / b_runs[-1]:.3f}", flush=True)
    a, b = statistics.median(a_runs), statistics.median(b_runs)
    ratio = statistics.median(x / y for x, y in zip(a_runs, b_runs))  # paired: robust to drift
    print(f"PPO steps/s (median of {args.reps}): rewardsmith+baseline {a:.1f}, plain SB3+native {b:.1f}")
    print(f"ratio rewardsmith / plain SB3 (median of the paired ratios): {ratio:.3f} "
          f"({'meets' if ratio >= 0.90 else 'BELOW'} the 0.90 target)")

    bare, wrapped = costs["wall"]
    extra = wrapped - bare
    print(f"env step alone, random actions (median of {args.blocks} interleaved blocks): bare "
          f"{1e6 * bare:.1f} us, wrapper + baseline reward {1e6 * wrapped:.1f} us: {1e6 * extra:.1f} us "
          f"more per step")
    print(f"ratio those step costs predict at plain SB3's {b:.1f} steps/s: {1 / (1 + extra * b):.3f} "
          f"(no PPO noise, but leaves out the sandbox's audit hook)")
    # the same in CPU time, against plain SB3's steps per CPU second: what other processes do to the
    # wall clock drops out of both sides
    bare_cpu, wrapped_cpu = costs["cpu"]
    extra_cpu, b_per_cpu = wrapped_cpu - bare_cpu, statistics.median(b_cpu)
    print(f"the same in this thread's CPU time: bare {1e6 * bare_cpu:.1f} us, wrapper + baseline reward "
          f"{1e6 * wrapped_cpu:.1f} us: {1e6 * extra_cpu:.1f} us more per step; ratio predicted at plain "
          f"SB3's {b_per_cpu:.1f} steps per CPU second: {1 / (1 + extra_cpu * b_per_cpu):.3f}")
    print(f"load average at the end: {load_average()}")


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"

if __name__ == "__main__":
    main()
