"""Parallel training: the same candidate trainings with ``--workers 1`` and ``--workers 2``, side by side.

Trains 4 candidate rewards (the task's baseline reward at four scales) to the same budget through the
evolve loop's own training path (``Evolution.train_generation`` with ``--schedule full``: one sandboxed,
single-threaded process per training, recorded as each finishes) once with 1 worker and once with 2,
and prints both wall times and the speedup:

    python benchmarks/parallel_scaling.py                      # mountaincar-reach, 4 × 16,384 steps
    python benchmarks/parallel_scaling.py --timesteps 32768 --workers 1,2,4

The issue's figure: on 2 quiet cores, 2 workers are at least 1.7× faster than 1. The load average is
printed before and after: other work on the machine makes the ratio meaningless.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rewardsmith.design.offline import OfflineDesigner  # noqa: E402
from rewardsmith.loop import EvolveConfig, Evolution  # noqa: E402
from rewardsmith.archive.store import RunStore  # noqa: E402
from rewardsmith.task import load_task  # noqa: E402

SCALES = (1.0, 0.5, 2.0, 0.25)
WRAPPER = """

def compute_reward(state, action, next_state):
    total, components = _unscaled(state, action, next_state)
    return {scale} * total, {{name: {scale} * value for name, value in components.items()}}
"""


def candidates(task) -> list[str]:
    """Four distinct rewards of the same cost: the task's baseline reward scaled by 1, 0.5, 2, 0.25."""
    base = task.baseline.replace("def compute_reward(", "def _unscaled(", 1)
    return [base + WRAPPER.format(scale=scale) for scale in SCALES]


def timed_generation(task, codes: list[str], timesteps: int, workers: int, root: Path) -> dict:
    config = EvolveConfig(task=task.name, timesteps=timesteps, workers=workers, schedule="full", final_seeds=0)
    store = RunStore.create(root / f"workers-{workers}", asdict(config), task.path)
    for code in codes:
        store.add_candidate(0, code, "llm")
    evolution = Evolution(store, task, config, OfflineDesigner())
    started = time.monotonic()
    try:
        evolution.train_generation(0)
    finally:
        evolution.close()
    wall = time.monotonic() - started
    scored = store.candidates(status="scored")
    if len(scored) != len(codes):
        failed = [c.reason for c in store.candidates(status="failed")]
        sys.exit(f"{len(codes) - len(scored)} trainings failed: {failed}")
    return {"wall": wall, "fitness": [c.fitness for c in scored],
            "train_seconds": sum(c.timings.train_seconds for c in scored),
            "steps": sum(c.steps_spent for c in scored)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="mountaincar-reach")
    parser.add_argument("--timesteps", type=int, default=16384)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to compare")
    args = parser.parse_args()
    task = load_task(args.task)
    codes = candidates(task)
    counts = [int(w) for w in args.workers.split(",")]
    print(f"{len(codes)} trainings of {task.name} × {args.timesteps:,} steps; cores: {os.cpu_count()}; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="rewardsmith-scaling-") as scratch:
        for workers in counts:
            results[workers] = r = timed_generation(task, codes, args.timesteps, workers, Path(scratch))
            print(f"  --workers {workers}: {r['wall']:6.1f} s wall  ({r['train_seconds']:.1f} s of PPO "
                  f"training inside, {r['steps']:,} env steps)", flush=True)
    base = results[counts[0]]["wall"]
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for workers in counts[1:]:
        speedup = base / results[workers]["wall"]
        print(f"speedup of --workers {workers} over --workers {counts[0]}: {speedup:.2f}×")


if __name__ == "__main__":
    main()
