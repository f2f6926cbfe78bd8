"""HalfCheetah backflip (MuJoCo): make the planar cheetah do backflips, as many as it can.

HalfCheetah-v5's own reward asks for forward running; this task asks for backward rotations of the
torso. Episodes last 1000 steps (one step is 0.05 s) and never end early.
"""

import math

import numpy as np

from rewardsmith.task import field

NAME = "halfcheetah-backflip"
ENV = "HalfCheetah-v5"
# HalfCheetah-v5 never ends an episode early (only the 1000-step limit); declared for completeness.
TERMINATION = "failure"
GOAL = (
    "A planar cheetah-like robot (torso, back leg and front leg, each with thigh, shin and foot) moves in "
    "a vertical plane, facing +x. Make it do backflips: rotate the whole body backwards (nose up, over "
    "the back, and around) as many full turns as possible during the 1000-step episode (one step is "
    "0.05 s). Success is the number of completed backward rotations; the episode never ends early. "
    "Action: torques at the back thigh, shin, foot, then front thigh, shin, foot, each in [-1, 1]."
)

# The same settings as halfcheetah-forward (same body), for the same reason: learning per CPU-second. 32 envs
# in one process share each policy forward pass; 2 minibatches of 1,024 x 3 epochs per 2,048-step rollout.
TRAINING = {
    "timesteps": 300_000,
    "n_envs": 32,
    "normalize": True,
    "eval_episodes": 3,
    "source": "PPO for wall-clock, as halfcheetah-forward: 32 envs in one process, n_steps 64, batch 1024, 3 "
              "epochs, lr 3e-4, 64x64 nets",
    "steps_per_second": 7_300,
    "ppo": {"n_steps": 64, "batch_size": 1024, "n_epochs": 3, "learning_rate": 3e-4},
}


@field(unit="m")
def x_position(env, obs):
    """Torso x position; forward is +x (one step is 0.05 s)."""
    return float(env.data.qpos[0])


@field(unit="m/s")
def x_velocity(env, obs):
    """Instantaneous forward velocity of the torso (MuJoCo's qvel, not the per-step average)."""
    return float(env.data.qvel[0])


@field(unit="m")
def torso_height(env, obs):
    """Height of the torso's centre: about 0.7 at the start; lower when crouching or lying."""
    return float(0.7 + env.data.qpos[1])


@field(unit="m/s")
def z_velocity(env, obs):
    """Vertical velocity of the torso; positive is up."""
    return float(env.data.qvel[1])


@field(unit="rad")
def pitch(env, obs):
    """Cumulative torso pitch, not wrapped: 0 level, positive nose-down; one backflip lowers it by 2π."""
    return float(env.data.qpos[2])


@field(unit="rad/s")
def pitch_rate(env, obs):
    """Torso pitch rate; positive is rotating nose-down (forward), negative nose-up (backward)."""
    return float(env.data.qvel[2])


@field(unit="rad")
def joint_angles(env, obs):
    """Back thigh, shin, foot, then front thigh, shin, foot joint angles."""
    return np.array(env.data.qpos[3:9])


@field(unit="rad/s")
def joint_velocities(env, obs):
    """Back thigh, shin, foot, then front thigh, shin, foot joint angular velocities."""
    return np.array(env.data.qvel[3:9])


@field(unit="bool")
def is_upside_down(env, obs):
    """1.0 when the torso is rotated more than 90° from level (lying on its back), else 0.0."""
    return float(np.cos(env.data.qpos[2]) < 0.0)


def fitness(episode):
    """Net backward rotation of the torso over the episode, in turns (fractions count: 2.5 is two
    backflips and a half); forward rotation counts negative."""
    pitch = episode.pitch
    return float((pitch[0] - pitch[-1]) / (2 * math.pi))


BASELINE = '''
import numpy as np

DT = 0.05  # seconds per environment step

def compute_reward(state, action, next_state):
    # backward rotation rate (the thing we want), a little height (flips need air), effort cost
    spin = (state.pitch - next_state.pitch) / DT
    air = 2.0 * max(0.0, next_state.torso_height - 0.7)
    control = -0.1 * float(np.sum(np.square(action)))
    total = spin + air + control
    return total, {"spin": spin, "air": air, "control": control}
'''

SPARSE = '''
import math

def compute_reward(state, action, next_state):
    # +1 each time another full backward turn is completed (-1 if one is undone)
    before = math.floor(-state.pitch / (2 * math.pi))
    after = math.floor(-next_state.pitch / (2 * math.pi))
    flips = float(after - before)
    return flips, {"completed_flips": flips}
'''
