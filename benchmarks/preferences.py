"""What a person's preferences buy, measured with a proxy person: hopper should hop with its torso upright, a
criterion its fitness (forward displacement) does not measure.

Two arms, side by side in one run of this script, on the same seeds, with the offline designer (a seed's two
arms run at the same time, so they share the machine's load):

- **without**: ``rewardsmith evolve --task hopper-forward --seed S`` (no preferences);
- **with**: the same plus ``--proxy-person field=torso_angle,stat=abs-mean,prefer=low,error=E`` (after each
  generation a proxy person answers the pairs the run's page would show, preferring the policy whose torso
  stays nearer upright, wrong with probability E) and ``--preference-weight W`` (parents are re-ranked by the
  person's Bradley–Terry score within the fitness's noise band; the offline designer cannot read the prompt,
  so parent choice is the only way the answers reach its search). Where this checkout's evolve has no
  ``--preference-weight``, the script says so: the answers are then recorded but cannot change the search.

For each run it reads the final pick (the run's best by the most evidence, what ``show`` stars and ``export``
writes): its fitness (final scoring on fresh seeds, mean ± std; with ``--quick``, which has no final scoring,
its search score: one seed, or two where it was confirmed) and its hidden criterion, the mean |torso
angle| (rad) over the states of its kept evaluation episodes from the search (the final scoring keeps no
episodes). Lower is more upright. It prints one row per seed and arm, then the means over seeds side by side
and their difference, and writes the table to ``benchmarks/results/preferences.md``.

    nice -n 10 python benchmarks/preferences.py --quick       # tiny budgets: minutes per run
    nice -n 10 python benchmarks/preferences.py               # evolve's defaults on hopper: hours
    python benchmarks/preferences.py --quick --report-only    # the table from the finished runs

Run directories go to ``runs/preferences[-quick]/<arm>-seed<S>``; an interrupted run is resumed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(1, str(HERE.parent))
TASK = "hopper-forward"
FIELD = "torso_angle"
QUICK = {"iterations": 2, "samples": 3, "timesteps": 12_000, "final_seeds": 0}  # search evidence only
TABLE = HERE / "results" / "preferences.md"


def criterion_of(store, cid: str) -> float | None:
    """The hidden criterion of a candidate: mean |torso angle| over its kept evaluation episodes."""
    from rewardsmith.people.proxy import ProxySpec, criterion

    return criterion(store.trajectories(cid), ProxySpec(FIELD, "abs-mean", "low"))


def has_preference_weight() -> bool:
    from rewardsmith.config import SETTINGS

    return "preference_weight" in SETTINGS


def command(arm: str, seed: int, args, runs: Path) -> list[str] | None:
    """The evolve command of one arm and seed (a resume where an earlier run stopped; None: report only)."""
    run_dir = runs / f"{arm}-seed{seed}"
    if args.report_only:
        return None
    if (run_dir / "run.db").is_file():
        return ["evolve", "--resume", str(run_dir)]
    runs.mkdir(parents=True, exist_ok=True)
    options = {**(QUICK if args.quick else {}), "workers": args.workers, "seed": seed}
    cmd = ["evolve", "--task", TASK, "--out", str(run_dir)]
    for k, v in options.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    if arm == "with":
        cmd += ["--proxy-person", f"field={FIELD},stat=abs-mean,prefer=low,error={args.error:g},pairs={args.pairs}"]
        if has_preference_weight():
            cmd += ["--preference-weight", f"{args.weight:g}"]
    return cmd


def run_seed(seed: int, args, runs: Path) -> list[dict]:
    """Both arms of one seed, run at the same time (so they share the machine's load), and what the table
    needs of each."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent), env.get("PYTHONPATH")) if p)
    env.pop("REWARDSMITH_MODEL", None)  # the offline designer, whatever the environment configures
    started = time.monotonic()
    procs = {}
    for arm in ("without", "with"):
        cmd = command(arm, seed, args, runs)
        if cmd is not None:
            procs[arm] = subprocess.Popen([sys.executable, "-m", "rewardsmith.cli", *cmd], env=env, cwd=HERE.parent,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    errors = {}
    for arm, proc in procs.items():
        out, err = proc.communicate()
        if proc.returncode != 0:
            tail = (err or out).strip().splitlines()[-3:]
            errors[arm] = f"evolve exited {proc.returncode}: {' | '.join(tail)[:300]}"
    wall = round(time.monotonic() - started)
    return [{"arm": arm, "seed": seed, "error": errors[arm]} if arm in errors else
            read_run(runs / f"{arm}-seed{seed}", arm, seed, wall) for arm in ("without", "with")]


def read_run(run_dir: Path, arm: str, seed: int, wall: int) -> dict:
    """What the table needs of one run: its pick, the pick's fitness and hidden criterion, the answers."""
    if not (run_dir / "run.db").is_file():
        return {"arm": arm, "seed": seed, "error": "not run"}
    from rewardsmith.archive.selection import run_pick
    from rewardsmith.archive.store import RunStore
    from rewardsmith.people.preferences import run_summary

    store = RunStore(run_dir)
    pick = run_pick(store)
    if pick is None:
        return {"arm": arm, "seed": seed, "error": "no candidate was scored"}
    summary = run_summary(store)
    scored = [c for c in store.candidates() if c.status == "scored"]
    crit = [x for x in (criterion_of(store, c.id) for c in scored) if x is not None]
    return {"arm": arm, "seed": seed, "pick": pick.id, "origin": pick.candidate.origin,
            "fitness": pick.fitness, "fitness_std": pick.fitness_std, "evidence": pick.evidence,
            "criterion": criterion_of(store, pick.id), "all_criterion": statistics.fmean(crit) if crit else None,
            "answers": summary.answers, "tau": summary.tau, "conflicts": len(summary.conflicts),
            "weight": store.config.get("preference_weight"), "wall_seconds": wall, "status": store.meta("status")}


def _f(x, digits=3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def _mean(rows, key):
    xs = [r[key] for r in rows if r.get(key) is not None and math.isfinite(r[key])]
    if not xs:
        return None, None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def table(results: list[dict], args) -> str:
    preset = ("--quick: " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items())) if args.quick \
        else "evolve's defaults"
    weight = f"--preference-weight {args.weight:g}" if has_preference_weight() else \
        "NO --preference-weight in this checkout (answers recorded, search unchanged)"
    lines = [f"Preferences benchmark: `rewardsmith evolve --task {TASK}`, offline designer, {preset}, "
             f"--workers {args.workers}; arm *with*: --proxy-person field={FIELD},stat=abs-mean,prefer=low,"
             f"error={args.error:g},pairs={args.pairs} and {weight}. Pick: the run's best by the most evidence. "
             f"Fitness: forward displacement (m), by its evidence (final: fresh seeds; search/confirmed: the search's seeds). Hidden criterion: mean |torso angle| "
             f"(rad) over the pick's kept search episodes, lower is more upright; 'all' = its mean over every "
             f"scored candidate of the run.", "",
             "| seed | arm | pick | fitness | \\|torso angle\\| of pick | \\|torso angle\\| all | answers | τ | "
             "conflicts | wall s |", "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(results, key=lambda r: (r["seed"], r["arm"] != "without")):
        if "error" in r:
            lines.append(f"| {r['seed']} | {r['arm']} | {r['error']} | | | | | | | |")
            continue
        lines.append(f"| {r['seed']} | {r['arm']} | {r['pick']} ({r['origin']}) | {_f(r['fitness'])} ± "
                     f"{_f(r['fitness_std'], 2)} ({r['evidence']}) | {_f(r['criterion'])} | {_f(r['all_criterion'])} | "
                     f"{r['answers']} | {_f(r['tau'], 2)} | {r['conflicts']} | {r['wall_seconds']} |")
    lines += ["", "| over seeds (mean ± sd) | without | with | with − without |", "|---|---:|---:|---:|"]
    arms = {a: [r for r in results if r["arm"] == a and "error" not in r] for a in ("without", "with")}
    for key, label in (("fitness", "fitness of the pick (m)"), ("criterion", "\\|torso angle\\| of the pick (rad)"),
                       ("all_criterion", "\\|torso angle\\| of all scored (rad)")):
        (m0, s0), (m1, s1) = _mean(arms["without"], key), _mean(arms["with"], key)
        diff = "-" if m0 is None or m1 is None else f"{m1 - m0:+.3g}"
        lines.append(f"| {label} | {_f(m0)} ± {_f(s0, 2)} | {_f(m1)} ± {_f(s1, 2)} | {diff} |")
    lines.append(f"\nseeds with both arms: {len({r['seed'] for r in arms['with']} & {r['seed'] for r in arms['without']})}"
                 f"; measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"tiny budgets: {QUICK}")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--error", type=float, default=0.1, help="the proxy person's error rate (default 0.1)")
    parser.add_argument("--pairs", type=int, default=3, help="pairs the proxy answers per generation (default 3)")
    parser.add_argument("--weight", type=float, default=1.0, help="--preference-weight of the arm with (default 1)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--report-only", action="store_true", help="only the table, from finished runs")
    args = parser.parse_args()
    if not has_preference_weight():
        print("note: this checkout's evolve has no --preference-weight: the proxy's answers are recorded but the "
              "offline designer's parents do not use them", flush=True)
    runs = HERE.parent / "runs" / ("preferences-quick" if args.quick else "preferences")
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for r in run_seed(seed, args, runs):
            results.append(r)
            print(json.dumps(r), flush=True)
    text = table(results, args)
    print(text)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(text)


if __name__ == "__main__":
    main()
