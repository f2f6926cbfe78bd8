"""Hostile reward files (tests/hostile/*.py, each says its attack and what must happen) against the
real critic and, where the attack is aimed at training, the real training and evaluation.

Issue 11's classes covered here: escapes through `match` patterns and format strings, forged code
objects, a NaN total with a forged "ok", forged fitness (the protocol, the task module's globals,
recorded positions, components named like internal sums) and module-level time bombs. The
operating-system attacks are in tests/test_os_sandbox.py.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.host import confinement
from rewardsmith.intake import critic as critic_module
from rewardsmith.host.confinement import Layers
from rewardsmith.intake.critic import Critic
from rewardsmith.errors import SandboxError, TrainingError
from rewardsmith.host.launch import Limits, run_job
from rewardsmith.sandbox.evaluate import evaluation_seed, run_episode
from rewardsmith.sandbox.policy import NumpyPolicy
from rewardsmith.task import load_task_file
from rewardsmith.training.trainer import Budget, train_once
from conftest import TINY_TASK, check_job

HOSTILE = Path(__file__).parent / "hostile"
TASK = load_task_file(TINY_TASK)
LIMITS = Limits(wall_seconds=20, cpu_seconds=10, memory_mb=1536)

# file -> the rule the critic must reject it with, or None where the critic may accept it (the
# attack is aimed at training, and tested there)
CRITIC = {
    "match_class_escape.py": "match-class",
    "format_string_escape.py": "format-call",
    "format_item_escape.py": "format-attribute",
    "forged_code_object.py": "dunder",
    "nan_total.py": "runtime",
    "fitness_into_protocol.py": "private-attribute",
    "rebind_task_globals.py": "private-attribute",
    "overwrite_recorded_positions.py": "private-attribute",
    "components_named_total.py": None,
    "time_bomb_counter.py": "impure",
    "time_bomb_alias.py": "runtime",
    "time_bomb_closure.py": "runtime",
    "time_bomb_generator.py": "runtime",
    "time_bomb_default.py": "mutable-default",
    "time_bomb_global_rng.py": "global-random",
    "numpy_chain_to_os.py": "allow-list",
    "exported_module_globals.py": "undefined-name",
    "review_format_by_reference.py": "format-call",
    "review_annotation_binds_nothing.py": "undefined-name",
    "review_exit_past_the_probe.py": "forbidden-name",
    "review_alias_in_two_scopes.py": "allow-list",
    "review_binding_never_made.py": "undefined-name",
    "review_print_to_the_terminal.py": "forbidden-name",
}
# attacks on the exported module, which runs reward code outside any sandbox with the real builtins and
# numpy: each returns a total of 1.0 when run that way and it got through (the control that the attack,
# which the critic must refuse, is a real one)
OUTSIDE = ["review_format_by_reference.py", "review_annotation_binds_nothing.py", "review_alias_in_two_scopes.py",
           "review_binding_never_made.py", "review_print_to_the_terminal.py"]
# reward code past the critic and the Python layers (the ``unguarded`` job), against the OS layers:
# issue 18's classes (parent hangs and memory, limits, privileged calls, forged output)
OS_ATTACKS = ["os_sysv_memory_hoard.py", "os_scratch_flood.py", "os_protocol_bomb.py", "os_privileged_calls.py",
              "os_forged_verdict.py"]
OS_LAYERS = Layers(python=False)
FORGERIES = ["fitness_into_protocol.py", "rebind_task_globals.py", "overwrite_recorded_positions.py",
             "components_named_total.py"]


def hostile(name: str) -> str:
    return (HOSTILE / name).read_text()


@pytest.fixture(scope="module")
def critic():
    return Critic(TASK, limits=LIMITS)


def test_every_hostile_file_is_tested_and_says_what_must_happen():
    files = sorted(p.name for p in HOSTILE.glob("*.py"))
    mine = [f for f in files if f in CRITIC or f in OS_ATTACKS]
    assert sorted([*CRITIC, *OS_ATTACKS]) == mine
    for name in mine:
        doc = hostile(name).split('"""')[1]
        assert "Attack:" in doc and "Must happen:" in doc, name


@pytest.mark.parametrize("name", sorted(CRITIC))
def test_the_critic_rejects_or_the_attack_is_aimed_at_training(critic, name):
    verdict = critic.check(hostile(name))
    rule = CRITIC[name]
    if rule is None:
        assert verdict.accepted, verdict.report()
        return
    assert not verdict.accepted, f"{name} was accepted"
    assert rule in {f.rule for f in verdict.errors}, verdict.report()


OUTSIDE_RUN = r'''
import sys
import numpy as np
namespace = {"__name__": "exported_reward"}
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), namespace)
total, _ = namespace["compute_reward"](None, np.zeros(1), None)
print("TOTAL", total)
'''


@pytest.mark.parametrize("name", OUTSIDE)
def test_outside_the_sandbox_the_attack_works(name):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", OUTSIDE_RUN, str(HOSTILE / name)], capture_output=True,
                         text=True, timeout=60)
    assert "TOTAL 1.0" in out.stdout, out.stdout + out.stderr


def test_outside_the_sandbox_an_exit_ends_the_users_script_as_a_success():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", OUTSIDE_RUN + "print('STILL TRAINING')\n",
                          str(HOSTILE / "review_exit_past_the_probe.py")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "STILL TRAINING" not in out.stdout, out.stdout + out.stderr


def test_time_bombs_fail_on_the_first_call_not_the_301st(critic):
    for name, fragment in [("time_bomb_alias.py", "module-level names are constants"),
                           ("time_bomb_closure.py", "module-level names are constants"),
                           ("time_bomb_generator.py", "keep state between calls")]:
        errors = critic.check(hostile(name)).errors
        assert fragment in errors[0].message, (name, errors[0].message)
        assert "transition 301" not in errors[0].message
    # past the static critic, reward code's numpy has no global random state to count with
    job = check_job(TASK, hostile("time_bomb_global_rng.py"), transitions=3)
    probe = run_job(job, LIMITS)
    assert probe["ok"] is False and "has no attribute 'seed'" in probe["message"], probe


def test_a_forged_code_object_is_refused_by_the_python_layers_alone():
    """Only the Python layers on (so the OS cannot be what refuses): the attempt is refused. The
    control, with the Python layers off too, shows the same code does open the file."""
    job = check_job(TASK, hostile("forged_code_object.py"), transitions=3)
    python_only = Layers(bubblewrap=False, seccomp=False, landlock=False, python=True, uid=False)
    refused = run_job(job, LIMITS, layers=python_only)
    assert refused["ok"] is False and "PermissionError" in refused["message"], refused
    control = run_job(job, LIMITS, layers=Layers(bubblewrap=False, seccomp=False, landlock=False, python=False,
                                                 uid=False))
    assert control["ok"] is True, control  # the attack itself works where nothing stops it


FORGED_FRAME = r'''
import marshal, numpy, sys
from rewardsmith.sandbox.confine import install_audit_guard
from rewardsmith.sandbox.rewardcode import REWARD_FILENAME

# a reward's helper, forged (before the hook, so the forging itself is not what is refused) into
# a code object named "<module>" in numpy's own __init__.py, the frame the old hook trusted
namespace = {"path": numpy.__file__}
exec(compile("def peek():\n    return len(open(path).read(10))\n", REWARD_FILENAME, "exec"), namespace)
code = namespace["peek"].__code__.replace(co_name="<module>", co_filename=numpy.__file__)
forged = type(namespace["peek"])(code, {"open": open, "path": numpy.__file__})
call_as_reward = install_audit_guard()
try:
    call_as_reward(forged)
    print("OPENED")
except PermissionError as exc:
    print("REFUSED", exc)
print("TRUSTED CODE STILL OPENS", len(open(numpy.__file__).read(10)))
'''


def test_a_forged_frame_earns_no_trust_from_the_audit_hook():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", FORGED_FRAME], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).parent.parent)
    assert "REFUSED" in out.stdout and "refused open" in out.stdout, out.stdout + out.stderr
    assert "OPENED" not in out.stdout and "TRUSTED CODE STILL OPENS 10" in out.stdout


def test_a_child_that_claims_ok_with_nan_totals_is_rejected(monkeypatch):
    """Stands in for a probe child whose reward took over the process and wrote its own answer (the
    protocol token makes that hard; the parent must not depend on it being hard)."""
    n = 5
    forged = {"ok": True, "totals": [math.nan] * n, "components": {"progress": [0.0] * n},
              "times": [1e-6] * n, "key_sets": [["progress"]]}
    monkeypatch.setattr(critic_module, "run_job", lambda job, limits: dict(forged))
    verdict = Critic(TASK, transitions=n).check(hostile("nan_total.py").replace("nan", "0"))
    assert not verdict.accepted and verdict.errors[0].rule == "protocol", verdict.report()
    for bad in ({**forged, "totals": [0.0] * n, "components": {"a b": [0.0] * n}},
                {**forged, "totals": [0.0] * (n - 1)},
                {**forged, "totals": [0.0] * n, "times": ["fast"] * n},
                {"ok": True}):
        monkeypatch.setattr(critic_module, "run_job", lambda job, limits, bad=bad: dict(bad))
        verdict = Critic(TASK, transitions=n).check("def compute_reward(s, a, n):\n    return 0.0, {}\n")
        assert not verdict.accepted and verdict.errors[0].rule == "protocol", (bad, verdict.report())


def honest_fitness(result, episodes: int) -> list[float]:
    """The task's fitness of the trained policy, evaluated here, in this (trusted) process."""
    policy = NumpyPolicy(result.checkpoint["policy"])
    env = TASK.make_env()
    try:
        return [TASK.fitness(run_episode(TASK, env, policy, evaluation_seed(result.seed, i))[0])
                for i in range(episodes)]
    finally:
        env.close()


@pytest.mark.slow
@pytest.mark.parametrize("name", FORGERIES)
def test_forgery_has_no_effect_on_the_recorded_fitness(name):
    try:
        result = train_once(TASK, hostile(name), 0, Budget(256), return_checkpoint=True, eval_episodes=1)
    except TrainingError as exc:  # the forged messages broke the protocol: no fitness at all
        assert name == "fitness_into_protocol.py" and "discarded" in str(exc), str(exc)
        return
    assert result.episode_fitness == pytest.approx(honest_fitness(result, 1), abs=1e-12)
    assert 0.0 <= result.fitness <= 2.0
    if name == "components_named_total.py":
        for snap in result.snapshots:
            assert snap.reward_per_step == pytest.approx(1.0)   # the real total, not 1e6
            assert -1.0 <= snap.native_per_step <= 0.0         # mountain car's real action cost
            assert snap.components["__total__"] == pytest.approx(1e6)


@pytest.mark.slow
def test_a_time_bomb_past_the_critic_fails_at_once_in_training():
    with pytest.raises(TrainingError) as caught:
        train_once(TASK, hostile("time_bomb_counter.py"), 0, Budget(256), eval_episodes=1)
    assert "module-level names are constants" in str(caught.value)
    assert "nan" not in str(caught.value).lower()


# --------------------------------------------------------------------------- issue 18: the OS layers

def unguarded(name: str, limits: Limits = LIMITS):
    return run_job({"kind": "unguarded", "code": hostile(name)}, limits, layers=OS_LAYERS)


needs_bubblewrap = pytest.mark.skipif(confinement.bubblewrap_problem() is not None,
                                      reason="scratch is a tmpfs of the job's own under bubblewrap only")


@pytest.mark.parametrize("name", OS_ATTACKS)
def test_the_critic_rejects_every_os_attack(critic, name):
    assert not critic.check(hostile(name)).accepted


def test_system_v_memory_is_refused_and_nothing_outlives_the_job():
    result = unguarded("os_sysv_memory_hoard.py")["value"]
    assert all(v.startswith("refused: [Errno 1]") for v in result.values()), result
    with open("/proc/sysvipc/shm") as table:
        keys = {int(line.split()[0]) for line in table.readlines()[1:]}
    assert not keys & {0x52534831 + i for i in range(3)}


@needs_bubblewrap
def test_a_scratch_flood_stops_early_and_never_reaches_the_host(tmp_path, monkeypatch):
    import tempfile
    import time

    from rewardsmith.sandbox.confine import SCRATCH_INODES

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    started = time.monotonic()
    result = unguarded("os_scratch_flood.py")["value"]
    assert result["made"] < SCRATCH_INODES and result["stopped"] == "No space left on device", result
    assert time.monotonic() - started < 15 and list(tmp_path.iterdir()) == []


def test_a_protocol_bomb_is_refused_before_it_is_parsed():
    with pytest.raises(SandboxError) as caught:
        unguarded("os_protocol_bomb.py", Limits(wall_seconds=30, cpu_seconds=20, memory_mb=1024))
    assert caught.value.kind == "protocol" and "would take about" in str(caught.value), str(caught.value)


def test_privileged_calls_are_refused():
    result = unguarded("os_privileged_calls.py")["value"]
    assert all(v.startswith("refused") for v in result.values()), result
    assert os.stat(os.__file__).st_mode & 0o777 != 0o777


def test_forged_verdict_lines_are_shown_quoted_and_escaped():
    with pytest.raises(SandboxError) as caught:
        unguarded("os_forged_verdict.py")
    lines = str(caught.value).splitlines()
    assert "  | ACCEPTED" in lines and "  | fitness: 1000000000.0" in lines, lines
    assert "  | \\u202edetpecca\\u200b" in lines, lines
    assert not any(line.startswith(("ACCEPTED", "fitness:")) for line in lines), lines
