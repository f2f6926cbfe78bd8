"""The critic (rewardsmith.intake.critic): every rule has a reward file that trips it and one that passes.

Static rules are checked through ``Critic.check`` (they reject before any process starts) with a
near-identical passing variant; dynamic rules run the real sandboxed probe on mountaincar-reach with
short limits. Messages are asserted on: they name the line, and say what happened, what was
expected and the likely cause (the same text goes back to the LLM for repair).
"""

from __future__ import annotations

import textwrap

import pytest

from rewardsmith.intake.critic import Critic, static_findings
from rewardsmith.host.launch import Limits
from rewardsmith.task import load_task

TASK = load_task("mountaincar-reach")
FIELDS = list(TASK.fields)
FIELD_LIST = "at_flag, distance_to_flag, height, obs, position, velocity"
LIMITS = Limits(wall_seconds=8, cpu_seconds=1, memory_mb=1024)

GOOD = '''\
import numpy as np
import math

SCALE = 10.0


def progress(state, next_state):
    return SCALE * (next_state.position - state.position)


def compute_reward(state, action, next_state):
    forward = progress(state, next_state) + math.sin(3.0 * next_state.position)
    effort = -1.0 * float(np.sum(np.square(action)))
    return forward + effort, {"forward": forward, "effort": effort}
'''


def reward(body: str, prelude: str = "") -> str:
    """A reward module: numpy and math imported, ``prelude`` at module level, ``body`` in
    compute_reward."""
    head = "import numpy as np\nimport math\n" + textwrap.dedent(prelude)
    return head + "\ndef compute_reward(state, action, next_state):\n" + \
        textwrap.indent(textwrap.dedent(body), "    ")


def line_of(code: str, snippet: str) -> int:
    return next(i for i, text in enumerate(code.splitlines(), 1) if snippet in text)


@pytest.fixture(scope="module")
def critic():
    return Critic(TASK, transitions=40, limits=LIMITS)


def only_error(verdict, rule):
    assert not verdict.accepted, verdict.report()
    rules = [f.rule for f in verdict.errors]
    assert rule in rules, verdict.report()
    return next(f for f in verdict.errors if f.rule == rule)


def assert_explains(finding, line, *fragments):
    """The message names the line and says what, expected and likely cause."""
    text = str(finding)
    assert finding.line == line, text
    assert f"line {line}" in text, text
    assert "expected" in text.lower(), text
    assert "likely cause" in text.lower(), text
    for fragment in fragments:
        assert fragment in text, text


# --------------------------------------------------------------------------- the passing file


def test_good_reward_is_accepted_without_warnings(critic):
    verdict = critic.check(GOOD)
    assert verdict.accepted, verdict.report()
    assert verdict.warnings == [], verdict.report()
    assert verdict.stats.calls == 40
    assert set(verdict.stats.components) == {"forward", "effort"}
    assert verdict.stats.mean_call_ms < 1.0
    assert verdict.report().startswith("ACCEPTED")


def test_the_baseline_passes(critic):
    assert critic.check(TASK.baseline).accepted


# --------------------------------------------------------------------------- static rules

# (rule, offending line inside the code, code that trips it, code that passes)
STATIC_CASES = [
    ("syntax", "def compute_reward(state, action, next_state)",
     "def compute_reward(state, action, next_state)\n    return 0.0, {}\n",
     "def compute_reward(state, action, next_state):\n    return 0.0, {}\n"),
    ("signature", None,
     "def reward(state, action, next_state):\n    return 0.0, {}\n",
     "def compute_reward(state, action, next_state):\n    return 0.0, {}\n"),
    ("signature", "def compute_reward(state, action)",
     "def compute_reward(state, action):\n    return 0.0, {}\n",
     "def compute_reward(s, a, s2):\n    return 0.0, {}\n"),
    ("module-level", "print(",
     'print("loading")\n' + GOOD,
     '"""A docstring is fine."""\n' + GOOD),
    ("module-level", "for i in range(3):",
     "for i in range(3):\n    pass\n" + GOOD,
     "TABLE = [i * 0.1 for i in range(3)]\n" + GOOD),
    ("import", "import os", "import os\n" + GOOD, "import numpy as numeric\n" + GOOD),
    ("import", "import subprocess", "import subprocess\n" + GOOD, "from math import sqrt\n" + GOOD),
    ("import", "from numpy import *", "from numpy import *\n" + GOOD, "from numpy import clip\n" + GOOD),
    ("import", "from os import path", "from os import path\n" + GOOD, GOOD),
    ("import", "import numpy.linalg", "import numpy.linalg\n" + GOOD, GOOD),
    ("allow-list", "from numpy import load", "from numpy import load\n" + GOOD,
     "from numpy import linalg\n" + GOOD),
    ("allow-list", "np.load(", reward("x = np.load('weights.npy')\nreturn 0.0, {}"),
     reward("x = np.linalg.norm(state.obs)\nreturn 0.0, {}")),
    ("allow-list", "np.save(", reward("np.save('x.npy', state.obs)\nreturn 0.0, {}"),
     reward("x = np.asarray(state.obs)\nreturn 0.0, {}")),
    ("numpy-io", ".tofile(", reward("np.zeros(3).tofile('x.bin')\nreturn 0.0, {}"),
     reward("x = np.zeros(3).tolist()\nreturn 0.0, {}")),
    ("allow-list", "np.memmap(", reward("m = np.memmap('x.bin')\nreturn 0.0, {}"),
     reward("m = np.zeros(3)\nreturn 0.0, {}")),
    ("allow-list", "np.loadtxt(", reward("m = np.loadtxt('x.txt')\nreturn 0.0, {}"),
     reward("m = np.linspace(0, 1, 3)\nreturn 0.0, {}")),
    ("allow-list", "np.fromfile(", reward("m = np.fromfile('x.bin')\nreturn 0.0, {}"),
     reward("m = np.frombuffer(b'abcdabcd')\nreturn 0.0, {}")),
    ("allow-list", "np.savetxt(", reward("np.savetxt('x.txt', state.obs)\nreturn 0.0, {}"), GOOD),
    ("allow-list", "np.genfromtxt(", reward("m = np.genfromtxt('x.txt')\nreturn 0.0, {}"), GOOD),
    ("allow-list", "np.ctypeslib", reward("p = np.ctypeslib.as_ctypes(state.obs)\nreturn 0.0, {}"),
     GOOD),
    ("allow-list", "np.lib", reward("m = np.lib.format.open_memmap('x.npy')\nreturn 0.0, {}"), GOOD),
    ("numpy-io", ".ctypes", reward("p = state.obs.ctypes.data\nreturn 0.0, {}"), GOOD),
    ("numpy-io", ".dump(", reward("state.obs.dump('x.pkl')\nreturn 0.0, {}"), GOOD),
    ("allow-list", "np.test(", reward("np.test()\nreturn 0.0, {}"), GOOD),
    ("forbidden-syntax", "class Helper", "class Helper:\n    pass\n" + GOOD,
     "def helper():\n    return 1.0\n" + GOOD),
    ("forbidden-syntax", "global COUNT", reward("global COUNT\nCOUNT += 1\nreturn 0.0, {}", "COUNT = 0\n"),
     reward("count = 0\ncount += 1\nreturn 0.0, {}", "COUNT = 0\n")),
    ("forbidden-syntax", "nonlocal total",
     reward("total = 0.0\ndef add():\n    nonlocal total\n    total += 1.0\nadd()\nreturn total, {}"),
     reward("total = 0.0\ndef add(t):\n    return t + 1.0\ntotal = add(total)\nreturn total, {}")),
    ("forbidden-syntax", "with ", reward("with np.errstate(all='ignore'):\n    x = 1.0\nreturn x, {}"),
     reward("x = 1.0\nreturn x, {}")),
    ("forbidden-syntax", "async def", "async def helper():\n    return 1\n" + GOOD, GOOD),
    ("dunder", ".__class__", reward("c = state.__class__\nreturn 0.0, {}"),
     reward("c = state.position\nreturn 0.0, {}")),
    ("dunder", ".__subclasses__", reward("s = ().__class__.__base__.__subclasses__()\nreturn 0.0, {}"),
     reward("s = ()\nreturn 0.0, {}")),
    ("dunder", "__name__", reward("n = __name__\nreturn 0.0, {}"), reward("n = 'reward'\nreturn 0.0, {}")),
    ("dunder", "def __init__", "def __init__():\n    pass\n" + GOOD, "def init():\n    pass\n" + GOOD),
    ("private-attribute", "s._values",
     "def peek(s):\n    return s._values\n" + GOOD, "def peek(s):\n    return s.position\n" + GOOD),
    ("forbidden-attribute", ".gi_frame", reward("g = (i for i in [1])\nf = g.gi_frame\nreturn 0.0, {}"),
     reward("g = [i for i in [1]]\nf = g[0]\nreturn 0.0, {}")),
    ("forbidden-attribute", ".tb_frame",
     reward("try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    f = e.tb_frame\nreturn 0.0, {}"),
     reward("try:\n    x = 1 / 0\nexcept ZeroDivisionError:\n    x = 0.0\nreturn x, {}")),
    ("forbidden-attribute", ".f_globals", reward("g = state.f_globals\nreturn 0.0, {}"), GOOD),
    ("forbidden-attribute", ".mro", reward("m = state.mro()\nreturn 0.0, {}"), GOOD),
    ("forbidden-attribute", ".base", reward("b = state.obs.base\nreturn 0.0, {}"),
     reward("b = np.array(state.obs)\nreturn 0.0, {}")),
    ("forbidden-attribute", ".setflags", reward("state.obs.setflags(write=True)\nreturn 0.0, {}"),
     reward("o = state.obs.copy()\nreturn 0.0, {}")),
    ("forbidden-attribute", ".flags", reward("w = state.obs.flags\nreturn 0.0, {}"), GOOD),
    ("attribute-assignment", "math.pi = 3.0", "import math\nmath.pi = 3.0\n" + GOOD,
     "import math\nPI = 3.0\n" + GOOD),
    ("attribute-assignment", "np.linalg.norm = abs", reward("np.linalg.norm = abs\nreturn 0.0, {}"),
     reward("norm = abs\nreturn 0.0, {}")),
    ("attribute-assignment", "del np.e", reward("del np.e\nreturn 0.0, {}"),
     reward("e = np.e\ndel e\nreturn 0.0, {}")),
    ("format-attribute", "{0.__class__}", reward("s = '{0.__class__}'.format(state)\nreturn 0.0, {}"),
     reward("s = '{0:.2f} {1}'.format(1.0, 'x')\nreturn 0.0, {}")),
    ("unknown-field", "next_state.speed", reward("v = next_state.speed\nreturn v, {'v': v}"),
     reward("v = next_state.velocity\nreturn v, {'v': v}")),
    # CONTRACT §1: no dunder access in any form (match patterns, format strings)
    ("match-class", "case np.vectorize(",
     reward("match np.vectorize:\n    case np.vectorize(__reduce_ex__=rx):\n        pass\nreturn 0.0, {}"),
     reward("match state.position:\n    case 0.0:\n        x = 1.0\n    case _:\n        x = 0.0\nreturn x, {}")),
    ("format-call", ".format(state)",
     reward("s = ('{0.' + '__init__.__globals__}').format(state)\nreturn 0.0, {}"),
     reward("s = f'{state.position:.2f}'\nreturn 0.0, {}")),
    ("format-call", "str.format(", reward("s = str.format('{0}', state)\nreturn 0.0, {}"), GOOD),
    ("format-call", "map(str.format", reward("s = list(map(str.format, ['{0}'], [state]))\nreturn 0.0, {}"),
     reward("s = list(map('{0}'.format, [state]))\nreturn 0.0, {}")),
    ("format-call", "= str.format", reward("f = str.format\nreturn 0.0, {}"), GOOD),
    ("format-attribute", "{0[__globals__]}", reward("s = '{0[__globals__]}'.format(state)\nreturn 0.0, {}"),
     reward("s = '{0:>8}'.format('x')\nreturn 0.0, {}")),
    ("format-attribute", "{0:{1.__class__}}", reward("s = '{0:{1.__class__}}'.format(1, 2)\nreturn 0.0, {}"),
     reward("s = '{0:{1}}'.format(1.0, '.2f')\nreturn 0.0, {}")),
    # CONTRACT §1: compute_reward may not rebind or mutate module-level names
    ("impure", "CALLS.append(", reward("CALLS.append(1)\nreturn 0.0, {}", "CALLS = []\n"),
     reward("calls = list(CALLS)\ncalls.append(1)\nreturn 0.0, {}", "CALLS = []\n")),
    ("impure", "COUNT[0] += 1", reward("COUNT[0] += 1\nreturn 0.0, {}", "COUNT = [0]\n"),
     reward("count = [COUNT[0]]\ncount[0] += 1\nreturn 0.0, {}", "COUNT = [0]\n")),
    ("impure", "SEEN['k'] = 1", "SEEN = {}\ndef remember(k):\n    SEEN['k'] = 1\n    return k\n" + GOOD,
     "SEEN = {}\ndef remember(k):\n    seen = dict(SEEN)\n    seen['k'] = 1\n    return k\n" + GOOD),
    ("impure", "np.add(", reward("np.add(BUF, 1.0, out=BUF)\nreturn 0.0, {}", "BUF = np.zeros(2)\n"),
     reward("b = np.add(BUF, 1.0)\nreturn 0.0, {}", "BUF = np.zeros(2)\n")),
    ("impure", "HISTORY.fill(", reward("HISTORY.fill(state.position)\nreturn 0.0, {}", "HISTORY = np.zeros(4)\n"),
     reward("h = np.full(4, state.position)\nreturn 0.0, {}", "HISTORY = np.zeros(4)\n")),
    ("global-random", "np.random.normal(", reward("x = np.random.normal()\nreturn x, {}"),
     reward("x = np.random.default_rng(0).normal()\nreturn x, {}")),
    # a name nobody binds: not there in the sandbox, an exported module's own global (gym.os) outside it
    ("undefined-name", "gym.os", reward("d = gym.os.getcwd()\nreturn 0.0, {}"),
     reward("gym = 1.0\nd = gym\nreturn 0.0, {}")),
    ("undefined-name", "undefined_thing", reward("return undefined_thing, {}"),
     reward("undefined_thing = 1.0\nreturn undefined_thing, {}")),
    ("mutable-default", "memo=[]", "def helper(x, memo=[]):\n    return x\n" + GOOD,
     "def helper(x, scale=-2.0, names=('a', 'b')):\n    return x\n" + GOOD),
]

FORBIDDEN_NAME_CALLS = [
    "eval('1')", "exec('x = 1')", "compile('1', 'f', 'eval')", "open('x.txt')", "__import__('os')",
    "getattr(state, 'obs')", "setattr(state, 'obs', 1)", "delattr(state, 'obs')",
    "hasattr(state, 'obs')", "globals()", "locals()", "vars(state)", "dir(state)", "type(state)",
    "input()", "breakpoint()", "exit()", "quit()", "memoryview(b'x')", "object()", "super()",
    "help(np)", "__builtins__", "SystemExit(3)", "KeyboardInterrupt()", "print('x')",
]
STATIC_CASES += [
    ("forbidden-name", call, reward(f"x = {call}\nreturn 0.0, {{}}"), reward("x = abs(-1.0)\nreturn 0.0, {}"))
    for call in FORBIDDEN_NAME_CALLS
]


@pytest.mark.parametrize("rule, snippet, bad, good", STATIC_CASES,
                         ids=[f"{c[0]}:{c[1] or 'missing'}" for c in STATIC_CASES])
def test_static_rule(critic, rule, snippet, bad, good):
    verdict = critic.check(bad)
    finding = only_error(verdict, rule)
    assert verdict.stats is None  # rejected before any sandbox ran
    if snippet is not None:
        assert finding.line == line_of(bad, snippet), str(finding)
        assert str(finding).startswith(f"[{rule}] line {finding.line}: ")
    assert static_findings(good, FIELDS) == []


def test_static_messages_say_what_and_what_is_allowed(critic):
    text = critic.check("import os\n" + GOOD).report()
    assert "import of 'os' is not allowed; only numpy and math may be imported" in text
    text = critic.check(reward("x = eval('1')\nreturn 0.0, {}")).report()
    assert "'eval' is not allowed in reward code" in text
    text = critic.check(reward("v = next_state.speed\nreturn v, {}")).report()
    assert f"next_state.speed is not a state field of this task; the fields that exist are: {FIELD_LIST}" \
        in text


def test_every_static_problem_is_reported_not_just_the_first(critic):
    code = "import os\n" + reward("x = eval('1')\ny = state.__class__\nreturn 0.0, {}")
    verdict = critic.check(code)
    assert [f.rule for f in verdict.errors] == ["import", "forbidden-name", "dunder"]
    assert [f.line for f in verdict.errors] == [1, 6, 7]


@pytest.mark.parametrize("code", [
    "x = 1\x00",
    "x = " + "-" * 200_000 + "1",
    "(" * 300 + ")" * 300,
    "",
])
def test_unparsable_code_is_a_syntax_finding_never_a_crash(critic, code):
    verdict = critic.check(code)
    assert not verdict.accepted
    assert verdict.errors[0].rule in ("syntax", "signature")


# --------------------------------------------------------------------------- dynamic rules


def test_unknown_field_read_by_a_helper_is_caught_at_runtime(critic):
    code = "def speed(s):\n    return s.speed\n" + GOOD.replace("forward + effort,", "speed(next_state),")
    assert static_findings(code, FIELDS) == []  # the static check only sees state/next_state
    finding = only_error(critic.check(code), "runtime")
    assert finding.line == 2
    assert "state has no field 'speed'" in finding.message
    assert f"the fields that exist are: {FIELD_LIST}" in finding.message


RAISING = [
    ("ZeroDivisionError", "return 1.0 / (next_state.position - next_state.position), {}",
     "division by a quantity that can be zero"),
    ("KeyError", "return {'a': 1.0}['b'], {}", "a dict lookup of a key that is not there"),
    ("UnboundLocalError", "del action; return action, {}", "a name the code never defined"),
]


@pytest.mark.parametrize("name, line, cause", RAISING, ids=[r[0] for r in RAISING])
def test_exceptions_are_rejected_with_their_line(critic, name, line, cause):
    code = reward(line)
    finding = only_error(critic.check(code), "runtime")
    assert_explains(finding, line_of(code, line.split(",")[0]), name, cause, "on transition 1 of 40")


def test_recursion_error_names_the_helper(critic):
    code = reward("return depth(1.0), {}", "def depth(x):\n    return depth(x + 1.0)\n")
    finding = only_error(critic.check(code), "runtime")
    assert_explains(finding, line_of(code, "return depth(x + 1.0)"), "RecursionError",
                    "calls itself without a base case")


def test_an_exception_while_loading_the_module_is_rejected(critic):
    code = "import numpy as np\nTABLE = 1 / 0\n" + GOOD
    finding = only_error(critic.check(code), "runtime")
    assert_explains(finding, 2, "ZeroDivisionError", "while loading the module")


@pytest.mark.parametrize("body, fragment", [
    ("return float('nan'), {}", "returned nan as the total"),
    ("return math.inf, {'x': 1.0}", "returned inf as the total"),
    ("return 0.0, {'blowup': np.log(0.0)}", "returned -inf as component 'blowup'"),
    ("return 0.0, {'ratio': float('nan')}", "returned nan as component 'ratio'"),
], ids=["nan-total", "inf-total", "inf-component", "nan-component"])
def test_non_finite_values_are_rejected(critic, body, fragment):
    code = reward(body)
    finding = only_error(critic.check(code), "runtime")
    assert fragment in finding.message
    assert "expected a finite real number" in finding.message
    assert "Likely cause: a division by a quantity that can be zero" in finding.message
    assert f"returned at line {line_of(code, body)}" in finding.message


RETURNS = [
    ("str", "return 'high'", "returned a str ('high'); expected a tuple (total, components)",
     "returning the wrong variable"),
    ("None", "x = 1.0", "returned a NoneType (None); expected a tuple (total, components)",
     "a path through compute_reward that reaches no return statement"),
    ("list", "return [1.0, {}]", "returned a list ([1.0, {}]); expected a tuple", "a list; return a tuple"),
    ("3-tuple", "return 1.0, 2.0, {}", "returned a tuple ((1.0, 2.0, {})); expected a tuple (total, "
     "components)", "returning terms separately"),
    ("total-alone", "return 1.5", "returned a float (1.5)", "returning the total alone"),
    ("array-total", "return np.array([1.0, 2.0]), {}", "returned an array of shape (2,) as the total",
     "an element-wise expression that was not summed"),
    ("array-component", "return 0.0, {'vec': state.obs}", "returned an array of shape (2,) as "
     "component 'vec'", "an element-wise expression that was not summed"),
    ("bool-total", "return next_state.position > 0.0, {}", "returned a bool", "a comparison where a number "
     "belongs"),
    ("non-str-key", "return 1.0, {1: 0.5}", "component name an int (1) is not a str; expected str keys",
     "a number or variable used as the key"),
    ("components-not-dict", "return 1.0, [0.5]", "returned a list ([0.5]) as components; expected a dict",
     "the terms as a list or a single number"),
]


@pytest.mark.parametrize("_, body, fragment, cause", RETURNS, ids=[r[0] for r in RETURNS])
def test_wrong_return_values_are_rejected(critic, _, body, fragment, cause):
    code = reward(body)
    finding = only_error(critic.check(code), "runtime")
    assert fragment in finding.message
    assert f"Likely cause: {cause}" in finding.message
    if body.startswith("return"):  # the message points at the return statement
        assert f"returned at line {line_of(code, body)}" in finding.message


def test_a_reward_with_several_returns_names_them_all(critic):
    code = reward("if next_state.position > 10.0:\n    return 1.0, {}\nreturn 'low'")
    finding = only_error(critic.check(code), "runtime")
    first, second = line_of(code, "return 1.0"), line_of(code, "return 'low'")
    assert f"returned at one of lines {first}, {second}" in finding.message


def test_slow_reward_is_rejected_and_a_fast_one_passes(critic):
    slow = reward("total = 0.0\nfor i in range(100_000):\n    total += i * 1e-9\nreturn total, {'t': total}")
    finding = only_error(critic.check(slow), "slow")
    assert "ms of CPU per call on average; expected at most 1.00 ms" in finding.message
    assert "Likely cause: loops over arrays (vectorise with numpy)" in finding.message
    assert critic.check(GOOD).stats.mean_call_ms < 1.0


@pytest.mark.parametrize("body, rule, fragment", [
    ("while True:\n    pass", "time-limit", "likely cause: an infinite loop"),
    ("x = [0] * 10**10\nreturn 0.0, {}", "memory-limit", "ran out of memory (limit 1024 MB)"),
    ("chunks = []\nwhile True:\n    chunks.append(np.empty(10_000_000))", "memory-limit",
     "ran out of memory (limit 1024 MB)"),
], ids=["infinite-loop", "huge-list", "growing-list"])
def test_runaway_rewards_are_rejected_and_the_critic_lives_on(critic, body, rule, fragment):
    verdict = critic.check(reward(body))
    finding = only_error(verdict, rule)
    assert fragment in finding.message.lower() or fragment in finding.message
    if rule == "time-limit":
        # one message whichever limit fired first and however long it ran: it goes into the model's repair
        # prompt, and the same run must send the same prompts (the response cache replays by prompt)
        assert finding.message.startswith("the reward did not finish the critic's probe within its CPU-time limit")
        assert "MB" not in finding.message and "killed" not in finding.message and finding.line is None
    after = critic.check(GOOD)
    assert after.accepted, after.report()


def test_memory_bomb_names_its_line(critic):
    code = reward("x = [0] * 10**10\nreturn 0.0, {}")
    finding = only_error(critic.check(code), "memory-limit")
    assert_explains(finding, line_of(code, "x = [0]"), "in reward code at line")


# --------------------------------------------------------------------------- warnings


@pytest.mark.parametrize("body, rule, fragment", [
    ("return 1.0, {'alive': 1.0}", "constant", "the total reward was 1 on all 40 random transitions"),
    ("big = 1000.0 * next_state.velocity\nsmall = 1e-6 * next_state.position\n"
     "return big + small, {'big': big, 'small': small}", "dominant", "component 'big' carries"),
    ("v = 1e8 * next_state.velocity\nreturn v, {'v': v}", "magnitude", "expected magnitudes below 1e4"),
    ("if next_state.velocity > 0:\n    return 1.0, {'up': 1.0}\nreturn -1.0, {'down': -1.0}",
     "components-vary", "returned different component names on different calls"),
], ids=["constant", "dominant", "magnitude", "components-vary"])
def test_warnings_do_not_reject(critic, body, rule, fragment):
    verdict = critic.check(reward(body))
    assert verdict.accepted, verdict.report()
    warning = next((w for w in verdict.warnings if w.rule == rule), None)
    assert warning is not None, verdict.report()
    assert warning.severity == "warning"
    assert fragment in warning.message
    assert "Warnings:" in verdict.report()


def test_module_level_containers_are_frozen_when_the_code_is_loaded():
    from rewardsmith.errors import RewardCodeError
    from rewardsmith.sandbox.rewardcode import load_reward

    fn = load_reward("import numpy as np\nL = [1, [2]]\nD = {'a': [1]}\nA = np.zeros(2)\nS = {1}\n"
                     "def make():\n    box = [0]\n    def f():\n        box.append(1)\n    return f\nF = make()\n"
                     "def compute_reward(s, a, n):\n    return 0.0, {}\n")
    g = fn.__globals__
    assert g["L"] == (1, (2,)) and g["S"] == frozenset({1})
    with pytest.raises(TypeError):
        g["D"]["a"] = 2
    with pytest.raises(ValueError):
        g["A"][0] = 1.0
    with pytest.raises(AttributeError):
        g["F"]()  # the closure's list became a tuple
    # reading, copying and concatenating still work as with a list
    assert g["L"].copy() == [1, (2,)] and g["L"] + [3] == [1, (2,), 3] and [0] + g["L"] == [0, 1, (2,)]
    assert dict(g["D"]) == {"a": (1,)} and g["D"].copy() == {"a": (1,)}
    for holder in ("G = (i for i in range(3))", "R = np.random.default_rng(0)", "M = map(abs, [1, 2])"):
        with pytest.raises(RewardCodeError, match="keep state between calls"):
            load_reward(f"import numpy as np\n{holder}\ndef compute_reward(s, a, n):\n    return 0.0, {{}}\n")


@pytest.mark.parametrize("name", ["bonus[/x]", "a b", "line\nREJECTED", "\x1b[31mred", "x" * 65, ""])
def test_component_names_must_be_short_printable_identifiers(critic, name):
    verdict = critic.check(reward(f"return 1.0, {{{name!r}: 1.0}}"))
    assert not verdict.accepted and "printable identifier" in verdict.errors[0].message
