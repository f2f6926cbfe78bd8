"""Checking what a sandboxed child sends before anything uses it (parent side).

A child that loaded reward code may say anything: every number it reports is checked for type,
count and finiteness here, and every component name against CONTRACT §1. A violation is a
SandboxError of kind ``protocol``: the results are discarded, never half-used.
"""

from __future__ import annotations

import math

from .errors import SandboxError
from .sandbox.rewardcode import COMPONENT_NAME

MAX_TEXT = 8_000      # characters of child-written text (messages) kept
MAX_COMPONENTS = 64   # distinct component names one reward may report


def violation(what: str, expected: str) -> SandboxError:
    return SandboxError(f"the sandboxed process sent {what}; expected {expected}. Its results are "
                        f"discarded. Likely cause: reward code tampering with the sandbox.", kind="protocol")


def number(value, what: str, *, minimum: float | None = None) -> float:
    """``value`` as a finite float (an int or float, not a bool), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or minimum is not None and value < minimum:
        shown = repr(value)[:40]
        raise violation(f"{shown} as {what}", "a finite number" + (f" >= {minimum}" if minimum is not None else ""))
    return float(value)


def count(value, what: str) -> int:
    """``value`` as a non-negative int."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise violation(f"{repr(value)[:40]} as {what}", "a non-negative integer")
    return value


def numbers(value, what: str, length: int | None = None) -> list[float]:
    """A list of finite floats (of ``length`` items when given)."""
    if not isinstance(value, list):
        raise violation(f"a {type(value).__name__} as {what}", "a list of finite numbers")
    if length is not None and len(value) != length:
        raise violation(f"{len(value)} values as {what}", f"exactly {length}")
    return [number(v, f"an item of {what}") for v in value]


def component_name(name, what: str) -> str:
    if not isinstance(name, str) or not COMPONENT_NAME.fullmatch(name):
        raise violation(f"the component name {repr(name)[:40]} in {what}",
                        "a short printable identifier (letters, digits, '_', '-', '.'; at most 64)")
    return name


def components(value, what: str, length: int) -> dict[str, list[float]]:
    """A dict from component name to ``length`` finite floats."""
    if not isinstance(value, dict) or len(value) > MAX_COMPONENTS:
        raise violation(f"a {type(value).__name__} as {what}", f"a dict of at most {MAX_COMPONENTS} components")
    return {component_name(k, what): numbers(v, f"component {k!r} of {what}", length) for k, v in value.items()}


def text(value, what: str) -> str:
    """Child-written text (an error message), bounded; never markup (callers escape for display)."""
    if not isinstance(value, str):
        raise violation(f"a {type(value).__name__} as {what}", "text")
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + " [...]"


def mapping(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise violation(f"a {type(value).__name__} as {what}", "a JSON object")
    return value
