"""Successive halving against full training on fixed pools of candidate rewards, side by side, on three tasks.

Each pool (hand-written rewards from excellent to useless and misleading) is scored twice on the same seeds:

- full training (``--schedule full``, Eureka's way): every reward trains the whole budget on every
  seed; the pick is the best mean fitness over the seeds;
- successive halving as the evolve loop runs it: the task's baseline trains first on the full budget
  (its training curve places the rungs: ``schedule.place_rungs``), then the pool goes through the loop's
  own ``PoolTrainer`` with its ``CutRule`` (no candidate is stopped at a rung whose scores are not
  separated from the random policy or from each other); the pick is the one that reaches the full budget.

It prints both picks, each rung's decision, the fitness table and the env steps each spent (the
baseline's training is not counted: every run trains it, with or without halving):

    python benchmarks/halving.py --seeds 3                          # the figure: about 80 min on 2 cores
    python benchmarks/halving.py                                    # the three pools, seed 0
    python benchmarks/halving.py --tasks mountaincar-reach --timesteps 30000   # at its default budget: one rung

Budgets: acrobot and halfcheetah train their defaults (100,000 and 300,000 steps); mountain car trains
300,000 (``BUDGETS``), ten times its default. At its default the baseline clears the random policy only in
its last rollout, so there is one rung and halving trains everyone fully (100 % of the steps, by design: a
task's default budget is what its baseline needs to learn); halving saves compute only where the budget
runs well past that point. ``--timesteps N`` sets every task's budget, ``--timesteps task=N,...`` some.

The issue's figure: halving picks the same best reward as full training on two tasks, mountain car among
them, while spending at most 50 % of its training env steps. Where full training cannot order its best
rewards (their means differ by less than their evaluation noise), a pick tied with its winner counts, and
the line says so; use ``--seeds 3`` for picks that one seed's luck does not decide. Evaluation episodes (``eval_episodes`` per
seed at every rung) are counted separately.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import tempfile
import time
from concurrent.futures import as_completed
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rewardsmith.design.offline import OfflineDesigner  # noqa: E402
from rewardsmith.loop import EvolveConfig, Evolution  # noqa: E402
from rewardsmith.training.executor import LocalExecutor  # noqa: E402
from rewardsmith.training.pool import PoolTrainer  # noqa: E402
from rewardsmith.training.schedule import CutRule, episode_noise, random_margin  # noqa: E402
from rewardsmith.archive.store import RunStore  # noqa: E402
from rewardsmith.task import load_task  # noqa: E402
from rewardsmith.training.trainer import Budget  # noqa: E402

HEADER = "import numpy as np\n\n"
MOUNTAINCAR = {
    # mechanical energy gained per step (potential + kinetic), a flag bonus, the native action cost
    "energy": '''
def compute_reward(state, action, next_state):
    def energy(s):
        return 0.0025 * np.sin(3.0 * s.position) + 0.5 * s.velocity ** 2
    gain = 100.0 * (energy(next_state) - energy(state)) / 0.0025
    flag = 10.0 * next_state.at_flag
    effort = -0.1 * float(np.sum(np.square(action)))
    return gain + flag + effort, {"energy_gain": gain, "flag": flag, "effort": effort}
''',
    # the same shaping, ten times weaker: the action cost weighs more
    "energy-weak": '''
def compute_reward(state, action, next_state):
    def energy(s):
        return 0.0025 * np.sin(3.0 * s.position) + 0.5 * s.velocity ** 2
    gain = 10.0 * (energy(next_state) - energy(state)) / 0.0025
    flag = 10.0 * next_state.at_flag
    effort = -0.1 * float(np.sum(np.square(action)))
    return gain + flag + effort, {"energy_gain": gain, "flag": flag, "effort": effort}
''',
    # speed is good: rewards swinging, but not where the car swings to
    "speed": '''
def compute_reward(state, action, next_state):
    speed = 100.0 * abs(next_state.velocity)
    flag = 10.0 * next_state.at_flag
    return speed + flag, {"speed": speed, "flag": flag}
''',
    # gaining height on either hill: a potential without the kinetic part
    "height-gain": '''
def compute_reward(state, action, next_state):
    climb = 100.0 * (next_state.height - state.height)
    flag = 10.0 * next_state.at_flag
    return climb + flag, {"climb": climb, "flag": flag}
''',
    # progress to the right only: pushing right up the slope never builds momentum
    "progress-right": '''
def compute_reward(state, action, next_state):
    progress = 100.0 * (next_state.position - state.position)
    flag = 10.0 * next_state.at_flag
    return progress + flag, {"progress": progress, "flag": flag}
''',
    # closeness to the flag: the car parks as far up the right slope as the engine alone gets it
    "distance": '''
def compute_reward(state, action, next_state):
    closeness = -next_state.distance_to_flag
    flag = 10.0 * next_state.at_flag
    return closeness + flag, {"closeness": closeness, "flag": flag}
''',
    # the environment's own reward: the action cost wins before the flag is ever found
    "native-like": '''
def compute_reward(state, action, next_state):
    flag = 100.0 * next_state.at_flag
    effort = -0.1 * float(np.sum(np.square(action)))
    return flag + effort, {"flag": flag, "effort": effort}
''',
    # success alone
    "sparse": '''
def compute_reward(state, action, next_state):
    flag = 1.0 * next_state.at_flag
    return flag, {"flag": flag}
''',
    # misleading: rewards the left hill
    "go-left": '''
def compute_reward(state, action, next_state):
    left = -next_state.position
    return left, {"left": left}
''',
}

ACROBOT = {
    # the environment's own reward: every step below the bar costs, so the quickest swing-up pays most
    "step-cost": '''
def compute_reward(state, action, next_state):
    step_cost = 0.0 if next_state.tip_above_bar > 0.5 else -1.0
    return step_cost, {"step_cost": step_cost}
''',
    # height gained by the tip (a potential difference) and a bonus at the bar (the task's baseline)
    "height-gain": '''
def compute_reward(state, action, next_state):
    gain = 10.0 * (next_state.tip_height - state.tip_height)
    bar = 5.0 * next_state.tip_above_bar
    return gain + bar, {"gain": gain, "bar": bar}
''',
    # the tip's height every step: positive only near the top, so the swing-up is found, then lingered at
    "height": '''
def compute_reward(state, action, next_state):
    height = 0.5 * next_state.tip_height
    return height, {"height": height}
''',
    # only the first link's height: half the picture
    "elbow": '''
def compute_reward(state, action, next_state):
    elbow = next_state.elbow_height
    return elbow, {"elbow": elbow}
''',
    # success alone
    "sparse": '''
def compute_reward(state, action, next_state):
    success = 1.0 * next_state.tip_above_bar
    return success, {"success": success}
''',
    # misleading: paid to stay alive, so reaching the bar (which ends the episode) is never worth it
    "alive": '''
def compute_reward(state, action, next_state):
    alive = 1.0
    return alive, {"alive": alive}
''',
    # misleading: paid to keep still
    "still": '''
def compute_reward(state, action, next_state):
    calm = -0.1 * (abs(next_state.theta1_velocity) + abs(next_state.theta2_velocity))
    return calm, {"calm": calm}
''',
}
HALFCHEETAH = {
    # the environment's own reward: forward speed, less a control cost (the task's baseline)
    "native": '''
def compute_reward(state, action, next_state):
    forward = (next_state.x_position - state.x_position) / 0.05
    control = -0.1 * float(np.sum(np.square(action)))
    return forward + control, {"forward": forward, "control": control}
''',
    # forward speed alone
    "forward": '''
def compute_reward(state, action, next_state):
    forward = (next_state.x_position - state.x_position) / 0.05
    return forward, {"forward": forward}
''',
    # the control cost ten times heavier: moving costs about what it gains
    "heavy-effort": '''
def compute_reward(state, action, next_state):
    forward = (next_state.x_position - state.x_position) / 0.05
    control = -1.0 * float(np.sum(np.square(action)))
    return forward + control, {"forward": forward, "control": control}
''',
    # speed saturates at 1 m/s: nothing is gained by running faster
    "saturated": '''
def compute_reward(state, action, next_state):
    forward = float(np.tanh(next_state.x_velocity))
    return forward, {"forward": forward}
''',
    # speed in either direction: running backward pays as well
    "speed": '''
def compute_reward(state, action, next_state):
    speed = abs(next_state.x_position - state.x_position) / 0.05
    return speed, {"speed": speed}
''',
    # misleading: a tidy posture, level and at standing height, and no reason to move
    "posture": '''
def compute_reward(state, action, next_state):
    level = -abs(next_state.pitch)
    height = -abs(next_state.torso_height - 0.7)
    return level + height, {"level": level, "height": height}
''',
    # the wrong way
    "backward": '''
def compute_reward(state, action, next_state):
    backward = -(next_state.x_position - state.x_position) / 0.05
    return backward, {"backward": backward}
''',
}
POOLS = {"mountaincar-reach": MOUNTAINCAR, "acrobot-swingup": ACROBOT, "halfcheetah-forward": HALFCHEETAH}
BUDGETS = {"mountaincar-reach": 300_000}  # where halving has room for rungs (module doc); others: the task's own


def full_training(task, pool: dict, seeds: list[int], timesteps: int, workers: int) -> dict:
    """Every reward × seed trained on the whole budget: fitness per reward and the env steps spent."""
    executor = LocalExecutor(workers)
    futures = {executor.submit(task, HEADER + code, seed, Budget(timesteps)): (name, seed)
               for name, code in pool.items() for seed in seeds}
    fitness = {name: {} for name in pool}
    episodes = {name: [] for name in pool}
    steps = evaluation_steps = 0
    for future in as_completed(futures):
        name, seed = futures[future]
        result = future.result()
        fitness[name][seed] = result.fitness
        episodes[name] += result.episode_fitness
        steps += result.trained_steps
        evaluation_steps += sum(e.length for e in result.episodes)
    executor.close()
    return {"fitness": {n: [f[s] for s in seeds] for n, f in fitness.items()}, "steps": steps,
            "noise": {n: episode_noise(v) for n, v in episodes.items()}, "evaluation_steps": evaluation_steps}


def halving(task, pool: dict, seeds: list[int], timesteps: int, workers: int, eta: int, min_fraction: float,
            root: Path) -> dict:
    """The pool as the evolve loop trains a generation: the baseline first (its curve places the rungs),
    then the loop's PoolTrainer and CutRule. Which reward survives, the decisions, the env steps spent."""
    config = EvolveConfig(task=task.name, timesteps=timesteps, workers=workers, schedule="halving",
                          halving_eta=eta, halving_min_fraction=min_fraction, final_seeds=0, keep_trajectories=0,
                          seed=seeds[0])
    store = RunStore.create(root / f"halving-{task.name}", asdict(config), task.path)
    evolution = Evolution(store, task, config, OfflineDesigner())
    try:
        store.add_candidate(0, task.baseline, "baseline")
        evolution.train_generation(0)  # the baseline on the full budget, as every run starts
        ids = {store.add_candidate(1, HEADER + code, "llm", notes=name).id: name for name, code in pool.items()}
        rungs = evolution.trainer.place_rungs(1)
        random_fitness = evolution.reference.fitness()
        trainer = PoolTrainer(store, evolution.trainer.training(), evolution.recorder, list(ids), rungs, eta, seeds,
                              CutRule(eta, random_fitness, floor=random_margin(random_fitness)))
        trainer.run()
    finally:
        evolution.close()
    candidates = {ids[c.id]: c for c in store.candidates(generation=1)}
    failed = {name: c.reason for name, c in candidates.items() if c.status != "scored"}
    if failed:
        raise SystemExit("trainings failed:\n" + "\n".join(f"{n}: {r}" for n, r in failed.items()))
    winners = [name for name, c in candidates.items() if c.result.budget_fraction >= 1]
    winner = max(winners, key=lambda n: candidates[n].fitness)
    legs = [leg for c in candidates.values() for s in seeds for leg in store.legs(c.id, s).values()]
    reached = {name: c.result.halving.rung if c.result.halving else len(rungs) - 1
               for name, c in candidates.items()}
    names = {cid: name for cid, name in ids.items()}
    decisions = [f"rung {d.rung + 1} ({d.timesteps:,} steps): {d.action}: "
                 f"{_named(d.reason, names)}" for d in trainer.decisions]
    return {"winner": winner, "rungs": rungs, "reached": reached, "decisions": decisions,
            "random_fitness": random_fitness, "baseline": store.baseline().fitness,
            "fitness": {name: c.fitness for name, c in candidates.items()},
            "steps": sum(c.steps_spent for c in candidates.values()),
            "legs": len(legs), "evaluation_steps": sum(leg.evaluation_steps for leg in legs)}


def _named(text: str, names: dict) -> str:
    for cid, name in sorted(names.items(), key=lambda kv: -len(kv[0])):
        text = re.sub(rf"\b{cid}\b", name, text)
    return text


def compare(task_name: str, args) -> bool:
    """One task's comparison, printed; whether it meets the figure (same pick, at most 50 % of the steps)."""
    task = load_task(task_name)
    pool = POOLS[task_name]
    timesteps = args.timesteps.get(task_name) or task.training.timesteps
    seeds = list(range(args.seeds))
    min_fraction = float(Fraction(args.min_fraction))
    print(f"\n=== {task.name}: {len(pool)} rewards, {timesteps:,} steps, seeds {seeds}, {args.workers} workers; "
          f"halving eta {args.eta}, min fraction {args.min_fraction}; load average {os.getloadavg()[0]:.2f}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="rewardsmith-halving-") as scratch:
        started = time.monotonic()
        cut = halving(task, pool, seeds, timesteps, args.workers, args.eta, min_fraction, Path(scratch))
        cut["wall"] = time.monotonic() - started
        print(f"halving done in {cut['wall']:.0f} s (rungs {cut['rungs']}; baseline {cut['baseline']:.3f}, "
              f"random policy {cut['random_fitness']:.3f})", flush=True)
    for line in cut["decisions"]:
        print(f"  {line}")
    started = time.monotonic()
    full = full_training(task, pool, seeds, timesteps, args.workers)
    full["wall"] = time.monotonic() - started
    print(f"full training done in {full['wall']:.0f} s", flush=True)

    means = {n: statistics.fmean(v) for n, v in full["fitness"].items()}
    full_pick = max(means, key=means.get)
    print(f"\n{'reward':<16}{'full: fitness mean ± std':>26}{'halving: stopped at':>22}{'fitness there':>15}")
    for name in sorted(pool, key=lambda n: -means[n]):
        values = full["fitness"][name]
        rung = cut["reached"][name]
        print(f"{name:<16}{means[name]:>17.3f} ± {statistics.pstdev(values):<6.3f}"
              f"{cut['rungs'][rung]:>16,} steps{cut['fitness'][name]:>15.3f}")
    ratio = cut["steps"] / full["steps"]
    same = cut["winner"] == full_pick
    # full training itself cannot order rewards whose means differ by less than their evaluation noise
    gap = means[full_pick] - means[cut["winner"]]
    noise = math.hypot(full["noise"][full_pick], full["noise"][cut["winner"]])
    tied = [n for n in pool if means[full_pick] - means[n] <= math.hypot(full["noise"][full_pick], full["noise"][n])]
    print(f"\npick of full training (best mean fitness over {len(seeds)} seed{'s' * (len(seeds) > 1)}): {full_pick}"
          f"{f' (tied within its noise with: {chr(44).join(n for n in tied if n != full_pick)})' if len(tied) > 1 else ''}")
    print(f"pick of successive halving (the best that reached the full budget): {cut['winner']}")
    print(f"same pick: {'yes' if same else 'NO'}" + ("" if same else (
        f" ({cut['winner']} trails {full_pick} by {gap:.3g} in full training, "
        f"{'within' if gap <= noise else 'MORE than'} their evaluation noise {noise:.2g}: "
        f"{'tied, full training cannot order them' if gap <= noise else 'a worse pick'})")))
    print(f"training env steps: full {full['steps']:,}, halving {cut['steps']:,} = {ratio:.1%} of full "
          f"({'within' if ratio <= 0.50 else 'ABOVE'} the 50 % target)")
    print(f"evaluation env steps (not counted above): full {full['evaluation_steps']:,} "
          f"({len(pool) * len(seeds)} evaluations), halving {cut['evaluation_steps']:,} ({cut['legs']} "
          f"evaluations: one per rung reached)")
    print(f"wall time: full {full['wall']:.0f} s, halving {cut['wall']:.0f} s (load average now "
          f"{os.getloadavg()[0]:.2f})", flush=True)
    # the figure asks for full training's winner; where full training cannot order its best rewards (their
    # means differ by less than their noise) a pick among those tied is that winner as far as it can tell
    met = (same or gap <= noise) and ratio <= 0.50
    print(f"\n{task.name}: {'meets' if met else 'does NOT meet'} the figure"
          + (" (a pick tied with full training's, not the same name)" if met and not same else ""), flush=True)
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(POOLS), help=f"comma-separated, of: {', '.join(POOLS)}")
    parser.add_argument("--timesteps", type=_budgets, default=BUDGETS,
                        help="N for every task, or task=N,...; default: mountain car 300000, the others their own")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--min-fraction", default="1/9")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    unknown = [name for name in args.tasks.split(",") if name not in POOLS]
    if unknown:
        parser.error(f"--tasks: no pool for {', '.join(unknown)}; the pools are {', '.join(POOLS)}")
    met = {name: compare(name, args) for name in args.tasks.split(",")}
    print(f"\n{sum(met.values())} of {len(met)} tasks meet the figure ({', '.join(n for n in met if met[n]) or 'none'})")
    if "mountaincar-reach" in met and len(met) >= 2:
        whole = met["mountaincar-reach"] and sum(met.values()) >= 2
        print(f"the figure (two tasks, mountain car among them): {'met' if whole else 'NOT met'}")


def _budgets(text: str) -> dict[str, int]:
    """``--timesteps``: ``N`` (every task) or ``task=N,...`` (the named tasks; the rest train BUDGETS or their own)."""
    if "=" not in text:
        return {name: _positive(text, name) for name in POOLS}
    out = dict(BUDGETS)
    for item in text.split(","):
        name, _, number = item.partition("=")
        if name.strip() not in POOLS:
            raise argparse.ArgumentTypeError(f"{name.strip()!r} has no pool; the pools are {', '.join(POOLS)}")
        out[name.strip()] = _positive(number, name.strip())
    return out


def _positive(text: str, name: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"the budget for {name} must be a positive whole number of steps, not {text!r}")
    return value


if __name__ == "__main__":
    main()
