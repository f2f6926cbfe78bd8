"""The critic's probe time, this checkout against another, side by side in one run.

    python benchmarks/critic_probe.py --against /path/to/other/checkout [--tasks hopper-forward,...] [--rounds 6]

Each round runs ``Critic(task).check(task.baseline)`` once per task in a fresh process for each checkout
(alternating, so both see the same machine load; the first check of a critic, which also rolls out its
transitions, is left out, as a run checks many proposals with one critic), and prints the medians and
their ratio. Without ``--against`` it prints this checkout's medians only. Compile both checkouts first
(``python -m compileall -q rewardsmith``) so neither pays for compiling the package in every job.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
TIMED = """
import json, sys, time
from rewardsmith.task import load_task
from rewardsmith.intake.critic import Critic
out = {}
for name in sys.argv[1].split(","):
    task = load_task(name)
    critic = Critic(task)
    critic.check(task.baseline)  # the critic's first check (rolls out its transitions where it does)
    start = time.perf_counter()
    critic.check(task.baseline)
    out[name] = time.perf_counter() - start
print(json.dumps(out))
"""


def measure(checkout: Path, tasks: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    done = subprocess.run([sys.executable, "-c", TIMED, tasks], env=env, capture_output=True, text=True,
                          cwd="/tmp", check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout (its folder holds rewardsmith/)")
    parser.add_argument("--tasks", default="mountaincar-reach,hopper-forward,halfcheetah-forward")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    sides = {"this": HERE, **({"other": args.against.resolve()} if args.against else {})}
    times: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
    for r in range(args.rounds):
        for side in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            for task, seconds in measure(sides[side], args.tasks).items():
                times[side].setdefault(task, []).append(seconds)
    print(f"critic probe of each task's baseline, median of {args.rounds} ({os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f})")
    for task in args.tasks.split(","):
        this = statistics.median(times["this"][task])
        line = f"  {task}: this checkout {this * 1e3:.0f} ms"
        if "other" in times:
            other = statistics.median(times["other"][task])
            line += f", {sides['other']} {other * 1e3:.0f} ms: x{other / this:.2f} faster here"
        print(line)


if __name__ == "__main__":
    main()
