"""Running reward code (CONTRACT §1): restricted execution and return-value validation.

Only the sandboxed child process (``rewardsmith.child``) calls ``load_reward``: the static critic has
already read the code, and this is the second wall (restricted builtins, an import hook that admits
numpy and math only).
"""

from __future__ import annotations

import builtins
import math
import numbers

import numpy as np

from .errors import RewardCodeError

ALLOWED_MODULES = ("numpy", "math")

# numpy names that reach files, processes or raw memory; the static critic rejects them too.
NUMPY_BANNED = frozenset(
    "load save savez savez_compressed fromfile tofile memmap loadtxt savetxt genfromtxt fromregex "
    "ctypeslib lib DataSource f2py distutils testing show_config show_runtime dump dumps ctypes "
    "open_memmap from_dlpack _core core".split()
)
_safe_numpy = None


def safe_numpy():
    """A module object with numpy's public names minus NUMPY_BANNED (what reward code imports)."""
    global _safe_numpy  # built once per sandboxed process, then shared by every import
    if _safe_numpy is None:
        import types

        np.linalg, np.random, np.fft  # noqa: B018 - make sure the lazy submodules are loaded
        module = types.ModuleType("numpy", np.__doc__)
        module.__dict__.update(
            {k: v for k, v in vars(np).items() if k not in NUMPY_BANNED and not k.startswith("__")}
        )
        _safe_numpy = module
    return _safe_numpy

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
    if level != 0 or root not in ALLOWED_MODULES or name not in ALLOWED_MODULES:
        raise ImportError(f"import of {name!r} is not allowed in reward code (only numpy and math)")
    if name == "numpy":
        module = safe_numpy()
        for item in fromlist or ():
            if not hasattr(module, item):
                raise ImportError(f"numpy.{item} is not available in reward code")
        return module
    return math


def safe_builtins() -> dict:
    table = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES if hasattr(builtins, name)}
    table["__import__"] = _restricted_import
    return table


def load_reward(code: str, filename: str = "<reward>"):
    """Executes reward code with restricted builtins and returns its ``compute_reward``."""
    namespace = {"__builtins__": safe_builtins(), "__name__": "reward"}
    exec(compile(code, filename, "exec"), namespace)  # noqa: S102 - sandboxed child only
    fn = namespace.get("compute_reward")
    if not callable(fn):
        raise RewardCodeError("the code defines no function compute_reward(state, action, next_state)")
    return fn


def _describe(value) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"a {type(value).__name__} ({text})"


def as_real(value, what: str) -> float:
    """``value`` as a finite float, or a RewardCodeError in gymnasium checker style."""
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
        raise RewardCodeError(
            f"compute_reward returned {_describe(value)} as {what}; expected a finite real number."
        )
    result = float(value)
    if not math.isfinite(result):
        raise RewardCodeError(
            f"compute_reward returned {result} as {what}; expected a finite real number. Likely "
            f"cause: a division by a quantity that can be zero, a log of zero or a negative number, "
            f"or an exp of a large value (clip before exp, add a small epsilon to divisors)."
        )
    return result


def validate(result) -> tuple[float, dict[str, float]]:
    """Checks a compute_reward return value and gives (total, components) as plain floats."""
    if not isinstance(result, tuple) or len(result) != 2:
        raise RewardCodeError(
            f"compute_reward returned {_describe(result)}; expected a tuple (total, components) "
            f"where total is a finite real number and components a dict of name -> finite real number."
        )
    total, components = result
    total = as_real(total, "the total (first element of (total, components))")
    if not isinstance(components, dict):
        raise RewardCodeError(
            f"compute_reward returned {_describe(components)} as components; expected a dict "
            f"from term name (str) to finite real number, e.g. {{'forward': 1.2, 'energy': -0.1}}."
        )
    clean = {}
    for name, value in components.items():
        if not isinstance(name, str):
            raise RewardCodeError(f"component name {_describe(name)} is not a str; expected str keys.")
        clean[name] = as_real(value, f"component {name!r}")
    return total, clean


def describe_exception(exc: BaseException, code: str, where: str) -> str:
    """A self-contained sentence about an exception raised by reward code, with its line."""
    from .errors import UnknownFieldError

    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<reward>":
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename == "<reward>":
        line = exc.lineno
    source = ""
    if line:
        lines = code.splitlines()
        if 0 < line <= len(lines):
            source = f" (`{lines[line - 1].strip()}`)"
    at = f" at line {line}{source}" if line else ""
    if isinstance(exc, UnknownFieldError):
        return f"compute_reward read an unknown state field{at} {where}: {exc}."
    if isinstance(exc, RewardCodeError):
        return f"{exc} (raised{at} {where})"
    if isinstance(exc, RecursionError):
        return (f"compute_reward raised RecursionError{at} {where}: {exc}; likely cause: a helper "
                f"function that calls itself without a base case.")
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return (f"compute_reward raised {type(exc).__name__}{at} {where}; reward code may not exit or "
                f"interrupt the process. Expected it to return (total, components).")
    hint = ""
    if isinstance(exc, NameError):
        hint = " Likely cause: a name the code never defined, or a builtin reward code may not use."
    elif isinstance(exc, ImportError):
        hint = " Only numpy and math may be imported."
    elif isinstance(exc, (IndexError, ValueError, TypeError)):
        hint = " Likely cause: indexing or combining arrays of the wrong shape; check the field shapes."
    return f"compute_reward raised {type(exc).__name__}: {exc}{at} {where}.{hint}"
