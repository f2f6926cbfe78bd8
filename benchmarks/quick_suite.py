"""The quick test loop (`python -m pytest -m "not slow" -n 2`), this checkout against another, side by side.

    python benchmarks/quick_suite.py --against /path/to/other/checkout [--rounds 3] [--workers 2]

Runs the not-slow suite of each checkout in turn (alternating which goes first, so both see the same machine
load), each from its own folder with its own code on PYTHONPATH (its sandboxed jobs import that code too) and
its own pytest settings, and prints each run's wall time and test count, the medians and their ratio. Leave
each checkout as its own setup leaves it (this one's setup compiles the package; say so if you compile the
other). The machine's load average is printed with every run: on a shared machine only the ratio means much.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def run(checkout: Path, workers: int) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-n", str(workers),
                           "-p", "no:cacheprovider"], cwd=checkout, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    summary = next((line for line in reversed(done.stdout.splitlines()) if re.search(r"\d+ (passed|failed)", line)),
                   f"exit {done.returncode}")
    return seconds, summary.strip("= ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout (its folder holds rewardsmith/ and tests/)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sides = {"this": HERE, **({"other": args.against.resolve()} if args.against else {})}
    walls: dict[str, list[float]] = {side: [] for side in sides}
    for r in range(args.rounds):
        for side in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            load = os.getloadavg()[0]
            seconds, summary = run(sides[side], args.workers)
            walls[side].append(seconds)
            print(f"round {r + 1} {side} ({sides[side]}): {seconds:.1f} s, {summary} (load before {load:.1f})",
                  flush=True)
    this = statistics.median(walls["this"])
    line = f"median wall: this checkout {this:.1f} s"
    if "other" in walls:
        other = statistics.median(walls["other"])
        line += f", the other {other:.1f} s: this one takes {this / other:.2f} of the other's time"
    print(line)


if __name__ == "__main__":
    main()
