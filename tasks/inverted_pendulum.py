"""Inverted pendulum (MuJoCo): push a cart along a rail to keep the pole on it balanced.

The native reward is +1 for every step that ends with the pole within 0.2 rad of vertical; the
episode ends when it tips further, or after 1000 steps.
"""

import numpy as np

from rewardsmith.task import field

NAME = "inverted-pendulum"
ENV = "InvertedPendulum-v5"
# InvertedPendulum-v5 ends the episode when the pole tilts past 0.2 rad: it fell.
TERMINATION = "failure"
GOAL = (
    "A pole is hinged on a cart that slides along a rail. Keep the pole balanced upright for as long as "
    "possible: the episode ends as soon as the pole tilts more than 0.2 rad from vertical, and is cut "
    "off after 1000 steps (success). Action: a single force on the cart in [-3, 3] (positive pushes "
    "towards +x)."
)

# Settings for learning per CPU-second: 16 envs in one process share each policy forward pass; 4 minibatches
# of 512 x 5 epochs per 2,048-step rollout (zoo's 1-env n_steps-32 settings update the network every 32 steps).
# Measured, seed 0: the BASELINE balances all 1,000 steps at 40k steps.
TRAINING = {
    "timesteps": 40_000,
    "n_envs": 16,
    "normalize": True,
    "eval_episodes": 3,
    "source": "PPO for wall-clock: 16 envs in one process, n_steps 128, batch 512, 5 epochs, lr 3e-4; 40k "
              "steps: the baseline balances the whole episode",
    "steps_per_second": 10_000,
    "budget_note": ("Ceiling, 0 std: both reach the 1,000-step cap. "
                    "Both reach the 1,000-step cap at 40k steps: baseline and sparse 1000 ± 0 (3 seeds, "
                    "benchmarks/task_table.py). The fitness saturates, so no budget makes the baseline beat the "
                    "sparse reward; the task tells rewards apart only by how fast they learn."),
    "ppo": {"n_steps": 128, "batch_size": 512, "n_epochs": 5, "learning_rate": 3e-4},
}


@field(unit="m")
def cart_position(env, obs):
    """Cart position along the rail; 0 is where it starts (the rail ends at about ±1)."""
    return float(env.data.qpos[0])


@field(unit="rad")
def pole_angle(env, obs):
    """Pole angle from vertical; 0 is upright, the episode ends beyond ±0.2."""
    return float(env.data.qpos[1])


@field(unit="m/s")
def cart_velocity(env, obs):
    """Cart velocity along the rail."""
    return float(env.data.qvel[0])


@field(unit="rad/s")
def pole_angular_velocity(env, obs):
    """Angular velocity of the pole."""
    return float(env.data.qvel[1])


@field(unit="bool")
def is_upright(env, obs):
    """1.0 while the pole is within 0.2 rad of vertical and the state finite (episode goes on), else 0.0."""
    finite = bool(np.isfinite(env.data.qpos).all() and np.isfinite(env.data.qvel).all())
    return float(finite and abs(env.data.qpos[1]) <= 0.2)


def fitness(episode):
    """The episode length in steps: how long the pole stayed up (1000 is the maximum)."""
    return float(episode.length)


# InvertedPendulum-v5's own reward as code: +1 for every step that ends with the pole up.
BASELINE = '''
def compute_reward(state, action, next_state):
    alive = 1.0 * next_state.is_upright
    return alive, {"alive": alive}
'''

SPARSE = '''
def compute_reward(state, action, next_state):
    upright = float(next_state.is_upright)
    return upright, {"upright": upright}
'''
