"""Successive halving against full training on a fixed pool of candidate rewards, side by side.

A pool of 9 hand-written mountain-car rewards, from excellent energy shaping to useless and misleading
ones, is scored twice on the same seeds:

- full training (``--schedule full``, Eureka's way): every reward trains the whole budget on every
  seed; the pick is the best mean fitness over the seeds;
- successive halving (``--schedule halving``): the same rewards through the evolve loop's own
  ``PoolTrainer`` (rungs, promotions on the mean fitness over the seeds at each rung, resuming from
  checkpoints in a run store); the pick is the one that reaches the full budget.

and prints both picks, the fitness table and the env steps each spent:

    python benchmarks/halving.py                         # eta 3, rungs 1/9, 1/3, 1; 2 seeds
    python benchmarks/halving.py --eta 2 --min-fraction 1/8 --seeds 3

The issue's figure: halving picks the same best reward as full training while spending at most 40 %
of its training env steps. Evaluation episodes (``eval_episodes`` per seed at every rung) are counted
separately.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from concurrent.futures import as_completed
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rewardsmith.designer import OfflineDesigner  # noqa: E402
from rewardsmith.evolve import EvolveConfig, Evolution  # noqa: E402
from rewardsmith.executor import LocalExecutor  # noqa: E402
from rewardsmith.schedule import Halving, PoolTrainer, leg_state  # noqa: E402
from rewardsmith.store import RunStore  # noqa: E402
from rewardsmith.task import load_task  # noqa: E402
from rewardsmith.trainer import Budget  # noqa: E402

HEADER = "import numpy as np\n\n"
POOL = {
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


def full_training(task, seeds: list[int], timesteps: int, workers: int) -> dict:
    """Every reward × seed trained on the whole budget: fitness per reward and the env steps spent."""
    executor = LocalExecutor(workers)
    futures = {executor.submit(task, HEADER + code, seed, Budget(timesteps)): (name, seed)
               for name, code in POOL.items() for seed in seeds}
    fitness = {name: {} for name in POOL}
    steps = evaluation_steps = 0
    for future in as_completed(futures):
        name, seed = futures[future]
        result = future.result()
        fitness[name][seed] = result.fitness
        steps += result.trained_steps
        evaluation_steps += sum(e["length"] for e in result.episodes)
    executor.close()
    return {"fitness": {n: [f[s] for s in seeds] for n, f in fitness.items()}, "steps": steps,
            "evaluation_steps": evaluation_steps}


def halving(task, seeds: list[int], timesteps: int, workers: int, eta: int, min_fraction: float,
            root: Path) -> dict:
    """The pool through the evolve loop's PoolTrainer: which reward survives and the env steps spent."""
    config = EvolveConfig(task=task.name, timesteps=timesteps, workers=workers, schedule="halving",
                          halving_eta=eta, halving_min_fraction=min_fraction, final_seeds=0, keep_trajectories=0)
    store = RunStore.create(root / "halving-run", asdict(config), task.path)
    ids = {store.add_candidate(0, HEADER + code, "llm", notes=name).id: name for name, code in POOL.items()}
    evolution = Evolution(store, task, config, OfflineDesigner())
    rollout = int(task.training.ppo.get("n_steps", 2048)) * task.training.n_envs
    rungs = Halving(eta, min_fraction).rungs(timesteps, rollout)
    try:
        PoolTrainer(evolution, list(ids), rungs, eta, seeds).run()
    finally:
        evolution._close_executor()
    candidates = {ids[c.id]: c for c in store.candidates()}
    failed = {name: c.reason for name, c in candidates.items() if c.status != "scored"}
    if failed:
        raise SystemExit("trainings failed:\n" + "\n".join(f"{n}: {r}" for n, r in failed.items()))
    winner = next(name for name, c in candidates.items() if c.result["budget_fraction"] >= 1)
    legs = [leg for c in candidates.values() for s in seeds for leg in leg_state(store, c.id, s)["rungs"].values()]
    rungs_reached = {name: c.result["halving"]["rung"] for name, c in candidates.items()}
    return {"winner": winner, "rungs": rungs, "reached": rungs_reached,
            "fitness": {name: c.fitness for name, c in candidates.items()},
            "steps": sum(c.steps_spent for c in candidates.values()),
            "legs": len(legs), "evaluation_steps": sum(leg["evaluation_steps"] for leg in legs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="mountaincar-reach")
    parser.add_argument("--timesteps", type=int, default=None, help="default: the task's budget")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--min-fraction", default="1/9")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    task = load_task(args.task)
    timesteps = args.timesteps or task.training.timesteps
    seeds = list(range(args.seeds))
    min_fraction = float(Fraction(args.min_fraction))
    print(f"{len(POOL)} rewards for {task.name}, {timesteps:,} steps, seeds {seeds}, {args.workers} workers; "
          f"halving eta {args.eta}, min fraction {args.min_fraction}; load average {os.getloadavg()[0]:.2f}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="rewardsmith-halving-") as scratch:
        started, cpu = time.monotonic(), _children_cpu()
        cut = halving(task, seeds, timesteps, args.workers, args.eta, min_fraction, Path(scratch))
        cut["wall"], cut["cpu"] = time.monotonic() - started, _children_cpu() - cpu
        print(f"halving done in {cut['wall']:.0f} s (rungs {cut['rungs']})", flush=True)
    started, cpu = time.monotonic(), _children_cpu()
    full = full_training(task, seeds, timesteps, args.workers)
    full["wall"], full["cpu"] = time.monotonic() - started, _children_cpu() - cpu
    print(f"full training done in {full['wall']:.0f} s", flush=True)

    means = {n: statistics.fmean(v) for n, v in full["fitness"].items()}
    full_pick = max(means, key=means.get)
    print(f"\n{'reward':<16}{'full: fitness mean ± std':>26}{'halving: stopped at':>22}{'fitness there':>15}")
    for name in sorted(POOL, key=lambda n: -means[n]):
        values = full["fitness"][name]
        rung = cut["reached"][name]
        print(f"{name:<16}{means[name]:>17.3f} ± {statistics.pstdev(values):<6.3f}"
              f"{cut['rungs'][rung]:>16,} steps{cut['fitness'][name]:>15.3f}")
    ratio = cut["steps"] / full["steps"]
    print(f"\npick of full training (best mean fitness over {len(seeds)} seeds): {full_pick}")
    print(f"pick of successive halving (the reward that reached the full budget): {cut['winner']}")
    print(f"same pick: {'yes' if cut['winner'] == full_pick else 'NO'}")
    print(f"training env steps: full {full['steps']:,}, halving {cut['steps']:,} = {ratio:.1%} of full "
          f"({'within' if ratio <= 0.40 else 'ABOVE'} the 40 % target)")
    print(f"evaluation env steps (not counted above): full {full['evaluation_steps']:,} "
          f"({len(POOL) * len(seeds)} evaluations), halving {cut['evaluation_steps']:,} ({cut['legs']} "
          f"evaluations: one per rung reached)")
    print(f"CPU time of the training processes (start-up, training, evaluation): full {full['cpu']:.0f} s, "
          f"halving {cut['cpu']:.0f} s = {cut['cpu'] / full['cpu']:.1%}")
    print(f"wall time: full {full['wall']:.0f} s, halving {cut['wall']:.0f} s = {cut['wall'] / full['wall']:.1%} "
          f"(load average now {os.getloadavg()[0]:.2f})")


def _children_cpu() -> float:
    """CPU seconds used by this process's finished child processes (the sandboxed trainings)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
