"""A confirmation seed's env steps count in the candidate's ``steps_spent`` (issue 19), as a second seed at a
halving cut-off does: the designer's best so far and its challenger (training/confirmation.py) and the final
top-k cut-off (final.boundary_seeds) each train one at the full budget, and a run's compute, read off its
candidates, included none of them. Fake trainings (conftest's ThreadExecutor and fake_seed_result): no PPO."""

import re
from types import SimpleNamespace

import pytest

from conftest import TINY_TASK, ThreadExecutor, fake_seed_result, invoke
from rewardsmith.archive.records import CandidateResult
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.errors import TrainingError
from rewardsmith.task import load_task_file
from rewardsmith.training.final import CONFIRM_SEED_OFFSET
from rewardsmith.training.trainer import Budget

BUDGET = 1024
# a reward whose fake training gives the fitness its comment names, per seed ("fails" for a failed training)
REWARD = '''
def compute_reward(state, action, next_state):
    # fitness {search} on the search seed, {second} on the second
    return 0.0, {{"zero": 0.0}}
'''


class Trainer:
    """The fake training behind a ThreadExecutor: reads the fitness from the code; records each call's
    seed and the env steps it trained (from a halving leg's checkpoint where it goes on from one)."""

    def __init__(self):
        self.trained = []  # (seed, env steps)

    def __call__(self, task, code, seed, budget, on_progress=None, **options):
        search, second = re.search(r"fitness (\S+) on the search seed, (\S+) on the second", code).groups()
        fitness = search if seed == 0 else second
        if fitness == "fails":
            raise TrainingError(f"seed {seed}: the reward returned NaN")
        start = options["checkpoint"]["timesteps"] if options.get("checkpoint") else 0  # a leg goes on from it
        self.trained.append((seed, budget.timesteps - start))
        return fake_seed_result(seed, float(fitness), budget.timesteps, start,
                                checkpoint={"model": "policy"} if options.get("return_checkpoint") else None)


@pytest.fixture
def task():
    return load_task_file(TINY_TASK)


def _store(tmp_path, task):
    return RunStore.create(tmp_path / "run", {"task": task.name, "designer": "llm", "seed": 0}, task.path)


def _scored(store, generation, search, second, steps_spent, fraction=1.0):
    """A candidate scored on the search seed (``steps_spent`` env steps so far), as a pool records it."""
    c = store.add_candidate(generation, REWARD.format(search=search, second=second), "llm")
    return store.update(c.id, status=SCORED, fitness=search, fitness_std=0.0, seeds=[0],
                        timesteps=int(BUDGET * fraction), steps_spent=steps_spent,
                        result=CandidateResult(budget_fraction=fraction))


def _confirm(store, task, executor, generation):
    from rewardsmith.training.confirmation import confirm

    notes = []
    confirm(store, task, SimpleNamespace(seed=0, eval_episodes=None), Budget(BUDGET), lambda: executor, generation,
            lambda kind, **data: notes.append(data.get("message")))
    return notes


def test_both_confirmation_seeds_count_in_their_candidates_steps_spent(tmp_path, task):
    store, trainer = _store(tmp_path, task), Trainer()
    executor = ThreadExecutor(trainer)
    held = _scored(store, 0, 0.5, 0.4, steps_spent=BUDGET)
    # the challenger already spent a second seed's 512 steps at a halving cut-off
    challenger = _scored(store, 1, 0.9, 0.8, steps_spent=BUDGET + 512)
    _confirm(store, task, executor, 1)
    assert sorted(trainer.trained) == [(CONFIRM_SEED_OFFSET, BUDGET)] * 2
    held, challenger = store.candidate(held.id), store.candidate(challenger.id)
    assert challenger.result.confirmation.confirmed is True
    assert held.steps_spent == 2 * BUDGET and challenger.steps_spent == 2 * BUDGET + 512
    # the run's compute read off its candidates is every env step trained for them
    assert sum(c.steps_spent for c in store.candidates()) == 2 * BUDGET + 512 + sum(s for _, s in trainer.trained)
    # a generation is confirmed once (a resumed run): nothing trained, nothing counted twice
    _confirm(store, task, executor, 1)
    assert len(trainer.trained) == 2 and store.candidate(held.id).steps_spent == 2 * BUDGET
    # the next challenger trains its own seed only: the incumbent has two already
    third = _scored(store, 2, 0.95, 0.9, steps_spent=BUDGET)
    _confirm(store, task, executor, 2)
    assert store.candidate(third.id).steps_spent == 2 * BUDGET
    assert store.candidate(challenger.id).steps_spent == 2 * BUDGET + 512
    executor.close()


def test_a_failed_confirmation_seed_adds_nothing_it_cannot_say_it_trained(tmp_path, task):
    store, trainer = _store(tmp_path, task), Trainer()
    executor = ThreadExecutor(trainer)
    held = _scored(store, 0, 0.5, 0.4, steps_spent=BUDGET)
    challenger = _scored(store, 1, 0.9, "fails", steps_spent=BUDGET)
    notes = _confirm(store, task, executor, 1)
    assert any("confirmation seed of" in (n or "") and "failed" in n for n in notes)
    assert store.candidate(challenger.id).steps_spent == BUDGET
    assert store.candidate(challenger.id).result.confirmation.confirmed is False
    assert store.candidate(held.id).steps_spent == 2 * BUDGET
    executor.close()


def test_the_final_cut_off_s_second_seeds_count_too(tmp_path, task):
    from rewardsmith.training.final import FinalPlan, boundary_seeds
    from rewardsmith.training.pool import Training

    store, trainer = _store(tmp_path, task), Trainer()
    executor = ThreadExecutor(trainer)
    a = _scored(store, 0, 5.0, 3.0, steps_spent=BUDGET)
    b = _scored(store, 0, 4.99, 5.0, steps_spent=BUDGET)  # within the noise of a: both get a second seed
    for _ in range(3):  # stopped by halving at 1/8: what pays for the second seeds
        _scored(store, 0, 0.1, 0.1, steps_spent=BUDGET // 8, fraction=1 / 8)
    record = boundary_seeds(store, Training(task, Budget(BUDGET), executor), FinalPlan(seed=0, seeds=2, top=1))
    assert sorted(record["trained"]) == sorted([a.id, b.id]) and record["steps"] == 2 * BUDGET
    assert store.candidate(a.id).steps_spent == store.candidate(b.id).steps_spent == 2 * BUDGET
    executor.close()


def test_show_candidate_names_the_confirmation_seed_s_steps(tmp_path, task):
    # a whole generation through the loop (fake trainings): the search seed's steps are read off its legs,
    # the confirmation seed's off steps_spent
    from rewardsmith.design.offline import OfflineDesigner
    from rewardsmith.loop import EvolveConfig, Evolution

    config = EvolveConfig(task=task.name, timesteps=BUDGET, final_seeds=0, no_screen=True)
    store = RunStore.create(tmp_path / "run", config.to_dict(), task.path)
    trainer = Trainer()
    executor = ThreadExecutor(trainer)
    evolution = Evolution(store, task, config, OfflineDesigner(), executor=executor)
    base = store.add_candidate(0, REWARD.format(search=0.5, second=0.5), "baseline")
    evolution.train_generation(0)
    lucky = store.add_candidate(1, REWARD.format(search=0.9, second=0.0), "offline")
    evolution.train_generation(1)
    lucky, base = store.candidate(lucky.id), store.candidate(base.id)
    assert lucky.result.confirmation is not None and base.result.confirmation is not None
    assert lucky.steps_spent == base.steps_spent == 2 * BUDGET
    assert sum(c.steps_spent for c in store.candidates()) == sum(s for _, s in trainer.trained)
    shown = invoke("show", store.root, "--candidate", lucky.id)
    assert shown.exit_code == 0, shown.output
    assert "env steps trained in the search: 2,048 (1,024 on a confirmation seed)" in shown.output
    executor.close()
