"""Do near-duplicates train alike? (issue 23) Reads finished runs (no training) and prints, for every candidate
flagged a near-duplicate of an earlier one, the correlation it was flagged with and both candidates' search
fitness at the first rung and at the last budget each reached (halving's `@` share), side by side; then, for the
pairs both trained to the full budget on the search seed, the spread of their fitness beside the spread the
final scoring measured across fresh seeds of one reward (the baseline's).

    python benchmarks/near_duplicates.py RUN_DIR [RUN_DIR ...]

A near-duplicate's per-step rewards correlate above 0.99 with its original's on the run's recorded episodes
(intake/duplicates.py). Where such pairs train to fitnesses as far apart as two seeds of one reward, refusing
them (as exact duplicates are refused) would not spare a different policy: it would drop a fresh draw of
nearly the same reward, which may land where its twin did not.
"""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path

from rewardsmith.archive.candidates import budget_fraction
from rewardsmith.archive.store import RunStore
from rewardsmith.output.population import duplicates

CORRELATION = re.compile(r"correlate ([0-9.]+)")


def first_and_last(candidate) -> tuple[float | None, float | None, float]:
    """The candidate's fitness at its first rung, at the last budget it reached, and that budget's share."""
    halving = candidate.result.halving if candidate.result is not None else None
    history = sorted(halving.history.items()) if halving else []
    first = history[0][1] if history else candidate.fitness
    return first, candidate.fitness, budget_fraction(candidate)


def pairs(store: RunStore) -> tuple[list[dict], list[float]]:
    """The run's near-duplicates as recorded (``output.population.duplicates``), each beside its twin, and the
    baseline's final-scoring fitness per fresh seed."""
    held = {c.id: c for c in store.candidates()}
    rows = []
    for near in duplicates(store, list(held.values()))[1]:
        found = CORRELATION.search(near["reason"])
        if found is None or near["id"] not in held or near["of"] not in held:
            continue
        rows.append({"id": near["id"], "of": near["of"], "corr": float(found.group(1)),
                     "mine": first_and_last(held[near["id"]]), "theirs": first_and_last(held[near["of"]])})
    baseline = [r.fitness for r in store.final_runs() if r.role == "baseline" and r.fitness is not None]
    return rows, baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    for run in args.runs:
        store = RunStore(run)
        rows, baseline = pairs(store)
        print(f"== {run} ({store.config.get('task', '?')}): {len(rows)} near-duplicates")
        print(f"  {'pair':<12} {'corr':>9}  {'first rung':>19}  {'last budget reached':>31}")
        full = []
        for r in rows:
            (f1, l1, b1), (f2, l2, b2) = r["mine"], r["theirs"]
            print(f"  {r['id']:>4} ~ {r['of']:<5} {r['corr']:>9.6g}  {f1:>8.3f} vs {f2:>8.3f}  "
                  f"{l1:>9.3f} @{b1:.2f} vs {l2:>9.3f} @{b2:.2f}")
            if b1 >= 0.999 and b2 >= 0.999:
                full.append(abs(l1 - l2))
        seeds = f"{statistics.pstdev(baseline):.3g} (std of {len(baseline)} fresh seeds)" if len(baseline) > 1 else "-"
        gap = f"median |Δ| {statistics.median(full):.3g} over {len(full)} pair(s)" if full else "no pair at full budget"
        print(f"  both at the full budget on the search seed: {gap}; the baseline's spread over seeds: {seeds}")


if __name__ == "__main__":
    main()
