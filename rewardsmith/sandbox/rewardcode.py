"""Running reward code (CONTRACT §1): restricted execution and return-value validation.

Only the sandboxed child process (``rewardsmith.sandbox.child``) calls ``load_reward``: the static critic has
already read the code, and this is the second wall (restricted builtins, an import hook that admits
numpy and math only, as read-only copies). The child's confinement is the third.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import math
import numbers
import re
import types

import numpy as np

from ..errors import RewardCodeError
from . import allowlist

ALLOWED_MODULES = ("numpy", "math")
REWARD_FILENAME = "<reward>"  # the sandbox's audit hook recognises reward frames by it
# a component (term) name: a short printable identifier (CONTRACT §1); it reaches terminals, HTML and
# prompts, so nothing else gets through
COMPONENT_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_good_names: set[str] = set()  # names already checked (the per-step path skips the regex)
# the largest reward magnitude one step may give (CONTRACT §1): a finite 1e30 would reach PPO's
# VecNormalize and value loss and overflow them or drown every other step, so it fails like NaN
MAX_REWARD = 1e6

_safe_modules: dict = {}


class _ReadOnlyModule(types.ModuleType):
    """A module copy reward code cannot change: patching ``math.sin`` or ``np.linalg.norm`` would
    otherwise reach the task's fields and fitness, which run in the same process."""

    def __setattr__(self, name, value):
        raise AttributeError(f"reward code may not change the module {self.__name__!r} (set {name!r})")

    def __delattr__(self, name):
        raise AttributeError(f"reward code may not change the module {self.__name__!r} (del {name!r})")


def _read_only_copy(module, name: str):
    """A read-only module holding exactly the allow-list's names of ``module`` (``name``: "numpy" or
    "math"), its namespaces (np.linalg) as read-only modules of their listed names. A listed name this
    numpy lacks (a newer or older release) is left out, so using it fails as on that numpy."""
    copies = {"": _ReadOnlyModule(name, module.__doc__)}
    for space in sorted(allowlist.NAMESPACES[name], key=lambda s: s.count(".")):
        real = functools.reduce(getattr, space.split("."), module)
        copies[space] = _ReadOnlyModule(real.__name__, real.__doc__)
        parent, _, last = space.rpartition(".")
        copies[parent].__dict__[last] = copies[space]  # bypasses the read-only __setattr__
    for path in allowlist.ALLOWED[name]:
        parent, _, last = path.rpartition(".")
        if parent not in copies:
            continue  # a value's own attribute (np.add.reduce): the value carries it
        try:
            copies[parent].__dict__[last] = functools.reduce(getattr, path.split("."), module)
        except AttributeError:
            continue
    return copies[""]


# what numpy imports lazily on first use (np.polynomial, and np.ma through polyfit): imported before
# reward code runs, because the sandbox refuses every import while reward code is in control
_LAZY_NUMPY = ("numpy.linalg", "numpy.random", "numpy.fft", "numpy.polynomial", "numpy.ma")


def safe_numpy():
    """A read-only module with the allow-list's numpy names and nothing else (what reward code imports)."""
    if "numpy" not in _safe_modules:  # built once per sandboxed process, then shared by every import
        for name in _LAZY_NUMPY:
            importlib.import_module(name)
        _safe_modules["numpy"] = _read_only_copy(np, "numpy")
    return _safe_modules["numpy"]


def safe_math():
    """A read-only copy of ``math``'s listed names (the task's fields use the real one)."""
    if "math" not in _safe_modules:
        _safe_modules["math"] = _read_only_copy(math, "math")
    return _safe_modules["math"]


_SAFE_BUILTIN_NAMES = (
    "abs all any bool dict divmod enumerate filter float frozenset int isinstance issubclass len list "
    "map max min pow print range repr reversed round set slice sorted str sum tuple zip "
    "ArithmeticError AssertionError AttributeError Exception IndexError KeyError LookupError "
    "OverflowError TypeError ValueError ZeroDivisionError FloatingPointError RecursionError "
    "RuntimeError NotImplementedError StopIteration SystemExit KeyboardInterrupt "
    "True False None"
).split()


def _restricted_import(name, globals=None, locals=None, fromlist=(), level=0):
    root = name.split(".")[0]
    if level != 0 or root not in ALLOWED_MODULES or name != root and root != "numpy":
        raise ImportError(f"import of {name!r} is not allowed in reward code (only numpy and math)")
    if root == "numpy":
        if name != root:
            # numpy's C code imports its own submodules (np.std imports numpy._core._methods) through
            # the calling frame's __import__, which is this one; PyImport_Import then reads
            # sys.modules and ignores what we return, so reward code still gets the safe module only
            importlib.import_module(name)
        module = safe_numpy()
        space = name[len("numpy."):]
        if fromlist and allowlist.is_namespace("numpy", space):  # from numpy.linalg import norm
            module = getattr(module, space)
        for item in fromlist or ():
            if not hasattr(module, item):
                raise ImportError(f"{module.__name__}.{item} is not available in reward code")
        return module
    return safe_math()


def safe_builtins() -> dict:
    table = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES if hasattr(builtins, name)}
    table["__import__"] = _restricted_import
    return table


_reward_caller: list = [None]  # the sandbox's call_as_reward, once its audit hook is installed


def use_reward_caller(caller) -> None:
    """Routes every later call into reward code through ``caller`` (``confine.install_audit_guard``)."""
    _reward_caller[0] = caller


def load_reward(code: str):
    """Executes reward code with restricted builtins and returns its ``compute_reward`` (in a sandbox,
    wrapped so that the audit hook knows when reward code is in control)."""
    safe_numpy(), safe_math()  # built here, not lazily under the reward's frames (the child's guard)
    namespace = {"__builtins__": safe_builtins(), "__name__": "reward"}
    compiled = compile(code, REWARD_FILENAME, "exec")
    caller = _reward_caller[0]
    if caller is None:  # not in a sandbox (tests, the exported module's checks)
        exec(compiled, namespace)  # noqa: S102
    else:
        caller(exec, compiled, namespace, code=compiled)  # noqa: S102 - sandboxed child only
    fn = namespace.get("compute_reward")
    if not callable(fn):
        raise RewardCodeError("the code defines no function compute_reward(state, action, next_state)")
    freeze_module(namespace)
    if caller is None:
        return fn

    def compute_reward(state, action, next_state):
        return caller(fn, state, action, next_state)

    return compute_reward


# --------------------------------------------------------------------------- purity at run time

_IMMUTABLE = (int, float, complex, bool, str, bytes, type(None), range, slice, np.generic, np.dtype)


class FrozenList(tuple):
    """What a module-level list becomes: a tuple that still copies and concatenates like a list
    (``WEIGHTS.copy()``, ``BASE + [x]`` give new lists), so only mutation stops working."""

    __slots__ = ()

    def copy(self) -> list:
        return list(self)

    def __add__(self, other):
        return list(self) + list(other) if isinstance(other, list) else tuple.__add__(self, other)

    def __radd__(self, other):
        return other + list(self) if isinstance(other, list) else tuple(other) + tuple(self)

    def __eq__(self, other):
        return list(self) == other if isinstance(other, list) else tuple.__eq__(self, other)

    __hash__ = tuple.__hash__


def freeze_module(namespace: dict) -> None:
    """Makes what reward code defined at module level immutable, so ``compute_reward`` cannot keep
    state between calls (a counter that behaves for the critic's probe and then turns to NaN):
    lists become tuples, dicts read-only mappings, sets frozensets, arrays read-only copies, and the
    same for function defaults and closures. A module-level object of any other kind (an iterator,
    a random generator) could carry state, so it is refused."""
    for name in [n for n in namespace if n not in ("__builtins__", "__name__")]:
        namespace[name] = _frozen(namespace[name], name, 0)


def _frozen(value, where: str, depth: int):
    if depth > 20:
        raise RewardCodeError(f"module-level name {where.split('[')[0]!r} nests containers too deeply")
    if isinstance(value, _IMMUTABLE) or isinstance(value, _ReadOnlyModule):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise RewardCodeError(f"module-level name {where!r} holds an object array; use numbers")
        return np.frombuffer(value.tobytes(), dtype=value.dtype).reshape(value.shape)
    if isinstance(value, (list, tuple)):
        items = (_frozen(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value))
        return FrozenList(items) if isinstance(value, list) else tuple(items)
    if isinstance(value, (set, frozenset)):
        return frozenset(_frozen(v, where, depth + 1) for v in value)
    if isinstance(value, (dict, types.MappingProxyType)):
        return types.MappingProxyType({k: _frozen(v, f"{where}[{k!r}]", depth + 1) for k, v in value.items()})
    if isinstance(value, types.FunctionType):
        if value.__code__.co_filename == REWARD_FILENAME:  # the reward's own: freeze what it keeps
            if value.__defaults__:
                value.__defaults__ = tuple(_frozen(v, f"{where} default", depth + 1) for v in value.__defaults__)
            if value.__kwdefaults__:
                value.__kwdefaults__ = {k: _frozen(v, f"{where} default", depth + 1)
                                        for k, v in value.__kwdefaults__.items()}
            for cell in value.__closure__ or ():
                try:
                    contents = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                if contents is not value:
                    cell.cell_contents = _frozen(contents, f"{where} closure", depth + 1)
        return value
    if isinstance(value, (types.BuiltinFunctionType, np.ufunc)) or callable(value) \
            and type(value).__module__.split(".")[0] in ("numpy", "math", "builtins"):
        return value  # numpy's and math's functions
    raise RewardCodeError(
        f"module-level name {where!r} holds {_describe(value)}, which could keep state between calls; "
        f"module-level names may hold numbers, strings, lists, tuples, dicts and sets of them, numpy "
        f"arrays and functions. Likely cause: an iterator, generator or random number generator at "
        f"module level; create it inside compute_reward.")


def _describe(value) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    kind = type(value).__name__
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} ({text})"


_PLAIN_REALS = (float, int, np.floating, np.integer)  # concrete types: no ABC check per step


def as_real(value, what: str) -> float:
    """``value`` as a finite float of magnitude at most MAX_REWARD, or a RewardCodeError in gymnasium
    checker style."""
    if isinstance(value, _PLAIN_REALS) and not isinstance(value, bool):  # the per-step fast path
        result = float(value)
        if -MAX_REWARD <= result <= MAX_REWARD:  # false for NaN too
            return result
    if isinstance(value, np.ndarray):
        if value.shape != () and value.size != 1:
            raise RewardCodeError(
                f"compute_reward returned an array of shape {value.shape} as {what}; expected a "
                f"finite real number. Likely cause: an element-wise expression that was not summed "
                f"(use np.sum or np.linalg.norm)."
            )
        if value.shape != ():
            raise RewardCodeError(
                f"compute_reward returned an array of shape {value.shape} as {what}; expected a "
                f"scalar. Likely cause: indexing a field with a slice; use float(x[0]) or x.item()."
            )
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)) \
            or isinstance(value, np.complexfloating):
        cause = "a comparison where a number belongs; use float(condition)" \
            if isinstance(value, (bool, np.bool_)) else "the wrong variable, or a value never converted"
        raise RewardCodeError(
            f"compute_reward returned {_describe(value)} as {what}; expected a finite real number. "
            f"Likely cause: {cause}."
        )
    result = float(value)
    if not math.isfinite(result):
        raise RewardCodeError(
            f"compute_reward returned {result} as {what}; expected a finite real number. Likely "
            f"cause: a division by a quantity that can be zero, a log of zero or a negative number, "
            f"or an exp of a large value (clip before exp, add a small epsilon to divisors)."
        )
    if abs(result) > MAX_REWARD:
        raise RewardCodeError(
            f"compute_reward returned {result:.6g} as {what}; expected a real number of magnitude at most "
            f"{MAX_REWARD:g} per step (larger values overflow PPO's value loss or drown every other step). "
            f"Likely cause: an exp or a power of a large value, a division by a quantity near zero, or a "
            f"term scaled far too high (clip it, or scale the terms down)."
        )
    return result


def validate(result) -> tuple[float, dict[str, float]]:
    """Checks a compute_reward return value and gives (total, components) as plain floats."""
    if type(result) is tuple and len(result) == 2:  # the per-step case, checked without a call per value
        total, components = result
        if type(total) is float and type(components) is dict and -MAX_REWARD <= total <= MAX_REWARD:
            for name, value in components.items():
                if not (type(value) is float and type(name) is str and name in _good_names
                        and -MAX_REWARD <= value <= MAX_REWARD):
                    break
            else:  # bounded floats under names already checked: what the checks below give back as is
                return total, dict(components)
    return _checked(result)


def _checked(result) -> tuple[float, dict[str, float]]:
    if not isinstance(result, tuple) or len(result) != 2:
        if result is None:
            cause = "a path through compute_reward that reaches no return statement"
        elif isinstance(result, (numbers.Real, np.number, np.ndarray)):
            cause = "returning the total alone; write return total, {'term': value, ...}"
        elif isinstance(result, list):
            cause = "a list; return a tuple: return total, components"
        elif isinstance(result, tuple):
            cause = "returning terms separately; put every term in the components dict"
        else:
            cause = "returning the wrong variable"
        raise RewardCodeError(
            f"compute_reward returned {_describe(result)}; expected a tuple (total, components) "
            f"where total is a finite real number and components a dict of name -> finite real "
            f"number. Likely cause: {cause}."
        )
    total, components = result
    total = as_real(total, "the total (first element of (total, components))")
    if not isinstance(components, dict):
        raise RewardCodeError(
            f"compute_reward returned {_describe(components)} as components; expected a dict "
            f"from term name (str) to finite real number, e.g. {{'forward': 1.2, 'energy': -0.1}}. "
            f"Likely cause: the terms as a list or a single number instead of named entries."
        )
    clean = {}
    for name, value in components.items():
        if not isinstance(name, str):
            raise RewardCodeError(
                f"component name {_describe(name)} is not a str; expected str keys naming each term. "
                f"Likely cause: a number or variable used as the key instead of a quoted name.")
        if name not in _good_names:
            check_component_name(name)
            if len(_good_names) < 4096:
                _good_names.add(name)
        clean[name] = as_real(value, f"component {name!r}")
    return total, clean


def check_component_name(name: str) -> None:
    """Raises RewardCodeError unless ``name`` is a short printable identifier (CONTRACT §1)."""
    if not COMPONENT_NAME.fullmatch(name):
        shown = repr(name) if len(name) <= 40 else repr(name[:37]) + "..."
        raise RewardCodeError(
            f"component name {shown} is not a short printable identifier; expected letters, digits, "
            f"'_', '-' and '.' only, 1 to 64 characters (e.g. 'forward_velocity'). Likely cause: a "
            f"sentence, spaces or punctuation used as a term name.")


def reward_line(exc: BaseException) -> int | None:
    """The innermost line of reward code in ``exc``'s traceback, if it passed through reward code."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == REWARD_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename == REWARD_FILENAME:
        line = exc.lineno
    return line


def return_lines(code: str) -> list[int]:
    """The lines of compute_reward's own return statements (not its helpers')."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    lines = []
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compute_reward"):
        stack: list[ast.AST] = list(fn.body)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Return):
                lines.append(node.lineno)
            elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                stack.extend(ast.iter_child_nodes(node))
    return sorted(lines)


def location(code: str, line: int | None) -> str:
    """`` at line N (`source`)`` for messages, or "" when the line is unknown."""
    if not line:
        return ""
    lines = code.splitlines()
    source = f" (`{lines[line - 1].strip()}`)" if 0 < line <= len(lines) else ""
    return f" at line {line}{source}"


_EXCEPTION_HINTS = (
    (ZeroDivisionError, "a division by a quantity that can be zero; add a small epsilon to the "
                        "divisor or guard the case"),
    (KeyError, "a dict lookup of a key that is not there; state fields are attributes "
               "(next_state.name), not keys"),
    (NameError, "a name the code never defined, or a builtin reward code may not use"),
    (ImportError, "an import other than numpy or math (the only modules reward code may import)"),
    (AttributeError, "an attribute that does not exist on that object (numpy arrays and floats "
                     "have different attributes)"),
    ((IndexError, ValueError, TypeError), "indexing or combining arrays of the wrong shape or type; "
                                          "check the field shapes"),
    (OverflowError, "a value too large for a float (clip before math.exp or **)"),
    (PermissionError, "an attempt to use files, processes or interpreter internals"),
)


def describe_exception(exc: BaseException, code: str, where: str) -> str:
    """A self-contained message about an exception raised by reward code: what happened, where,
    what was expected, and the likely cause."""
    from ..errors import UnknownFieldError

    at = location(code, reward_line(exc))
    expected = "Expected compute_reward to return (total, components) on every transition."
    if isinstance(exc, UnknownFieldError):
        return f"compute_reward read an unknown state field{at} {where}: {exc}."
    if isinstance(exc, RewardCodeError):
        if not at:  # a bad return value: point at compute_reward's return statements
            lines = return_lines(code)
            if len(lines) == 1:
                at = location(code, lines[0]).replace(" at line", " returned at line")
            elif lines:
                at = f" returned at one of lines {', '.join(map(str, lines))}"
            return f"{exc} (compute_reward{at}, {where})" if at else f"{exc} ({where})"
        return f"{exc} (raised{at} {where})"
    if isinstance(exc, RecursionError):
        return (f"compute_reward raised RecursionError{at} {where}: {exc}. {expected} Likely cause: a "
                f"helper function that calls itself without a base case.")
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return (f"compute_reward raised {type(exc).__name__}{at} {where}; reward code may not exit or "
                f"interrupt the process. {expected} Likely cause: a call to exit or a raise of "
                f"{type(exc).__name__}; return a value instead.")
    hint = next((text for kinds, text in _EXCEPTION_HINTS if isinstance(exc, kinds)), None)
    if isinstance(exc, (AttributeError, TypeError, ValueError)) and any(
            mark in str(exc) for mark in ("FrozenList", "mappingproxy", "frozenset", "read-only")):
        hint = ("a change to a module-level list, dict, set or array; module-level names are constants "
                "(compute_reward is a pure function): copy first, e.g. list(X), dict(X), np.array(X)")
    cause = f" Likely cause: {hint}." if hint else ""
    return f"compute_reward raised {type(exc).__name__}: {exc}{at} {where}. {expected}{cause}"
