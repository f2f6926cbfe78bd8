"""Does the default search, with the offline designer and no model, find a reward better than the human one?

For each task (default: hopper-forward), runs ``rewardsmith evolve --task T`` with every default (offline
designer, 3 generations × 4 samples, successive halving, final scoring on fresh seeds) into
``--out-dir``, or reads runs made before (``--run DIR``, repeatable), and prints side by side, from the
run's final scoring on fresh seeds: the human baseline's fitness and the run's pick's, mean ± std over
the seeds, their difference and whether it is beyond noise (Δ > √(std_pick² + std_baseline²)). It also
prints what the offline designer did: each child's operator and whether it beat its parent
(design/learning.py, the same count the designer samples from) and how many children made a term the
analyzer called dominating or hacked larger (scaled it up: it should be 0).

    nice -n 10 python benchmarks/offline_designer.py                       # hopper, ~20 min on 2 idle cores
    nice -n 10 python benchmarks/offline_designer.py --tasks hopper-forward,walker-forward,halfcheetah-forward
    python benchmarks/offline_designer.py --run runs/20261207-0100-hopper-forward   # a finished run's figures
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


def evolve(task: str, out: Path) -> float:
    """Runs the default search for ``task`` into ``out``; gives the wall time in seconds."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--task", task, "--out", str(out)],
                   check=True)
    return time.monotonic() - started


def _cell(entry) -> str:
    if entry is None or entry.fitness_mean is None:
        return "n/a"
    return f"{entry.fitness_mean:.3f} ± {entry.fitness_std or 0:.2f} ({entry.seeds} seeds)"


def report(run: Path, wall: float | None = None) -> list[str]:
    """The figures of one finished run, as lines."""
    from rewardsmith.archive.selection import run_pick
    from rewardsmith.archive.store import RunStore
    from rewardsmith.design.learning import OperatorStats, operators_of
    from rewardsmith.design.operators import read

    store = RunStore(run)
    final, candidates = store.final(), store.candidates()
    task = store.config.get("task")
    lines = [f"## {task} ({run})" + (f", {wall / 60:.1f} min" if wall else "")]
    if final is None:
        return lines + ["no final scoring in this run (did it finish?)"]
    base = final.by_role("baseline")
    pick = run_pick(store)
    best = final.entry(pick.id) if pick else None
    lines.append(f"{'':12} {'final fitness on fresh seeds':>34}")
    lines.append(f"{'baseline':12} {_cell(base):>34}")
    lines.append(f"{'pick ' + (pick.id if pick else '-'):12} {_cell(best):>34}")
    if base and best and base.fitness_mean is not None and best.fitness_mean is not None:
        delta = best.fitness_mean - base.fitness_mean
        noise = math.hypot(base.fitness_std or 0.0, best.fitness_std or 0.0)
        verdict = "beyond noise" if delta > noise else "within noise" if delta > -noise else "worse beyond noise"
        lines.append(f"pick / baseline = {best.fitness_mean / base.fitness_mean:.2f} "
                     f"(Δ {delta:+.3f}, noise {noise:.3f}: {verdict})" if base.fitness_mean else f"Δ {delta:+.3f}")
    stats = OperatorStats.from_archive(candidates)
    tries = Counter(o.operator for o in stats.outcomes)
    wins = Counter(o.operator for o in stats.outcomes if o.won)
    lines.append("operator: children that beat their parent / children judged")
    lines += [f"  {op:15} {wins[op]} / {n}" for op, n in tries.most_common()]
    lines.append("by the parent's finding: " + ", ".join(f"{op} after {finding} {w}/{n}"
                                                         for (op, finding), (w, n) in stats.table().items()))
    by_id = {c.id: c for c in candidates}
    grew = [c.id for c in candidates if c.parent in by_id and "scale_up" in operators_of(c.notes)
            and any(f"'{name}'" in (c.notes or "") for name in read(by_id[c.parent]).protected)]
    lines.append(f"children that scaled up a term the analyzer called dominating or hacked: {len(grew)}"
                 + (f" ({', '.join(grew)})" if grew else ""))
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="hopper-forward", help="comma-separated task names")
    parser.add_argument("--out-dir", default="runs/offline-designer", help="where new runs go")
    parser.add_argument("--run", action="append", default=[], help="report a finished run instead (repeatable)")
    args = parser.parse_args(argv)
    done = [(Path(r), None) for r in args.run]
    if not done:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for task in args.tasks.split(","):
            out = Path(args.out_dir) / f"{stamp}-{task}"
            done.append((out, evolve(task, out)))
    for run, wall in done:
        print("\n".join(report(run, wall)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
