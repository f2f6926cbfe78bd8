"""Code duplicates: a digest two rewards share when they differ only in docstrings, foldable numeric
constant expressions (``2 * 0.5`` is ``1.0``), module-level numeric constants (put where they are read)
and the names of each function's local variables (renamed in order of appearance). Nothing runs: the
code is only parsed (duplicates.py uses it before any sandbox job)."""

from __future__ import annotations

import ast
import hashlib
import math
from typing import Callable, TypeGuard


def canonical(code: str) -> str | None:
    """A digest of ``code`` that two rewards share when they differ only in docstrings, foldable
    numeric constants, module-level numeric constants and local variable names; None if it does not
    parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    try:
        tree = _Fold().visit(_drop_docstrings(tree))
        tree = _inline_constants(tree)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                _rename_locals(node)
        dumped = ast.dump(tree, annotate_fields=False, include_attributes=False)
    except RecursionError:
        return None
    return hashlib.sha256(dumped.encode()).hexdigest()


def _drop_docstrings(tree: ast.Module) -> ast.Module:
    for node in [tree, *[n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]]:
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _number(node) -> TypeGuard[ast.Constant]:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
           ast.Pow: lambda a, b: a ** b}
_UNARY = {ast.USub: lambda a: -a, ast.UAdd: lambda a: +a}


class _Fold(ast.NodeTransformer):
    """Folds arithmetic on numeric literals as Python would evaluate it (bounded: no huge powers)."""

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if _number(node.left) and _number(node.right) and type(node.op) in _BINARY:
            a, b = node.left.value, node.right.value
            if isinstance(node.op, ast.Pow) and (abs(b) > 64 or abs(a) > 1e6):
                return node
            if max(abs(a), abs(b)) > 1e300:
                return node
            return _constant(lambda: _BINARY[type(node.op)](a, b), node)
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if _number(node.operand) and type(node.op) in _UNARY:
            return _constant(lambda: _UNARY[type(node.op)](node.operand.value), node)
        return node


def _constant(compute: Callable, node):
    try:
        value = compute()
    except (ArithmeticError, ValueError, TypeError):
        return node
    if type(value) not in (int, float) or (isinstance(value, float) and not math.isfinite(value)) \
            or (isinstance(value, int) and abs(value) > 10 ** 18):
        return node
    return ast.copy_location(ast.Constant(value), node)


def _stored(node: ast.AST) -> set[str]:
    """Names bound anywhere inside ``node`` (assignments, loop targets, parameters, nested defs)."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
    names |= {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)}
    names |= {n.name for n in ast.walk(node) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return names


def _inline_constants(tree: ast.Module) -> ast.Module:
    """Puts a module-level name bound once, to a number, where it is read (where no local shadows it),
    and drops its assignment."""
    bound: dict[str, int] = {}
    for stmt in tree.body:
        for name in _stored(stmt) if not isinstance(stmt, ast.FunctionDef) else {stmt.name}:
            bound[name] = bound.get(name, 0) + 1
    constants: dict[str, object] = {}
    body = []
    for stmt in tree.body:
        shadowed = _stored(stmt) - {stmt.name} if isinstance(stmt, ast.FunctionDef) else set()
        stmt = _Fold().visit(_Substitute({k: v for k, v in constants.items() if k not in shadowed}).visit(stmt))
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
                and bound.get(stmt.targets[0].id) == 1 and _number(stmt.value):
            constants[stmt.targets[0].id] = stmt.value.value
            continue
        body.append(stmt)
    tree.body = body
    return tree


class _Substitute(ast.NodeTransformer):
    def __init__(self, values: dict):
        self.values = values

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.values:
            return ast.copy_location(ast.Constant(self.values[node.id]), node)
        return node


def _rename_locals(fn: ast.FunctionDef) -> None:
    """Renames the variables a function binds (not its parameters) in order of first appearance."""
    params = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    local = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} - params
    names: dict[str, str] = {}

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node):
            if node.id in local:
                node.id = names.setdefault(node.id, f"_v{len(names)}")
            return node

    for stmt in fn.body:
        Rename().visit(stmt)
