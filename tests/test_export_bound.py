"""The exported module holds a reward to the bound the search held it to (``rewardcode.MAX_REWARD``, CONTRACT
§1): a step whose total or a term is above it in magnitude, or not finite, stops the user's training with an
error naming the value and the limit, as it failed the candidate in the sandbox; a reward within it is
unchanged. Each reward here passes the static critic (export checks it), so only its numbers go wrong."""

import importlib.util

import numpy as np
import pytest

from rewardsmith.errors import RewardCodeError
from rewardsmith.intake.critic import static_findings
from rewardsmith.output.export import export_module, render_module
from rewardsmith.sandbox.rewardcode import MAX_REWARD, load_reward, validate
from rewardsmith.task import load_task

TASK = load_task("mountaincar-reach")
META = {"candidate": "c4"}

# the total: SCALE times (1 + the flag), so 2e6 on every step away from the flag
REWARD = '''import numpy as np


def compute_reward(state, action, next_state):
    total = SCALE * (1.0 + next_state.at_flag)
    return total, {"progress": TERM * (1.0 + next_state.at_flag), "effort": -0.1 * float(np.sum(np.square(action)))}
'''


def reward(scale: str, term: str = "0.5") -> str:
    return f"SCALE = {scale}\nTERM = {term}\n" + REWARD


def _load(path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _one_step(tmp_path, code):
    """What a user's training sees on its first step with the exported module's wrapper, and what the
    sandbox's check (``rewardcode.validate``, run on the same code's return value) said of that step."""
    assert [f for f in static_findings(code, list(TASK.fields)) if f.severity == "error"] == []
    module = _load(export_module(TASK, code, META, tmp_path / "bounded_reward.py"))
    env = module.make_env()
    obs, _ = env.reset(seed=0)
    state, action = module.state_of(env, obs), np.array([0.25], dtype=np.float32)
    raw = load_reward(code)(state, action, state)  # the reward as the sandbox loads it, on this state
    try:
        sandbox = validate(raw)
    except RewardCodeError as exc:
        sandbox = exc
    try:
        user = env.step(action)
    except ValueError as exc:
        user = exc
    return module, sandbox, user


def test_the_module_carries_the_sandbox_s_bound():
    text = render_module(TASK, reward("1.0"), META)
    assert f"\nMAX_REWARD = {float(MAX_REWARD)!r}\n" in text and MAX_REWARD == 1e6


@pytest.mark.parametrize("scale, term, what", [
    ("2000000.0", "0.5", "the total"),        # 2e6: above the bound
    ("-2000000.0", "0.5", "the total"),       # and below its negative
    ("1.0", "2000000.0", "component 'progress'"),  # a term alone out of bounds
])
def test_a_reward_above_the_bound_stops_the_user_s_training_as_it_failed_in_the_sandbox(tmp_path, scale, term, what):
    _, sandbox, user = _one_step(tmp_path, reward(scale, term))
    assert isinstance(sandbox, RewardCodeError) and "magnitude at most 1e+06" in str(sandbox)
    assert isinstance(user, ValueError)
    value = f"{float(scale) if what == 'the total' else float(term):.6g}"
    assert str(user).startswith(f"compute_reward returned {value} as {what};")
    assert "at most 1e+06 per step" in str(user) and "sandbox" in str(user)


@pytest.mark.parametrize("scale", ["math.nan", "math.inf", "-math.inf"])
def test_a_non_finite_reward_stops_the_user_s_training_as_it_failed_in_the_sandbox(tmp_path, scale):
    code = "import math\n" + reward(scale)
    _, sandbox, user = _one_step(tmp_path, code)
    assert isinstance(sandbox, RewardCodeError) and "expected a finite real number" in str(sandbox)
    assert isinstance(user, ValueError)
    assert str(user) == f"compute_reward returned {float(scale.replace('math.', ''))} as the total; " \
                        f"expected a finite number"


@pytest.mark.parametrize("scale", ["1000000.0", "-1000000.0", "3.5"])
def test_a_reward_within_the_bound_is_unchanged(tmp_path, scale):
    # the bound itself is allowed, as in the sandbox
    module, sandbox, user = _one_step(tmp_path, reward(scale, "-1000000.0"))
    obs, total, _, _, info = user
    assert sandbox[0] == total == float(scale) and info["reward_components"] == sandbox[1]
    assert info["reward_components"]["progress"] == -1e6


def test_a_reward_that_names_its_own_max_reward_keeps_it_and_the_module_keeps_the_sandbox_s(tmp_path):
    # a reward's own MAX_REWARD = 5.0 (a cap it clips to, say) takes the name; the module's bound steps aside
    code = "MAX_REWARD = 5.0\n" + reward("min(MAX_REWARD, 2000000.0)").replace("SCALE * (", "SCALE + 10.0 * (")
    module, sandbox, user = _one_step(tmp_path, code)
    assert module.MAX_REWARD == 5.0 and module.MAX_REWARD_ == MAX_REWARD
    assert "the reward code defines its own `MAX_REWARD`, so this module's is `MAX_REWARD_`" in \
        render_module(TASK, code, META)
    assert user[1] == sandbox[0] == 15.0  # above the reward's 5 but within the bound: trained on as scored
    big = "MAX_REWARD = 5.0\n" + reward("2000000.0")
    _, _, refused = _one_step(tmp_path, big)
    assert isinstance(refused, ValueError) and "at most 1e+06" in str(refused)

