"""The reward process: candidate code runs only there, and the policy is PPO's on the numbers it sends.

Training is two sandboxed processes (``launch.run_with_reward_process``): the learner, which never
loads candidate code, and the reward process, which turns each step's batch of transitions into
reward numbers. The hostile rewards here run with the Python layers off (``Layers(python=False)``:
the real builtins, as reward code would have after an escape) and try to replace the policy.
"""

from __future__ import annotations

import base64
import json
import os
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.host import launch
from rewardsmith.host.confinement import Layers
from rewardsmith.errors import RewardCodeError, SandboxError, TrainingError
from rewardsmith.host.launch import Limits, run_with_reward_process
from rewardsmith.sandbox import rewardserver
from rewardsmith.sandbox.rewardserver import Layout, RemoteReward, encode, spec_of, write_frame
from rewardsmith.task import load_task
from rewardsmith.training.trainer import Budget, _trained, evaluate_policy, job_for, train_once

TASK = load_task("mountaincar-reach")
SANDBOX = Path(rewardserver.__file__).parent
LIMITS = Limits(wall_seconds=240, memory_mb=4096)
SHORT = {"ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 2}}  # 256 steps per rollout of 4 envs
OS_ONLY = Layers(python=False)  # bubblewrap, seccomp, Landlock and limits; the reward gets the real builtins

# an honest reward: what each hostile one returns
HONEST = '''
def compute_reward(state, action, next_state):
    forward = 10.0 * (next_state.position - state.position)
    return forward, {"forward": forward}
'''


def train(code: str, layers: Layers = Layers(), timesteps: int = 512, **options) -> dict:
    """Trains ``code`` as trainer.train_once does (the learner beside a reward process); gives the
    learner's checked result."""
    job = job_for(TASK, code, 0, Budget(timesteps), settings=SHORT)
    reads = rewardserver.fields_read_by(code, ["obs", *TASK.fields])
    return _trained(run_with_reward_process(job, LIMITS, reads=reads, layers=layers, **options), False)


def arrays(policy: dict) -> list[np.ndarray]:
    layers = [*policy["layers"], policy["head"]]
    return [np.frombuffer(base64.b64decode(p[k]["data"]), "<f4") for p in layers for k in ("weight", "bias")]


def controller(policy: dict) -> dict:
    """A hand-written bang-bang controller in the trained policy's format: push the way the car moves
    (what a forged policy scored 1.92 with, against 0.06 for honest training)."""
    def encoded(array):
        return {"shape": list(array.shape), "data": base64.b64encode(array.astype("<f4").tobytes()).decode()}

    forged = json.loads(json.dumps(policy))
    first, second = forged["layers"]
    w1 = np.zeros(first["weight"]["shape"])
    w1[0, 1] = 1000.0  # velocity
    w2 = np.zeros(second["weight"]["shape"])
    w2[0, 0] = 1000.0
    head = np.zeros(forged["head"]["weight"]["shape"])
    head[0, 0] = 1.0
    for layer, weight in ((first, w1), (second, w2), (forged["head"], head)):
        layer["weight"] = encoded(weight)
        layer["bias"] = encoded(np.zeros(layer["bias"]["shape"]))
    return forged


@pytest.fixture(scope="module")
def honest():
    return train(HONEST)


# --------------------------------------------------------------------------- a hostile reward process


@pytest.mark.slow  # a real training in two processes: over 3 s
def test_a_forged_result_from_the_reward_process_is_never_the_policy(honest):
    forged = controller(honest["policy"])
    # the controller the attack sends is worth ~1.92, honest training of this budget ~0.05: the test can fail
    assert evaluate_policy(TASK, forged, 0, 1)["episodes"][0].fitness > 1.5
    hostile = textwrap.dedent(f'''
        import json, os, signal, sys
        FORGED = json.loads({json.dumps(forged)!r})
        sent = []

        def forge():
            # the child's own protocol pipe and token, from its frames: a perfect forged result
            frame = sys._getframe()
            while frame is not None and "token" not in frame.f_locals:
                frame = frame.f_back
            token, out = frame.f_locals["token"], frame.f_locals["out"]
            out.write(json.dumps({{"event": "result", "token": token, "result": {{
                "policy": FORGED, "seed": 0, "timesteps": 512, "trained_steps": 512, "train_seconds": 1.0,
                "steps_per_second": 512.0, "snapshots": [], "stopped_early": None}}}}) + "\\n")
            out.flush()
            for pid in (os.getppid(), 1):  # and at the processes it can name
                try:
                    os.kill(pid, signal.SIGSTOP)
                except OSError:
                    pass
    ''') + HONEST.replace("    forward =", "    if not sent:\n        sent.append(forge())\n    forward =", 1)
    result = train(hostile, OS_ONLY)
    assert all(np.array_equal(a, b) for a, b in zip(arrays(result["policy"]), arrays(honest["policy"])))
    assert not all(np.array_equal(a, b) for a, b in zip(arrays(result["policy"]), arrays(forged)))
    assert result["snapshots"][-1].components == honest["snapshots"][-1].components


@pytest.mark.slow  # a real training in two processes: over 3 s
def test_a_forged_answer_on_the_reward_pipe_fails_the_training_clearly():
    hostile = textwrap.dedent('''
        import json, sys

        def compute_reward(state, action, next_state):
            frame = sys._getframe()
            while "replies" not in frame.f_locals:
                frame = frame.f_back
            # a JSON result where the learner expects a frame: whatever it is, it is no policy
            line = json.dumps({"event": "result", "result": {"policy": "forged"}}).encode() + b"\\n"
            import os
            os.write(frame.f_locals["replies"], line)
            return 0.0, {}
    ''')
    started = time.monotonic()
    with pytest.raises(SandboxError) as caught:
        train(hostile, OS_ONLY)
    assert caught.value.kind == "protocol"
    assert "the reward process sent" in str(caught.value) and "discarded" in str(caught.value)
    assert time.monotonic() - started < 120


@pytest.mark.slow  # a real training in two processes: over 3 s
def test_a_reward_process_that_dies_fails_the_training_and_leaves_nothing(monkeypatch):
    spawned = []

    class RecordingPopen(launch.subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            spawned.append(self)

    monkeypatch.setattr(launch.subprocess, "Popen", RecordingPopen)
    hostile = "import os, signal\n" + HONEST.replace(
        "    forward =", "    os.kill(os.getpid(), signal.SIGKILL)\n    forward =", 1)
    with pytest.raises(SandboxError) as caught:
        train(hostile, OS_ONLY)
    assert "the reward process failed" in str(caught.value) and "died with exit code" in str(caught.value)
    assert len(spawned) == 2
    for proc in spawned:
        assert proc.poll() is not None
        with pytest.raises(ProcessLookupError):
            os.killpg(proc.pid, 0)


@pytest.mark.slow  # a real training in two processes: over 3 s
def test_a_reward_process_that_hangs_fails_the_training_after_the_reply_deadline():
    # it switches off its own process's timer for slow batches: only the learner's deadline is left
    hostile = "import signal, time\n" + HONEST.replace(
        "    forward =", "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    time.sleep(3600)\n    forward =", 1)
    started = time.monotonic()
    with pytest.raises(SandboxError) as caught:
        train(hostile, OS_ONLY, reply_seconds=3)
    assert caught.value.kind == "timeout"
    assert "did not answer within 3 s" in str(caught.value)
    assert time.monotonic() - started < 90


# --------------------------------------------------------------------------- reward errors, as before


@pytest.mark.slow  # a real training in two processes: over 3 s
def test_an_infinite_loop_in_reward_code_fails_the_training_naming_its_line():
    code = HONEST.replace("    forward =", "    while next_state.position < 1:\n        pass\n    forward =", 1)
    started = time.monotonic()
    with pytest.raises(SandboxError) as caught:
        train(code, reply_seconds=8)
    assert caught.value.kind == "RewardCodeError"
    assert "took more than 4 s on one step's 4 transitions at line 3 (`while next_state.position < 1:`)" \
        in str(caught.value) or "at line 4 (`pass`)" in str(caught.value)
    assert "during training" in str(caught.value) and "infinite loop" in str(caught.value)
    assert time.monotonic() - started < 90


@pytest.mark.slow  # a real training in two processes: over 3 s
def test_a_reward_error_fails_the_training_with_the_reward_s_message():
    code = HONEST.replace("    forward =", "    forward = 1 / 0 if next_state.position < 1 else 0\n"
                          "    forward =", 1)
    with pytest.raises(TrainingError) as caught:
        train_once(TASK, code, 0, Budget(512), eval_episodes=1)
    text = str(caught.value)
    assert "(the reward code)" in text
    assert "compute_reward raised ZeroDivisionError" in text and "during training" in text
    assert "at line 3 (`forward = 1 / 0" in text


@pytest.mark.slow  # a real training in two processes: over 3 s
def test_code_that_does_not_load_fails_the_training_with_the_reward_s_message():
    with pytest.raises(TrainingError) as caught:
        train_once(TASK, "def compute_reward(state, action, next_state):\n    return (\n", 0, Budget(256))
    assert "(the reward code)" in str(caught.value) and "while loading the module" in str(caught.value)


# --------------------------------------------------------------------------- the learner never loads code


def test_the_learner_never_loads_candidate_code():
    for name in ("train.py", "wrapper.py"):
        source = (SANDBOX / name).read_text()
        assert "load_reward" not in source and "rewardserver import load" not in source, name
    from rewardsmith.sandbox.train import train_job

    with pytest.raises(ValueError, match="never loads reward code"):
        train_job({"code": HONEST}, lambda message: None)


# --------------------------------------------------------------------------- the learner checks every answer


class Pipes:
    """The learner's ends of the two pipes, and the other ends for a hostile reward process here."""

    def __init__(self):
        self.requests_read, self.requests_write = os.pipe()
        self.replies_read, self.replies_write = os.pipe()
        self.remote = RemoteReward(self.requests_write, self.replies_read, ["position"], reply_seconds=0.5)

    def close(self):
        self.remote.close()
        os.close(self.requests_read)
        os.close(self.replies_write)


@pytest.fixture
def pipes():
    made = Pipes()
    yield made
    made.close()


TRANSITIONS = [([-0.5], np.zeros(1), [-0.49]), ([-0.4], np.ones(1), [-0.41])]


@pytest.mark.parametrize("frames, expected", [
    ([(b"R", np.zeros(2).tobytes())], "rewards before the names"),
    ([(b"N", b'[["a"], ["a"]]'), (b"R", np.zeros(3).tobytes())], "24 bytes of rewards (expected 32"),
    ([(b"N", b'[[], []]'), (b"R", np.array([0.0, np.nan]).tobytes())], "not finite"),
    ([(b"N", b'[["a b"], []]')], "a bad component name"),
    ([(b"N", b'[["a", "a"], []]')], "distinct strings"),
    ([(b"N", b'[[]]')], "other than 2 transitions"),
    ([(b"X", b"")], "unknown kind"),
    ([(b"E", b'{"message": 3}')], "not a message"),
])
def test_a_malformed_answer_is_a_protocol_error(pipes, frames, expected):
    for kind, body in frames:
        write_frame(pipes.replies_write, kind, body)
    with pytest.raises(SandboxError) as caught:
        pipes.remote.rewards(TRANSITIONS)
    assert caught.value.kind == "protocol"
    assert expected in str(caught.value)


def test_a_frame_claiming_a_huge_length_is_refused_unread(pipes):
    os.write(pipes.replies_write, b'{"event": "result"}\n')  # read as a header: a 2 GB frame
    with pytest.raises(SandboxError, match="a frame of"):
        pipes.remote.rewards(TRANSITIONS)


def test_answers_are_given_back_per_env_and_errors_as_reward_errors(pipes):
    write_frame(pipes.replies_write, b"N", b'[["a", "b"], []]')
    write_frame(pipes.replies_write, b"R", np.array([1.5, -2.0, 0.25, 0.5]).tobytes())
    assert pipes.remote.rewards(TRANSITIONS) == ([1.5, -2.0], [{"a": 0.25, "b": 0.5}, {}])
    write_frame(pipes.replies_write, b"E", b'{"message": "compute_reward raised KeyError"}')
    with pytest.raises(RewardCodeError, match="raised KeyError"):
        pipes.remote.rewards(TRANSITIONS)


def test_silence_and_a_closed_pipe_are_clear_errors(pipes):
    started = time.monotonic()
    with pytest.raises(SandboxError, match="did not answer within 0.5 s") as caught:
        pipes.remote.rewards(TRANSITIONS)
    assert caught.value.kind == "timeout" and time.monotonic() - started < 10
    os.close(pipes.replies_write)
    pipes.replies_write = os.open(os.devnull, os.O_WRONLY)  # for close()
    with pytest.raises(SandboxError, match="ended without answering"):
        pipes.remote.rewards(TRANSITIONS)


@pytest.mark.parametrize("envs", [1, 3])
def test_values_reach_the_reward_process_as_they_were_and_read_only(envs):
    row = [0.5, 3, True, np.float32(1.25), np.int64(7), np.bool_(False), np.arange(6.0).reshape(2, 3),
           np.array([1, 2], dtype=np.int32), np.array(0.5)]
    rows = [[v * (i + 1) if not isinstance(v, (bool, np.bool_)) else v for v in row] for i in range(envs)]
    if envs > 1:
        rows[1][7] = np.array([1, 2, 3], dtype=np.int32)  # one env's array of another shape
    values = [v for column in zip(*rows) for v in column]  # by column, as the learner sends them
    specs = tuple(map(spec_of, values))
    layout = Layout(json.loads(json.dumps({"keys": list("abcd"), "specs": specs, "envs": envs})))
    back = layout.rows(encode(values, specs))
    assert len(back) == envs
    for sent, got in zip((v for r in rows for v in r), (v for r in back for v in r)):
        assert type(got) is type(sent)
        if isinstance(sent, np.ndarray):
            assert got.dtype == sent.dtype and got.shape == sent.shape and np.array_equal(got, sent)
            with pytest.raises(ValueError):
                got.flags.writeable = True
        else:
            assert got == sent
    with pytest.raises(TypeError, match="a field sent to the reward process"):
        spec_of("text")
