"""Checking what a sandboxed child sends before anything uses it (parent side).

A child that loaded reward code may say anything: every number it reports is checked for type,
count and finiteness here, and every component name against CONTRACT §1. A violation is a
SandboxError of kind ``protocol``: the results are discarded, never half-used.
"""

from __future__ import annotations

import math
import re

from .errors import SandboxError
from .sandbox.rewardcode import COMPONENT_NAME

MAX_TEXT = 8_000      # characters of child-written text (messages) kept
MAX_COMPONENTS = 64   # distinct component names one reward may report

# characters that make text show other than it is: C0 and C1 controls (terminal escape codes, carriage
# returns), bidirectional embeddings, overrides, isolates and marks (U+061C, U+200E/F, U+202A-E,
# U+2066-9), zero-width characters (U+200B-D, U+2060, U+FEFF), the line and paragraph separators, and
# every other format character of Unicode 14 (category Cf: the soft hyphen, invisible operators,
# interlinear annotations, and the tag characters U+E0020-E007F, which hide a whole text)
_HIDDEN = ("\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u2028-\u202e"
           "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438"
           "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f")
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_HIDDEN}]")
_UNSAFE_OR_NEWLINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_HIDDEN}]")
QUOTE = "  | "  # before each line of a process's output shown to the user


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


def printable(text, one_line: bool = False) -> str:
    """Text that came from reward code or a child (names, reasons, logs), safe to print: control,
    bidirectional, zero-width and separator characters appear as ``\\xNN``/``\\uNNNN``, and with
    ``one_line`` newlines too, so nothing it prints can move the cursor, reorder what is shown or fake
    a line. Print it as rich ``Text`` (or with ``markup=False``): it is never read as rich markup."""
    pattern = _UNSAFE_OR_NEWLINE if one_line else _UNSAFE
    return pattern.sub(_escaped, str(text))


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def quoted(text: str) -> str:
    """A process's output as a visibly quoted block: printable, every line after ``QUOTE``, so no line
    of it can pass for one of rewardsmith's own (``ACCEPTED``, ``fitness: ...``)."""
    return "\n".join(QUOTE + line for line in printable(text).split("\n"))


def child_message(text: str) -> str:
    """A message a child wrote (its error), for an exception's text: its first line printable on one
    line (callers put it after their own words), any further lines quoted."""
    first, _, rest = str(text).strip("\n").partition("\n")
    return printable(first, one_line=True) + (f"\n{quoted(rest)}" if rest else "")
