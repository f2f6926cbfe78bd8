"""AST-level mutations of reward code, for the offline designer.

A reward component is *mutable* when ``compute_reward`` returns ``(total, {"name": var, ...})`` (or a
dict bound to a name) and ``var`` is a local variable the total is built from. Then

- ``rescale_component`` multiplies every value assigned to ``var`` by a factor,
- ``drop_component`` makes every assignment to ``var`` zero,
- ``crossover`` copies one component's computation from another reward (with the module-level helpers
  and constants it needs), replacing the same-named term or adding it to the total,
- ``rescale_constant`` multiplies one numeric literal by a factor (works on any reward),
- ``add_component`` adds a new named term to the total and the components (design/terms.py builds them
  from state fields),
- ``reshape_component`` gives a term another shape (saturating, clipped, a bounded exp(−k·x²) penalty, a
  deadband),
- ``tune_threshold`` multiplies one literal inside a comparison or a clip/max/min/where call.

``avoid`` (rescale_constant, tune_threshold) names components whose literals are left alone, so a term the
analyzer calls dominating or hacked is never made larger through a constant.

Each returns new source code (``ast.unparse``; comments are lost) or ``None`` when it does not apply.
"""

from __future__ import annotations

import ast
import builtins
import copy
import random
from typing import cast

# the statements that bind a local variable (AugAssign/AnnAssign only with a value: see _assignments)
_Binding = ast.Assign | ast.AugAssign | ast.AnnAssign

_SKIP_CONSTANTS = {0, 1, -1, 2}  # indices, signs and squares: rescaling them rarely means anything


def _compute_reward(tree: ast.Module) -> ast.FunctionDef | None:
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compute_reward"]
    return defs[-1] if defs else None


def _final_return(fn: ast.FunctionDef) -> ast.Return | None:
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return) and isinstance(n.value, ast.Tuple)
               and len(n.value.elts) == 2]
    return returns[-1] if returns else None


def _components_dict(fn: ast.FunctionDef, ret: ast.Return) -> ast.Dict | None:
    assert isinstance(ret.value, ast.Tuple)  # _final_return only gives returns of a 2-tuple
    value = ret.value.elts[1]
    if isinstance(value, ast.Dict):
        return value
    if isinstance(value, ast.Name):
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and any(
                    isinstance(t, ast.Name) and t.id == value.id for t in node.targets):
                return node.value
    return None


def component_variables(code: str) -> dict[str, str]:
    """Component name -> the local variable that holds it, for every mutable component."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {}
    fn = _compute_reward(tree)
    if fn is None:
        return {}
    ret = _final_return(fn)
    table = ret and _components_dict(fn, ret)
    if not table:
        return {}
    out = {}
    for key, value in zip(table.keys, table.values):
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and isinstance(value, ast.Name):
            if _assignments(fn, value.id):
                out[key.value] = value.id
    return out


def _assignments(fn: ast.FunctionDef, var: str) -> list[_Binding]:
    found: list[_Binding] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == var for t in node.targets):
            found.append(node)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and isinstance(node.target, ast.Name) \
                and node.target.id == var and node.value is not None:
            found.append(node)
    return found


def _scaled(value: ast.expr, factor: float) -> ast.expr:
    return ast.BinOp(left=ast.Constant(round(factor, 6)), op=ast.Mult(), right=value)


def rescale_component(code: str, name: str, factor: float) -> str | None:
    """The code with component ``name`` multiplied by ``factor`` (None if it is not mutable)."""
    var = component_variables(code).get(name)
    if var is None:
        return None
    tree = ast.parse(code)
    fn = _compute_reward(tree)
    assert fn is not None  # component_variables found a component in it
    for node in _assignments(fn, var):
        assert node.value is not None  # _assignments keeps only bindings with a value
        node.value = _scaled(node.value, factor)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def drop_component(code: str, name: str) -> str | None:
    """The code with component ``name`` always 0.0 (None if it is not mutable)."""
    var = component_variables(code).get(name)
    if var is None:
        return None
    tree = ast.parse(code)
    fn = _compute_reward(tree)
    assert fn is not None  # component_variables found a component in it
    for node in _assignments(fn, var):
        node.value = ast.Constant(0.0)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def rescale_constant(code: str, rng: random.Random, factor: float, avoid=()) -> str | None:
    """The code with one numeric literal (chosen by ``rng``) multiplied by ``factor``; none of those
    that shape the components named in ``avoid`` (``avoided_literals``)."""
    tree = ast.parse(code)
    fn = _compute_reward(tree)
    if fn is None:
        return None
    index_nodes = {id(n.slice) for n in ast.walk(tree) if isinstance(n, ast.Subscript)}
    exponents = {id(n.right) for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow)}
    keys = {id(k) for n in ast.walk(tree) if isinstance(n, ast.Dict) for k in n.keys if k is not None}
    skip = index_nodes | exponents | keys | avoided_literals(tree, code, avoid)
    candidates = [n for n in ast.walk(tree) if isinstance(n, ast.Constant)
                  and isinstance(n.value, (int, float)) and not isinstance(n.value, bool)
                  and n.value not in _SKIP_CONSTANTS and id(n) not in skip]
    if not candidates:
        return None
    node = rng.choice(candidates)
    node.value = float(cast(int | float, node.value)) * factor  # candidates are int or float literals
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def avoided_literals(tree: ast.Module, code: str, components) -> set[int]:
    """The ids of ``tree``'s numeric literals that shape the named components: those in their
    assignments and in the module-level constants those read (a threshold or constant there could
    make a dominating or hacked term larger)."""
    variables = component_variables(code)
    fn = _compute_reward(tree)
    chosen = [variables[n] for n in components if n in variables]
    if fn is None or not chosen:
        return set()
    nodes = [a for var in chosen for a in _assignments(fn, var)]
    read = {n.id for a in nodes for n in ast.walk(a) if isinstance(n, ast.Name)}
    nodes += [s for s in tree.body if isinstance(s, ast.Assign)
              and any(isinstance(t, ast.Name) and t.id in read for t in s.targets)]
    return {id(n) for a in nodes for n in ast.walk(a) if isinstance(n, ast.Constant)}


def _free_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _module_defs(tree: ast.Module) -> dict[str, ast.stmt]:
    defs: dict[str, ast.stmt] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name != "compute_reward":
            defs[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign):
            for t in stmt.targets:
                if isinstance(t, ast.Name):
                    defs[t.id] = stmt
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                defs[(alias.asname or alias.name).split(".")[0]] = stmt
    return defs


def crossover(code_a: str, code_b: str, rng: random.Random) -> tuple[str, str] | None:
    """Code A with one component taken from code B, and a note saying which (None if none fits)."""
    comps_a, comps_b = component_variables(code_a), component_variables(code_b)
    if not comps_a or not comps_b:
        return None
    tree_a, tree_b = ast.parse(code_a), ast.parse(code_b)
    fn_a, fn_b = _compute_reward(tree_a), _compute_reward(tree_b)
    assert fn_a is not None and fn_b is not None  # both have components
    params_a = [a.arg for a in fn_a.args.args][:3]
    params_b = [a.arg for a in fn_b.args.args][:3]
    rename = dict(zip(params_b, params_a))
    defs_a, defs_b = _module_defs(tree_a), _module_defs(tree_b)
    order = list(comps_b)
    rng.shuffle(order)
    for name in order:
        sources = _assignments(fn_b, comps_b[name])
        if len(sources) != 1 or not isinstance(sources[0], ast.Assign):
            continue
        value = copy.deepcopy(sources[0].value)
        for n in ast.walk(value):
            if isinstance(n, ast.Name) and n.id in rename:
                n.id = rename[n.id]
        locals_a = {t.id for n in ast.walk(fn_a) if isinstance(n, ast.Assign)
                    for t in n.targets if isinstance(t, ast.Name)} | set(params_a)
        imports = _dependencies(_free_names(value) - locals_a, defs_a, defs_b)
        if imports is None:
            continue
        ret = _final_return(fn_a)
        assert ret is not None and isinstance(ret.value, ast.Tuple)  # A has components
        if name in comps_a:
            targets = _assignments(fn_a, comps_a[name])
            if len(targets) != 1 or not isinstance(targets[0], ast.Assign):
                continue
            targets[0].value = value
            note = f"took component {name!r} from the other parent"
        else:
            var = f"{name}_x" if name in locals_a or name in defs_a else name
            if not var.isidentifier():
                continue
            assign = ast.Assign(targets=[ast.Name(var, ast.Store())], value=value)
            holder = _enclosing_body(fn_a, ret)
            holder.insert(holder.index(ret), assign)
            ret.value.elts[0] = ast.BinOp(left=ret.value.elts[0], op=ast.Add(), right=ast.Name(var, ast.Load()))
            table = _components_dict(fn_a, ret)
            assert table is not None  # A has components
            table.keys.append(ast.Constant(name))
            table.values.append(ast.Name(var, ast.Load()))
            note = f"added component {name!r} from the other parent"
        insert_at = max((i for i, s in enumerate(tree_a.body) if isinstance(s, (ast.Import, ast.ImportFrom))),
                        default=-1) + 1
        tree_a.body[insert_at:insert_at] = imports
        return ast.unparse(ast.fix_missing_locations(tree_a)) + "\n", note
    return None


def _own_free_names(stmt: ast.stmt) -> set[str]:
    """Names a module-level statement reads that it does not bind itself."""
    bound = {a.arg for n in ast.walk(stmt) if isinstance(n, ast.arguments)
             for a in n.args + n.kwonlyargs + n.posonlyargs}
    bound |= {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {n.name for n in ast.walk(stmt) if isinstance(n, ast.FunctionDef)}
    return _free_names(stmt) - bound


def _dependencies(names: set[str], defs_a: dict[str, ast.stmt],
                  defs_b: dict[str, ast.stmt]) -> list[ast.stmt] | None:
    """B's module-level statements that code moved into A needs (transitively), each once (a statement
    that binds several of the names, ``from math import sqrt, tanh`` or ``LOW = HIGH = 1.0``, included
    once) and in B's order (so one that reads another comes after it), or None when a name resolves in
    neither A, B nor the builtins."""
    known = set(defs_a) | set(dir(builtins))
    todo = sorted(names - known)
    chosen: dict[str, ast.stmt] = {}
    while todo:
        name = todo.pop()
        if name in chosen or name in known:
            continue
        if name not in defs_b:
            return None
        chosen[name] = defs_b[name]
        todo += sorted(_own_free_names(defs_b[name]) - known - set(chosen))
    unique = list({id(stmt): stmt for stmt in chosen.values()}.values())  # by identity, before copying
    return [copy.deepcopy(stmt) for stmt in sorted(unique, key=lambda stmt: stmt.lineno)]


def _enclosing_body(fn: ast.FunctionDef, target: ast.stmt) -> list[ast.stmt]:
    for node in ast.walk(fn):
        for attr in ("body", "orelse", "finalbody"):
            body = getattr(node, attr, None)
            if isinstance(body, list) and target in body:
                return body
    return fn.body


# ------------------------------------------------------------------ new terms, shapes and thresholds


def numpy_alias(tree: ast.Module) -> tuple[str | None, bool]:
    """(the name numpy is imported as, whether an ``import numpy as np`` must be added); (None, False)
    when numpy is not imported and ``np`` already names something else."""
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name == "numpy":
                    return alias.asname or "numpy", False
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | set(_module_defs(tree))
    used |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in n.args + n.kwonlyargs}
    return (None, False) if "np" in used else ("np", True)


def _bound_names(tree: ast.Module, fn: ast.FunctionDef) -> set[str]:
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | set(_module_defs(tree))
    return names | {a.arg for n in ast.walk(fn) if isinstance(n, ast.arguments) for a in n.args + n.kwonlyargs}


def _fresh(base: str, taken: set[str]) -> str:
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def add_component(code: str, name: str, expression: str) -> tuple[str, str] | None:
    """(code with a new component added to the total and the components, its name) or None.

    ``expression`` reads the reward's arguments as ``S`` (state), ``A`` (action) and ``N`` (next_state)
    and numpy as ``np``; they become the function's own parameter names and numpy alias. The new
    component gets a name no component or variable has yet (``name``, else ``name_2``, ...)."""
    try:
        tree = ast.parse(code)
        value = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return None
    fn = _compute_reward(tree)
    ret = _final_return(fn) if fn else None
    table = _components_dict(fn, ret) if fn and ret else None
    params = [a.arg for a in fn.args.args][:3] if fn else []
    if fn is None or ret is None or not table or len(params) < 3:
        return None
    assert isinstance(ret.value, ast.Tuple)  # _final_return only gives returns of a 2-tuple
    alias, add_import = numpy_alias(tree)
    if alias is None:
        return None
    rename = {"S": params[0], "A": params[1], "N": params[2], "np": alias}
    for n in ast.walk(value):
        if isinstance(n, ast.Name) and n.id in rename:
            n.id = rename[n.id]
    keys = {k.value for k in table.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    var = _fresh(name, _bound_names(tree, fn) | keys)
    holder = _enclosing_body(fn, ret)
    holder.insert(holder.index(ret), ast.Assign(targets=[ast.Name(var, ast.Store())], value=value))
    ret.value.elts[0] = ast.BinOp(left=ret.value.elts[0], op=ast.Add(), right=ast.Name(var, ast.Load()))
    table.keys.append(ast.Constant(var))
    table.values.append(ast.Name(var, ast.Load()))
    if add_import:
        tree.body.insert(0, ast.Import(names=[ast.alias("numpy", "np")]))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n", var


SHAPES = ("saturating", "clipped", "exponential", "thresholded")


def reshape_component(code: str, name: str, shape: str, scale: float, penalty: bool = False) -> str | None:
    """The code with component ``name``'s value ``v`` given another shape (None where it does not apply):
    "saturating" ``scale·tanh(v/scale)``, "clipped" ``clip(v, -scale, scale)``, "exponential" (a
    ``penalty`` only, v ≤ 0) ``scale·(exp(v/scale) − 1)``, so −c·x² becomes a bounded exp(−k·x²) penalty,
    or "thresholded": a deadband of ``scale`` (``max(v − scale, 0)``; for a penalty ``min(v + scale, 0)``).
    ``v`` must be assigned once."""
    var = component_variables(code).get(name)
    if var is None or not scale > 0:
        return None
    tree = ast.parse(code)
    fn = _compute_reward(tree)
    assert fn is not None  # component_variables found a component in it
    sources = _assignments(fn, var)
    alias, add_import = numpy_alias(tree)
    if len(sources) != 1 or not isinstance(sources[0], ast.Assign) or alias is None:
        return None
    k = repr(round(float(scale), 6))
    forms = {"saturating": f"float({k} * {alias}.tanh(V / {k}))",
             "clipped": f"float({alias}.clip(V, -{k}, {k}))",
             "exponential": f"float({k} * ({alias}.exp(V / {k}) - 1.0))",
             "thresholded": f"float({alias}.minimum(V + {k}, 0.0))" if penalty else
                            f"float({alias}.maximum(V - {k}, 0.0))"}
    if shape not in forms or (shape == "exponential" and not penalty):
        return None
    sources[0].value = _Substitute(sources[0].value).visit(ast.parse(forms[shape], mode="eval").body)
    if add_import:
        tree.body.insert(0, ast.Import(names=[ast.alias("numpy", "np")]))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


class _Substitute(ast.NodeTransformer):
    """Puts an expression where a form says ``V``."""

    def __init__(self, value: ast.expr):
        self.value = value

    def visit_Name(self, node):
        return self.value if node.id == "V" else node


_LIMIT_CALLS = {"clip", "maximum", "minimum", "max", "min", "where"}


def thresholds(code: str, avoid=()) -> list[ast.Constant]:
    """The numeric literals that act as thresholds: inside a comparison or a clip/max/min/where call in
    ``compute_reward``, or a module-level constant such an expression reads (0, ±1 and 2 left out);
    none of those that shape the components named in ``avoid``."""
    tree = ast.parse(code)
    fn = _compute_reward(tree)
    avoided = avoided_literals(tree, code, avoid)
    if fn is None:
        return []
    limits = [n for n in ast.walk(fn) if isinstance(n, ast.Compare) or isinstance(n, ast.Call) and (
        getattr(n.func, "attr", None) in _LIMIT_CALLS or getattr(n.func, "id", None) in _LIMIT_CALLS)]
    constants = {t.id: s.value for s in tree.body if isinstance(s, ast.Assign) and len(s.targets) == 1
                 for t in s.targets if isinstance(t, ast.Name)}
    found: list[ast.Constant] = []
    for limit in limits:
        for n in ast.walk(limit):
            if isinstance(n, ast.Name) and isinstance(constants.get(n.id), ast.Constant):
                n = constants[n.id]
            if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool) \
                    and n.value not in _SKIP_CONSTANTS and id(n) not in avoided and all(n is not f for f in found):
                found.append(n)
    return found


def tune_threshold(code: str, rng: random.Random, factor: float, avoid=()) -> tuple[str, float, float] | None:
    """(the code with one threshold (``thresholds``, chosen by ``rng``) multiplied by ``factor``, its old
    value, its new value), or None when the code has none."""
    tree = ast.parse(code)
    found = thresholds(code, avoid)
    if not found:
        return None
    position = rng.randrange(len(found))
    # the same literal in the tree that gets unparsed
    target = [n for n in _literal_walk(tree) if (n.lineno, n.col_offset) ==
              (found[position].lineno, found[position].col_offset)]
    if not target:
        return None
    old = target[0].value
    target[0].value = round(float(old) * factor, 6)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n", float(old), target[0].value


def _literal_walk(tree: ast.AST):
    return (n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)))
