"""The exported module makes the reward code's module-level values read-only, as the sandbox did when the
reward was scored (``rewardcode.freeze_module``): reward code that changes one through an alias (which no
static rule sees) cannot keep state between calls in a user's training either."""

import importlib.util

import numpy as np

from rewardsmith.intake.critic import static_findings
from rewardsmith.output.export import export_module, render_module
from rewardsmith.sandbox.rewardcode import load_reward
from rewardsmith.task import State, load_task

TASK = load_task("mountaincar-reach")
META = {"candidate": "c3"}

# passes the static critic (the change goes through an alias), scores in the sandbox (where the append
# fails and is caught), and would count calls in a module that left HISTORY a list
COUNTS_CALLS = '''import numpy as np

HISTORY = []
WEIGHTS = {"speed": [1.0, 2.0]}
BASE = [0.5]
GRID = np.zeros(2)
_frozen = 0.25


def make_counter():
    box = []

    def count():
        box.append(1)
        return len(box)

    return count


COUNT = make_counter()


def compute_reward(state, action, next_state):
    seen = HISTORY
    try:
        seen.append(next_state.position)
    except AttributeError:
        pass
    weights = WEIGHTS["speed"]
    try:
        weights.append(3.0)
    except AttributeError:
        pass
    grid = GRID
    try:
        grid[0] += 1.0
    except ValueError:
        pass
    try:
        calls = float(COUNT())
    except AttributeError:
        calls = 0.0
    memory = float(len(seen)) + float(len(weights)) + float(grid[0]) + calls
    speed = sum(BASE + [abs(next_state.velocity)]) + _frozen
    same = float(BASE == [0.5]) + float(len(BASE.copy()))
    return speed + memory + same, {"speed": speed, "memory": memory, "same": same}
'''

STATE = State({"position": -0.5, "velocity": 0.01, "at_flag": 0.0})
NEXT = State({"position": -0.4, "velocity": 0.02, "at_flag": 0.0})


def _load(path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_module_level_state_cannot_build_up_in_the_exported_module(tmp_path):
    assert static_findings(COUNTS_CALLS, list(TASK.fields)) == []
    sandboxed = load_reward(COUNTS_CALLS)  # what the reward process runs: module-level values frozen
    module = _load(export_module(TASK, COUNTS_CALLS, META, tmp_path / "counts_reward.py"))
    action = np.array([0.5])
    expected = sandboxed(STATE, action, NEXT)
    assert expected[1]["memory"] == 2.0 and expected[1]["same"] == 2.0  # the weights' two, the copy's one
    for _ in range(3):
        assert module.compute_reward(STATE, action, NEXT) == expected == sandboxed(STATE, action, NEXT)
    assert module.HISTORY == [] and list(module.WEIGHTS["speed"]) == [1.0, 2.0] and module.GRID[0] == 0.0


def test_a_user_s_training_sees_the_same_reward_on_every_step(tmp_path):
    env = _load(export_module(TASK, COUNTS_CALLS, META, tmp_path / "counts_reward.py")).make_env()
    env.reset(seed=0)
    memories = [env.step(np.array([0.5], dtype=np.float32))[4]["reward_components"]["memory"] for _ in range(4)]
    assert memories == [2.0] * 4


def test_the_module_s_own_freezer_steps_aside_for_a_reward_name_and_plain_rewards_get_none():
    text = render_module(TASK, COUNTS_CALLS, META)
    assert "\n_frozen = _frozen_(_frozen)\n" in text and "\ndef _frozen_(value):" in text
    for name in ("HISTORY", "WEIGHTS", "BASE", "GRID", "COUNT"):
        assert f"\n{name} = _frozen_({name})\n" in text
    assert "make_counter = " not in text and "compute_reward = " not in text
    plain = render_module(TASK, TASK.baseline, META)  # no module-level values: nothing to freeze
    assert "_frozen" not in plain and "_FrozenList" not in plain
