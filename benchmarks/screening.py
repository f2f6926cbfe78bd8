"""Screening before any RL step, side by side with no screening, on a pool with known early-termination hacks.

The task (default inverted-pendulum: the episode ends when the pole falls) trains its baseline first, as
every run does; its evaluation episodes, random-policy episodes and the baseline's fitness are what
screening judges on (``screening.references``, the loop's own). Then every reward of the pool:

- is screened (the ``replay`` job in the sandbox; no training step);
- is trained on the full budget on the same seed (what a run with ``--no-screen`` spends on it).

Without screening the pick is the best fitness of all; with screening, the best of those that passed
(the rejected ones would never have trained). It prints both picks, the env steps each spends, and every
rejection's numbers:

    python benchmarks/screening.py [--task inverted-pendulum] [--seed 0]

The issue's figure: the steps saved by screening (the rejected hacks' trainings), with the winner unchanged.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import as_completed
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rewardsmith.design.offline import OfflineDesigner  # noqa: E402
from rewardsmith.loop import Evolution, EvolveConfig  # noqa: E402
from rewardsmith.intake.screening import references, screen  # noqa: E402
from rewardsmith.archive.store import RunStore  # noqa: E402
from rewardsmith.task import load_task  # noqa: E402

POOL = {
    # honest: paid for every step the pole is up (the task's baseline)
    "upright": '''
def compute_reward(state, action, next_state):
    alive = 1.0 * next_state.is_upright
    return alive, {"alive": alive}
''',
    # honest: up, and as vertical as possible
    "upright-vertical": '''
def compute_reward(state, action, next_state):
    alive = 1.0 * next_state.is_upright
    vertical = -5.0 * next_state.pole_angle ** 2
    return alive + vertical, {"alive": alive, "vertical": vertical}
''',
    # honest: up, calm, near the middle of the rail
    "upright-calm": '''
def compute_reward(state, action, next_state):
    alive = 1.0 * next_state.is_upright
    calm = -0.01 * next_state.pole_angular_velocity ** 2
    middle = -0.1 * next_state.cart_position ** 2
    return alive + calm + middle, {"alive": alive, "calm": calm, "middle": middle}
''',
    # hack: every step costs (all-negative per-step reward on a task that ends on failure): falling at once pays
    "step-cost": '''
def compute_reward(state, action, next_state):
    tilt = -abs(next_state.pole_angle)
    step_cost = -1.0
    return step_cost + tilt, {"step_cost": step_cost, "tilt": tilt}
''',
    # hack: a bonus when the pole falls, worth more than a whole episode of balancing
    "fall-bonus": '''
def compute_reward(state, action, next_state):
    alive = 0.01 * next_state.is_upright
    fall = 20.0 * (1.0 - next_state.is_upright)
    return alive + fall, {"alive": alive, "fall": fall}
''',
    # hack: a tilt penalty with no reason to stay alive: all-negative again
    "tilt-penalty": '''
def compute_reward(state, action, next_state):
    tilt = -10.0 * abs(next_state.pole_angle) - 0.1
    return tilt, {"tilt": tilt}
''',
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="inverted-pendulum")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    task = load_task(args.task)
    print(f"{len(POOL)} rewards for {task.name} ({task.training.timesteps:,} steps each, seed {args.seed}, "
          f"{args.workers} workers); load average {os.getloadavg()[0]:.2f}", flush=True)
    config = EvolveConfig(task=task.name, workers=args.workers, seed=args.seed, final_seeds=0)
    with tempfile.TemporaryDirectory(prefix="rewardsmith-screening-") as scratch:
        store = RunStore.create(Path(scratch) / "run", config.to_dict(), task.path)
        evolution = Evolution(store, task, config, OfflineDesigner())
        try:
            store.add_candidate(0, task.baseline, "baseline")
            evolution.train_generation(0)  # the baseline first, as every run: its episodes are references
            baseline = store.baseline()
            print(f"baseline fitness {baseline.fitness:.4g}", flush=True)
            refs = references(store, task, seed=args.seed)
            random_fitness = evolution.reference.fitness()
            verdicts, seconds = {}, {}
            for name, code in POOL.items():
                started = time.monotonic()
                verdicts[name] = screen(task, code, refs, random_fitness)
                seconds[name] = time.monotonic() - started
            executor = evolution.trainer.executor()
            futures = {executor.submit(task, code, args.seed, evolution.budget): name for name, code in POOL.items()}
            trained = {}
            for future in as_completed(futures):
                trained[futures[future]] = future.result()
                print(f"  trained {futures[future]}: fitness {trained[futures[future]].fitness:.4g}", flush=True)
        finally:
            evolution.close()
    print(f"\nreferences: {len(refs)} episodes ({sum(r.source == 'random' for r in refs)} random, "
          f"{sum(r.source.startswith('baseline') for r in refs)} of the baseline)")
    print(f"\n{'reward':<18}{'screening':>10}{'agree':>8}{'vs random':>11}{'screen s':>10}"
          f"{'fitness (trained)':>19}{'steps: none':>13}{'screened':>10}")
    steps_all = steps_screened = 0
    for name in POOL:
        v, r = verdicts[name], trained[name]
        steps = r.trained_steps or r.timesteps
        steps_all += steps
        steps_screened += steps if v.passed else 0
        agree, vs = v.evidence.agreement, v.evidence.agreement_vs_random
        print(f"{name:<18}{'pass' if v.passed else 'REJECT':>10}{'-' if agree is None else f'{agree:.2f}':>8}"
              f"{'-' if vs is None else f'{vs:.2f}':>11}{seconds[name]:>10.1f}{r.fitness:>19.4g}"
              f"{steps:>13,}{steps if v.passed else 0:>10,}")
    pick_all = max(POOL, key=lambda n: trained[n].fitness)
    passed = [n for n in POOL if verdicts[n].passed]
    pick_screened = max(passed, key=lambda n: trained[n].fitness) if passed else None
    print(f"\nwinner without screening: {pick_all} ({trained[pick_all].fitness:.4g})")
    print(f"winner with screening:    {pick_screened} "
          f"({'-' if pick_screened is None else f'{trained[pick_screened].fitness:.4g}'})")
    print(f"winner unchanged: {'yes' if pick_all == pick_screened else 'NO'}")
    print(f"RL env steps: without screening {steps_all:,}, with {steps_screened:,}: "
          f"{steps_all - steps_screened:,} saved ({1 - steps_screened / steps_all:.0%}); screening took "
          f"{sum(seconds.values()):.0f} s of wall time for {len(POOL)} rewards (load average now "
          f"{os.getloadavg()[0]:.2f})")
    for name in POOL:
        if not verdicts[name].passed:
            print(f"\n{name}: {verdicts[name].reason}")


if __name__ == "__main__":
    main()
