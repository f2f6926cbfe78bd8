"""The critic: rejects broken or unsafe reward code before any training runs.

Stage one is static (``static_findings``: parse, signature, imports, forbidden names and attributes,
module layout). Stage two is dynamic (``Critic.check``): the code is called on a few hundred
transitions from random-policy rollouts, in a sandboxed process (``rewardsmith.sandbox.probe`` is its side).
Every finding names the line where there is one, and reads like gymnasium's env checker: the actual
value, the expected one, the likely cause. The same text goes back to the LLM for repair.
"""

from __future__ import annotations

import ast
import string
import time
from dataclasses import dataclass, field

import numpy as np

from .components import DOMINANT_SHARE, dominant_component, magnitude_shares
from .errors import SandboxError
from .launch import Limits, run_job
from .sandbox.rewardcode import NUMPY_BANNED, ALLOWED_MODULES

FORBIDDEN_NAMES = frozenset(
    "eval exec compile open __import__ getattr setattr delattr hasattr globals locals vars dir input "
    "breakpoint help exit quit memoryview type object super classmethod staticmethod property "
    "__builtins__ __loader__ __spec__ reload".split()
)
# attributes that reach frames, code objects or the interpreter without a dunder, or the writable
# memory behind a read-only state array (a field may be a view of the simulator's own state)
FORBIDDEN_ATTRIBUTES = {
    **dict.fromkeys(
        "gi_frame gi_code f_back f_globals f_locals f_builtins f_code tb_frame tb_next cr_frame "
        "ag_frame co_code mro format_map".split(), "it reaches frames or interpreter internals"),
    **dict.fromkeys(
        "base flags setflags".split(),
        "it reaches the memory behind a read-only state array; copy instead (np.array(x))"),
}

_ALLOWED_TOP_LEVEL = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Assign, ast.AnnAssign)
_FORBIDDEN_NODES = {
    ast.ClassDef: "class definitions are not allowed (use helper functions)",
    ast.Global: "'global' is not allowed: compute_reward must be a pure function of its arguments",
    ast.Nonlocal: "'nonlocal' is not allowed: compute_reward must be a pure function of its arguments",
    ast.AsyncFunctionDef: "async functions are not allowed",
    ast.Await: "await is not allowed",
    ast.With: "'with' blocks are not allowed (no files or resources in reward code)",
    ast.AsyncWith: "'with' blocks are not allowed",
}

DEFAULT_TRANSITIONS = 300
DEFAULT_CALL_LIMIT_S = 1e-3


@dataclass
class Finding:
    """One reason to reject (``error``) or to look twice (``warning``)."""

    rule: str
    message: str
    line: int | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"[{self.rule}] {where}{self.message}"


@dataclass
class Verdict:
    """The critic's answer for one piece of reward code."""

    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return not self.errors

    def report(self) -> str:
        """The full text: every reason, then every warning (what the LLM sees for a repair)."""
        lines = []
        if self.errors:
            lines.append(f"REJECTED ({len(self.errors)} problem{'s' * (len(self.errors) > 1)}):")
            lines += [f"- {f}" for f in self.errors]
        else:
            lines.append("ACCEPTED")
            if self.stats.get("calls"):
                lines.append(
                    f"- called on {self.stats['calls']} transitions, {self.stats['mean_call_ms']:.3f} ms "
                    f"per call; total in [{self.stats['total_min']:.4g}, {self.stats['total_max']:.4g}]; "
                    f"components: {', '.join(self.stats['components']) or '(none)'}"
                )
        if self.warnings:
            lines.append("Warnings:")
            lines += [f"- {f}" for f in self.warnings]
        return "\n".join(lines)


# --------------------------------------------------------------------------- static stage


def static_findings(code: str, field_names: list[str] | None = None) -> list[Finding]:
    """Every static reason to reject ``code`` (empty list: passes stage one)."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        text = (exc.text or "").strip()
        text = text if len(text) <= 80 else text[:77] + "..."
        where = f" near `{text}`" if text else ""
        return [Finding("syntax", f"syntax error: {exc.msg}{where}; the code must be valid Python 3.",
                        exc.lineno)]
    except (ValueError, MemoryError, RecursionError) as exc:  # the parser's own limits
        return [Finding("syntax", f"the code could not be parsed ({type(exc).__name__}: {exc}); "
                        f"expected ordinary Python 3 of modest size and nesting.")]
    found: list[Finding] = []
    found += _layout(tree)
    found += _signature(tree, field_names)
    for node in ast.walk(tree):
        found += _node_findings(node)
    return sorted(found, key=lambda f: (f.line or 0, f.rule))


def _layout(tree: ast.Module) -> list[Finding]:
    found = []
    for i, node in enumerate(tree.body):
        if isinstance(node, _ALLOWED_TOP_LEVEL + tuple(_FORBIDDEN_NODES)):
            continue  # forbidden statements get their own finding
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            continue  # module docstring
        found.append(Finding(
            "module-level",
            f"a module-level {type(node).__name__} statement; only imports, function definitions and "
            f"constant assignments may stand at module level (put logic inside a function).",
            node.lineno))
    return found


def _signature(tree: ast.Module, field_names) -> list[Finding]:
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compute_reward"]
    if not defs:
        return [Finding("signature", "no module-level function compute_reward(state, action, next_state); "
                        "expected exactly that name with three positional parameters.")]
    fn = defs[-1]
    args = fn.args
    positional = args.posonlyargs + args.args
    required = len(positional) - len(args.defaults)
    if len(positional) < 3 and not args.vararg or required > 3 or args.kwonlyargs and \
            len(args.kw_defaults) != len(args.kwonlyargs) or any(d is None for d in args.kw_defaults):
        names = ", ".join(a.arg for a in positional)
        return [Finding("signature", f"compute_reward takes ({names}); expected three positional "
                        f"parameters (state, action, next_state).", fn.lineno)]
    found = []
    if field_names is not None and len(positional) >= 3:
        known = set(field_names) | {"obs"}
        watched = {positional[0].arg, positional[2].arg}
        for node in ast.walk(fn):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in watched and node.attr not in known \
                    and not node.attr.startswith("_"):  # private and dunder names have their own rules
                found.append(Finding(
                    "unknown-field",
                    f"{node.value.id}.{node.attr} is not a state field of this task; the fields that "
                    f"exist are: {', '.join(sorted(known))}.", node.lineno))
    return found


def _node_findings(node) -> list[Finding]:
    line = getattr(node, "lineno", None)
    for kind, why in _FORBIDDEN_NODES.items():
        if isinstance(node, kind):
            return [Finding("forbidden-syntax", why, line)]
    if isinstance(node, ast.Import):
        return [Finding("import", f"import of {a.name!r} is not allowed; only numpy and math may be "
                        f"imported.", line) for a in node.names if a.name not in ALLOWED_MODULES]
    if isinstance(node, ast.ImportFrom):
        if node.level or node.module not in ALLOWED_MODULES:
            return [Finding("import", f"import from {node.module or '.'!r} is not allowed; only numpy "
                            f"and math may be imported.", line)]
        found = []
        for alias in node.names:
            if alias.name == "*":
                found.append(Finding("import", f"'from {node.module} import *' is not allowed; import "
                                     f"the module (import {node.module}) or name what you use.", line))
            elif alias.name in NUMPY_BANNED or alias.name.startswith("_"):
                found.append(Finding("numpy-io", f"{node.module}.{alias.name} is not allowed in reward "
                                     f"code (file, process or memory access).", line))
        return found
    if isinstance(node, ast.Name):
        if node.id in FORBIDDEN_NAMES:
            return [Finding("forbidden-name", f"{node.id!r} is not allowed in reward code (no dynamic "
                            f"code, file, attribute-reflection or interpreter access).", line)]
        if node.id.startswith("__"):
            return [Finding("dunder", f"the name {node.id!r} is not allowed (no dunder names).", line)]
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("__"):
            return [Finding("dunder", f"attribute access .{node.attr} is not allowed (no dunder "
                            f"attributes).", line)]
        if node.attr in NUMPY_BANNED:
            return [Finding("numpy-io", f".{node.attr} is not allowed in reward code (numpy file, "
                            f"process or raw-memory access).", line)]
        if node.attr.startswith("_"):
            return [Finding("private-attribute", f"attribute access .{node.attr} is not allowed: "
                            f"reward code may read state fields and public numpy names, never private "
                            f"attributes.", line)]
        if node.attr in FORBIDDEN_ATTRIBUTES:
            return [Finding("forbidden-attribute", f"attribute .{node.attr} is not allowed "
                            f"({FORBIDDEN_ATTRIBUTES[node.attr]}).", line)]
        if not isinstance(node.ctx, ast.Load):
            target = _dotted(node)
            return [Finding("attribute-assignment", f"assigning to or deleting {target} is not allowed; "
                            f"reward code may not change modules, states or other objects it did not "
                            f"create (use a local variable).", line)]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        field_name = _format_attribute(node.value)
        if field_name:
            return [Finding("format-attribute", f"the format string field {{{field_name}}} reads an "
                            f"attribute; format values, not their attributes (no '{{0.attr}}' fields).",
                            line)]
    if isinstance(node, ast.FunctionDef) and node.name.startswith("__"):
        return [Finding("dunder", f"function name {node.name!r} is not allowed (no dunder names).", line)]
    return []


def _dotted(node: ast.Attribute) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001 - only for the message
        return f"an attribute .{node.attr}"


def _format_attribute(text: str) -> str | None:
    """The first ``str.format`` field in ``text`` that reads an attribute (``{0.__class__}``), if any."""
    if "{" not in text or "." not in text:
        return None
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name]
    except ValueError:
        return None  # not a valid format string, so .format() would raise on it
    return next((name for name in fields if "." in name), None)


# --------------------------------------------------------------------------- the critic (parent side)


class Critic:
    """Checks reward code for one task: static rules, then a sandboxed dynamic probe."""

    def __init__(self, task, transitions: int = DEFAULT_TRANSITIONS,
                 call_limit_s: float = DEFAULT_CALL_LIMIT_S, limits: Limits | None = None, seed: int = 0):
        self.task = task
        self.transitions = transitions
        self.call_limit_s = call_limit_s
        self.limits = limits or Limits(wall_seconds=20.0, cpu_seconds=10.0, memory_mb=1536)
        self.seed = seed

    def check(self, code: str) -> Verdict:
        """The verdict on ``code``; never raises for anything the code does."""
        verdict = Verdict(errors=static_findings(code, list(self.task.fields)))
        if verdict.errors:
            return verdict
        job = {"kind": "check", "task_path": str(self.task.path), "code": code,
               "transitions": self.transitions, "seed": self.seed}
        try:
            probe = run_job(job, self.limits)
        except SandboxError as exc:
            rule = {"timeout": "time-limit", "cpu": "time-limit", "memory": "memory-limit"}.get(exc.kind, "crash")
            verdict.errors.append(Finding(rule, str(exc), _line_of(str(exc))))
            return verdict
        if not probe["ok"]:
            verdict.errors.append(Finding("runtime", probe["message"], _line_of(probe["message"])))
            return verdict
        self._judge(probe, verdict)
        return verdict

    def _judge(self, probe: dict, verdict: Verdict) -> None:
        totals = np.asarray(probe["totals"], dtype=float)
        times = np.asarray(probe["times"][1:] or probe["times"], dtype=float)  # first call warms up
        comps = {k: np.asarray(v, dtype=float) for k, v in probe["components"].items()}
        mean_call = float(times.mean())
        verdict.stats = {
            "calls": len(totals), "mean_call_ms": mean_call * 1e3,
            "total_min": float(totals.min()), "total_max": float(totals.max()),
            "total_mean": float(totals.mean()), "total_std": float(totals.std()),
            "components": {k: {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
                               "max": float(v.max())} for k, v in comps.items()},
        }
        if mean_call > self.call_limit_s:
            verdict.errors.append(Finding(
                "slow", f"compute_reward took {mean_call * 1e3:.2f} ms per call on average; expected at "
                f"most {self.call_limit_s * 1e3:.2f} ms. Likely cause: loops over arrays (vectorise with "
                f"numpy) or work that does not depend on the state (move it to a module constant)."))
        if totals.std() < 1e-12 * max(1.0, abs(totals.mean())):
            verdict.warnings.append(Finding(
                "constant", f"the total reward was {totals[0]:.6g} on all {len(totals)} random transitions; "
                f"a constant reward gives the agent no signal. Likely cause: terms that cancel, or a "
                f"condition that random actions never meet.", severity="warning"))
        shares = magnitude_shares(comps)
        name = dominant_component(shares)
        if name is not None:
            verdict.warnings.append(Finding(
                "dominant", f"component {name!r} carries {100 * shares[name]:.1f}% of the reward "
                f"magnitude; expected no single term above {DOMINANT_SHARE:.0%}. The other terms barely "
                f"matter; rescale them or drop them.", severity="warning"))
        big = float(np.abs(totals).max())
        biggest_comp = max((float(np.abs(v).max()) for v in comps.values()), default=0.0)
        if max(big, biggest_comp) > 1e4:
            verdict.warnings.append(Finding(
                "magnitude", f"reward values reach {max(big, biggest_comp):.3g}; expected magnitudes "
                f"below 1e4. Large rewards destabilise PPO's value function; scale the terms down.",
                severity="warning"))
        if len(probe["key_sets"]) > 1:
            verdict.warnings.append(Finding(
                "components-vary", "compute_reward returned different component names on different "
                "calls; return every term on every call (0.0 when inactive) so analysis can follow it.",
                severity="warning"))


def _line_of(message: str) -> int | None:
    marker = "at line "
    if marker in message:
        digits = message.split(marker, 1)[1].split()[0].strip("(),:")
        if digits.isdigit():
            return int(digits)
    return None

