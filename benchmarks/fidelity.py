"""Fidelity of the pick (issue 19): does rewardsmith's default ``evolve`` pick the reward that truly trains best?

For each task (hopper-forward, walker-forward, halfcheetah-forward) a pool of rewards written the way a
language model writes them (different terms and weights, and the usual bugs: an absolute position where a
change was meant, a survival bonus that outweighs progress, a speed that counts going backwards, a control
cost that drowns the task) is scored twice:

- **ground truth**: each reward trained outside the search, long (``--truth-timesteps``, default 1,000,000)
  on ``--truth-seeds`` seeds (default 3, seeds 100, 101, ...: none of the search's or final scoring's), its
  task fitness (mean ± std) cached per reward code, budget and seed in
  ``benchmarks/results/fidelity_truth.json`` so that an interrupted or repeated run trains only what is missing;
- **rewardsmith**: one default ``evolve`` run (halving, confirmation seeds, the final scoring's extra seeds at
  its top-k cut-off and its fresh seeds) where the pool is the generation's proposals, as an LLM run would
  get them (the baseline a reference, not a contender); its scores are each reward's most evidence
  (``selection.evidence_of``) and its pick is ``selection.run_pick``'s.

Printed side by side per pool: the truth and rewardsmith's score and rank of every reward, the rank agreement
(Spearman's rho of rewardsmith's ranking, ``selection.picks``' order, with the truth's means), the regret of the pick (truth of the truly best −
truth of the pick, beside the truth's noise) and the compute the run used (env steps, wall time).
Target (issue 19): regret within the truth's noise on every pool, Spearman ≥ 0.8, at no more than today's
compute.

    python benchmarks/fidelity.py                                     # the figure: many CPU hours (see below)
    python benchmarks/fidelity.py --tasks walker-forward --truth-timesteps 200000 --truth-seeds 2
    python benchmarks/fidelity.py --tasks hopper-forward --timesteps 20000 --truth-timesteps 20000 \\
        --truth-seeds 1 --results /tmp/fidelity-smoke                  # a smoke run: checks the plumbing only

Cost: the full figure trains 8 rewards × 3 tasks × 3 seeds × 1M steps = 72M env steps of MuJoCo PPO for the
truth alone (at ~3,000 steps/s on one core, about 3.5 hours on 2 cores; measured per pool: halfcheetah 40 min,
walker 58 min, hopper 1 h 37 min beside other runs), plus one default ``evolve`` per task (19-27 min each).
A truth at fewer steps or seeds is printed as such, never as the figure. Results below the full size are
labelled with their size in the output file name.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rewardsmith.design.base import Proposal  # noqa: E402
from rewardsmith.loop import EvolveConfig, Evolution  # noqa: E402
from rewardsmith.archive.selection import evidence_of, picks  # noqa: E402
from rewardsmith.archive.candidates import write_atomic  # noqa: E402
from rewardsmith.archive.store import RunStore  # noqa: E402
from rewardsmith.task import load_task  # noqa: E402
from rewardsmith.training.trainer import Budget, train  # noqa: E402

RESULTS = Path(__file__).parent / "results"
FULL_TRUTH = (1_000_000, 3)  # (steps, seeds): the ground truth
TRUTH_SEED = 100             # truth seeds start here: none of the search's (0, 1000) or final scoring's (1..k)

# The legged tasks share their field names (hopper and walker); halfcheetah has pitch and is_upside_down.
LEGGED = {
    # the Gym reward as a model restates it: forward velocity, alive bonus, control cost
    "velocity-alive": '''
import numpy as np

def compute_reward(state, action, next_state):
    velocity = (next_state.x_position - state.x_position) / 0.008
    alive = 1.0 * next_state.is_healthy
    control = -0.001 * float(np.sum(np.square(action)))
    return velocity + alive + control, {"velocity": velocity, "alive": alive, "control": control}
''',
    # over-engineered: upright and height shaping on top of progress
    "shaped-upright": '''
import numpy as np

def compute_reward(state, action, next_state):
    forward = 1.5 * next_state.x_velocity
    upright = 0.5 * float(np.exp(-4.0 * next_state.torso_angle ** 2))
    height = 0.3 * float(np.exp(-10.0 * (next_state.torso_height - 1.25) ** 2))
    smooth = -0.01 * float(np.sum(np.square(next_state.joint_velocities))) / len(next_state.joint_velocities)
    total = forward + upright + height + smooth
    return total, {"forward": forward, "upright": upright, "height": height, "smooth": smooth}
''',
    # bug: the absolute position where its change was meant (pays for having moved, every step after)
    "absolute-position": '''
def compute_reward(state, action, next_state):
    progress = next_state.x_position
    alive = 0.5 * next_state.is_healthy
    return progress + alive, {"progress": progress, "alive": alive}
''',
    # bug: a survival bonus that outweighs progress: standing still is nearly optimal
    "big-alive-bonus": '''
def compute_reward(state, action, next_state):
    alive = 5.0 * next_state.is_healthy
    forward = 0.1 * next_state.x_velocity
    return alive + forward, {"alive": alive, "forward": forward}
''',
    # bug: speed in either direction
    "abs-speed": '''
def compute_reward(state, action, next_state):
    speed = abs(next_state.x_velocity)
    alive = 1.0 * next_state.is_healthy
    return speed + alive, {"speed": speed, "alive": alive}
''',
    # bounded velocity term: saturates early, so running faster earns little
    "tanh-velocity": '''
import numpy as np

def compute_reward(state, action, next_state):
    forward = float(np.tanh(next_state.x_velocity))
    alive = 1.0 * next_state.is_healthy
    return forward + alive, {"forward": forward, "alive": alive}
''',
    # bug: a control cost that drowns the task (a typo'd weight)
    "heavy-control": '''
import numpy as np

def compute_reward(state, action, next_state):
    forward = (next_state.x_position - state.x_position) / 0.008
    control = -1.0 * float(np.sum(np.square(action)))
    return forward + control, {"forward": forward, "control": control}
''',
    # progress only, no survival term: falls forward early
    "progress-only": '''
def compute_reward(state, action, next_state):
    forward = 2.0 * (next_state.x_position - state.x_position) / 0.008
    return forward, {"forward": forward}
''',
}

HALFCHEETAH = {
    "velocity-control": '''
import numpy as np

def compute_reward(state, action, next_state):
    forward = (next_state.x_position - state.x_position) / 0.05
    control = -0.1 * float(np.sum(np.square(action)))
    return forward + control, {"forward": forward, "control": control}
''',
    "shaped-posture": '''
import numpy as np

def compute_reward(state, action, next_state):
    forward = 1.2 * next_state.x_velocity
    level = 0.3 * float(np.exp(-3.0 * next_state.pitch ** 2))
    flipped = -2.0 * next_state.is_upside_down
    return forward + level + flipped, {"forward": forward, "level": level, "flipped": flipped}
''',
    "absolute-position": '''
def compute_reward(state, action, next_state):
    progress = 0.1 * next_state.x_position
    return progress, {"progress": progress}
''',
    "abs-speed": '''
def compute_reward(state, action, next_state):
    speed = abs(next_state.x_velocity)
    return speed, {"speed": speed}
''',
    "tanh-velocity": '''
import numpy as np

def compute_reward(state, action, next_state):
    forward = float(np.tanh(0.5 * next_state.x_velocity))
    return forward, {"forward": forward}
''',
    "heavy-control": '''
import numpy as np

def compute_reward(state, action, next_state):
    forward = (next_state.x_position - state.x_position) / 0.05
    control = -5.0 * float(np.sum(np.square(action)))
    return forward + control, {"forward": forward, "control": control}
''',
    "flip-bonus": '''
def compute_reward(state, action, next_state):
    forward = next_state.x_velocity
    spin = 0.5 * abs(next_state.pitch_rate)
    return forward + spin, {"forward": forward, "spin": spin}
''',
    "height-and-speed": '''
def compute_reward(state, action, next_state):
    forward = next_state.x_velocity
    height = 2.0 * next_state.torso_height
    return forward + height, {"forward": forward, "height": height}
''',
}

POOLS = {"hopper-forward": LEGGED, "walker-forward": LEGGED, "halfcheetah-forward": HALFCHEETAH}


class PoolDesigner:
    """Proposes the pool once, as a model's first generation; repairs nothing."""

    name = "pool"

    def __init__(self, pool: dict[str, str]):
        self.pool = pool

    def propose(self, ctx) -> list[Proposal]:
        return [Proposal(code, "llm", notes=name) for name, code in self.pool.items()]

    def repair(self, proposal, report):
        return None


def code_key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def ground_truth(task, pool: dict, timesteps: int, seeds: list[int], workers: int, cache: Path) -> dict:
    """{name: [fitness per seed]}: each reward trained ``timesteps`` steps on each seed, read from
    ``cache`` where there, trained (and added to it as each finishes) where not. Every missing (reward,
    seed) is one training, ``workers`` at a time across the pool (not per reward, which leaves a core
    idle whenever the seeds do not divide among the workers)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    stored = json.loads(cache.read_text()) if cache.is_file() else {}
    lock = threading.Lock()
    haves = {name: stored.setdefault(f"{task.name}/{code_key(code)}/{timesteps}",
                                     {"reward": name, "seeds": {}})["seeds"] for name, code in pool.items()}
    jobs = [(name, code, haves[name], s) for name, code in pool.items() for s in seeds if str(s) not in haves[name]]

    def one(name, code, have, seed):
        started = time.monotonic()
        score = train(task, code, [seed], Budget(timesteps))
        with lock:
            have[str(seed)] = score.runs[0].fitness
            print(f"  truth {name}: seed {seed} at {timesteps:,} steps in {time.monotonic() - started:.0f} s "
                  f"({score.runs[0].fitness:.4g})", flush=True)
            write_atomic(cache, json.dumps(stored, indent=1, sort_keys=True))  # a kill leaves every finished one

    with ThreadPoolExecutor(max_workers=max(1, workers)) as threads:
        for done in [threads.submit(one, *job) for job in jobs]:
            done.result()
    return {name: [have[str(s)] for s in seeds] for name, have in haves.items()}


def rewardsmith_pick(task, pool: dict, workers: int, timesteps: int | None, root: Path,
                     schedule: str = "halving", no_screen: bool = False) -> dict:
    """One default ``evolve`` generation on the pool (``schedule``: evolve's ``--schedule``, halving by
    default; ``no_screen``: evolve's ``--no-screen``): every reward's most evidence, the pick, and the compute
    used."""
    # an LLM run's settings (the baseline a reference, not a contender); no model is ever called
    config = EvolveConfig(task=task.name, iterations=1, samples=len(pool), workers=workers, timesteps=timesteps,
                          designer="llm", model="scripted/pool", schedule=schedule,
                          no_screen=no_screen)
    store = RunStore.create(root / task.name, asdict(config), task.path)
    started = time.monotonic()
    Evolution(store, task, config, PoolDesigner(pool)).run()
    seconds = time.monotonic() - started
    members = [c for c in store.candidates() if c.origin == "llm"]
    order = picks(members, store.final())  # the rule's ranking, best first (the pick is its first)
    # a candidate's steps_spent counts its confirmation seed too (confirmation.py, final.boundary_seeds)
    steps = (sum(c.steps_spent or 0 for c in store.candidates())
             + sum(r.steps_spent or 0 for r in store.final_runs()))
    def name(c):  # the pool's name, before any note the run added (halving's after "; ", a near-duplicate's on a line)
        return (c.notes or "").split("\n")[0].split(";")[0]

    return {"scores": {name(p.candidate): p.fitness for p in order},
            "evidence": {name(p.candidate): f"{p.evidence}, {p.seeds} seed(s)" for p in order},
            "rank": [name(p.candidate) for p in order], "pick": name(order[0].candidate) if order else None,
            "rejected": [name(c) for c in members if evidence_of(c, store.final()) is None],
            # why each of those has no score: the start of its reason (screening's and why, a duplicate, a failure)
            "why": {name(c): f"{c.status}: {' '.join((c.reason or '').splitlines()[:2])[:240]}" for c in members
                    if evidence_of(c, store.final()) is None},
            "env_steps": steps, "seconds": seconds}


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rho (average ranks for ties); None for fewer than 3 pairs."""
    if len(xs) < 3:
        return None

    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    den = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return num / den if den else None


def compare(task_name: str, args) -> dict:
    task = load_task(task_name)
    pool = POOLS[task_name]
    if args.pool_size:
        pool = dict(list(pool.items())[:args.pool_size])
    seeds = [TRUTH_SEED + i for i in range(args.truth_seeds)]
    print(f"{task_name}: {len(pool)} rewards; truth at {args.truth_timesteps:,} steps × {len(seeds)} seeds")
    truth = ground_truth(task, pool, args.truth_timesteps, seeds, args.workers, args.results / "fidelity_truth.json")
    with tempfile.TemporaryDirectory() as scratch:
        ours = rewardsmith_pick(task, pool, args.workers, args.timesteps, Path(scratch), args.schedule,
                                args.no_screen)
    mean = {n: statistics.fmean(v) for n, v in truth.items()}
    std = {n: statistics.pstdev(v) if len(v) > 1 else None for n, v in truth.items()}
    best = max(mean, key=mean.get)
    scored = [n for n in ours["rank"] if n in mean]
    # the rule's order, not the raw scores: a final-scoring mean and a lower rung's score do not compare
    rho = spearman([-ours["rank"].index(n) for n in scored], [mean[n] for n in scored])
    regret = mean[best] - mean[ours["pick"]] if ours["pick"] else None
    noise = math.hypot(std[best] or 0.0, std[ours["pick"]] or 0.0) if ours["pick"] and len(seeds) > 1 else None
    print(f"{'reward':<20} {'truth (mean ± std)':>22} {'rewardsmith':>12}  evidence")
    for n in sorted(mean, key=mean.get, reverse=True):
        ours_score = ours["scores"].get(n)
        print(f"{n:<20} {mean[n]:>12.4g} ± {std[n] or 0:<7.2g} "
              f"{'rejected' if ours_score is None else f'{ours_score:.4g}':>12}  "
              f"{ours['evidence'].get(n, '') or ours.get('why', {}).get(n, '')}"
              f"{'  <- pick' if n == ours['pick'] else ''}{'  <- truly best' if n == best else ''}")
    full = (args.truth_timesteps, args.truth_seeds) >= FULL_TRUTH
    print(f"  Spearman {'-' if rho is None else f'{rho:.2f}'}; regret {regret:.4g}"
          f"{'' if noise is None else f' (truth noise {noise:.2g}: ' + ('within' if regret <= noise else 'BEYOND') + ')'}"
          f"; compute {ours['env_steps']:,} env steps, {ours['seconds']:.0f} s"
          f"{'' if full else f'  [truth below the figure size {FULL_TRUTH[0]:,} × {FULL_TRUTH[1]}: not the figure]'}")
    return {"task": task_name, "truth_timesteps": args.truth_timesteps, "truth_seeds": seeds, "truth": truth,
            "rewardsmith": ours, "spearman": rho, "regret": regret, "truth_noise": noise, "truly_best": best,
            "full_size": full, "schedule": args.schedule, "screening": not args.no_screen}


def write_rows(out: Path, rows: list[dict]) -> int:
    """Writes ``rows`` to ``out`` beside the rows of other tasks already there (a run for one pool never erases
    another pool's figure; a task's new row replaces its old one); returns how many were kept."""
    new = {r["task"] for r in rows}
    kept = [r for r in (json.loads(out.read_text()) if out.is_file() else []) if r["task"] not in new]
    write_atomic(out, json.dumps(kept + rows, indent=1))  # a kill mid-write leaves the previous file
    return len(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(POOLS), help="comma-separated tasks (default: all three pools)")
    parser.add_argument("--truth-timesteps", type=int, default=FULL_TRUTH[0],
                        help="env steps per ground-truth training (the figure: 1,000,000)")
    parser.add_argument("--truth-seeds", type=int, default=FULL_TRUTH[1], help="ground-truth seeds per reward")
    parser.add_argument("--timesteps", type=int, default=None,
                        help="the evolve run's budget (default: the task's, as `evolve` uses it)")
    parser.add_argument("--schedule", choices=("halving", "full"), default="halving",
                        help="the evolve run's --schedule (default halving, evolve's default): full trains every reward "
                             "to the budget, for comparison")
    parser.add_argument("--no-screen", action="store_true",
                        help="the evolve run's --no-screen: every reward the critic accepts trains (output *_noscreen)")
    parser.add_argument("--pool-size", type=int, default=None, help="only the first N rewards of each pool")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the truth cache and the output go")
    args = parser.parse_args()
    rows = [compare(name.strip(), args) for name in args.tasks.split(",") if name.strip()]
    size = "" if all(r["full_size"] for r in rows) else f"_truth{args.truth_timesteps}x{args.truth_seeds}"
    out = args.results / (f"fidelity{size}{'' if args.schedule == 'halving' else '_' + args.schedule}"
                          f"{'_noscreen' if args.no_screen else ''}.json")
    kept = write_rows(out, rows)
    print(f"wrote {out} ({len(rows)} new, {kept} kept)")


if __name__ == "__main__":
    main()
