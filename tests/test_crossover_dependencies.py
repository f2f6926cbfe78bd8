"""Crossover brings a term's module-level dependencies from the other parent once each, in that parent's
order (``design/mutate.py`` ``_dependencies``)."""

import ast
import random

import numpy as np
import pytest

from rewardsmith.design.mutate import crossover
from rewardsmith.intake.critic import static_findings
from rewardsmith.sandbox.rewardcode import load_reward
from rewardsmith.task import State

PARENT = '''
import numpy as np

def compute_reward(state, action, next_state):
    forward = 5.0 * (next_state.position - state.position)
    return forward, {"forward": forward}
'''

# the term uses one helper twice; one statement binds two names it needs, and one constant reads another
OTHER = '''
import numpy as np
from math import sqrt, tanh
SCALE = OFFSET = 0.5
BASE = 3.0
LIFT = BASE * 2

def shaped(x):
    return tanh(SCALE * x + OFFSET) + BASE

def compute_reward(state, action, next_state):
    speed = shaped(next_state.velocity) + shaped(state.velocity) + sqrt(abs(state.velocity)) + LIFT
    return speed, {"speed": speed}
'''


def test_a_term_using_a_helper_twice_brings_each_definition_once_and_in_order():
    code, note = crossover(PARENT, OTHER, random.Random(0))
    assert note == "added component 'speed' from the other parent"
    statements = [ast.unparse(s) for s in ast.parse(code).body]
    for definition in ("from math import sqrt, tanh", "SCALE = OFFSET = 0.5", "BASE = 3.0", "LIFT = BASE * 2"):
        assert statements.count(definition) == 1, code
    assert sum(s.startswith("def shaped(") for s in statements) == 1, code
    assert statements.index("BASE = 3.0") < statements.index("LIFT = BASE * 2"), code
    assert static_findings(code) == []
    state, next_state = State({"position": -0.5, "velocity": 0.01}), State({"position": -0.4, "velocity": 0.02})
    total, comps = load_reward(code)(state, np.array([0.5]), next_state)
    expected = np.tanh(0.5 * 0.02 + 0.5) + np.tanh(0.5 * 0.01 + 0.5) + 6.0 + np.sqrt(0.01) + 6.0
    assert comps == {"forward": pytest.approx(0.5), "speed": pytest.approx(expected)}
    assert total == pytest.approx(0.5 + expected)
