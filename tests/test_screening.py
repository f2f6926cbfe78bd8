"""Screening before any RL step: rewards that rank recorded episodes against their known fitness (the two
published early-termination hacks) are rejected with the numbers; the tasks' baseline and sparse rewards
pass. Episodes come from a scripted controller (trusted) and random actions; rewards run in the sandbox."""

import pytest

from rewardsmith.intake.screening import judge, random_episodes, scripted_episodes, screen
from rewardsmith.task import load_task

# all-negative per-step reward on a task that ends on failure: every step alive costs, so dying early pays
ALWAYS_NEGATIVE = '''
def compute_reward(state, action, next_state):
    tilt = -abs(next_state.pole_angle)
    step_cost = -1.0
    return step_cost + tilt, {"step_cost": step_cost, "tilt": tilt}
'''
# a bonus paid when the episode ends (the pole falls), worth more than a whole episode of staying up
TERMINATION_BONUS = '''
def compute_reward(state, action, next_state):
    alive = 0.01 * next_state.is_upright
    finish = 20.0 * (1.0 - next_state.is_upright)
    return alive + finish, {"alive": alive, "finish": finish}
'''


def _balance(obs):
    x, x_dot, theta, theta_dot = obs
    return int(theta + 0.5 * theta_dot + 0.02 * x + 0.1 * x_dot > 0)


def _pump(obs):  # mountain car: push along the velocity, the car swings up to the flag
    return [1.0 if obs[1] >= 0 else -1.0]


@pytest.fixture(scope="module")
def cartpole():
    task = load_task("cartpole-centered")
    refs = scripted_episodes(task, _balance, 3, source="controller") + random_episodes(task, 5)
    assert max(r.fitness for r in refs) > 100 > max(r.fitness for r in refs if r.source == "random")
    return task, refs


@pytest.mark.parametrize("name, code", [("all-negative", ALWAYS_NEGATIVE), ("termination bonus", TERMINATION_BONUS)])
def test_early_termination_hacks_are_rejected_with_the_numbers(cartpole, name, code):
    task, refs = cartpole
    verdict = screen(task, code, refs, random_fitness=10.0)
    assert not verdict.passed, name
    assert verdict.reason.startswith("REJECTED by screening (no training step spent)")
    assert "Spearman" in verdict.reason and "random-policy episodes" in verdict.reason
    assert verdict.evidence.agreement_vs_random <= 0.2 and verdict.evidence.pairs_vs_random >= 6
    # the episodes it compared, with their fitness, length and return under this reward
    assert len(verdict.evidence.table) == len(refs)
    assert "controller" in verdict.reason and "return" in verdict.reason


@pytest.mark.parametrize("task_name, policy", [("cartpole-centered", _balance), ("mountaincar-reach", _pump)])
def test_the_tasks_own_baseline_and_sparse_rewards_pass(task_name, policy):
    task = load_task(task_name)
    refs = scripted_episodes(task, policy, 3, source="controller") + random_episodes(task, 5)
    assert max(r.fitness for r in refs) > min(r.fitness for r in refs) + 0.5  # there is something to rank
    for code in (task.baseline, task.sparse):
        verdict = screen(task, code, refs, random_fitness=min(r.fitness for r in refs))
        assert verdict.passed, verdict.evidence
        assert verdict.evidence.agreement > 0.5 and verdict.evidence.agreement_vs_random > 0.5


def test_a_reward_that_cannot_tell_episodes_apart_passes():
    # all returns equal: every pair is a tie (agreement 0.5): no evidence of preferring the worse
    class R:
        def __init__(self, f):
            self.fitness, self.source, self.trajectory = f, "x", {"actions": [0]}

        length = 1

    refs = [R(f) for f in (0, 1, 2, 3, 4)]
    assert judge(refs, [0.0] * 5, margin=0.1).passed
    assert not judge(refs, [4.0, 3.0, 2.0, 1.0, 0.0], margin=0.1).passed
