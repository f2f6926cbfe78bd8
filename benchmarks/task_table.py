"""The shipped tasks at their default budgets: does the human baseline show a signal above a random policy?

For every task (or ``--tasks``), and each of 3 seeds (``--seeds``), four cells:

- ``random``: the policy that samples random actions, no training (``rewardsmith.analysis.analyzer.random_policy_fitness``,
  what ``evolve`` reports as ``random_fitness``), over the task's ``eval_episodes`` episodes per seed;
- ``sparse``, ``native``, ``baseline``: one real training at the task's default ``TRAINING`` settings and
  budget through ``rewardsmith.training.trainer.train`` (the path ``rewardsmith train`` takes: a sandboxed child),
  with the task's SPARSE reward, the environment's own reward, and the human BASELINE reward.

Every cell is mean ± std over the seeds (population std; each seed's value is its mean over the
evaluation episodes). The task shows a signal when

    baseline mean - random mean >= 3 * max(baseline std, random std, 0.01 * max(|baseline mean|, |random mean|))

(the last term is a floor so that two near-deterministic columns need a 1 % gap, not just any gap).

Trainings run one at a time (``--workers``) and every finished seed is written at once to a JSON cache
(``--cache``) keyed by task, reward, seed and the task's settings, so an interrupted run loses at most one
training and a re-run measures only what is missing. Columns are filled in ``--rewards`` order, every task
first for the first column, so partial results are whole columns:

    nohup python benchmarks/task_table.py > /tmp/task_table.log 2>&1 &      # random, baseline, native, sparse
    python benchmarks/task_table.py --report-only                            # the table from the cache alone
    python benchmarks/task_table.py --tasks hopper-forward --rewards random,baseline --seeds 3
    python benchmarks/task_table.py --tasks walker-forward --rewards sparse,baseline --timesteps 600000

``--timesteps N`` measures at a budget other than the tasks' defaults (does a larger budget separate the baseline
from the sparse reward?); its cells go to their own cache and table (``task_table_<N>.json`` / ``.md``), never
beside the defaults'.

The Markdown table (``--out``) says which cells were measured and which were not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rewardsmith.archive.candidates import write_atomic  # noqa: E402
from rewardsmith.task import list_tasks  # noqa: E402

REWARDS = ("random", "baseline", "native", "sparse")
RESULTS = Path(__file__).parent / "results"
SIGMAS = 3.0
FLOOR = 0.01  # of the larger |mean|: the smallest std the signal test assumes


def settings_key(task) -> str:
    """A digest of what a cell's value depends on: the task's training settings (not their documentation:
    ``source``, ``steps_per_second``, ``budget_note``) and reward sources."""
    training = {k: v for k, v in asdict(task.training).items()
                if k not in ("source", "steps_per_second", "budget_note")}
    blob = json.dumps([training, task.baseline, task.sparse, task.env_id, task.env_kwargs],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def measure(task, reward: str, seed: int, max_seconds: float | None) -> dict:
    """One cell for one seed: fitness and how long it took (or the error)."""
    started = time.monotonic()
    try:
        if reward == "random":
            from rewardsmith.analysis.analyzer import random_policy_fitness

            fitness = random_policy_fitness(task, episodes=task.training.eval_episodes, seed=seed)
            return {"fitness": fitness, "wall": time.monotonic() - started}
        from rewardsmith.training.trainer import Budget, train

        code = {"native": None, "baseline": task.baseline, "sparse": task.sparse}[reward]
        run = train(task, code, [seed], Budget(task.training.timesteps, max_seconds=max_seconds)).runs[0]
    except Exception as exc:  # noqa: BLE001 - a failed cell is reported in the table, not fatal
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}",
                "wall": time.monotonic() - started}
    return {"fitness": run.fitness, "timesteps": run.timesteps, "steps_per_second": run.steps_per_second,
            "train_seconds": run.train_seconds, "stopped_early": run.stopped_early,
            "wall": time.monotonic() - started}


def column(cache: dict, task, reward: str, seeds: list[int]) -> dict | None:
    """A cell's seeds from the cache: mean ± std when every seed is there, else what is missing."""
    key = settings_key(task)
    found = [cache.get(f"{task.name}|{reward}|{s}") for s in seeds]
    found = [f for f in found if f and f.get("settings") == key]
    if not found:
        return None
    errors = [f["error"] for f in found if "error" in f]
    values = [f["fitness"] for f in found if "fitness" in f]
    return {"n": len(values), "of": len(seeds), "errors": errors, "values": values,
            "mean": statistics.fmean(values) if values else None,
            "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
            "steps_per_second": statistics.fmean(f["steps_per_second"] for f in found if "steps_per_second" in f)
            if any("steps_per_second" in f for f in found) else None,
            "train_seconds": statistics.fmean(f["train_seconds"] for f in found if "train_seconds" in f)
            if any("train_seconds" in f for f in found) else None,
            "stopped_early": [f["stopped_early"] for f in found if f.get("stopped_early")]}


def signal(random: dict | None, baseline: dict | None) -> tuple[str, bool | None]:
    """(the gap in units of the test's std, whether baseline - random >= 3 std); None when unmeasured."""
    if not random or not baseline or random["mean"] is None or baseline["mean"] is None:
        return "not measured", None
    scale = max(baseline["std"], random["std"], FLOOR * max(abs(baseline["mean"]), abs(random["mean"])), 1e-12)
    gap = (baseline["mean"] - random["mean"]) / scale
    ok = gap >= SIGMAS
    partial = "" if random["n"] == random["of"] and baseline["n"] == baseline["of"] else " (partial seeds)"
    return f"{'yes' if ok else 'NO'}: {gap:.1f} std{partial}", ok


def beats_sparse(sparse: dict | None, baseline: dict | None) -> tuple[str, bool | None]:
    """(the baseline's lead over the sparse reward in units of the test's std, whether it is >= 3 std), as
    ``signal`` measures the lead over random; None when unmeasured."""
    return signal(sparse, baseline)


def fmt(cell: dict | None) -> str:
    if cell is None:
        return "not measured"
    if cell["mean"] is None:
        return f"failed ({cell['errors'][0]})"
    text = f"{cell['mean']:.3g} ± {cell['std']:.2g}"
    if cell["n"] < cell["of"]:
        text += f" ({cell['n']}/{cell['of']} seeds)"
    if cell["errors"]:
        text += f" ({len(cell['errors'])} failed)"
    if cell["stopped_early"]:
        text += " (stopped early)"
    return text


def table(tasks, cache: dict, seeds: list[int], budget: int | None = None) -> str:
    lines = [
        f"Fitness at each task's {'default budget' if budget is None else f'budget of {budget:,} steps'} and "
        f"settings; mean ± std over seeds {', '.join(map(str, seeds))} "
        f"(each seed: the mean over the task's evaluation episodes). random: random actions, no training. "
        f"signal: (baseline mean − random mean) / max(std baseline, std random, {FLOOR} × max |mean|); "
        f"yes when ≥ {SIGMAS:g}. vs sparse: the same test against the sparse reward (the task is learned, not "
        f"started, where both say yes; where not, its TRAINING['budget_note'], listed below, says why). one "
        f"training: mean seconds of PPO (training only) of the baseline's seeds on this machine.",
        "",
        "| task | timesteps | one training | random | sparse | native | baseline | signal | vs sparse |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    notes = []
    measured, missing = {r: [] for r in REWARDS}, {r: [] for r in REWARDS}
    for task in tasks:
        cells = {r: column(cache, task, r, seeds) for r in REWARDS}
        for reward, cell in cells.items():
            complete = cell is not None and cell["n"] == cell["of"]
            (measured if complete else missing)[reward].append(
                task.name + (f" ({cell['n']}/{cell['of']} seeds)" if cell and not complete else ""))
        base = cells["baseline"]
        took = f"{base['train_seconds']:.0f} s" if base and base["train_seconds"] else "-"
        lines.append(f"| {task.name} | {task.training.timesteps:,} | {took} | {fmt(cells['random'])} | "
                     f"{fmt(cells['sparse'])} | {fmt(cells['native'])} | {fmt(cells['baseline'])} | "
                     f"{signal(cells['random'], cells['baseline'])[0]} | "
                     f"{beats_sparse(cells['sparse'], cells['baseline'])[0]}{' (note)' * bool(task.training.budget_note)} |")
        if task.training.budget_note:
            notes.append(f"- {task.name}: {' '.join(task.training.budget_note.split())}")
    lines.append("")
    for reward in REWARDS:  # which cells were measured on every seed, and which were not
        done, rest = measured[reward], missing[reward]
        lines.append(f"- {reward}: measured on all {len(seeds)} seeds for {len(done)} of {len(tasks)} tasks"
                     + (f"; not (or not fully) for {', '.join(rest)}" if rest else "") + ".")
    if notes:
        lines += ["", "Why the baseline does not clearly beat the sparse reward at the default budget "
                  "(each task's TRAINING['budget_note']):", ""] + notes
    return "\n".join(lines) + "\n"


def load_cache(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def save_cache(path: Path, cache: dict, key: str) -> None:
    """Adds ``cache[key]`` to the file, keeping what other runs of this script wrote meanwhile."""
    merged = {**load_cache(path), key: cache[key]}
    cache.update(merged)
    write_atomic(path, json.dumps(merged, indent=1, sort_keys=True))  # a kill mid-write leaves the previous cache


LOAD_LINE = "Load average when written:"


def kept_notes(out: Path) -> str:
    """What a person added below the table's last generated line (how loaded the machine was while the cells were
    measured, which cells ran when): kept when the table is written again, since the cache does not hold it."""
    old = out.read_text() if out.is_file() else ""
    _, found, rest = old.partition(LOAD_LINE)
    return rest.partition("\n")[2] if found else ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="", help="comma-separated task names (default: all shipped)")
    parser.add_argument("--rewards", default=",".join(REWARDS), help="columns to fill, in this order")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell (0, 1, ...)")
    parser.add_argument("--workers", type=int, default=1, help="trainings at once (1: figures from one core)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="wall-clock budget of one training (it stops early past it, and the cell says so)")
    parser.add_argument("--timesteps", type=int, default=None,
                        help="one training's budget instead of each task's default (own cache and table)")
    parser.add_argument("--cache", default=None, help="finished cells (JSON; default results/task_table[_N].json)")
    parser.add_argument("--out", default=None,
                        help="the Markdown table ('' for none; default results/task_table[_N].md)")
    parser.add_argument("--report-only", action="store_true", help="print the table from the cache; train nothing")
    args = parser.parse_args(argv)

    if args.timesteps is not None and args.timesteps <= 0:
        parser.error(f"--timesteps must be a positive number of env steps, not {args.timesteps}")
    stem = "task_table" if args.timesteps is None else f"task_table_{args.timesteps}"
    args.cache = args.cache if args.cache is not None else str(RESULTS / f"{stem}.json")
    args.out = args.out if args.out is not None else str(RESULTS / f"{stem}.md")
    tasks = list_tasks()
    if args.timesteps is not None:  # the settings key then differs, so default cells are never taken for these
        tasks = [replace(t, training=replace(t.training, timesteps=args.timesteps)) for t in tasks]
    if args.tasks:
        wanted = [n.strip() for n in args.tasks.split(",") if n.strip()]
        unknown = set(wanted) - {t.name for t in tasks}
        if unknown:
            parser.error(f"unknown tasks: {', '.join(sorted(unknown))}")
        tasks = sorted((t for t in tasks if t.name in wanted), key=lambda t: wanted.index(t.name))  # as given
    rewards = [r.strip() for r in args.rewards.split(",") if r.strip()]
    if set(rewards) - set(REWARDS):
        parser.error(f"--rewards: choose from {', '.join(REWARDS)}")
    seeds = list(range(args.seeds))
    cache_path, out = Path(args.cache), Path(args.out) if args.out else None
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache = load_cache(cache_path)

    def write():
        text = table(tasks, cache, seeds, args.timesteps)
        if out:
            write_atomic(out, text + f"\n{LOAD_LINE} {os.getloadavg()[0]:.2f} (2 cores, shared).\n"
                         + kept_notes(out))
        return text

    def done(task, reward, seed):  # measured with these settings (a failed cell is tried again)
        entry = cache.get(f"{task.name}|{reward}|{seed}", {})
        return entry.get("settings") == settings_key(task) and "error" not in entry

    todo = [(t, r, s) for r in rewards for t in tasks for s in seeds if not done(t, r, s)]
    if args.report_only:
        todo = []
    started = time.monotonic()
    print(f"{len(todo)} cells to measure", file=sys.stderr, flush=True)

    def one(job):
        task, reward, seed = job
        return job, measure(task, reward, seed, args.max_seconds)

    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        for (task, reward, seed), result in pool.map(one, todo):
            key = f"{task.name}|{reward}|{seed}"
            cache[key] = {**result, "settings": settings_key(task), "load": os.getloadavg()[0],
                          "at": time.strftime("%H:%M:%S")}
            save_cache(cache_path, cache, key)
            write()
            value = result.get("error") or f"{result['fitness']:.4g}"
            print(f"[{time.monotonic() - started:6.0f} s] {task.name:<26} {reward:<8} seed {seed}: {value} "
                  f"({result['wall']:.0f} s, load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    print(write())
    return 0


if __name__ == "__main__":
    sys.exit(main())
