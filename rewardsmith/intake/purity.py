"""The critic's purity rule: ``compute_reward`` is a pure function of its arguments, so it may not rebind
or mutate a module-level name (the contract's rules for reward code); found on the syntax tree."""

from __future__ import annotations

import ast

from .findings import Finding


MUTATING_METHODS = frozenset(
    "append extend insert remove pop popitem clear update setdefault add discard sort reverse "
    "fill put itemset resize partition byteswap setfield "
    "difference_update intersection_update symmetric_difference_update".split())


def _root_name(node) -> str | None:
    """The name an attribute/subscript chain starts from (``TABLE`` in ``TABLE[0].x``), if any."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _local_names(fn) -> set[str]:
    """The names a function binds itself (parameters, assignments, loop and comprehension targets)."""
    args = fn.args
    names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    stack = list(fn.body) if isinstance(fn.body, list) else [fn.body]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
            continue  # its own scope
        elif isinstance(node, ast.Lambda):
            continue
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        stack.extend(ast.iter_child_nodes(node))
    return names


def module_names(tree: ast.Module, written: bool) -> set[str]:
    """The names a module's top-level statements bind: its defs, classes, imports and assignments.

    ``written=False`` (the undefined-name rule: what exists once the module has loaded): assignments with
    a value only, by the names they bind (tuple, list and starred parts too). ``written=True`` (this purity
    rule: every name the module's own statements write to): augmented assignments and value-less
    annotations count too, and every name in a target (``TABLE[i] = ...`` names TABLE and i)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign) or isinstance(node, ast.AnnAssign) and (written or node.value is not None) \
                or isinstance(node, ast.AugAssign) and written:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if written:
                names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
                continue
            stack = list(targets)
            while stack:  # names, and names in tuple or list targets (a, [b, *c] = ...)
                target = stack.pop()
                if isinstance(target, ast.Name):
                    names.add(target.id)
                elif isinstance(target, (ast.Tuple, ast.List)):
                    stack += target.elts
                elif isinstance(target, ast.Starred):
                    stack.append(target.value)
    return names


def impurities(tree: ast.Module) -> list[Finding]:
    """Places where a function changes a module-level object (CONTRACT §1: compute_reward is a pure
    function of its arguments): item or attribute assignment, augmented assignment, ``del``, or a
    mutating method call on a module-level name. (At load time the sandbox also freezes module-level
    containers, which catches what an alias hides from this reading.)"""
    imported = {(a.asname or a.name).split(".")[0] for n in tree.body
                if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    module = module_names(tree, written=True) - imported  # np.add(...) is numpy's, not a change to numpy
    found = []
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Lambda))]
    for fn in functions:
        outer = module - _local_names(fn)
        body = fn.body if isinstance(fn.body, list) else [fn.body]
        for node in (n for stmt in body for n in ast.walk(stmt)):
            targets = []
            if isinstance(node, (ast.Assign, ast.Delete)):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, (ast.Subscript, ast.Attribute)) and (root := _root_name(part)) is not None \
                            and root in outer:
                        found.append(_impure(root, "assigns into it", part))
                        break
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in MUTATING_METHODS and (root := _root_name(node.func.value)) is not None \
                    and root in outer:
                found.append(_impure(root, f"calls .{node.func.attr}() on it", node))
            if isinstance(node, ast.keyword) and node.arg == "out" and (root := _root_name(node.value)) is not None \
                    and root in outer:
                found.append(_impure(root, "writes into it with out=", node.value))
    unique = {(f.line, f.message): f for f in found}
    return list(unique.values())


def _impure(name: str, how: str, node) -> Finding:
    return Finding("impure", f"the function changes the module-level name {name!r} ({how}); "
                   f"compute_reward must be a pure function of its arguments: module-level names are "
                   f"constants. Use a local copy (x = list({name}) or np.array({name})).",
                   getattr(node, "lineno", None))
