"""Mountain car (continuous): drive an under-powered car up to the flag on the right hilltop.

The native reward is +100 at the flag minus 0.1·action² per step; with it PPO usually learns to stand
still (the energy penalty wins before the flag is ever found). Energy-shaping rewards solve it.
"""

import math

import numpy as np

from rewardsmith.task import field

NAME = "mountaincar-reach"
ENV = "MountainCarContinuous-v0"
# MountainCarContinuous-v0 ends the episode when the car reaches the flag: the goal.
TERMINATION = "success"
GOAL = (
    "An under-powered car sits in a valley between two hills. Make it reach the flag on top of the "
    "right hill (position >= 0.45) as quickly as possible. The engine alone cannot climb the hill; "
    "the car must swing back and forth to build momentum. Action: engine force in [-1, 1]."
)
FLAG = 0.45

# SB3's default PPO with 4 envs. rl-baselines3-zoo's tuned MountainCarContinuous-v0 settings (n_steps 8,
# SDE) run at ~200 env steps/s, far too slow for a search budget, and with them even the native reward
# sometimes finds the flag. Measured at 30,000 steps, seeds 0-2: the energy-shaping BASELINE reaches the
# flag on every seed (fitness 1.36, 1.32, 1.23); the native reward never does (0.058, 0.039, 0.034).
# Minibatches of 256 instead of SB3's 64 train ~2x faster but the baseline then missed the flag (seed 0).
TRAINING = {
    "timesteps": 30_000,
    "n_envs": 4,
    "normalize": False,
    "eval_episodes": 5,
    "source": "SB3 default PPO, n_envs 4 (rl-baselines3-zoo's MountainCarContinuous-v0 settings run at "
              "~200 steps/s); kept small: the README's main command trains it a dozen times",
    "steps_per_second": 3_100,
    "ppo": {},
}


@field(unit="m")
def position(env, obs):
    """Car position along the track, in [-1.2, 0.6]; the valley bottom is near -0.52, the flag at 0.45."""
    return float(obs[0])


@field(unit="m/step")
def velocity(env, obs):
    """Car velocity along the track, in [-0.07, 0.07]; positive is towards the flag."""
    return float(obs[1])


@field(unit="m")
def height(env, obs):
    """Height of the car on the track surface, sin(3·position); the flag stands at about 0.98."""
    return float(math.sin(3.0 * obs[0]))


@field(unit="m")
def distance_to_flag(env, obs):
    """Distance along the track from the car to the flag (0 at or past the flag)."""
    return float(max(0.0, 0.45 - obs[0]))


@field(unit="bool")
def at_flag(env, obs):
    """1.0 when the car is at or past the flag (the episode ends there), else 0.0."""
    return float(obs[0] >= 0.45)


def fitness(episode):
    """Reaching the flag scores 1 plus a bonus for speed (up to 1 more); a car that never reaches it
    scores the fraction of the way from the valley bottom to the flag it got (0 to 1)."""
    positions = episode.position
    if positions[-1] >= FLAG:
        limit = episode.max_steps or 999
        return 1.0 + max(0.0, 1.0 - episode.length / limit)
    best = float(np.max(positions))
    return float(np.clip((best + 0.52) / (FLAG + 0.52), 0.0, 1.0)) * 0.99


BASELINE = '''
import numpy as np

def compute_reward(state, action, next_state):
    # energy shaping: reward the gain in mechanical energy (potential + kinetic), a flag bonus,
    # and the environment's own small action penalty
    def energy(s):
        return 0.0025 * np.sin(3.0 * s.position) + 0.5 * s.velocity ** 2

    shaping = 100.0 * (energy(next_state) - energy(state)) / 0.0025
    flag = 10.0 * next_state.at_flag
    effort = -0.1 * float(np.sum(np.square(action)))
    return shaping + flag + effort, {"energy_gain": shaping, "flag": flag, "effort": effort}
'''

SPARSE = '''
def compute_reward(state, action, next_state):
    success = float(next_state.at_flag)
    return success, {"success": success}
'''
