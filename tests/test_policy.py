"""A trained policy as plain numbers (rewardsmith.sandbox.policy, .checkpoint), the evaluation job
that never loads candidate code, and replaying a reward on recorded trajectories (rewardsmith.training.replay)."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.errors import RewardCodeError
from rewardsmith.training.replay import replay
from rewardsmith.sandbox import checkpoint as ckpt
from rewardsmith.sandbox.policy import NumpyPolicy, PolicyFormatError, decode_array, encode_array, encode_policy
from rewardsmith.task import load_task
from rewardsmith.training.trainer import evaluate_policy

SANDBOX = Path(__file__).resolve().parent.parent / "rewardsmith" / "sandbox"


def _model(env_id: str, normalize: bool, **policy_kwargs):
    import gymnasium as gym
    import torch.nn as nn
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    venv = DummyVecEnv([lambda: gym.make(env_id)])
    if normalize:
        venv = VecNormalize(venv)
    kwargs = {"activation_fn": nn.ReLU, **policy_kwargs} if policy_kwargs else {}
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=32, n_epochs=1, seed=3, device="cpu",
                policy_kwargs=kwargs or None)
    model.learn(128)  # moves the weights, the normalisation statistics and Adam's moments
    return model, venv if normalize else None


@pytest.mark.parametrize("env_id, normalize, extra", [
    ("MountainCarContinuous-v0", True, {}),
    ("CartPole-v1", False, {"net_arch": [32, 16]}),
    ("Pendulum-v1", True, {"net_arch": [16]}),
])
def test_the_numpy_policy_acts_as_sb3_predict_does(env_id, normalize, extra):
    model, vecnormalize = _model(env_id, normalize, **extra)
    sent = json.loads(json.dumps(encode_policy(model, vecnormalize)))  # through JSON, as a child sends it
    sent["fitness"] = 1e9  # anything else a child adds is dropped when the parent re-encodes it
    policy = NumpyPolicy(NumpyPolicy(sent).as_data())
    assert "fitness" not in NumpyPolicy(sent).as_data()
    rng = np.random.default_rng(0)
    space = model.observation_space
    low, high = np.maximum(space.low, -5), np.minimum(space.high, 5)
    for _ in range(100):
        obs = rng.uniform(low, high).astype(space.dtype)
        seen = vecnormalize.normalize_obs(obs) if vecnormalize is not None else obs
        expected, _ = model.predict(seen, deterministic=True)
        got = policy(obs)
        if isinstance(got, int):
            assert got == int(expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_arrays_that_do_not_decode_are_refused():
    good = encode_array(np.arange(6.0).reshape(2, 3))
    assert decode_array(good, "x").shape == (2, 3)
    bad = [
        {"shape": [2, 3], "data": good["data"][:-4]},          # too short
        {"shape": [2, 4], "data": good["data"]},                # shape claims more
        {"shape": [2, "3"], "data": good["data"]},              # not ints
        {"shape": [2, 3], "data": "not base64!"},
        encode_array(np.array([1.0, np.nan])),                  # not finite
        {"shape": [2, 3], "data": good["data"], "extra": 1},
        "AAAA",
    ]
    for value in bad:
        with pytest.raises(PolicyFormatError):
            decode_array(value, "x")
    with pytest.raises(PolicyFormatError, match="expected"):
        decode_array(good, "x", shape=(3, 2))


def test_a_checkpoint_is_plain_numbers_and_resumes_the_same_training_state():
    import torch

    model, vecnormalize = _model("MountainCarContinuous-v0", True)
    data = json.loads(json.dumps(ckpt.save(model, vecnormalize)))
    assert ckpt.check(data) is data
    fresh, fresh_norm = _model("MountainCarContinuous-v0", True)
    fresh.policy.load_state_dict({k: torch.zeros_like(v) for k, v in fresh.policy.state_dict().items()})
    ckpt.restore(fresh, fresh_norm, data)
    for name, tensor in model.policy.state_dict().items():
        np.testing.assert_allclose(fresh.policy.state_dict()[name].numpy(), tensor.numpy(), rtol=1e-6)
    old, new = model.policy.optimizer.state_dict()["state"], fresh.policy.optimizer.state_dict()["state"]
    assert set(old) == set(new)
    for index in old:
        assert float(new[index]["step"]) == float(old[index]["step"])
        np.testing.assert_allclose(new[index]["exp_avg_sq"].numpy(), old[index]["exp_avg_sq"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(fresh_norm.obs_rms.mean, vecnormalize.obs_rms.mean, rtol=1e-6)
    assert fresh.num_timesteps == model.num_timesteps
    fresh.learn(64, reset_num_timesteps=False)  # and it trains on from there
    assert fresh.num_timesteps > model.num_timesteps
    with pytest.raises(PolicyFormatError, match="pickled"):
        ckpt.check({"model": "base64 zip", "vecnormalize": None})  # rewardsmith 0.1's format


def test_nothing_in_the_sandbox_or_the_trainer_unpickles():
    parent = SANDBOX.parent
    for path in [*SANDBOX.glob("*.py"), parent / "training" / "trainer.py", parent / "output" / "video.py",
                 parent / "training" / "replay.py"]:
        names = {a.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, (ast.Import, ast.ImportFrom))
                 for a in n.names} | {n.module for n in ast.walk(ast.parse(path.read_text()))
                                      if isinstance(n, ast.ImportFrom)}
        assert not names & {"pickle", "cloudpickle", "dill", "marshal", "shelve"}, path.name
        assert "PPO.load" not in path.read_text(), path.name


def test_the_evaluation_job_carries_no_code_and_its_handler_never_imports_reward_loading():
    tree = ast.parse((SANDBOX / "evaluate.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and ("rewardcode" in m or "wrapper" in m or "replay" in m)}
    assert "load_reward" not in (SANDBOX / "evaluate.py").read_text()
    # and the evaluation a training leads to is run with a job that has no code in it
    import rewardsmith.training.trainer as trainer

    jobs = []
    real = trainer.run_job

    def recording(job, limits, on_event=None):
        jobs.append(job)
        return real(job, limits, on_event)

    task = load_task("mountaincar-reach")
    model, vecnormalize = _model("MountainCarContinuous-v0", True)
    trainer.run_job = recording
    try:
        result = evaluate_policy(task, encode_policy(model, vecnormalize), seed=0, episodes=1, keep=1)
    finally:
        trainer.run_job = real
    assert [j["kind"] for j in jobs] == ["evaluate"] and "code" not in jobs[0]
    assert result["episodes"][0].length == 999 and len(result["trajectories"]) == 1
    trajectory = result["trajectories"][0]
    assert len(trajectory.obs) == len(trajectory.actions) + 1 == 1000
    assert set(trajectory.fields) == set(task.fields)


def test_replay_gives_the_reward_on_every_recorded_step():
    task = load_task("mountaincar-reach")
    model, vecnormalize = _model("MountainCarContinuous-v0", True)
    trajectory = evaluate_policy(task, encode_policy(model, vecnormalize), seed=0, episodes=1, keep=1)["trajectories"][0]
    code = ("def compute_reward(state, action, next_state):\n"
            "    gain = next_state.position - state.position\n"
            "    return 10 * gain, {'progress': 10 * gain, 'energy.l2': -float(action[0] ** 2)}\n")
    episode, = replay(task, code, [trajectory])
    positions = np.asarray(trajectory.fields["position"])
    np.testing.assert_allclose(episode.rewards, 10 * np.diff(positions), atol=1e-9)
    assert sorted(episode.components) == ["energy.l2", "progress"]
    assert len(episode.components["energy.l2"]) == len(trajectory.actions)
    failing = code.replace("return 10 * gain", "if len(state.obs) and next_state.position > 0.0:\n        "
                           "raise ValueError('boom')\n    return 10 * gain")
    short = replace(trajectory, fields={"position": [-0.5, -0.1, 0.2]}, obs=trajectory.obs[:3],
                    actions=trajectory.actions[:2])
    calm = replace(short, fields={"position": [-0.5, -0.4, -0.3]})
    with pytest.raises(RewardCodeError, match="step 2 of recorded episode 2"):
        replay(task, failing, [calm, short])
    with pytest.raises(ValueError, match="obs rows"):
        replay(task, code, [replace(short, obs=short.obs[:2])])
    no_obs = replace(short, obs=None)  # stored before trajectories kept obs
    assert replay(task, code, [no_obs])[0].rewards == pytest.approx([4.0, 3.0])
    with pytest.raises(RewardCodeError, match="obs"):
        replay(task, code.replace("10 * gain, {", "float(state.obs[0]), {"), [no_obs])


@pytest.mark.slow
def test_a_checkpoint_that_cannot_be_resumed_means_training_afresh_never_unpickling(caplog):
    from conftest import TINY_TASK
    from rewardsmith.task import load_task_file
    from rewardsmith.training.trainer import Budget, train_once

    task = load_task_file(TINY_TASK)
    old = {"model": "UEsDBBQAAAAIAA==", "vecnormalize": None, "timesteps": 256}  # rewardsmith 0.1's shape
    with caplog.at_level("WARNING", logger="rewardsmith.training.trainer"):
        result = train_once(task, None, 0, Budget(256), checkpoint=old, planned_total=512, eval_episodes=1)
    assert result.trained_steps == result.timesteps == 256  # from step 0, not from the checkpoint
    assert "trains afresh" in caplog.text and "pickled" in caplog.text
