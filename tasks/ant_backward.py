"""Ant backward (MuJoCo): make the four-legged Ant walk backwards, in the -x direction.

Ant-v5's own reward asks for +x: Δx/dt + 1 while healthy - 0.5·‖action‖² - 5e-4·‖contact forces‖².
The episode ends when the torso's height leaves 0.2–1.0 m (it flipped or jumped) or after 1000 steps.
"""

import numpy as np

from rewardsmith.task import field

NAME = "ant-backward"
ENV = "Ant-v5"
# Ant-v5 ends the episode when the torso leaves 0.2-1.0 m (flipped or jumped): a fall.
TERMINATION = "failure"
GOAL = (
    "A four-legged robot (a round torso with four two-jointed legs) stands on flat ground in 3D. Make it "
    "walk BACKWARD, in the -x direction, as far as possible during the 1000-step episode (one step is "
    "0.05 s). The episode ends early when the torso's height leaves 0.2–1.0 m (it fell over or jumped). "
    "Success is large displacement in -x at the end; sideways motion does not count. Action: torques at "
    "the 8 joints (hip and ankle of each of the four legs), each in [-1, 1]."
)

# Settings for learning per CPU-second: 16 envs in one process share each policy forward pass; minibatches of
# 128 x 10 epochs per 2,048-step rollout. Ant needs more gradient steps per sample than the hopper: with the
# hopper's 4 minibatches of 512 x 5 epochs the BASELINE moved 1.5 m backward at 200k steps (seed 0).
# The initial action std is e^-1 = 0.37 (log_std_init -1), not SB3's 1: with std 1 a third of the sampled
# torques are clipped at +-1 (flailing, and a control cost PPO first has to learn away), and at 200k the
# BASELINE had moved only 3.5 / 2.7 / 7.1 m (seeds 0-2), 2.2 std above random actions' 0.2 +- 0.9 m; with
# 0.37 it walks 20-30 m on every seed (over 20 episodes: 30.2 / 24.2 / 24.7 m). 5 evaluation episodes, because
# single ant episodes vary: random actions' mean over 5 episodes spreads +-0.9 m over seeds 0-2 (over 20,
# +-0.3 m), and a trained policy sometimes stalls (0.3 m in one episode of 20).
TRAINING = {
    "timesteps": 200_000,
    "n_envs": 16,
    "normalize": True,
    "eval_episodes": 5,
    "source": "PPO for wall-clock: 16 envs in one process, n_steps 128, batch 128, 10 epochs, lr 3e-4, 64x64 "
              "nets, initial action std 0.37 (log_std_init -1); 200k steps: the baseline walks 20-30 m backward",
    "steps_per_second": 1_800,
    "ppo": {"n_steps": 128, "batch_size": 128, "n_epochs": 10, "learning_rate": 3e-4,
            "policy_kwargs": {"log_std_init": -1.0}},
}


@field(unit="m")
def x_position(env, obs):
    """Torso x position (the body frame the env measures velocity with); backward is -x; a step is 0.05 s."""
    return float(env.data.xpos[1][0])


@field(unit="m")
def y_position(env, obs):
    """Torso y position (sideways)."""
    return float(env.data.xpos[1][1])


@field(unit="m/s")
def x_velocity(env, obs):
    """Instantaneous x velocity of the torso (MuJoCo's qvel); negative is backward."""
    return float(env.data.qvel[0])


@field(unit="m/s")
def y_velocity(env, obs):
    """Instantaneous sideways velocity of the torso."""
    return float(env.data.qvel[1])


@field(unit="m")
def torso_height(env, obs):
    """Height of the torso's centre: about 0.55–0.75 standing; the episode ends outside 0.2–1.0."""
    return float(env.data.qpos[2])


@field(unit="1")
def torso_uprightness(env, obs):
    """Cosine of the torso's tilt from level: 1 upright, 0 on its side, -1 upside down."""
    w, x, y, z = env.data.qpos[3:7]
    return float(1.0 - 2.0 * (x * x + y * y))


@field(unit="rad")
def joint_angles(env, obs):
    """Hip and ankle angles of the four legs (hip_1, ankle_1, ..., hip_4, ankle_4)."""
    return np.array(env.data.qpos[7:15])


@field(unit="rad/s")
def joint_velocities(env, obs):
    """Hip and ankle angular velocities of the four legs."""
    return np.array(env.data.qvel[6:14])


@field(unit="N")
def contact_forces(env, obs):
    """External contact forces and torques on each of the 14 bodies (14 × 6), clipped to [-1, 1] as Ant-v5 does."""
    return np.clip(np.array(env.data.cfrc_ext), -1.0, 1.0)


@field(unit="bool")
def is_healthy(env, obs):
    """1.0 while the state is finite and the torso's height is within 0.2–1.0 m (episode goes on), else 0.0."""
    finite = bool(np.isfinite(env.data.qpos).all() and np.isfinite(env.data.qvel).all())
    return float(finite and 0.2 <= env.data.qpos[2] <= 1.0)


def fitness(episode):
    """Backward displacement (m): how far the torso moved in -x from the start to the end of the episode."""
    x = episode.x_position
    return float(x[0] - x[-1])


BASELINE = '''
import numpy as np

DT = 0.05  # seconds per environment step (frame_skip 5 × 0.01)

def compute_reward(state, action, next_state):
    # Ant-v5's well-tested recipe with the direction flipped: backward speed, a survival bonus,
    # and its control and contact costs (a lighter control cost: 0.5 stalls learning on short budgets)
    backward = -(next_state.x_position - state.x_position) / DT
    healthy = 1.0 * next_state.is_healthy
    control = -0.05 * float(np.sum(np.square(action)))
    contact = -5e-4 * float(np.sum(np.square(next_state.contact_forces)))
    total = backward + healthy + control + contact
    return total, {"backward": backward, "healthy": healthy, "control": control, "contact": contact}
'''

SPARSE = '''
def compute_reward(state, action, next_state):
    backward = -(next_state.x_position - state.x_position) / 0.05
    return backward, {"backward": backward}
'''
