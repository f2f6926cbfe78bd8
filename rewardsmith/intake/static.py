"""The critic's static stage: what reward code may contain (the contract's rules for reward code), checked
on its syntax tree before anything runs: parse, signature, imports, forbidden names and attributes,
numpy and math only through rewardsmith's allow-list, module layout, purity (purity.py). Each finding names its line
and reads like gymnasium's env checker (the actual value, the expected one, the likely cause)."""

from __future__ import annotations

import ast
import string
import symtable

from ..sandbox import allowlist
from ..sandbox.rewardcode import ALLOWED_MODULES, safe_builtins
from .findings import Finding
from .purity import impurities, module_names

FORBIDDEN_NAMES = frozenset(
    "eval exec compile open __import__ getattr setattr delattr hasattr globals locals vars dir input "
    "breakpoint help exit quit memoryview type object super classmethod staticmethod property "
    "__builtins__ __loader__ __spec__ reload "
    # an exported module runs in the user's own training script: raised where the probe never goes,
    # these end that script (SystemExit with status 0, as if training had finished)
    "SystemExit KeyboardInterrupt "
    # ... and print writes to its terminal (control sequences set the clipboard, retitle the window)
    "print".split()
)
# attributes refused on any value (a state, an array, a generator, a function): they reach frames, code
# objects or module globals without a dunder, files or raw memory, or the writable memory behind a
# read-only state array (a field may be a view of the simulator's own state)
FORBIDDEN_ATTRIBUTES = {
    **dict.fromkeys(
        "gi_frame gi_code f_back f_globals f_locals f_builtins f_code tb_frame tb_next cr_frame "
        "ag_frame co_code mro format_map".split(), "it reaches frames or interpreter internals"),
    **dict.fromkeys(  # compiled (Cython) functions, such as np.random.default_rng, carry these
        "func_globals func_code func_closure func_dict func_defaults".split(),
        "it reaches a compiled function's module globals"),
    **dict.fromkeys(
        "base flags setflags".split(),
        "it reaches the memory behind a read-only state array; copy instead (np.array(x))"),
    "resize": "an array's in-place resize can free memory another view still reads; make a new array "
              "(np.reshape, np.pad, np.concatenate)",
}
# attributes of arrays and generators that reach files, C pointers or raw memory
IO_ATTRIBUTES = frozenset("tofile dump dumps ctypes cffi capsule".split())

GLOBAL_RANDOM = allowlist.global_random_names()

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
    chain_findings, chained = _module_chains(tree)
    found += chain_findings
    for node in ast.walk(tree):
        found += _node_findings(node, chained)
    found += impurities(tree)
    found += _undefined_names(code, tree)
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


def _node_findings(node, chained: set[int]) -> list[Finding]:
    line = getattr(node, "lineno", None)
    for kind, why in _FORBIDDEN_NODES.items():
        if isinstance(node, kind):
            return [Finding("forbidden-syntax", why, line)]
    if isinstance(node, ast.Import):
        return [Finding("import", f"import of {a.name!r} is not allowed; only numpy and math may be "
                        f"imported.", line) for a in node.names if a.name not in ALLOWED_MODULES]
    if isinstance(node, ast.ImportFrom):
        module, space = _imported_module(node)
        if node.level or module is None:
            return [Finding("import", f"import from {node.module or '.'!r} is not allowed; only numpy "
                            f"and math may be imported (and names of np.linalg, np.fft, np.random).", line)]
        found = []
        for alias in node.names:
            path = f"{space}.{alias.name}" if space else alias.name
            if alias.name == "*":
                found.append(Finding("import", f"'from {node.module} import *' is not allowed; import "
                                     f"the module (import {node.module}) or name what you use.", line))
            elif not alias.name.startswith("_") and not allowlist.allowed(module, path) \
                    and not allowlist.is_namespace(module, path):
                found.append(_off_list(module, path, f"{node.module}.{alias.name}", module, line))
            elif alias.name.startswith("_"):
                found.append(Finding("private-attribute", f"{node.module}.{alias.name} is not allowed: "
                                     f"reward code may use listed numpy and math names only.", line))
        return found
    if isinstance(node, ast.Name):
        if node.id in FORBIDDEN_NAMES:
            return [Finding("forbidden-name", f"{node.id!r} is not allowed in reward code (no dynamic "
                            f"code, file, attribute-reflection or interpreter access).", line)]
        if node.id.startswith("__"):
            return [Finding("dunder", f"the name {node.id!r} is not allowed (no dunder names).", line)]
    if isinstance(node, ast.Attribute):
        # a chain rooted at numpy or math is judged whole, against the allow-list (_module_chains)
        refusal = refused_attribute(node.attr) if id(node) not in chained or node.attr.startswith("_") \
            else None
        if refusal is not None:
            return [Finding(refusal[0], refusal[1], line)]
        if node.attr == "format" and id(node) not in chained and not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            # called or not: str.format passed to map, sorted or a helper formats a string made at run time
            return [Finding("format-call", ".format is allowed only on a string literal (a format string "
                            "built at run time can read any attribute, and so can str.format passed as a "
                            "function); write an f-string or a literal '...'.format(x).", line)]
        if not isinstance(node.ctx, ast.Load):
            target = _dotted(node)
            return [Finding("attribute-assignment", f"assigning to or deleting {target} is not allowed; "
                            f"reward code may not change modules, states or other objects it did not "
                            f"create (use a local variable).", line)]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        field_name = _format_attribute(node.value)
        if field_name:
            return [Finding("format-attribute", f"the format string field {{{field_name[:40]}}} reads an "
                            f"attribute or an item; format values, not their attributes (no '{{0.attr}}' "
                            f"or '{{0[key]}}' fields).", line)]
    if isinstance(node, ast.MatchClass):
        # a class pattern reads attributes (case C(__globals__=g)) where no ast.Attribute shows it
        return [Finding("match-class", "'case Class(...)' patterns are not allowed: they read attributes "
                        "of the matched object. Compare values with if/elif instead.", line)]
    if isinstance(node, (ast.FunctionDef, ast.Lambda)):
        defaults = [d for d in node.args.defaults + node.args.kw_defaults if d is not None]
        if any(not _constant(d) for d in defaults):
            return [Finding("mutable-default", "default argument values must be constants (numbers, "
                            "strings, None, tuples of them): a list, dict or call there would keep state "
                            "between calls.", line)]
    if isinstance(node, ast.FunctionDef) and node.name.startswith("__"):
        return [Finding("dunder", f"function name {node.name!r} is not allowed (no dunder names).", line)]
    return []


def refused_attribute(name: str) -> tuple[str, str] | None:
    """(rule, message) when reward code may not read attribute ``name`` of any value, else None. What
    this lets through, from the allow-list's values, is walked by tests/test_allowlist.py."""
    if name.startswith("__"):
        return "dunder", f"attribute access .{name} is not allowed (no dunder attributes)."
    if name in IO_ATTRIBUTES:
        return "numpy-io", f".{name} is not allowed in reward code (numpy file, process or raw-memory access)."
    if name.startswith("_"):
        return "private-attribute", (f"attribute access .{name} is not allowed: reward code may read state "
                                     f"fields and public numpy names, never private attributes.")
    if name in FORBIDDEN_ATTRIBUTES:
        return "forbidden-attribute", f"attribute .{name} is not allowed ({FORBIDDEN_ATTRIBUTES[name]})."
    return None


def _imported_module(node: ast.ImportFrom) -> tuple[str | None, str]:
    """(module, namespace) a ``from X import ...`` reads: ("numpy", "linalg") for numpy.linalg,
    (None, "") for anything reward code may not import from."""
    root, _, space = (node.module or "").partition(".")
    if root not in ALLOWED_MODULES or space and not allowlist.is_namespace(root, space):
        return None, ""
    return root, space


def _module_aliases(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """Every name the code binds to numpy, math or one of their namespaces, anywhere -> (module,
    namespace): ``import numpy as xp`` gives xp -> ("numpy", ""), ``from numpy import linalg as la``
    gives la -> ("numpy", "linalg")."""
    return _alias_bindings(tree)[0]


def _alias_bindings(tree: ast.Module) -> tuple[dict[str, tuple[str, str]], list[Finding]]:
    """``_module_aliases``, each name as first bound, and a finding for every import that binds a name
    already bound to another module or namespace: one table serves the whole file, so in a scope that
    binds ``np`` to numpy.fft ``np.fft`` would be judged a function while elsewhere it is the module."""
    aliases, lines, found = {}, {}, []

    def bind(name: str, target: tuple[str, str], line: int) -> None:
        if name not in aliases:
            aliases[name], lines[name] = target, line
        elif aliases[name] != target:
            first, now = (".".join(p for p in t if p) for t in (aliases[name], target))
            found.append(Finding("allow-list", f"{name!r} names {first} (line {lines[name]}) and {now} here; "
                                 f"expected one name for one module or namespace throughout the code (the "
                                 f"critic judges every {name}.X by what {name} names). Use another name.", line))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root, _, space = alias.name.partition(".")
                if root in ALLOWED_MODULES:  # import numpy.linalg [as la]: refused, but judged too
                    bind(alias.asname or root, (root, space if alias.asname else ""), node.lineno)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            module, space = _imported_module(node)
            if not module:
                continue
            for alias in node.names:
                path = f"{space}.{alias.name}" if space else alias.name
                if allowlist.is_namespace(module, path):
                    bind(alias.asname or alias.name, (module, path), node.lineno)
    return aliases, found


def _module_chains(tree: ast.Module) -> tuple[list[Finding], set[int]]:
    """Findings for every attribute chain rooted at a numpy or math name that is not on the allow-list
    (``np.lib.npyio.os``, ``la.nrm``), and for such a name used other than as the root of a chain
    (passed, stored or rebound: a module object would reach what the list leaves out); and the ids
    of the chains' attribute nodes, which this judges instead of the per-attribute rules."""
    aliases, found = _alias_bindings(tree)
    if not aliases:
        return [], set()
    parents = {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    chained = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or node.id not in aliases:
            continue
        module, space = aliases[node.id]
        shown = f"{module}.{space}" if space else module
        if not isinstance(node.ctx, ast.Load):
            found.append(Finding("allow-list", f"{node.id!r} names {shown} here and may not be rebound; "
                                 f"expected another name for the value.", node.lineno))
            continue
        parts: list[str] = []
        top: ast.Name | ast.Attribute = node
        while isinstance(parent := parents.get(id(top)), ast.Attribute) and parent.value is top:
            top = parent
            parts.append(top.attr)
            chained.add(id(top))
        path = ".".join(([space] if space else []) + parts)
        if any(p.startswith("_") for p in parts) or not isinstance(top.ctx, ast.Load) \
                or parts and allowlist.allowed(module, path):
            continue  # private names and assignments have rules of their own
        written = ".".join([node.id] + parts)
        if not parts or allowlist.is_namespace(module, path):
            found.append(Finding(
                "allow-list", f"{written} is a module, used here as a value; expected it only as "
                f"{written}.NAME with NAME on rewardsmith's {module} allow-list (a module passed on or "
                f"stored reaches names off the list). Likely cause: an alias of a module; call its "
                f"functions directly (e.g. np.linalg.norm(x)).", node.lineno))
            continue
        found.append(_off_list(module, path, written, node.id if not space else None, node.lineno, space))
    return found, chained


def _off_list(module: str, path: str, written: str, alias: str | None, line: int | None,
              space: str = "") -> Finding:
    """The finding for ``written`` (``module``'s ``path``), which is not on the allow-list."""
    parts = path.split(".")
    if module == "numpy" and parts[0] == "random" and len(parts) > 1 and parts[1] in GLOBAL_RANDOM:
        return Finding("global-random", f"{written} uses numpy's global random state, which carries state "
                       f"from call to call; compute_reward must be a pure function. Make a generator where "
                       f"you need one: np.random.default_rng(seed).", line)
    near = allowlist.nearest(module, path)
    if near is None:
        nearest = ""
    elif space and (near == space or near.startswith(space + ".")):
        nearest = f" (nearest allowed: {written.split('.')[0]}{near[len(space):]})"
    else:
        nearest = f" (nearest allowed: {alias or module}.{near})"
    why = allowlist.why_not(module, path)
    why = f"; {why} is never on it" if why else ""
    return Finding("allow-list", f"{written} is not on rewardsmith's {module} allow-list{nearest}{why}. "
                   f"Expected a listed name (`python -m rewardsmith.sandbox.allowlist` prints them): no "
                   f"submodule, file, process or global-state name is on it.", line)


# the builtins reward code gets (the sandbox's table); every other name it reads it must define itself
SAFE_BUILTINS = frozenset(safe_builtins()) - {"__import__"}


def _undefined_names(code: str, tree: ast.Module) -> list[Finding]:
    """Names the code reads from its module's globals but never binds, and that are no builtin it gets.
    In the sandbox they do not exist; in an exported module they would be that module's own globals
    (``gym``, ``np`` without an import), which lead anywhere (``gym.os``)."""
    try:
        top = symtable.symtable(code, "<reward>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # the parse already reported it
    # defined: what an import, a def or a plain assignment at module level binds whenever the module
    # loads. The table also counts an annotation without a value (`license: int`) and a binding inside an
    # expression (`0 and (license := 1)`), which may bind nothing: the name is then read from the
    # builtins, the real ones in an exported module.
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    bound &= module_names(tree, written=False)
    read = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    stack = list(top.get_children())
    while stack:
        scope = stack.pop()
        read |= {s.get_name() for s in scope.get_symbols() if s.is_global() and s.is_referenced()}
        stack += scope.get_children()
    undefined = read - bound - SAFE_BUILTINS - FORBIDDEN_NAMES
    found = []
    for name in sorted(n for n in undefined if not n.startswith("__")):  # dunders have their own rule
        line = next((n.lineno for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == name), None)
        found.append(Finding(
            "undefined-name", f"{name!r} is read but never defined; expected only names the code defines or "
            f"imports (numpy, math) and the builtins reward code gets. Likely cause: a missing import, a "
            f"typo, or a builtin that is not available to reward code.", line))
    return found


def _dotted(node: ast.Attribute) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001 - only for the message
        return f"an attribute .{node.attr}"


def _format_attribute(text: str, depth: int = 0) -> str | None:
    """The first ``str.format`` field in ``text`` that reads an attribute or an item
    (``{0.__class__}``, ``{0[__globals__]}``), nested specs (``{0:{1.x}}``) included, if any."""
    if "{" not in text or not ("." in text or "[" in text) or depth > 2:
        return None
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        return None  # not a valid format string, so .format() would raise on it
    for _, name, spec, _ in parsed:
        if name and ("." in name or "[" in name):
            return name
        nested = _format_attribute(spec, depth + 1) if spec else None
        if nested:
            return nested
    return None


def _constant(node) -> bool:
    """Whether ``node`` is a constant expression: a literal, a signed literal, a tuple of constants."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp):
        return _constant(node.operand)
    return isinstance(node, ast.Tuple) and all(_constant(e) for e in node.elts)


# methods that change the object they are called on (lists, dicts, sets, numpy arrays)


