"""Eureka's headline table for rewardsmith: per task, the default ``evolve`` (offline designer, or ``--model``)
and its pick's final multi-seed fitness beside the human baseline's and the sparse reward's.

For every task (``--tasks``, default all 15, cheapest first so that a partial run covers the most), one
``rewardsmith evolve --task T`` run (a subprocess, exactly as a user runs it; ``--model`` / ``--api-base`` to use a
model, ``--set KEY=VALUE`` for any other evolve option, e.g. ``--set final_seeds=5``, so a before/after comparison
is two runs of this script with different ``--results``). Its final scoring re-trains the pick, the baseline and
the task's sparse reward on fresh seeds; the table gives, per task:

- baseline, sparse, pick: final fitness, mean ± std over the fresh seeds;
- HNS, the human-normalised score (pick − sparse) / |baseline − sparse|, only where the baseline and the sparse
  reward are beyond their noise (else "baseline ≈ sparse: raw", and the raw columns are the result);
- beats baseline: whether the pick's mean exceeds the baseline's by more than their stds combined
  (√(std_pick² + std_baseline²), both on ≥ 2 seeds), "is the baseline" where the pick is the baseline itself;
- the wall time of the whole run, and the load average around it (the machine is shared).

Each task's result goes to ``<results>/<task>.json`` as soon as it finishes, and the table of the whole results
directory (the tasks run now beside every task done there before) to ``results/hns_table.md`` for the default
``--results`` or ``<results>.md`` beside another (``--out`` to choose); a re-run skips tasks already done
with the same settings (task training settings, evolve options, model) and resumes an interrupted run
directory (``evolve --resume``). ``--quick`` is a smaller preset (one generation of 4 samples, the final
scoring of the pick alone on 2 seeds, each task's default training budget), labelled as such in the table.

    nice -n 10 python benchmarks/hns_table.py --quick                      # as many tasks as time allows
    python benchmarks/hns_table.py --quick --report-only                   # the table from the results alone
    python benchmarks/hns_table.py --tasks hopper-forward,walker-forward   # defaults: hours per MuJoCo task
    python benchmarks/hns_table.py --model openai/gpt-4o-mini --results benchmarks/results/hns-gpt4o-mini
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if str(HERE.parent) not in sys.path:  # a checkout's package, also where the editable install points elsewhere
    sys.path.insert(1, str(HERE.parent))
RESULTS = HERE / "results" / "hns"
TABLE = HERE / "results" / "hns_table.md"
RUNS = HERE.parent / "runs" / "hns"  # run directories (runs/ is kept out of git)
QUICK = {"iterations": 1, "samples": 4, "final_top": 1, "final_seeds": 2}
WORKERS = 2


def parse_sets(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs as evolve settings (by name, ``final_seeds`` or ``final-seeds``); an unknown key or a
    malformed pair is an error naming it."""
    from rewardsmith.config import SETTINGS

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        name = key.strip().replace("-", "_")
        if not sep or not name:
            raise SystemExit(f"error: --set {pair!r}: expected KEY=VALUE, e.g. --set final_seeds=5")
        if name not in SETTINGS or not SETTINGS[name].option or name in ("task", "out", "resume"):
            known = ", ".join(n for n, s in SETTINGS.items() if s.option)
            raise SystemExit(f"error: --set {pair!r}: {name!r} is not an evolve option; options: {known}")
        out[name] = value.strip()
    return out


def evolve_options(settings: dict[str, str]) -> list[str]:
    """Command-line options for ``rewardsmith evolve`` from settings by name (a bool: its flag when true)."""
    from rewardsmith.config import SETTINGS, option_name

    args = []
    for name, value in sorted(settings.items()):
        if SETTINGS[name].kind is bool:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise SystemExit(f"error: --set {name}={value!r}: expected true or false")
            if value.lower() in ("true", "1", "yes"):
                args.append(option_name(name))
        else:
            args += [option_name(name), value]
    return args


def settings_of(args, sets: dict[str, str]) -> dict[str, str]:
    """The evolve settings this run of the script uses (the preset, then ``--set``, then the model)."""
    settings = {k: str(v) for k, v in (QUICK if args.quick else {}).items()}
    settings["workers"] = str(args.workers)
    settings.update(sets)
    if args.model:
        settings["model"] = args.model
    if args.api_base:
        settings["api_base"] = args.api_base
    return settings


def result_key(task, settings: dict[str, str]) -> str:
    """What a task's result depends on: its training settings and rewards, and the evolve settings (the number
    of workers only changes the time, but the time is a column, so it counts too)."""
    from task_table import settings_key

    blob = json.dumps([settings_key(task), settings], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE.parent, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def run_task(task, settings: dict[str, str], key: str, runs: Path) -> dict:
    """One evolve run for ``task`` (resumed where an earlier one was interrupted) and what the table needs."""
    run_dir = runs / f"{task.name}-{key}"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent), env.get("PYTHONPATH")) if p)
    if "model" not in settings:
        env.pop("REWARDSMITH_MODEL", None)  # the offline designer, whatever the environment configures
    if (run_dir / "run.db").is_file():
        cmd = [sys.executable, "-m", "rewardsmith.cli", "evolve", "--resume", str(run_dir)]
        resumed = True
    else:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "rewardsmith.cli", "evolve", "--task", task.name, "--out", str(run_dir),
               *evolve_options(settings)]
        resumed = False
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=HERE.parent)
    wall = time.monotonic() - started
    out = {"task": task.name, "key": key, "settings": settings, "command": " ".join(cmd[3:]),
           "resumed": resumed, "wall_seconds": round(wall, 1), "load_before": round(load_before, 2),
           "load_after": round(os.getloadavg()[0], 2), "commit": git_commit(),
           "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "timesteps": task.training.timesteps}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {**out, "error": f"evolve exited {proc.returncode}: {' | '.join(tail)[:400]}"}
    from rewardsmith.archive.store import RunStore

    summary = RunStore(run_dir).final()
    if summary is None:
        return {**out, "error": "the run has no final scoring (its meta 'final' is empty)"}
    entry = summary.entry
    pick = entry(summary.best) if summary.best else None
    base, sparse = summary.by_role("baseline"), summary.by_role("sparse")
    return {**out, "final_seeds": list(summary.seeds), "final_timesteps": summary.timesteps,
            "pick": _entry(pick), "baseline": _entry(base), "sparse": _entry(sparse),
            "normalization": summary.normalization, "normalization_note": summary.normalization_note}


def _entry(e) -> dict | None:
    if e is None:
        return None
    return {"id": e.id, "role": e.role, "seeds": e.seeds, "per_seed": list(e.per_seed), "mean": e.fitness_mean,
            "std": e.fitness_std, "normalized": e.normalized, "search_fitness": e.search_fitness}


def beats(pick: dict | None, base: dict | None) -> str:
    """Whether the pick beats the baseline beyond noise (their final stds combined)."""
    if not pick or not base or pick["mean"] is None or base["mean"] is None:
        return "-"
    if pick["id"] == base["id"]:
        return "is the baseline"
    if min(pick["seeds"], base["seeds"]) < 2:
        return "unknown (1 seed)"
    gap, noise = pick["mean"] - base["mean"], math.hypot(pick["std"] or 0.0, base["std"] or 0.0)
    return f"{'yes' if gap > noise else 'no'} ({gap:+.3g} vs noise {noise:.2g})"


def fmt(e: dict | None) -> str:
    if not e or e["mean"] is None:
        return "-"
    return f"{e['mean']:.3g} ± {e['std'] or 0:.2g}"


def table(tasks, results: dict[str, dict], args, settings: dict[str, str]) -> str:
    preset = ("**--quick preset**: " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items())
              + " (each task's default training budget)") if args.quick else "evolve's defaults"
    extra = {k: v for k, v in settings.items() if not (args.quick and k in QUICK) and k != "workers"}
    designer = f"model {settings['model']}" if "model" in settings else "offline designer"
    lines = [f"HNS table: `rewardsmith evolve --task T` with the {designer}, {preset}"
             + (f", and {', '.join(f'{k}={v}' for k, v in extra.items())}" if extra else "")
             + f", --workers {settings['workers']}. Final fitness on fresh seeds, mean ± std. HNS = (pick − sparse) / "
             "|baseline − sparse|, only where baseline and sparse differ beyond their stds combined. Beats "
             "baseline: pick − baseline > √(std_pick² + std_baseline²).", "",
             "| task | budget | baseline | sparse | pick | HNS | beats baseline | wall time (load) |",
             "|---|---:|---:|---:|---:|---:|---|---:|"]
    done, missing, failed, wins = [], [], [], 0
    for task in tasks:
        r = results.get(task.name)
        if r is None:
            missing.append(task.name)
            continue
        if "error" in r:
            failed.append(task.name)
            lines.append(f"| {task.name} | {r['timesteps']:,} | failed: {r['error'][:120]} | | | | | "
                         f"{r['wall_seconds']:.0f} s |")
            continue
        done.append(task.name)
        pick = r["pick"]
        hns = f"{pick['normalized']:.2f}" if pick and pick.get("normalized") is not None else "baseline ≈ sparse: raw"
        verdict = beats(pick, r["baseline"])
        wins += verdict.startswith("yes")
        who = f" ({pick['id']})" if pick else ""
        lines.append(f"| {task.name} | {r['timesteps']:,} | {fmt(r['baseline'])} | {fmt(r['sparse'])} | "
                     f"{fmt(pick)}{who} | {hns} | {verdict} | {r['wall_seconds'] / 60:.1f} min "
                     f"({r['load_before']:.1f}–{r['load_after']:.1f}) |")
    lines += ["", f"The pick beats the baseline beyond noise on {wins} of {len(done)} tasks run."]
    if missing:
        lines.append(f"Not run ({len(missing)}): {', '.join(missing)}.")
    if failed:
        lines.append(f"Failed ({len(failed)}): {', '.join(failed)}.")
    commits = sorted({r.get("commit") or "?" for r in results.values()})
    lines.append(f"Code: commit(s) {', '.join(commits)}; machine: {os.cpu_count()} cores, shared (load average "
                 "before–after each run in the last column).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", help="comma-separated task names (default: all shipped tasks)")
    parser.add_argument("--model", help="a litellm model string: the LLM designer instead of the offline one")
    parser.add_argument("--api-base", help="an OpenAI-compatible server for --model")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an evolve option by name, e.g. final_seeds=5 (repeatable)")
    parser.add_argument("--quick", action="store_true", help=f"a smaller preset: {QUICK}")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where per-task results go")
    parser.add_argument("--out", type=Path, default=None,
                        help="the Markdown table (default: results/hns_table.md for the default --results, else "
                             "<results>.md beside that directory, so another table never overwrites this one)")
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the run directories go")
    parser.add_argument("--report-only", action="store_true", help="print the table from the results alone")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = TABLE if args.results.resolve() == RESULTS.resolve() else args.results.parent / f"{args.results.name}.md"

    from rewardsmith.archive.candidates import write_atomic
    from rewardsmith.task import list_tasks, load_task

    def cheapest_first(tasks):
        return sorted(tasks, key=lambda t: (t.training.estimated_seconds() or math.inf, t.name))

    tasks = cheapest_first([load_task(n.strip()) for n in args.tasks.split(",")] if args.tasks else list_tasks())
    settings = settings_of(args, parse_sets(args.set))
    args.results.mkdir(parents=True, exist_ok=True)

    def finished(task) -> dict | None:  # its result with these settings (a failure is tried again unless reporting)
        path = args.results / f"{task.name}.json"
        old = json.loads(path.read_text()) if path.is_file() else None
        ok = old is not None and old.get("key") == result_key(task, settings)
        return old if ok and ("error" not in old or args.report_only) else None

    # the written table is the whole results directory's: the tasks run now and every shipped task done before
    named = {t.name for t in tasks}
    earlier = {t.name: (t, r) for t in list_tasks() if t.name not in named and (r := finished(t))}
    shown = cheapest_first(tasks + [t for t, _ in earlier.values()])
    results = {name: r for name, (_, r) in earlier.items()}
    for task in tasks:
        key = result_key(task, settings)
        path = args.results / f"{task.name}.json"
        old = finished(task)
        if old is not None:
            results[task.name] = old
            continue
        if args.report_only:
            continue
        print(f"{time.strftime('%H:%M:%S')} {task.name}: evolve ...", flush=True)
        result = run_task(task, settings, key, args.runs)
        write_atomic(path, json.dumps(result, indent=1) + "\n")  # a kill mid-write leaves the previous result
        results[task.name] = result
        print(f"{time.strftime('%H:%M:%S')} {task.name}: {result.get('error') or fmt(result['pick'])} "
              f"in {result['wall_seconds']:.0f} s", flush=True)
        write_atomic(args.out, table(shown, results, args, settings))
    if not args.report_only:
        write_atomic(args.out, table(shown, results, args, settings))
    print(table(tasks, results, args, settings))


if __name__ == "__main__":
    main()
