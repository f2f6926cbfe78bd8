"""Hopper jump (MuJoCo): make the one-legged Hopper jump as high as it can, again and again.

Hopper-v5's own reward asks for forward hopping; this task asks for height instead. The episode still
ends when the torso drops below 0.7 m, tilts more than 0.2 rad, or the state blows up, or after 1000 steps.
"""

import numpy as np

from rewardsmith.task import field

NAME = "hopper-jump"
ENV = "Hopper-v5"
# Hopper-v5 ends the episode when the hopper is unhealthy (fell, tilted, blew up).
TERMINATION = "failure"
GOAL = (
    "A one-legged robot (torso, thigh, leg, foot) moves in a vertical plane; standing still its torso is "
    "1.25 m high. Make it jump as high as possible, repeatedly, for 1000 steps (one step is 0.008 s), "
    "without falling: the episode ends early when the torso drops below 0.7 m, tilts more than 0.2 rad "
    "from upright, or any joint velocity exceeds 100. Moving forward or backward does not matter. "
    "Success is a high peak torso height. Action: torques at the thigh, leg and foot joints, each in "
    "[-1, 1]."
)

# Settings for learning per CPU-second: 16 envs in one process share each policy forward pass (64x64 nets, lr
# 3e-4), as hopper-forward; but 8 minibatches of 256 x 10 epochs per 2,048-step rollout instead of its 4 of 512 x 5.
# Gradient steps are cheap next to stepping the envs (measured with process_time: +90 us per env step; whole
# trainings on a quiet core: 3,600 steps/s against hopper-forward's 4,800), and with the hopper-forward
# settings one seed in three settled in a local optimum: with the first BASELINE it never left the ground
# (seeds 0-2 at 200k: 1.65 / 1.47 / 1.247 m), with the current one it made one leap and fell (1.69 / 1.34 /
# 1.66 m; episodes of 26 steps). With these settings the current BASELINE hops again and again on all three
# (1.57 / 1.70 / 1.64 m, episodes of 250-750 steps in training).
# 200k steps: 56 s of training on a quiet core (seed 0, benchmarks/task_table.py).
TRAINING = {
    "timesteps": 200_000,
    "n_envs": 16,
    "normalize": True,
    "eval_episodes": 3,
    "source": "PPO for wall-clock: 16 envs in one process, n_steps 128, batch 256, 10 epochs, lr 3e-4, 64x64 "
              "nets (hopper-forward's batch 512 x 5 epochs left one seed in three standing or falling after "
              "one leap); 200k steps: the baseline hops 0.3-0.45 m above standing",
    "steps_per_second": 3_600,
    "budget_note": ("Noise, 0.8 std: sparse is nearly the fitness. "
                    "The sparse reward (height above standing) is nearly the fitness: baseline 1.64 ± 0.051 vs sparse"
                    " 1.49 ± 0.18 m at 200k steps (3 seeds, benchmarks/task_table.py), 0.8 std; one sparse seed "
                    "(1.75) beats every baseline seed. A larger budget is not measured: ~56 s of an idle core per "
                    "training, about 20 per default evolve."),
    "ppo": {"n_steps": 128, "batch_size": 256, "n_epochs": 10, "learning_rate": 3e-4},
}


@field(unit="m")
def x_position(env, obs):
    """Torso x position; forward is +x (one step is 0.008 s)."""
    return float(env.data.qpos[0])


@field(unit="m/s")
def x_velocity(env, obs):
    """Instantaneous forward velocity of the torso (MuJoCo's qvel, not the per-step average)."""
    return float(env.data.qvel[0])


@field(unit="m")
def torso_height(env, obs):
    """Height of the torso's centre above the ground: 1.25 standing; the episode ends below 0.7."""
    return float(env.data.qpos[1])


@field(unit="m/s")
def z_velocity(env, obs):
    """Vertical velocity of the torso; positive is up."""
    return float(env.data.qvel[1])


@field(unit="rad")
def torso_angle(env, obs):
    """Torso pitch from upright; the episode ends beyond ±0.2."""
    return float(env.data.qpos[2])


@field(unit="rad/s")
def torso_angular_velocity(env, obs):
    """Pitch rate of the torso."""
    return float(env.data.qvel[2])


@field(unit="rad")
def joint_angles(env, obs):
    """Thigh, leg and foot joint angles."""
    return np.array(env.data.qpos[3:6])


@field(unit="rad/s")
def joint_velocities(env, obs):
    """Thigh, leg and foot joint angular velocities."""
    return np.array(env.data.qvel[3:6])


@field(unit="bool")
def is_healthy(env, obs):
    """1.0 while the hopper is upright (height > 0.7, |angle| < 0.2, all velocities under 100), else 0.0."""
    # plain floats, not numpy calls: this runs on every training step (a NaN fails the range test too)
    qpos = env.data.qpos
    if not (qpos[1] > 0.7 and -0.2 < qpos[2] < 0.2):
        return 0.0
    return float(all(-100.0 < x < 100.0 for x in qpos[2:].tolist() + env.data.qvel.tolist()))


def fitness(episode):
    """The highest torso height (m) reached during the episode (1.25 is standing still)."""
    return float(np.max(episode.torso_height))


BASELINE = '''
import numpy as np

STANDING = 1.25  # m: torso height standing still

def compute_reward(state, action, next_state):
    # stay up; reward height above standing (what we want) and upward speed (what gets it there);
    # small costs on wandering forward or back and on effort. Height and lift weigh 20 and 2, not
    # 10 and 0.5: with those, one seed in three learned to stand still for the healthy bonus
    healthy = 1.0 * next_state.is_healthy
    height = 20.0 * max(0.0, next_state.torso_height - STANDING)
    lift = 2.0 * max(0.0, next_state.z_velocity)
    drift = -0.1 * abs(next_state.x_velocity)
    control = -1e-3 * float(np.sum(np.square(action)))
    total = healthy + height + lift + drift + control
    return total, {"healthy": healthy, "height": height, "lift": lift, "drift": drift, "control": control}
'''

SPARSE = '''
def compute_reward(state, action, next_state):
    height = max(0.0, next_state.torso_height - 1.25)
    return height, {"height_above_standing": height}
'''
