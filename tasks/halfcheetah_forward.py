"""HalfCheetah (MuJoCo): a planar two-legged "cheetah"; run forward (+x) as fast as possible.

The native reward is Δx/dt (dt = 0.05 s) - 0.1·‖action‖²; episodes last 1000 steps and never end
early (the cheetah cannot fall; it can flip onto its back).
"""

import numpy as np

from rewardsmith.task import field

NAME = "halfcheetah-forward"
ENV = "HalfCheetah-v5"
# HalfCheetah-v5 never ends an episode early (only the 1000-step limit); declared for completeness.
TERMINATION = "failure"
GOAL = (
    "A planar cheetah-like robot (torso, back leg and front leg, each with thigh, shin and foot) moves in "
    "a vertical plane. Make it run forward, in the +x direction, as fast as possible: success is large "
    "forward displacement over the 1000-step episode (one step is 0.05 s). The episode never ends early; "
    "the robot can flip over. Action: torques at the back thigh, shin, foot, then front thigh, shin, "
    "foot, each in [-1, 1]."
)

# Settings for learning per CPU-second: HalfCheetah steps at ~14,500/s raw, so PPO's own work dominates. zoo's
# settings (1 env, batch 64, 20 epochs, 256x256 nets) trained at ~770 steps/s. Here 32 envs in one process
# share each policy forward pass and 2 minibatches of 1,024 x 3 epochs per 2,048-step rollout keep gradient
# work to a few steps per rollout (64x64 nets). Measured, seed 0: the BASELINE runs 40 m at 300k steps
# (training episodes), 69 m at 500k.
TRAINING = {
    "timesteps": 300_000,
    "n_envs": 32,
    "normalize": True,
    "eval_episodes": 3,
    "source": "PPO for wall-clock: 32 envs in one process, n_steps 64, batch 1024, 3 epochs, lr 3e-4, 64x64 "
              "nets (zoo's 1-env 20-epoch settings ran at ~770 steps/s); 300k steps: the baseline runs tens of "
              "metres",
    "steps_per_second": 11_000,
    "budget_note": ("Noise, 0.6 std: the sparse reward's seeds differ 10x. "
                    "The sparse reward is forward velocity (the fitness itself, dense) and its seeds differ 10x: "
                    "baseline 49 ± 14 vs sparse 30.7 ± 31 m at 300k steps (sparse seeds 6.6, 75, 11) (3 seeds, "
                    "benchmarks/task_table.py), 0.6 std. Telling them apart needs more seeds more than more steps; a "
                    "larger budget is not measured."),
    "ppo": {"n_steps": 64, "batch_size": 1024, "n_epochs": 3, "learning_rate": 3e-4},
}


@field(unit="m")
def x_position(env, obs):
    """Torso x position; forward is +x. The forward velocity the env rewards is Δx / 0.05 s per step."""
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
    """Cumulative torso pitch, not wrapped: 0 level, positive nose-down (forward), ±π upside down."""
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
    """Forward displacement of the torso (m) from the start to the end of the episode."""
    x = episode.x_position
    return float(x[-1] - x[0])


# HalfCheetah-v5's own reward as code (default weights).
BASELINE = '''
import numpy as np

DT = 0.05  # seconds per environment step (frame_skip 5 × 0.01)

def compute_reward(state, action, next_state):
    forward = (next_state.x_position - state.x_position) / DT
    control = -0.1 * float(np.sum(np.square(action)))
    return forward + control, {"forward": forward, "control": control}
'''

SPARSE = '''
def compute_reward(state, action, next_state):
    forward = (next_state.x_position - state.x_position) / 0.05
    return forward, {"forward": forward}
'''
