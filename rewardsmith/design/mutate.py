"""AST-level mutations of reward code, for the offline designer.

A reward component is *mutable* when ``compute_reward`` returns ``(total, {"name": var, ...})`` (or a
dict bound to a name) and ``var`` is a local variable the total is built from. Then

- ``rescale_component`` multiplies every value assigned to ``var`` by a factor,
- ``drop_component`` makes every assignment to ``var`` zero,
- ``crossover`` copies one component's computation from another reward (with the module-level helpers
  and constants it needs), replacing the same-named term or adding it to the total,
- ``rescale_constant`` multiplies one numeric literal by a factor (works on any reward).

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


def rescale_constant(code: str, rng: random.Random, factor: float) -> str | None:
    """The code with one numeric literal (chosen by ``rng``) multiplied by ``factor``."""
    tree = ast.parse(code)
    fn = _compute_reward(tree)
    if fn is None:
        return None
    index_nodes = {id(n.slice) for n in ast.walk(tree) if isinstance(n, ast.Subscript)}
    exponents = {id(n.right) for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow)}
    keys = {id(k) for n in ast.walk(tree) if isinstance(n, ast.Dict) for k in n.keys if k is not None}
    candidates = [n for n in ast.walk(tree) if isinstance(n, ast.Constant)
                  and isinstance(n.value, (int, float)) and not isinstance(n.value, bool)
                  and n.value not in _SKIP_CONSTANTS and id(n) not in index_nodes | exponents | keys]
    if not candidates:
        return None
    node = rng.choice(candidates)
    node.value = float(cast(int | float, node.value)) * factor  # candidates are int or float literals
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


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
        for stmt in imports:
            tree_a.body.insert(insert_at, stmt)
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
    """B's module-level statements that code moved into A needs (transitively), or None when a name
    resolves in neither A, B nor the builtins."""
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
    unique: list[ast.stmt] = []
    for stmt in chosen.values():
        if all(stmt is not s for s in unique):
            unique.append(copy.deepcopy(stmt))
    return unique


def _enclosing_body(fn: ast.FunctionDef, target: ast.stmt) -> list[ast.stmt]:
    for node in ast.walk(fn):
        for attr in ("body", "orelse", "finalbody"):
            body = getattr(node, attr, None)
            if isinstance(body, list) and target in body:
                return body
    return fn.body
