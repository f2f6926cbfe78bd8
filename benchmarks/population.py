"""Parents by raw search fitness (the rule before archive/population/) beside parents by evidence, on
recorded runs, with no training: for each designed generation g of each run, both rules rank the candidates
scored in generations before g (as the store holds them now: a confirmation seed recorded later counts) and
take their first two, and the script counts how often each rule's parents include a candidate that successive
halving stopped at a lower rung, and how often the two rules disagree. It also prints the run's behaviour cells
and each island's candidates.

    python benchmarks/population.py RUN_DIR [RUN_DIR ...]

Each run directory is copied to a temporary directory first (opening a run applies its pending migrations),
so the runs given are never changed.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path


def compare(run: Path) -> dict:
    from rewardsmith.archive.candidates import SCORED, full_budget
    from rewardsmith.archive.population import summary
    from rewardsmith.archive.population.ranking import rank
    from rewardsmith.archive.selection import contenders
    from rewardsmith.archive.store import RunStore

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / run.name
        shutil.copytree(run, copy, ignore=shutil.ignore_patterns("checkpoints", "videos", "*.traj.json.gz"))
        store = RunStore(copy)
        everyone = store.candidates()
        rows = []
        for g in store.designed_generations():
            if g == 0:
                continue
            before = [c for c in everyone if c.generation < g]
            scored = [c for c in before if c.status == SCORED and c.fitness is not None
                      and c.origin not in contenders(store.config)]
            raw = sorted(scored, key=lambda c: (-c.fitness, c.seq))[:2]
            evidence = [p.candidate for p in rank(before, None, contenders(store.config))][:2]
            rows.append({"generation": g, "raw": [c.id for c in raw], "evidence": [c.id for c in evidence],
                         "raw_lower_rung": sum(not full_budget(c) for c in raw),
                         "evidence_lower_rung": sum(not full_budget(c) for c in evidence)})
        doc = summary(store)
        store.close()
    return {"run": str(run), "generations": rows, "cells": len(doc["cells"]), "islands": doc["islands"],
            "per_island": [sum(1 for c in doc["candidates"] if c["island"] == k) for k in range(doc["islands"])]}


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit(__doc__)
    total = {"generations": 0, "disagree": 0, "raw_lower": 0, "evidence_lower": 0}
    for path in paths:
        result = compare(Path(path))
        print(f"{result['run']}: {result['cells']} behaviour cells; candidates per island {result['per_island']}")
        for row in result["generations"]:
            differ = row["raw"] != row["evidence"]
            print(f"  generation {row['generation']}: raw fitness {', '.join(row['raw']) or '-'} "
                  f"(lower rung: {row['raw_lower_rung']})  |  evidence {', '.join(row['evidence']) or '-'} "
                  f"(lower rung: {row['evidence_lower_rung']}){'  differ' if differ else ''}")
            total["generations"] += 1
            total["disagree"] += differ
            total["raw_lower"] += row["raw_lower_rung"] > 0
            total["evidence_lower"] += row["evidence_lower_rung"] > 0
    print(f"\n{total['generations']} generations: the two rules' parents differ in {total['disagree']}; a parent "
          f"stopped at a lower rung in {total['raw_lower']} by raw fitness vs {total['evidence_lower']} by evidence")


if __name__ == "__main__":
    main(sys.argv[1:])
