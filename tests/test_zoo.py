"""The exported module as rl-baselines3-zoo's ``env_wrapper``: the real ``rl_zoo3`` trains with it and
every reward its PPO sees is ``compute_reward``'s total (README: "Training with rl-baselines3-zoo")."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

from rewardsmith.output.export import export_module
from rewardsmith.task import load_task

# found, not imported: importing rl_zoo3 costs every test worker ~3 s at collection, and it runs in a subprocess
pytestmark = pytest.mark.skipif(importlib.util.find_spec("rl_zoo3") is None,
                                reason="rl-baselines3-zoo is installed by the zoo extra (.ci/run installs it)")

# a second wrapper, outside the exported one, that checks each reward against compute_reward on the
# states it sees and writes down what it saw
CHECKER = '''
import json

import gymnasium as gym
import numpy as np

import mc_reward


class CheckReward(gym.Wrapper):
    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.state = mc_reward.state_of(self.env.unwrapped, obs)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        after = mc_reward.state_of(self.env.unwrapped, obs)
        total, components = mc_reward.compute_reward(self.state, np.asarray(action), after)
        self.state = after
        with open("rewards.jsonl", "a") as fh:
            fh.write(json.dumps({"reward": float(reward), "expected": float(total),
                                 "native": info["native_reward"],
                                 "components": sorted(info["reward_components"]),
                                 "expected_components": sorted(components)}) + "\\n")
        return obs, reward, terminated, truncated, info
'''

CONFIG = '''
MountainCarContinuous-v0:
  env_wrapper:
    - mc_reward.RewardWrapper
    - checker.CheckReward
  normalize: false
  n_envs: 1
  policy: MlpPolicy
  n_timesteps: 1024
  n_steps: 256
  batch_size: 64
  n_epochs: 2
'''


@pytest.mark.slow
def test_zoo_trains_on_the_exported_reward(tmp_path):
    import json

    task = load_task("mountaincar-reach")
    export_module(task, task.baseline, {"candidate": "c0"}, tmp_path / "mc_reward.py")
    (tmp_path / "checker.py").write_text(textwrap.dedent(CHECKER))
    (tmp_path / "mc.yml").write_text(textwrap.dedent(CONFIG))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo", "--env", "MountainCarContinuous-v0",
         "--conf-file", "mc.yml", "-f", "logs", "--seed", "0", "--eval-freq", "-1", "--device", "cpu",
         "--vec-env", "dummy", "--verbose", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    seen = [json.loads(line) for line in (tmp_path / "rewards.jsonl").read_text().splitlines()]
    assert len(seen) >= 1024  # every training step went through the exported wrapper
    assert all(s["reward"] == pytest.approx(s["expected"], rel=1e-9, abs=1e-12) for s in seen)
    assert any(abs(s["reward"] - s["native"]) > 1e-6 for s in seen)  # not the environment's own reward
    assert all(s["components"] == s["expected_components"] != [] for s in seen)  # the terms go in info
    assert list((tmp_path / "logs" / "ppo").glob("MountainCarContinuous-v0_*/MountainCarContinuous-v0.zip"))
