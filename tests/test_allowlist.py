"""The numpy/math allow-list (rewardsmith.sandbox.allowlist): what the critic accepts reaches numbers only.

The exported module runs reward code with the real numpy, outside any sandbox (CONTRACT §4), so the
list and the critic's attribute rules are all that stand between reward code and os. These tests walk
the real numpy's and math's attribute graph from every allowed name (and from the values reward code
can make with them), following every attribute the critic would let reward code read, and show that
no such chain reaches a module, a module's globals, a file or process function, or a numpy setting.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import io
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from rewardsmith.intake.critic import refused_attribute, static_findings
from rewardsmith.sandbox import allowlist
from rewardsmith.sandbox.rewardcode import safe_math, safe_numpy

DEPTH = 5


def _functions_of(*modules) -> set[int]:
    return {id(v) for m in modules for v in vars(m).values() if callable(v)}


def _dangers() -> dict[int, str]:
    """id -> why, for every object reward code must never hold."""
    import numpy.lib.stride_tricks as tricks
    import numpy.random as nr

    danger = {i: "a file, process or import function" for i in _functions_of(os, io, subprocess, importlib)}
    for name in "open exec eval compile __import__ getattr setattr delattr globals locals vars breakpoint " \
                "input".split():
        danger[id(getattr(builtins, name))] = f"builtins.{name}"
    settings = "seterr geterr seterrcall geterrcall errstate set_printoptions get_printoptions printoptions " \
               "setbufsize getbufsize load save savez savez_compressed loadtxt savetxt genfromtxt fromfile " \
               "fromregex memmap ndarray recarray matrix".split()
    for name in settings:
        if hasattr(np, name):
            danger[id(getattr(np, name))] = f"np.{name}"
    for name in allowlist.global_random_names():
        if hasattr(nr, name):
            danger[id(getattr(nr, name))] = f"np.random.{name} (global random state)"
    danger[id(tricks.as_strided)] = "as_strided (raw memory)"
    return danger


DANGERS = _dangers()
MODULE_DICTS = {id(vars(m)) for m in list(sys.modules.values()) if isinstance(m, types.ModuleType)}
FILE_PROCESS_NAMES = frozenset(
    "open system popen fork forkpty execl execle execlp execlpe execv execve execvp execvpe spawnl spawnle "
    "spawnlp spawnlpe spawnv spawnve spawnvp spawnvpe posix_spawn posix_spawnp tofile dump load save "
    "import_module".split())


def danger(obj) -> str | None:
    """Why ``obj`` would let reward code past numbers, or None."""
    if isinstance(obj, types.ModuleType):
        return f"the module {obj.__name__}"
    if id(obj) in DANGERS:
        return DANGERS[id(obj)]
    if isinstance(obj, dict) and id(obj) in MODULE_DICTS:
        return "a module's globals"
    if isinstance(obj, (types.FrameType, types.CodeType, types.TracebackType)):
        return f"interpreter internals ({type(obj).__name__})"
    if callable(obj) and getattr(obj, "__name__", None) in FILE_PROCESS_NAMES:
        return f"a function named {obj.__name__}"
    return None


def roots() -> dict[str, object]:
    """Every allowed name's value, and the values reward code can make from them."""
    found = {}
    for module, real in (("numpy", np), ("math", math)):
        alias = "np" if module == "numpy" else "math"
        for path in sorted(allowlist.ALLOWED[module]):
            try:
                found[f"{alias}.{path}"] = functools.reduce(getattr, path.split("."), real)
            except AttributeError:  # a name this numpy release lacks
                continue
    eye = np.eye(2)

    def helper(x=1.0):
        return x

    made = {
        "an array": np.zeros(3), "a bool array": np.zeros(2, bool), "an object array": np.empty(1, object),
        "a float64": np.float64(1.0), "a float32": np.float32(1.0), "an int64": np.int64(1),
        "a bool_": np.bool_(True), "a complex128": np.complex128(1j), "a dtype": np.dtype("f8"),
        "finfo": np.finfo(np.float64), "iinfo": np.iinfo(np.int64), "a generator": np.random.default_rng(0),
        "a LinAlgError": np.linalg.LinAlgError("x"), "svd": np.linalg.svd(eye), "eig": np.linalg.eig(eye),
        "eigh": np.linalg.eigh(eye), "qr": np.linalg.qr(eye), "slogdet": np.linalg.slogdet(eye),
        "lstsq": np.linalg.lstsq(eye, eye[0]), "histogram": np.histogram([1.0, 2.0]),
        "unique": np.unique([1, 1, 2], return_counts=True), "meshgrid": np.meshgrid([1], [2]),
        "a flat iterator": np.zeros(2).flat, "a memoryview": np.zeros(2).data,
        "a reward's function": helper, "a generator expression": (i for i in ()),
        "an exception": ValueError("x"), "a float": 1.0, "an int": 1, "a str": "s", "bytes": b"b",
    }
    found.update(made)
    return found


def reachable(start: dict[str, object], depth: int = DEPTH):
    """(chain, object) for everything reachable from ``start`` through attributes the critic accepts
    on a value (and items of containers, which reward code may index), breadth first to ``depth``."""
    seen = {id(v) for v in start.values()}
    keep = list(start.values())  # ids stay unique while the objects live
    level = list(start.items())
    for _ in range(depth):
        following = []
        for chain, obj in level:
            yield chain, obj
            if isinstance(obj, (tuple, list)) and len(obj) < 50:
                edges = [(f"[{i}]", v) for i, v in enumerate(obj)]
            elif isinstance(obj, dict) and len(obj) < 50:
                edges = [(f"[{k!r}]", v) for k, v in obj.items()]
            else:
                edges = []
            try:
                names = dir(obj)
            except Exception:  # noqa: BLE001 - an object that refuses dir has no names to follow
                names = []
            for name in names:
                if refused_attribute(name) is not None:
                    continue
                try:
                    value = getattr(obj, name)
                except Exception:  # noqa: BLE001 - what raises reaches nothing
                    continue
                edges.append((f".{name}", value))
            for step, value in edges:
                if id(value) not in seen:
                    seen.add(id(value))
                    keep.append(value)
                    following.append((chain + step, value))
        level = following
    yield from level


def test_no_chain_the_critic_accepts_reaches_a_module_os_or_a_numpy_setting():
    bad = [f"{chain} -> {why}" for chain, obj in reachable(roots()) if (why := danger(obj))]
    assert bad == [], "\n".join(bad[:40])


def test_the_walk_finds_danger_where_there_is_some():
    """The walker and the danger test are real: from the names the list leaves out, the same walk
    reaches os, a module's globals and numpy's settings."""
    left_out = {"np.lib": np.lib, "np.random.mtrand": np.random.mtrand, "np.ma": np.ma,
                "default_rng.func_globals": np.random.default_rng.func_globals}
    found = {chain: why for chain, obj in reachable(left_out, depth=3) if (why := danger(obj))}
    assert any("the module os" == why for why in found.values()), found
    assert found["default_rng.func_globals"] == "a module's globals"
    assert "np.ma.seterr" in found or any("np.seterr" == why for why in found.values())


def test_every_allowed_chain_the_critic_accepts_and_the_sandbox_copy_holds():
    lines = ["import numpy as np", "import math", "def compute_reward(state, action, next_state):"]
    for path in sorted(allowlist.NUMPY):
        lines.append(f"    x = np.{path}")
    for path in sorted(allowlist.MATH):
        lines.append(f"    y = math.{path}")
    lines.append("    return 0.0, {}")
    assert static_findings("\n".join(lines) + "\n") == []
    sandboxed = {"numpy": safe_numpy(), "math": safe_math()}
    for module, real in (("numpy", np), ("math", math)):
        for path in allowlist.ALLOWED[module]:
            value = functools.reduce(getattr, path.split("."), real)
            copied = functools.reduce(getattr, path.split("."), sandboxed[module])
            assert copied is value or copied == value or math.isnan(value), path  # bound methods are new


def test_every_listed_name_exists_in_this_numpy_and_math():
    """A typo on the list would be a name nobody can use; the pinned numpy has every one."""
    for module, real in (("numpy", np), ("math", math)):
        missing = []
        for path in allowlist.ALLOWED[module]:
            try:
                functools.reduce(getattr, path.split("."), real)
            except AttributeError:
                missing.append(path)
        assert missing == [], (module, missing)


def test_the_list_holds_no_module_and_no_numpy_setting():
    for path in allowlist.NUMPY:
        value = functools.reduce(getattr, path.split("."), np)
        assert not isinstance(value, types.ModuleType) and danger(value) is None, path
    for name in ("seterr", "geterr", "seterrcall", "set_printoptions", "get_printoptions", "printoptions",
                 "errstate", "setbufsize", "load", "save", "memmap", "ctypeslib", "testing", "lib", "ma",
                 "ndarray", "random.seed", "random.normal", "random.random", "random.mtrand"):
        assert not allowlist.allowed("numpy", name), name


# chains of public numpy attributes to os, sys and builtins: the first four are live in this numpy (a
# test below checks), the rest were live in numpy 1.x
ESCAPES = ["np.ma.core.builtins", "np.matrixlib.defmatrix.sys", "np.random.mtrand.np",
           "np.polynomial.polyutils.functools", "np.lib.npyio.os", "np.core.multiarray.sys", "np.lib.format.os",
           "np.testing.sys", "np.ctypeslib.os", "np.linalg.linalg.sys", "np.char.np", "np.random.mtrand.os"]


def test_the_first_escapes_are_live_in_this_numpy():
    for chain in ESCAPES[:4]:
        assert isinstance(functools.reduce(getattr, chain.split(".")[1:], np), types.ModuleType), chain


@pytest.mark.parametrize("chain", ESCAPES)
def test_the_critic_refuses_chains_through_numpy_submodules(chain):
    code = f"import numpy as np\n\ndef compute_reward(state, action, next_state):\n    x = {chain}\n" \
           f"    return 0.0, {{}}\n"
    findings = static_findings(code)
    assert [f.rule for f in findings] == ["allow-list"], findings
    assert findings[0].line == 4 and "is not on rewardsmith's numpy allow-list" in findings[0].message


@pytest.mark.parametrize("code, line, fragment", [
    ("import numpy as xp\ndef compute_reward(s, a, n):\n    return xp.lib.npyio.os, {}\n", 3,
     "xp.lib.npyio.os is not on rewardsmith's numpy allow-list (nearest allowed: xp.linalg)"),
    ("from numpy import linalg as la\ndef compute_reward(s, a, n):\n    return la.nrm(s.obs), {}\n", 3,
     "la.nrm is not on rewardsmith's numpy allow-list (nearest allowed: la.norm)"),
    ("import math as m\ndef compute_reward(s, a, n):\n    return m.sinn(1.0), {}\n", 3,
     "m.sinn is not on rewardsmith's math allow-list (nearest allowed: m.sin)"),
    ("import numpy as np\ndef compute_reward(s, a, n):\n    f = np.lib\n    return f.npyio, {}\n", 3,
     "np.lib is not on rewardsmith's numpy allow-list"),
    ("import numpy as np\ndef compute_reward(s, a, n):\n    f = np.linalg\n    return f.norm(s.obs), {}\n", 3,
     "np.linalg is a module, used here as a value"),
    ("import numpy as np\ndef peek(m):\n    return m.lib\ndef compute_reward(s, a, n):\n    return peek(np), {}\n",
     5, "np is a module, used here as a value"),
    ("from numpy import lib\ndef compute_reward(s, a, n):\n    return 0.0, {}\n", 1,
     "numpy.lib is not on rewardsmith's numpy allow-list"),
    ("from numpy.linalg import linalg\ndef compute_reward(s, a, n):\n    return 0.0, {}\n", 1,
     "numpy.linalg.linalg is not on rewardsmith's numpy allow-list"),
    ("import numpy as np\ndef compute_reward(s, a, n):\n    np.seterr(all='ignore')\n    return 0.0, {}\n", 3,
     "np.seterr is not on rewardsmith's numpy allow-list"),
    ("import numpy as np\ndef compute_reward(s, a, n):\n    x = np.random.default_rng.func_globals\n"
     "    return 0.0, {}\n", 3, "np.random.default_rng.func_globals is not on"),
    ("import numpy as np\ndef compute_reward(s, a, n):\n    f = np.random.default_rng\n    g = f.func_globals\n"
     "    return 0.0, {}\n", 4, "attribute .func_globals is not allowed"),
    ("import numpy as np\ndef compute_reward(s, a, n):\n    np = 2.0\n    return np, {}\n", 3,
     "'np' names numpy here and may not be rebound"),
    ("import numpy as np\ndef f(x):\n    from numpy import fft as np\n    return np.fft(x)\n"
     "def compute_reward(s, a, n):\n    return np.fft, {}\n", 3,
     "'np' names numpy (line 1) and numpy.fft here"),
    ("import math as m\ndef f(x):\n    import numpy as m\n    return x\ndef compute_reward(s, a, n):\n"
     "    return 0.0, {}\n", 3, "'m' names math (line 1) and numpy here"),
])
def test_aliases_values_and_rebinding_are_judged_against_the_list(code, line, fragment):
    findings = static_findings(code)
    assert findings, code
    assert findings[0].line == line and fragment in str(findings[0]), findings


@pytest.mark.parametrize("code", [
    "import numpy as xp\ndef compute_reward(s, a, n):\n    return float(xp.linalg.norm(s.obs)), {}\n",
    "from numpy.linalg import norm\ndef compute_reward(s, a, n):\n    return float(norm(s.obs)), {}\n",
    "from numpy import linalg as la, float32\ndef compute_reward(s, a, n):\n    return float(la.det(s.obs)), {}\n",
    "import numpy as np\ndef compute_reward(s, a, n):\n    x = np.add.reduce(s.obs) + s.obs.sum() + s.obs.shape[0]\n"
    "    rng = np.random.default_rng(0)\n    return float(x + rng.normal()), {}\n",
    "import math as m\nfrom math import sqrt\ndef compute_reward(s, a, n):\n    return m.sin(sqrt(2.0)), {}\n",
])
def test_ordinary_uses_pass(code):
    assert static_findings(code) == []


def test_the_list_prints():
    out = subprocess.run([sys.executable, "-m", "rewardsmith.sandbox.allowlist"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "linalg.norm" in out.stdout and "random.default_rng" in out.stdout and "math" in out.stdout
    assert "seterr" not in out.stdout and "npyio" not in out.stdout
