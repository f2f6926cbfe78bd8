"""The shipped tasks at their default budgets: fitness with the native reward vs. the baseline reward.

Trains every task (or ``--tasks``) with ``--reward native`` and ``--reward baseline`` at the task's
default ``TRAINING`` settings, each training in its own sandboxed process, ``--workers`` at a time, and
prints a Markdown table (also written to ``--out``):

    python benchmarks/task_table.py                       # all tasks, 1 seed, 2 workers
    python benchmarks/task_table.py --seeds 3 --tasks cartpole-balance,hopper-forward

This is a figure, not a test: at the default budgets the whole table takes tens of minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rewardsmith.task import list_tasks  # noqa: E402
from rewardsmith.trainer import Budget, train  # noqa: E402

REWARDS = ("native", "baseline")


def run_one(task, reward: str, seeds: list[int], timesteps: int | None, max_seconds: float) -> dict:
    """One task × reward over the seeds: fitness mean ± std, throughput, wall time (or the error)."""
    code = None if reward == "native" else task.baseline
    # a generous wall-clock budget: on a busy machine the default one can cut a training short
    budget = Budget(timesteps or task.training.timesteps, max_seconds=max_seconds)
    started = time.monotonic()
    try:
        score = train(task, code, seeds, budget, workers=1)
    except Exception as exc:  # noqa: BLE001 - a failed cell is reported in the table, not fatal
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}",
                "wall": time.monotonic() - started}
    stopped = [r.stopped_early for r in score.runs if r.stopped_early]
    return {"mean": score.mean, "std": score.std, "per_seed": [r.fitness for r in score.runs],
            "stopped_early": stopped,
            "steps_per_second": score.steps_per_second, "timesteps": score.timesteps,
            "wall": time.monotonic() - started}


def cell(result: dict | None) -> str:
    if result is None:
        return "-"
    if "error" in result:
        return f"failed ({result['error']})"
    text = f"{result['mean']:.4g}"
    if len(result["per_seed"]) > 1:
        text += f" ± {result['std']:.2g}"
    if result.get("stopped_early"):
        text += " (stopped early: wall-clock budget)"
    return text


def table(tasks, results: dict, seeds: list[int]) -> str:
    lines = [
        f"Fitness after training PPO at each task's default budget ({len(seeds)} seed"
        f"{'s' * (len(seeds) > 1)}: {', '.join(map(str, seeds))}; mean ± std over seeds). "
        f"steps/s: env steps per second of one training process (native / baseline).",
        "",
        "| task | env | timesteps | native fitness | baseline fitness | steps/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for task in tasks:
        native, baseline = results.get((task.name, "native")), results.get((task.name, "baseline"))
        speeds = [r["steps_per_second"] for r in (native, baseline) if r and "steps_per_second" in r]
        speed = " / ".join(f"{s:,.0f}" for s in speeds) or "-"
        lines.append(f"| {task.name} | {task.env_id} | {task.training.timesteps:,} | {cell(native)} | "
                     f"{cell(baseline)} | {speed} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="", help="comma-separated task names (default: all shipped)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per task and reward (0, 1, ...)")
    parser.add_argument("--workers", type=int, default=2, help="trainings run at once")
    parser.add_argument("--timesteps", type=int, default=None, help="override every task's budget")
    parser.add_argument("--max-seconds", type=float, default=1800.0,
                        help="wall-clock budget of one training (it stops early past it, and says so)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "task_table.md"),
                        help="where to write the Markdown table ('' for nowhere)")
    args = parser.parse_args(argv)

    tasks = list_tasks()
    if args.tasks:
        wanted = [n.strip() for n in args.tasks.split(",") if n.strip()]
        unknown = set(wanted) - {t.name for t in tasks}
        if unknown:
            parser.error(f"unknown tasks: {', '.join(sorted(unknown))}")
        tasks = [t for t in tasks if t.name in wanted]
    seeds = list(range(args.seeds))
    # longest trainings first, so the last ones to finish are short
    jobs = sorted(((t, r) for t in tasks for r in REWARDS),
                  key=lambda job: -(args.timesteps or job[0].training.timesteps) / _rough_speed(job[0]))
    results = {}
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = {pool.submit(run_one, t, r, seeds, args.timesteps, args.max_seconds): (t, r) for t, r in jobs}
        for future in as_completed(futures):
            task, reward = futures[future]
            result = results[(task.name, reward)] = future.result()
            print(f"[{time.monotonic() - started:6.0f} s] {task.name:<26} {reward:<8} {cell(result)}  "
                  f"({result['wall']:.0f} s)", file=sys.stderr, flush=True)
    text = table(tasks, results, seeds)
    text += f"\nTotal wall time: {time.monotonic() - started:.0f} s with {args.workers} workers.\n"
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return 0 if all("error" not in r for r in results.values()) else 1


def _rough_speed(task) -> float:
    """Env steps/s to expect, for scheduling only: MuJoCo with zoo's single env is the slow case."""
    return 400.0 if task.training.n_envs == 1 and "-v5" in task.env_id else 1500.0


if __name__ == "__main__":
    sys.exit(main())
