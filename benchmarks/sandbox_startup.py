"""What bubblewrap costs a sandboxed job: start-up in ms and training throughput, with and without it,
measured side by side in one run.

Start-up: the median wall time of ``run_job`` for (1) a trivial job (``result = 1``, the OS layers on,
so the time is the process, its confinement and the protocol) and (2) the critic's probe of the
task's baseline reward on 5 transitions (imports gymnasium and the task, as every real job does), each
with bubblewrap and without it (seccomp, Landlock and the limits stay on in both), alternating A/B.

Throughput: ``train_once`` on the task's baseline reward, ``--timesteps`` steps, alternating the
strict sandbox (bubblewrap, seccomp, Landlock, limits) and the same without bubblewrap; the figure is
the median of the paired ratios of training steps/s (``model.learn`` only, as the child reports it)
and of each training's whole wall time (start-up and evaluation jobs included). Target: within 5 %.

    python benchmarks/sandbox_startup.py                       # hopper-forward
    python benchmarks/sandbox_startup.py --task halfcheetah-forward --timesteps 20000 --reps 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rewardsmith.host import launch  # noqa: E402
from rewardsmith.host.confinement import Layers, bubblewrap_problem  # noqa: E402
from rewardsmith.host.launch import Limits, run_job  # noqa: E402
from rewardsmith.task import load_task  # noqa: E402

WITH = Layers(python=False)
WITHOUT = Layers(bubblewrap=False, python=False)


def startup_ms(job: dict, layers: Layers) -> float:
    started = time.perf_counter()
    run_job(job, Limits(wall_seconds=60), layers=layers)
    return (time.perf_counter() - started) * 1000


def probe_job(task) -> dict:
    return {"kind": "check", "task_path": str(task.path), "code": task.baseline, "transitions": 5, "seed": 0}


def measure_startup(task, n: int) -> dict:
    trivial = {"kind": "unguarded", "code": "result = 1"}
    rows = {}
    for name, job, with_layers, without_layers in (
            ("trivial job", trivial, WITH, WITHOUT),
            ("critic probe (5 transitions)", probe_job(task), Layers(), Layers(bubblewrap=False))):
        startup_ms(job, with_layers), startup_ms(job, without_layers)  # warm the page cache
        a, b = [], []
        for i in range(n):
            order = ((with_layers, a), (without_layers, b)) if i % 2 == 0 else ((without_layers, b), (with_layers, a))
            for layers, out in order:
                out.append(startup_ms(job, layers))
        rows[name] = (statistics.median(a), statistics.median(b))
    return rows


def measure_training(task, timesteps: int, reps: int) -> dict:
    from rewardsmith.training.trainer import Budget, train_once

    def once(strict: bool):
        if strict:
            os.environ["REWARDSMITH_SANDBOX"] = "strict"
            launch.bubblewrap_problem = bubblewrap_problem
        else:  # this machine as if bubblewrap were missing: auto mode keeps the other layers
            os.environ["REWARDSMITH_SANDBOX"] = "auto"
            launch.bubblewrap_problem = lambda: "benchmark: bubblewrap switched off"
        started = time.perf_counter()
        result = train_once(task, task.baseline, 0, Budget(timesteps=timesteps))
        return result.steps_per_second, time.perf_counter() - started

    pairs = []
    for i in range(reps):
        order = (True, False) if i % 2 == 0 else (False, True)
        got = {strict: once(strict) for strict in order}
        pairs.append((got[True], got[False]))
        print(f"  rep {i + 1}: strict {got[True][0]:,.0f} steps/s ({got[True][1]:.1f} s)   "
              f"without bubblewrap {got[False][0]:,.0f} steps/s ({got[False][1]:.1f} s)", flush=True)
    launch.bubblewrap_problem = bubblewrap_problem
    return {
        "steps_per_second": statistics.median(s[0] / w[0] for s, w in pairs),
        "wall_time": statistics.median(s[1] / w[1] for s, w in pairs),
        "strict_sps": statistics.median(s[0] for s, _ in pairs),
        "without_sps": statistics.median(w[0] for _, w in pairs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper-forward")
    parser.add_argument("--n", type=int, default=15, help="start-ups per configuration")
    parser.add_argument("--timesteps", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=3, help="training pairs (0: start-up only)")
    args = parser.parse_args()
    problem = bubblewrap_problem()
    if problem:
        raise SystemExit(f"bubblewrap cannot run here ({problem}): nothing to compare")
    task = load_task(args.task)
    print(f"machine load (1/5/15 min): {os.getloadavg()}  cores: {os.cpu_count()}")
    print(f"sandboxed job start-up, median of {args.n} (ms): with bubblewrap | without | ratio")
    for name, (a, b) in measure_startup(task, args.n).items():
        print(f"  {name:<30} {a:7.0f} | {b:7.0f} | {a / b:.2f}")
    if args.reps < 1:
        return
    print(f"training {task.name}, baseline reward, {args.timesteps:,} steps, {args.reps} pairs:")
    t = measure_training(task, args.timesteps, args.reps)
    print(f"  steps/s strict {t['strict_sps']:,.0f} vs without bubblewrap {t['without_sps']:,.0f}: "
          f"ratio {t['steps_per_second']:.3f} (median of pairs); whole training wall time ratio "
          f"{t['wall_time']:.3f}")
    print(f"machine load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
