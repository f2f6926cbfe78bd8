"""The tests share one set of fakes (issue 20: tests/conftest.py's tiny task, command-line invoker and
scripted model): no other test module defines an invoker, runs the command line through its own click
runner, or finds the tiny task's file itself. A module that does is named with the line."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent

COPIES = {
    "an invoker of its own (use conftest.invoke)": re.compile(r"^\s*def invoke\("),
    "its own click runner (use conftest.invoke, which passes click's options on)": re.compile(r"CliRunner\("),
    "the tiny task's path built again (use conftest.TINY_TASK)": re.compile(r"""["']data["']\s*/\s*["']tiny_mountaincar"""),
}


def test_no_test_module_copies_a_shared_fake():
    found = []
    for path in sorted(TESTS.glob("*.py")):
        if path.name in ("conftest.py", Path(__file__).name):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            found += [f"{path.name}:{number}: {what}" for what, pattern in COPIES.items() if pattern.search(line)]
    assert not found, "\n".join(found)


def test_the_shared_invoker_passes_clicks_options_on():
    from conftest import invoke

    narrow = invoke("--help", terminal_width=40).output
    wide = invoke("--help", terminal_width=200).output
    assert max(map(len, narrow.splitlines())) <= 40 < max(map(len, wide.splitlines()))
