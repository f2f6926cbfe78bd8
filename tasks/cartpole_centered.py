"""Cart-pole with a centering requirement: balance the pole and keep the cart within ±0.5 m of center.

CartPole-v1 itself only asks for balance (+1 per step) and lets the cart wander over ±2.4 m; this
task counts only the steps spent balanced inside the central band.
"""

import math

import numpy as np

from rewardsmith.task import field

NAME = "cartpole-centered"
ENV = "CartPole-v1"
# CartPole-v1 ends the episode when the pole tips past 12° or the cart leaves the track.
TERMINATION = "failure"
BAND = 0.5
GOAL = (
    "A pole is hinged on top of a cart that moves along a frictionless track. Keep the pole balanced "
    "upright AND keep the cart within 0.5 m of the center of the track (|cart position| <= 0.5 m) for "
    "as many steps as possible. The episode ends when the pole tilts more than 12 degrees from vertical "
    "or the cart leaves the track (|cart position| > 2.4 m), and is cut off after 500 steps; only steps "
    "with the pole up and the cart inside the ±0.5 m band count. Action: 0 pushes the cart left, "
    "1 pushes it right (a fixed force of 10 N either way; there is no 'do nothing')."
)

# rl-baselines3-zoo's tuned CartPole settings as they are (8 envs x 32 steps, batch 256, 20 epochs, gamma 0.98,
# GAE 0.8, linearly decaying lr 1e-3 and clip 0.2), at zoo's own budget of 100k steps. A faster re-shaping
# (16 envs x 64 steps, batch 512, 10 epochs: ~3x the steps/s) was unstable: at 80k the BASELINE balanced 500
# steps on seeds 0 and 1 but reached 168 on seed 2, and at 150k seed 0 fell back to 136.
TRAINING = {
    "timesteps": 100_000,
    "n_envs": 8,
    "normalize": False,
    "eval_episodes": 5,
    "source": "rl-baselines3-zoo ppo.yml CartPole-v1 at zoo's 100k steps (a faster re-shaping with batch 512 and "
              "10 epochs was unstable across seeds)",
    "steps_per_second": 4_300,
    "budget_note": ("Ceiling, 0 std: both reach the 500-step cap. "
                    "Both reach the 500-step cap at 100k steps: baseline and sparse 500 ± 0 (3 seeds, "
                    "benchmarks/task_table.py). The fitness saturates, so no budget makes the baseline beat the "
                    "sparse reward; the task tells rewards apart only by how fast they learn."),
    "ppo": {
        "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20,
        "ent_coef": 0.0, "learning_rate": "lin_0.001", "clip_range": "lin_0.2",
    },
}


@field(unit="m")
def cart_position(env, obs):
    """Cart position on the track; 0 is the center, the band is ±0.5, the episode ends beyond ±2.4."""
    return float(env.state[0])


@field(unit="m/s")
def cart_velocity(env, obs):
    """Cart velocity along the track; positive is to the right."""
    return float(env.state[1])


@field(unit="rad")
def pole_angle(env, obs):
    """Pole angle from vertical; 0 is upright, positive leans right, the episode ends beyond ±0.2095 (12°)."""
    return float(env.state[2])


@field(unit="rad/s")
def pole_angular_velocity(env, obs):
    """Rate of change of the pole angle; positive is falling towards the right."""
    return float(env.state[3])


@field(unit="m")
def distance_from_center(env, obs):
    """Absolute cart position |x|: how far the cart is from the center of the track."""
    return float(abs(env.state[0]))


@field(unit="bool")
def is_upright(env, obs):
    """1.0 while the pole is within 12° of vertical and the cart on the track (episode goes on), else 0.0."""
    x, _, theta, _ = env.state
    limit = 12 * 2 * math.pi / 360
    return float(-2.4 <= x <= 2.4 and -limit <= theta <= limit)


@field(unit="bool")
def in_band(env, obs):
    """1.0 when the pole is upright and the cart within ±0.5 m of center (a step that counts), else 0.0."""
    x, _, theta, _ = env.state
    limit = 12 * 2 * math.pi / 360
    return float(-0.5 <= x <= 0.5 and -limit <= theta <= limit)


def fitness(episode):
    """Steps (of at most 500) after which the pole was upright and the cart within ±0.5 m of center."""
    return float(np.sum(episode.in_band[1:]))


BASELINE = '''
def compute_reward(state, action, next_state):
    # stay alive, earn a bonus inside the band, and feel a smooth pull towards the center
    # (so the cart is corrected before it drifts out, not only after)
    alive = 1.0 * next_state.is_upright
    band = 1.0 * next_state.in_band
    offset = next_state.cart_position / 0.5
    centering = -0.5 * min(offset * offset, 4.0)
    drift = -0.05 * next_state.cart_velocity ** 2
    total = alive + band + centering + drift
    return total, {"alive": alive, "band": band, "centering": centering, "drift": drift}
'''

SPARSE = '''
def compute_reward(state, action, next_state):
    counted = float(next_state.in_band)
    return counted, {"in_band": counted}
'''
