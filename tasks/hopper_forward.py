"""Hopper (MuJoCo): a one-legged robot in a vertical plane; hop forward (+x) without falling.

The native reward is Δx/dt (dt = 0.008 s) + 1 while healthy - 0.001·‖action‖²; the episode ends
when the torso drops below 0.7 m, tilts more than 0.2 rad, or the state blows up, or after 1000 steps.
"""

import numpy as np

from rewardsmith.task import field

NAME = "hopper-forward"
ENV = "Hopper-v5"
# Hopper-v5 ends the episode when the hopper is unhealthy (fell, tilted, blew up).
TERMINATION = "failure"
GOAL = (
    "A one-legged robot (torso, thigh, leg, foot) moves in a vertical plane. Make it hop forward, in the "
    "+x direction, as far as possible in 1000 steps (one step is 0.008 s) without falling: the episode "
    "ends early when the torso drops below 0.7 m, tilts more than 0.2 rad from upright, or any joint "
    "velocity exceeds 100. Success is large forward displacement at the end of the episode. Action: "
    "torques at the thigh, leg and foot joints, each in [-1, 1]."
)

# Settings for learning per CPU-second, not per sample: rl-baselines3-zoo's Hopper settings (1 env, batch 32,
# 256x256 nets) trained at ~1,000 steps/s and had not learned to hop at short budgets. Here 16 envs in one
# process share each policy forward pass, and 4 minibatches of 512 x 5 epochs per 2,048-step rollout keep
# gradient steps cheap (64x64 nets). Measured, seed 0: the BASELINE hops 2.7 m at 120k steps, 6.5 m at 300k.
TRAINING = {
    "timesteps": 200_000,
    "n_envs": 16,
    "normalize": True,
    "eval_episodes": 3,
    "source": "PPO for wall-clock: 16 envs in one process, n_steps 128, batch 512, 5 epochs, lr 3e-4, 64x64 "
              "nets (zoo's 1-env batch-32 settings ran at ~1,000 steps/s); 200k steps: the baseline hops a few "
              "metres",
    "steps_per_second": 4_800,
    "budget_note": ("Noise, 1.5 std: sparse is dense forward velocity. "
                    "The sparse reward is forward velocity (the fitness itself, dense): baseline 6.15 ± 1.5 vs sparse"
                    " 3.87 ± 0.82 m at 200k steps (3 seeds, benchmarks/task_table.py), 1.5 std. A larger budget is "
                    "not measured: one training of 200k takes ~42 s of an idle core (2-4x that on the shared machine)"
                    " and a default evolve about 20 of them."),
    "ppo": {"n_steps": 128, "batch_size": 512, "n_epochs": 5, "learning_rate": 3e-4},
}


@field(unit="m")
def x_position(env, obs):
    """Torso x position; forward is +x. The forward velocity the env rewards is Δx / 0.008 s per step."""
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
    # plain floats, not numpy calls: this runs on every training step. min/max may step past a NaN;
    # the sum is NaN whenever a value is, so a NaN still fails, as it fails a range test
    qpos = env.data.qpos.tolist()
    if not (qpos[1] > 0.7 and -0.2 < qpos[2] < 0.2):
        return 0.0
    values = qpos[2:] + env.data.qvel.tolist()
    total = sum(values)
    return float(-100.0 < min(values) and max(values) < 100.0 and total == total)


def fitness(episode):
    """Forward displacement of the torso (m) from the start to the end of the episode."""
    x = episode.x_position
    return float(x[-1] - x[0])


# Hopper-v5's own reward as code (default weights).
BASELINE = '''
import numpy as np

DT = 0.008  # seconds per environment step (frame_skip 4 × 0.002)

def compute_reward(state, action, next_state):
    forward = (next_state.x_position - state.x_position) / DT
    healthy = 1.0 * next_state.is_healthy
    control = -1e-3 * float(np.sum(np.square(action)))
    total = forward + healthy + control
    return total, {"forward": forward, "healthy": healthy, "control": control}
'''

SPARSE = '''
def compute_reward(state, action, next_state):
    forward = (next_state.x_position - state.x_position) / 0.008
    return forward, {"forward": forward}
'''
