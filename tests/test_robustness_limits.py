"""Limits on what reward code hands back and how long it may take, held whatever the code does: a huge
finite reward fails the candidate as NaN does (rewardcode.MAX_REWARD), and a batch's time limit holds
even for reward code that catches every exception (a bare ``except:`` or ``except BaseException``)."""

from __future__ import annotations

import os
import textwrap
import time

import numpy as np
import pytest

from rewardsmith.errors import RewardCodeError, SandboxError
from rewardsmith.intake.critic import Critic
from rewardsmith.host.launch import Limits
from rewardsmith.sandbox import rewardserver
from rewardsmith.sandbox.rewardcode import MAX_REWARD, validate
from rewardsmith.sandbox.rewardserver import Layout, RemoteReward, RewardServer, encode, load, spec_of, write_frame
from rewardsmith.task import load_task

from conftest import TINY_TASK


def reward(body: str) -> str:
    return "import numpy as np\nimport math\n\ndef compute_reward(state, action, next_state):\n" + \
        textwrap.indent(textwrap.dedent(body), "    ")


def one_batch(server: RewardServer, positions=(0.5,)):
    """``server``'s answer to one batch of transitions that read ``position``, one per env."""
    values = [*positions, *[np.zeros(1) for _ in positions], *[p + 0.01 for p in positions]]
    specs = tuple(map(spec_of, values))
    layout = Layout({"keys": ["position"], "specs": specs, "envs": len(positions)})
    return server.batch(layout, encode(values, specs), "during training (step 7 of this leg)")


# --------------------------------------------------------------------------- huge finite rewards


@pytest.mark.parametrize("answer, what", [
    ((1e30, {}), "1e+30 as the total"),
    ((-2e6, {"a": 1.0}), "-2e+06 as the total"),
    ((0.0, {"blowup": 1e7}), "1e+07 as component 'blowup'"),
    ((np.float32(3e38), {}), "as the total"),
    ((0.0, {"b": np.float64(-1e300)}), "-1e+300 as component 'b'"),
])
def test_a_reward_above_the_bound_fails_like_nan(answer, what):
    with pytest.raises(RewardCodeError) as caught:
        validate(answer)
    text = str(caught.value)
    assert what in text and f"magnitude at most {MAX_REWARD:g}" in text and "Likely cause" in text


def test_rewards_up_to_the_bound_pass_unchanged():
    assert validate((MAX_REWARD, {"a": -MAX_REWARD, "b": 0.5})) == (1e6, {"a": -1e6, "b": 0.5})
    assert validate((np.float64(-1e6), {"c": np.float32(2.0)})) == (-1e6, {"c": 2.0})


def test_a_huge_reward_during_training_names_the_value_the_step_and_the_env():
    code = reward("x = 1e30 if next_state.position > 1.0 else 0.0\nreturn x, {'x': x}")
    server = RewardServer(load(code), code, seconds=5.0)
    assert one_batch(server, (0.5, 0.2))[0] == [0.0, 0.0]
    with pytest.raises(RewardCodeError) as caught:
        one_batch(server, (0.5, 2.0))
    text = str(caught.value)
    assert "returned 1e+30 as the total" in text
    assert "during training (step 7 of this leg), env 2 of 2" in text and "returned at line 6" in text


def test_the_learner_refuses_a_huge_reward_from_a_reward_process_that_escaped_its_checks():
    requests_read, requests_write = os.pipe()
    replies_read, replies_write = os.pipe()
    remote = RemoteReward(requests_write, replies_read, ["position"], reply_seconds=2)
    try:
        write_frame(replies_write, b"N", b'[["a"]]')
        write_frame(replies_write, b"R", np.array([1e30, 0.0]).tobytes())
        with pytest.raises(SandboxError) as caught:
            remote.rewards([([0.5], np.zeros(1), [0.51])])
        assert caught.value.kind == "protocol" and "magnitude above 1e+06" in str(caught.value)
    finally:
        remote.close()
        os.close(requests_read)
        os.close(replies_write)


def test_the_critic_s_probe_rejects_a_huge_reward_naming_the_transition():
    critic = Critic(load_task(str(TINY_TASK)), transitions=20, limits=Limits(wall_seconds=60, memory_mb=1536))
    code = reward("return 1e9 * (1.0 + next_state.position ** 2), {}")
    verdict = critic.check(code)
    assert not verdict.accepted
    message = verdict.errors[0].message
    assert "as the total (first element of (total, components)); expected a real number of magnitude at " \
        "most 1e+06" in message
    assert "on transition 1 of 20" in message and "returned at line 5" in message


# --------------------------------------------------------------------------- the batch time limit


# (body, guarded): reward code loaded under the Python layers, whose builtins have no BaseException,
# or with the real builtins, as reward code that escaped those layers runs
SWALLOWS = {
    "bare-except": ("try:\n    while True:\n        pass\nexcept:\n    pass\nreturn 0.0, {}", True),
    "except-BaseException": ("try:\n    while True:\n        pass\nexcept BaseException:\n    pass\n"
                             "return 0.0, {}", False),
    "then-raises": ("try:\n    while True:\n        pass\nexcept:\n    raise ValueError('no')", True),
}


@pytest.mark.parametrize("body, guarded", SWALLOWS.values(), ids=SWALLOWS.keys())
def test_reward_code_that_catches_the_time_limit_still_fails_the_batch(body, guarded):
    code = reward(body)
    server = RewardServer(load(code, guarded), code, seconds=0.3)
    started = time.monotonic()
    with pytest.raises(RewardCodeError) as caught:
        one_batch(server, (0.5, 0.4, 0.3))
    text = str(caught.value)
    assert "took more than 0.3 s on one step's 3 transitions at line 6 (`while True:`)" in text \
        or "at line 7 (`pass`)" in text, text
    assert "it caught the time limit's stop" in text and "during training (step 7 of this leg)" in text
    assert time.monotonic() - started < 0.3 + 1.0  # one call, not one per env


def test_after_a_caught_stop_the_next_batch_has_its_full_time():
    code = reward("if next_state.position > 1.0:\n    try:\n        while True:\n            pass\n"
                  "    except:\n        pass\nreturn 1.0, {}")
    server = RewardServer(load(code), code, seconds=0.3)
    with pytest.raises(RewardCodeError, match="caught the time limit's stop"):
        one_batch(server, (2.0,))
    assert one_batch(server, (0.5,)) == ([1.0], [{}])


def _serve_in_a_child(code: str, batch_seconds: float):
    """A reward process (``reward_job``) in a forked child, unconfined, and the learner's end of it."""
    requests_read, requests_write = os.pipe()
    replies_read, replies_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: serve, then leave without running the parent's test machinery
        status = 1
        try:
            os.close(requests_write)
            os.close(replies_read)
            rewardserver.reward_job({"requests": requests_read, "replies": replies_write, "code": code,
                                     "batch_seconds": batch_seconds}, lambda message: None)
            status = 0
        finally:
            os._exit(status)
    os.close(requests_read)
    os.close(replies_write)
    return pid, RemoteReward(requests_write, replies_read, ["position"], reply_seconds=20)


def test_reward_code_that_catches_the_stop_and_keeps_running_is_stopped_from_outside_its_frames():
    # every stop it is told is caught, so only the reward process itself can end the batch
    code = reward("while True:\n    try:\n        while True:\n            pass\n    except:\n        pass")
    pid, remote = _serve_in_a_child(code, batch_seconds=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(RewardCodeError) as caught:
            remote.rewards([([0.5], np.zeros(1), [0.51])])
    finally:
        remote.close()
        _, status = os.waitpid(pid, 0)
    assert time.monotonic() - started < 5  # well before the learner's 20 s wait
    text = str(caught.value)
    assert "took more than 0.3 s on one step's 1 transitions at line 7 (`while True:`)" in text, text
    assert "it caught the time limit's stop" in text and "during training (step 1 of this leg)" in text
    assert os.waitstatus_to_exitcode(status) == rewardserver.STUCK_EXIT


def test_a_huge_reward_reaches_the_learner_as_the_reward_s_error():
    code = reward("return 1e30, {'x': 1.0}")
    pid, remote = _serve_in_a_child(code, batch_seconds=5)
    try:
        with pytest.raises(RewardCodeError, match=r"returned 1e\+30 as the total.*during training \(step 1 "):
            remote.rewards([([0.5], np.zeros(1), [0.51])])
    finally:
        remote.close()
        os.waitpid(pid, 0)


def test_in_the_sandbox_the_stop_is_said_and_the_process_ends_under_every_layer():
    # the audit hook refuses much while reward code is on the stack; the stop from outside its frames
    # must still get its message out and end the process
    import threading

    from rewardsmith.host.launch import run_job

    code = reward("while True:\n    try:\n        while True:\n            pass\n    except:\n        pass")
    requests_read, requests_write = os.pipe()
    replies_read, replies_write = os.pipe()
    outcome: dict = {}

    def serve():
        try:
            outcome["result"] = run_job({"kind": "reward", "code": code, "requests": requests_read,
                                         "replies": replies_write, "batch_seconds": 0.5},
                                        Limits(wall_seconds=30, memory_mb=1024),
                                        pass_fds=(requests_read, replies_write))
        except SandboxError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    remote = RemoteReward(requests_write, replies_read, ["position"], reply_seconds=20)
    started = time.monotonic()
    try:
        with pytest.raises(RewardCodeError) as caught:
            remote.rewards([([0.5], np.zeros(1), [0.51])])
    finally:
        remote.close()
        thread.join()
        os.close(requests_read)
        os.close(replies_write)
    assert time.monotonic() - started < 10
    assert "at line 7 (`while True:`)" in str(caught.value) and "caught the time limit's stop" in str(caught.value)
    assert "error" in outcome  # the process ended without a result: it did not go on serving
