"""Cart-pole: push a cart left or right to keep the pole on it from falling over.

The native reward is +1 for every step taken (the step on which the pole falls included); an episode
ends when the pole tilts past 12° or the cart leaves the track (|x| > 2.4 m), or after 500 steps.
"""

import math

from rewardsmith.task import field

NAME = "cartpole-balance"
ENV = "CartPole-v1"
# CartPole-v1 ends the episode when the pole tips past 12° or the cart leaves the track.
TERMINATION = "failure"
GOAL = (
    "A pole is hinged on top of a cart that moves along a frictionless track. Keep the pole balanced "
    "upright for as long as possible: the episode ends when the pole tilts more than 12 degrees from "
    "vertical or the cart leaves the track (|cart position| > 2.4 m), and is cut off after 500 steps. "
    "Success is staying up the full 500 steps. Action: 0 pushes the cart left, 1 pushes it right "
    "(a fixed force of 10 N either way; there is no 'do nothing')."
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
    "steps_per_second": 4_400,
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
    """Cart position on the track; 0 is the center, the episode ends beyond ±2.4."""
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


@field(unit="bool")
def is_upright(env, obs):
    """1.0 while the pole is within 12° of vertical and the cart on the track (episode goes on), else 0.0."""
    x, _, theta, _ = env.state
    limit = 12 * 2 * math.pi / 360
    return float(-2.4 <= x <= 2.4 and -limit <= theta <= limit)


def fitness(episode):
    """The episode length in steps: how long the pole stayed up (500 is the maximum)."""
    return float(episode.length)


# CartPole-v1's own reward as code: +1 for every step, including the one on which the pole falls
# (every step starts from a state where the pole is still up).
BASELINE = '''
def compute_reward(state, action, next_state):
    alive = 1.0 * state.is_upright
    return alive, {"alive": alive}
'''

SPARSE = '''
def compute_reward(state, action, next_state):
    upright = float(next_state.is_upright)
    return upright, {"upright": upright}
'''
