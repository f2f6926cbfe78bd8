"""A unified diff of two codes as lines tagged for display: what the report and the run's page show
between a candidate and its parent. Plain text in, plain text out; showing it safely is the caller's
(``untrusted.printable``)."""

from __future__ import annotations

import difflib


def code_diff(old: str, new: str, old_name: str = "parent", new_name: str = "candidate") -> list[tuple[str, str]]:
    """A unified diff as (css class, line) pairs: "add", "del", "hunk", "meta" or "" (context)."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm="", n=3)
    out = []
    for line in lines:
        kind = "meta" if line.startswith(("+++", "---")) else "hunk" if line.startswith("@@") else \
            "add" if line.startswith("+") else "del" if line.startswith("-") else ""
        out.append((kind, line))
    return out
