"""Figure (issue 3): the README's main command finishes in under 10 minutes on 2 cores.

Runs `rewardsmith evolve --task mountaincar-reach` exactly as the README gives it (offline designer,
default budget) into a scratch run directory, and prints the wall time as a ratio of the 600 s budget,
plus the best fitness beside the baseline's.

    python benchmarks/main_command.py [--task mountaincar-reach] [extra evolve options...]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

BUDGET_SECONDS = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="mountaincar-reach")
    args, extra = parser.parse_known_args()
    env = dict(os.environ)
    env.pop("REWARDSMITH_MODEL", None)
    with tempfile.TemporaryDirectory() as scratch:
        run = os.path.join(scratch, "run")
        cmd = [sys.executable, "-m", "rewardsmith.cli", "evolve", "--task", args.task, "--out", run, *extra]
        started = time.monotonic()
        subprocess.run(cmd, check=True, env=env)
        elapsed = time.monotonic() - started
        doc = json.loads(subprocess.run([sys.executable, "-m", "rewardsmith.cli", "show", run, "--json"],
                                        check=True, capture_output=True, text=True, env=env).stdout)
    baseline = next((c for c in doc["candidates"] if c["parent"] is None and c["generation"] == 0), None)
    print(f"main command: {' '.join(cmd[3:])}")
    print(f"wall time: {elapsed:.0f} s = {elapsed / BUDGET_SECONDS:.2f} of the {BUDGET_SECONDS:.0f} s budget "
          f"({'within' if elapsed <= BUDGET_SECONDS else 'OVER'} budget) on {os.cpu_count()} cores")
    print(f"best: {doc['best']}  baseline: {baseline and baseline['fitness']}")


if __name__ == "__main__":
    main()
