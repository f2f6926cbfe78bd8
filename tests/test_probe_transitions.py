"""The critic's probe transitions (sandbox/probe.py): rolled out once per critic, outside the probe, and sent
with every value's dtype, so the reward sees in the probe exactly what the environment gave; a task field that
gives no number is a clear error naming the field, not a rejected reward."""

import numpy as np
import pytest

from rewardsmith.errors import TaskError
from rewardsmith.intake.critic import Critic
from rewardsmith.sandbox.probe import decode_transitions, encode_transitions, random_transitions
from rewardsmith.task import load_task, load_task_file
from conftest import invoke

GOOD = "def compute_reward(state, action, next_state):\n    return float(next_state.position), {}\n"


@pytest.mark.parametrize("name", ["mountaincar-reach", "cartpole-balance"])
def test_every_value_comes_back_with_its_type_dtype_and_shape(name):
    sent = random_transitions(load_task(name), 12, 3)
    back = decode_transitions(encode_transitions(sent))
    assert len(back) == len(sent)
    for (s, a, s2), (t, b, t2) in zip(sent, back):
        for x, y in [(a, b), *((s[k], t[k]) for k in s), *((s2[k], t2[k]) for k in s2)]:
            assert type(x) is type(y), (x, y)
            if isinstance(x, np.ndarray):
                assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)
                assert not y.flags.writeable  # read-only, as the environment's values are given to reward code
            else:
                assert x == y


def test_a_critic_rolls_its_transitions_out_once():
    critic = Critic(load_task("mountaincar-reach"), transitions=5)
    assert critic.probe_transitions() is critic.probe_transitions()


def test_a_field_that_gives_no_number_is_the_tasks_error_naming_it(tmp_path):
    source = (load_task("mountaincar-reach").path).read_text()
    bad = source.replace('NAME = "mountaincar-reach"', 'NAME = "word-field"').replace(
        "def at_flag(env, obs):\n", "def at_flag(env, obs):\n    return 'yes'\n", 1)
    assert bad != source
    path = tmp_path / "word_field.py"
    path.write_text(bad)
    with pytest.raises(TaskError, match="state field 'at_flag' gave a str"):
        Critic(load_task_file(path), transitions=3).check(GOOD)
    (tmp_path / "r.py").write_text(GOOD)
    result = invoke("check", "--task", path, tmp_path / "r.py")
    assert result.exit_code != 0 and "state field 'at_flag' gave a str" in result.output
