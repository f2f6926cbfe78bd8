"""The shipped task library (tasks/): every task loads, describes its fields, has rewards the critic
accepts, a graded fitness, baselines that reproduce the native reward where they claim to, and field
functions that run standalone (the exported module carries their source)."""

from __future__ import annotations

import functools
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from rewardsmith.intake.critic import Critic
from rewardsmith.errors import TaskError
from rewardsmith.sandbox.rewardcode import load_reward
from rewardsmith.task import BUILTIN_TASKS_DIR, Episode, State, list_tasks, load_task, load_task_file

SHIPPED = [
    "acrobot-swingup", "ant-backward", "cartpole-balance", "cartpole-centered", "halfcheetah-backflip",
    "halfcheetah-forward", "hopper-forward", "hopper-jump", "inverted-double-pendulum",
    "inverted-pendulum", "mountaincar-reach", "pendulum-swingup", "reacher-reach", "swimmer-forward",
    "walker-forward",
]
# tasks whose goal is the environment's own objective: their BASELINE is the native reward as code
# (acrobot's goal is the environment's too, but its baseline is a height shaping that learns 4x sooner)
REPRODUCES_NATIVE = [
    "cartpole-balance", "halfcheetah-forward", "hopper-forward",
    "inverted-double-pendulum", "inverted-pendulum", "pendulum-swingup", "reacher-reach",
    "swimmer-forward", "walker-forward",
]


# where the environment ending an episode is the goal; every other shipped task ends on failure or never
ENDS_ON_SUCCESS = {"acrobot-swingup", "mountaincar-reach"}


@functools.lru_cache(maxsize=None)
def task_named(name):
    return load_task(name)


def rollout(task, policy, seed, names=None):
    """One episode under ``policy(env, rng)``, recorded the way the trainer records it."""
    env = task.make_env()
    env.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    names = list(task.fields) if names is None else list(names)
    obs, _ = env.reset(seed=seed)
    first = task.state_values(env, obs, names)
    fields = {n: [first[n]] for n in names}
    actions, native = [], []
    terminated = truncated = False
    while not (terminated or truncated):
        action = policy(env, rng)
        obs, reward, terminated, truncated, _ = env.step(action)
        values = task.state_values(env, obs, names)
        for n in names:
            fields[n].append(values[n])
        actions.append(np.asarray(action, dtype=float))
        native.append(float(reward))
    limit = env.spec.max_episode_steps
    env.close()
    return Episode(fields={n: np.asarray(v) for n, v in fields.items()}, actions=np.asarray(actions),
                   native_rewards=np.asarray(native), terminated=bool(terminated),
                   truncated=bool(truncated), max_steps=limit)


def random_policy(env, rng):
    return env.action_space.sample()


def constant_policy(env, rng):
    space = env.action_space
    if hasattr(space, "n"):
        return 0
    return np.full(space.shape, space.high * 0.5, dtype=space.dtype)


def test_every_shipped_task_is_listed():
    assert [t.name for t in list_tasks()] == SHIPPED


def test_tasks_command_lists_all_fifteen():
    env = dict(os.environ, COLUMNS="250", LITELLM_LOCAL_MODEL_COST_MAP="True")
    out = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "tasks"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    for name in SHIPPED:
        assert name in out.stdout
        assert task_named(name).env_id in out.stdout
        assert f"{task_named(name).training.timesteps:,}" in out.stdout
    assert "one training" in out.stdout and "~" in out.stdout


@pytest.mark.parametrize("name", SHIPPED)
def test_task_declares_what_a_designer_and_trainer_need(name):
    task = task_named(name)
    assert task.path.name == name.replace("-", "_") + ".py"
    assert len(task.fields) >= 3
    for f in task.fields.values():
        assert f.doc and f.unit, f"{name}.{f.name} lacks a doc or a unit"
    assert "action" in task.goal.lower()
    assert task.fitness_doc
    assert task.sparse
    assert 1 <= task.training.eval_episodes <= 5


@pytest.mark.parametrize("name", SHIPPED)
def test_training_settings_are_valid_and_say_why(name):
    training = task_named(name).training
    # the reason is recorded twice: TRAINING["source"] (exported with the reward) and a comment above it
    assert len(training.source) > 40 and "steps" in training.source  # what the settings are for, the budget
    source = task_named(name).path.read_text()
    above = source[:source.index("TRAINING = {")].rstrip().splitlines()[-1]
    assert above.startswith("#"), f"{name}: no comment above TRAINING says why these settings"
    assert 0 < training.timesteps <= 400_000
    # one training at the default budget: at most about 3 minutes of one idle core, by the measured speed
    assert training.steps_per_second and training.estimated_seconds() <= 180
    rollout = training.ppo.get("n_steps", 2048) * training.n_envs
    assert training.ppo.get("batch_size", 64) <= rollout <= training.timesteps


@pytest.mark.parametrize("name", SHIPPED)
def test_every_task_declares_what_the_env_ending_an_episode_means(name):
    # declared in the file, not left to the default: the analyzer's advice depends on it
    assert "\nTERMINATION = " in task_named(name).path.read_text()
    assert task_named(name).termination == ("success" if name in ENDS_ON_SUCCESS else "failure")


def task_file_with(tmp_path, replace, by):
    source = (BUILTIN_TASKS_DIR / "mountaincar_reach.py").read_text()
    assert replace in source
    path = tmp_path / "custom.py"
    path.write_text(source.replace(replace, by, 1))
    return path


def test_a_bad_termination_is_a_clear_task_error(tmp_path):
    path = task_file_with(tmp_path, 'TERMINATION = "success"', 'TERMINATION = "goal"')
    with pytest.raises(TaskError, match=r"TERMINATION is 'goal'; expected 'failure' .* or 'success'"):
        load_task_file(path)
    default = task_file_with(tmp_path, 'TERMINATION = "success"', "")
    assert load_task_file(default).termination == "failure"


@pytest.mark.parametrize("replace,by,message", [
    ('"timesteps": 30_000', '"timesteps": 1.5e4', r"TRAINING\['timesteps'\] must be a positive int"),
    ('"n_envs": 4', '"n_envs": 0', r"TRAINING\['n_envs'\] must be a positive int"),
    ('"ppo": {', '"ppo": {"n_step": 64, ', r"unknown PPO arguments \['n_step'\]"),
    ('"ppo": {', '"ppo": {"n_steps": 16, "batch_size": 128, ', r"n_steps x n_envs = 64 steps .* ppo\.batch_size \(128\)"),
    ('"normalize": False', '"normalize": "yes"', r"TRAINING\['normalize'\] must be True, False or a dict"),
    ('"eval_episodes": 5', '"eval_episodes": 5, "speed": 3', r"TRAINING has unknown keys \['speed'\]"),
    ('"steps_per_second": 3_100', '"steps_per_second": -1', r"steps_per_second'\] must be a positive number"),
])
def test_bad_training_settings_are_clear_task_errors(tmp_path, replace, by, message):
    path = task_file_with(tmp_path, replace, by)
    with pytest.raises(TaskError, match=message) as caught:
        load_task_file(path)
    assert str(path) in str(caught.value)


@pytest.mark.slow
def test_baselines_and_sparse_rewards_pass_the_critic():
    jobs = [(name, kind) for name in SHIPPED for kind in ("baseline", "sparse")]

    def check(job):
        name, kind = job
        task = task_named(name)
        return job, Critic(task, transitions=100).check(getattr(task, kind))

    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = list(pool.map(check, jobs))
    rejected = {job: verdict.report() for job, verdict in verdicts if not verdict.accepted}
    assert not rejected


@pytest.mark.parametrize("name", SHIPPED)
def test_fitness_is_a_graded_float_on_simple_policies(name):
    task = task_named(name)
    values = []
    for policy, seed in ((random_policy, 0), (random_policy, 1), (constant_policy, 2)):
        # record only what the fitness reads, as training does
        episode = rollout(task, policy, seed, names=task.fitness_fields)
        value = task.fitness(episode)
        assert isinstance(value, float) and math.isfinite(value), (name, value)
        values.append(value)
    assert len(set(values)) > 1, f"{name}: fitness {values} does not tell these policies apart"


def test_fitness_ranks_a_balancing_controller_above_random_play():
    task = task_named("pendulum-swingup")

    def hold_upright(env, rng):  # a PD controller: holds the pendulum when it starts near the top
        angle = ((env.unwrapped.state[0] + math.pi) % (2 * math.pi)) - math.pi
        return np.clip([-10.0 * angle - 2.0 * env.unwrapped.state[1]], -2.0, 2.0).astype(np.float32)

    seeds = range(8)
    held = np.mean([task.fitness(rollout(task, hold_upright, s)) for s in seeds])
    random = np.mean([task.fitness(rollout(task, random_policy, s)) for s in seeds])
    assert held > random + 0.05


@pytest.mark.parametrize("name", REPRODUCES_NATIVE)
def test_baseline_equals_the_native_reward_step_by_step(name):
    task = task_named(name)
    reward = load_reward(task.baseline)
    env = task.make_env()
    env.action_space.seed(3)
    obs, _ = env.reset(seed=3)
    state, steps = task.state_values(env, obs), 0
    while steps < 300:
        action = np.asarray(env.action_space.sample())
        obs, native, terminated, truncated, _ = env.step(action)
        next_state = task.state_values(env, obs)
        total, components = reward(State(state), action, State(next_state))
        # float32 actions make the env's control cost exact only to float32 precision
        assert total == pytest.approx(float(native), rel=1e-6, abs=1e-6), (name, steps)
        assert total == pytest.approx(sum(components.values()), rel=1e-9, abs=1e-9)
        state, steps = next_state, steps + 1
        if terminated or truncated:
            obs, _ = env.reset()
            state = task.state_values(env, obs)
    env.close()


@pytest.mark.parametrize("name", SHIPPED)
def test_field_sources_run_standalone_with_numpy_and_math_only(name):
    task = task_named(name)
    standalone = {}
    for f in task.fields.values():
        namespace = {}
        exec("import math\nimport numpy as np\n" + f.source(), namespace)  # noqa: S102 - our own source
        standalone[f.name] = namespace[f.name]
    env = task.make_env()
    env.action_space.seed(4)
    obs, _ = env.reset(seed=4)
    for _ in range(20):
        reference = task.state_values(env, obs)
        for field_name, fn in standalone.items():
            value = fn(env.unwrapped, obs)
            np.testing.assert_array_equal(np.asarray(value), np.asarray(reference[field_name]))
            assert np.all(np.isfinite(np.asarray(value, dtype=float)))
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()


def test_field_values_are_snapshots_not_live_views():
    task = task_named("hopper-forward")
    env = task.make_env()
    obs, _ = env.reset(seed=5)
    before = task.state_values(env, obs)
    saved = {k: np.array(v, copy=True) for k, v in before.items()}
    env.step(env.action_space.sample())
    for name, value in before.items():
        np.testing.assert_array_equal(np.asarray(value), saved[name], err_msg=name)
    env.close()


def test_backflip_fitness_counts_backward_turns():
    task = task_named("halfcheetah-backflip")
    pitch = np.linspace(0.0, -2.5 * 2 * math.pi, 11)
    episode = Episode(fields={"pitch": pitch}, actions=np.zeros((10, 6)), native_rewards=np.zeros(10),
                      terminated=False, truncated=True, max_steps=1000)
    assert task.fitness(episode) == pytest.approx(2.5)
    reward = load_reward(task.sparse)
    flips = [reward(State({"pitch": a}), None, State({"pitch": b}))[0] for a, b in zip(pitch, pitch[1:])]
    assert sum(flips) == 2.0


@pytest.mark.slow
def test_a_short_training_run_trains_and_scores():
    from rewardsmith.training.trainer import Budget, train

    task = task_named("cartpole-balance")
    score = train(task, task.baseline, seeds=[0], budget=Budget(3_000), eval_episodes=2)
    run = score.runs[0]
    assert run.timesteps >= 3_000
    assert 1.0 <= score.mean <= 500.0
    assert run.snapshots and "alive" in score.component_summary()
    assert run.steps_per_second > 0


@pytest.mark.slow
def test_a_mujoco_task_trains_with_its_default_settings():
    # hopper-forward's own settings (16 envs in one process, VecNormalize, batch 512) through the sandboxed
    # trainer, for two rollouts instead of the whole budget
    from rewardsmith.training.trainer import Budget, train

    task = task_named("hopper-forward")
    rollout = task.training.ppo["n_steps"] * task.training.n_envs
    score = train(task, task.baseline, seeds=[0], budget=Budget(2 * rollout), eval_episodes=1)
    run = score.runs[0]
    assert run.timesteps == 2 * rollout
    assert math.isfinite(score.mean) and run.steps_per_second > 0
    assert set(score.component_summary()) == {"forward", "healthy", "control"}


def test_the_training_wrapper_gives_the_observation_to_a_reward_that_reads_it():
    # the wrapper copies obs only for rewards that mention it; one that does must still see it, frozen
    from rewardsmith.sandbox.wrapper import RewardWrapper

    task = task_named("mountaincar-reach")
    code = ("def compute_reward(state, action, next_state):\n"
            "    return float(next_state.obs[0] - state.obs[0]), {'moved': float(next_state.position)}\n")
    env = RewardWrapper(task.make_env(), task, load_reward(code), code)
    before, _ = env.reset(seed=0)
    after, reward, _, _, info = env.step(np.array([1.0], dtype=np.float32))
    assert reward == pytest.approx(float(after[0] - before[0]))
    assert info["reward_components"]["moved"] == pytest.approx(float(after[0]))
    env.close()


def test_the_critic_warns_when_a_success_ending_task_pays_for_every_step():
    # mountain car ends an episode at the flag: a reward positive on every step pays the car to avoid it
    task = task_named("mountaincar-reach")
    stay = "def compute_reward(state, action, next_state):\n    return 1.0 + next_state.height, {'alive': 1.0}\n"
    verdict = Critic(task, transitions=100).check(stay)
    warning = {f.rule: f.message for f in verdict.warnings}["termination"]
    assert verdict.accepted and "TERMINATION = 'success'" in warning and "stays away from the goal" in warning
    # the same reward on a task whose env ends an episode on failure gets no such warning (staying up is good)
    assert "termination" not in {f.rule for f in Critic(task_named("cartpole-balance"), transitions=100).check(
        "def compute_reward(state, action, next_state):\n    return 1.0, {'alive': 1.0}\n").warnings}
    # the baseline (energy gain plus a flag bonus, negative on many steps) gets none either
    assert "termination" not in {f.rule for f in Critic(task, transitions=100).check(task.baseline).warnings}
