"""Duplicates caught before any RL step, side by side with today's rule (byte-identical code only).

The task (default hopper-forward) trains its baseline first, as every run does (``--baseline-steps``, default
the task's budget), so the fingerprint set is the run's own: its random-policy episodes and the baseline's kept
evaluation episodes. Then the offline designer proposes ``--generations`` × ``--samples`` rewards, each
admitted exactly as ``evolve`` admits it (the critic's probe, the duplicate check, screening; all sandboxed).
Nothing else is trained: every proposal is a child of the baseline, as in a run's first generations.

For the one stream of proposals it prints what each rule would train: today's (``store.by_hash``: only code
identical byte for byte is not trained again) and the new one (``intake/duplicates.py``); and the RL env steps
the duplicates would have cost: at least the first halving rung each, at most the full budget (where halving
lets them through), plus the final scoring's fresh seeds where one reaches it.

    python benchmarks/duplicates.py [--task hopper-forward] [--generations 4] [--samples 4] [--seed 0]

With ``--run DIR`` it checks a recorded run instead (a copy of it: nothing is written to DIR): which of its
trained candidates duplicate an earlier one (``duplicates.among``, as the final scoring checks its set), and
the RL env steps the run's records say they spent, in the search and in the final scoring.

    python benchmarks/duplicates.py --run tests/data/run-offline
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rewardsmith.archive.store import RunStore, code_hash  # noqa: E402
from rewardsmith.design.offline import OfflineDesigner  # noqa: E402
from rewardsmith.loop import Evolution, EvolveConfig  # noqa: E402
from rewardsmith.task import load_task  # noqa: E402
from rewardsmith.training.schedule import Halving  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper-forward")
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-steps", type=int, default=None, help="the baseline's training (default: the "
                                                                        "task's budget)")
    parser.add_argument("--run", help="check a recorded run's trained candidates instead")
    args = parser.parse_args()
    if args.run:
        return recorded(Path(args.run))
    task = load_task(args.task)
    budget = task.training.timesteps
    config = EvolveConfig(task=task.name, seed=args.seed, samples=args.samples, final_seeds=0,
                          timesteps=args.baseline_steps)
    print(f"{task.name}: offline designer, {args.generations} generations x {args.samples} samples, seed "
          f"{args.seed}; baseline trained {args.baseline_steps or budget:,} steps; load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rewardsmith-duplicates-") as scratch:
        store = RunStore.create(Path(scratch) / "run", config.to_dict(), task.path)
        designer = OfflineDesigner()
        evolution = Evolution(store, task, config, designer)
        try:
            store.add_candidate(0, task.baseline, "baseline", notes="the task's human-written reward")
            evolution.train_generation(0)
            print(f"baseline fitness {store.baseline().fitness:.4g}", flush=True)
            started = time.monotonic()
            for generation in range(args.generations):
                for proposal in designer.propose(evolution.context(generation)):
                    identical = store.by_hash(code_hash(proposal.code)) is not None  # today's rule
                    c = evolution.intake.admit(proposal, generation, designer)
                    rows.append((c, identical))
            seconds = time.monotonic() - started
        finally:
            evolution.close()
    shape = Halving(config.halving_eta, config.halving_min_fraction)
    first_rung = shape.rungs(budget)[0]
    admitted_today = [c for c, identical in rows if not identical and not (c.status == "rejected" and not c.duplicate_of)]
    duplicates = [c for c, _ in rows if c.duplicate_of]
    code_dups = [c for c in duplicates if "the same code" in (c.reason or "")]
    identical_today = sum(identical for _, identical in rows)
    print(f"\n{'id':<5}{'status':<10}{'notes / reason'}")
    for c, _ in rows:
        text = c.reason if c.status == "rejected" else c.notes
        print(f"{c.id:<5}{c.status:<10}{(text or '').splitlines()[0][:150] if text else ''}")
    print(f"\n{len(rows)} proposals ({seconds:.0f} s to admit them all, every job sandboxed)")
    print(f"{'':<40}{'today (byte-identical)':>24}{'with duplicates.py':>20}")
    print(f"{'duplicates caught before RL':<40}{identical_today:>24}{identical_today + len(duplicates):>20}")
    print(f"{'  of which same code once canonical':<40}{'-':>24}{len(code_dups):>20}")
    print(f"{'  of which behaviourally equivalent':<40}{'-':>24}{len(duplicates) - len(code_dups):>20}")
    print(f"{'proposals that go on to training':<40}{len(admitted_today):>24}{len(admitted_today) - len(duplicates):>20}")
    low, high = len(duplicates) * first_rung, len(duplicates) * budget
    print(f"{'RL env steps on duplicates (search)':<40}{f'{low:,} to {high:,}':>24}{0:>20}")
    print(f"(each duplicate would train at least the first halving rung, {first_rung:,} steps, and at most the "
          f"budget, {budget:,}; one that reaches the final scoring trains again on {EvolveConfig(task=task.name).final_seeds} "
          f"fresh seeds; load average now {os.getloadavg()[0]:.2f})")
    near = [c for c, _ in rows if c.notes and "near-duplicate of" in c.notes]
    print(f"near-duplicates flagged (trained all the same): {len(near)}")


def recorded(root: Path) -> None:
    """A recorded run's trained candidates through the check, with the steps its records say they spent."""
    import shutil

    from rewardsmith.intake.duplicates import Duplicates, among
    from rewardsmith.task import load_task_file

    with tempfile.TemporaryDirectory(prefix="rewardsmith-duplicates-") as scratch:
        shutil.copytree(root, Path(scratch) / "run")
        store = RunStore(Path(scratch) / "run")
        task = load_task_file(store.root / "task.py")
        trained = [c for c in store.candidates() if (c.steps_spent or 0) > 0]
        started = time.monotonic()
        found = among(Duplicates(store, task, int(store.config.get("seed") or 0), print), trained)
        seconds = time.monotonic() - started
        final = {}
        for r in store.final_runs():
            final[r.subject] = final.get(r.subject, 0) + (r.steps_spent or 0)
    search = sum(c.steps_spent or 0 for c in trained)
    dup_search = sum(c.steps_spent or 0 for c in trained if c.id in found)
    dup_final = sum(final.get(cid, 0) for cid in found)
    print(f"{root}: task {task.name}, {len(trained)} trained candidates ({seconds:.0f} s to check)")
    for cid, match in found.items():
        print(f"  {cid}: {match.reason}")
    print(f"{'':<34}{'as recorded':>16}{'with duplicates.py':>20}")
    print(f"{'candidates trained':<34}{len(trained):>16}{len(trained) - len(found):>20}")
    print(f"{'RL env steps, search':<34}{search:>16,}{search - dup_search:>20,}")
    total_final = sum(final.values())
    print(f"{'RL env steps, final scoring':<34}{total_final:>16,}{total_final - dup_final:>20,}")


if __name__ == "__main__":
    main()
