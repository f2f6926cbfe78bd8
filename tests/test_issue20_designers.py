"""Designers are known by the registry alone (issue 20: a third party's designer is used as a built-in is):
no module names a designer outside the designer's own modules (the report said "this run used the offline
designer" only for the name "offline", and the configuration's default designer was the literal "offline");
a designer module that cannot be used is an error naming it, as a broken scorer module is."""

from __future__ import annotations

import ast
import importlib
import re
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import TINY_TASK
from rewardsmith.archive.store import RunStore
from rewardsmith.design import base
from rewardsmith.design.base import DesignerPlugin, designers
from rewardsmith.errors import ConfigError

PACKAGE = Path(base.__file__).resolve().parents[1]

# where a designer's name may stand outside the module that registers it, and why
ALLOWED = {
    ("design/learning.py", "offline"): "the offline designer's own operator learning counts its children",
    ("config.py", "llm"): "the LLM response cache's folder (~/.cache/rewardsmith/llm), not a designer",
}


def _own_module(plugin_name: str) -> str:
    for module in base.DEFAULT_DESIGNERS:
        if importlib.import_module(module).DESIGNER.name == plugin_name:
            return str(Path(importlib.import_module(module).__file__).resolve().relative_to(PACKAGE))
    raise AssertionError(f"no built-in module registers {plugin_name!r}")


def test_no_module_names_a_designer_outside_the_designers_own_modules():
    names = {name: _own_module(name) for name in designers()}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(PACKAGE))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names and where != names[node.value] \
                    and (where, node.value) not in ALLOWED:
                found.append(f"{where}:{node.lineno}: {node.value!r}")
    for path in sorted([*PACKAGE.rglob("*.j2"), *PACKAGE.rglob("*.js"), *PACKAGE.rglob("*.html")]):
        text = path.read_text()
        for name in names:  # a comparison with a designer's name in a template or the page's script
            for match in re.finditer(rf"(==|!=)\s*['\"]{name}['\"]|['\"]{name}['\"]\s*(==|!=)", text):
                found.append(f"{path.relative_to(PACKAGE)}:{text.count(chr(10), 0, match.start()) + 1}: {name!r}")
    assert not found, "designer names outside the registry:\n" + "\n".join(found)


@pytest.fixture
def constant_designer(monkeypatch):
    """A third party's designer that needs no model, installed through the entry-point group."""
    module = types.ModuleType("third_party_constant_designer")
    module.DESIGNER = DesignerPlugin("constant", lambda config, client: None, title="constant designer")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(base, "entry_points", lambda group: [SimpleNamespace(value=module.__name__)]
                        if group == base.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(base, "_registry", {})
    return module.DESIGNER


def test_the_report_names_the_designer_a_run_used_by_its_registration(tmp_path, constant_designer):
    from rewardsmith.output.report import render_report

    pages = {}
    for designer in ("constant", "offline", "llm"):
        store = RunStore.create(tmp_path / designer, {"task": "tiny-mountaincar", "designer": designer}, TINY_TASK)
        store.add_candidate(0, "def compute_reward(s, a, n):\n    return 0.0, {}\n", "baseline")
        pages[designer] = render_report(store)
        store.close()
    assert "No LLM calls: this run used the constant designer." in pages["constant"]
    assert "No LLM calls: this run used the offline designer." in pages["offline"]
    assert "No LLM calls." in pages["llm"] and "this run used the" not in pages["llm"]  # a model's run says nothing more


def test_a_designer_module_that_cannot_be_used_is_named_and_leaves_no_half_registry(monkeypatch):
    monkeypatch.setattr(base, "_registry", {})
    for module, why in (("no_such_designer_module", "No module named"),
                        ("rewardsmith.errors", "has no attribute 'DESIGNER'")):  # importable, but no DESIGNER
        monkeypatch.setattr(base, "entry_points", lambda group, m=module: [SimpleNamespace(value=m)])
        with pytest.raises(ConfigError) as err:
            designers()
        assert f"designer module {module!r}" in str(err.value) and base.ENTRY_POINT_GROUP in str(err.value)
        assert why in str(err.value) and "DESIGNER = DesignerPlugin" in str(err.value)
        assert base._registry == {}  # the built-ins found before it are not a registry that lacks it
