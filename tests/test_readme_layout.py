"""The README's stage table ("How it works") names every module of the package in its stage's row, so a newcomer
finds each stage, and where a new designer or scorer goes, from it and the folder names alone (issue 20). A
module added without a line there fails here, naming it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rewardsmith"


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## How it works")
    return text[start:text.index("\n## ", start + 1)]


def _row(section: str, package: str) -> str:
    rows = [line for line in section.splitlines() if line.startswith("|") and f"`rewardsmith/{package}/" in line]
    assert rows, f"the README's stage table has no row for rewardsmith/{package}/"
    return "\n".join(rows)


def missing(section: str) -> list[str]:
    """The package's modules (and nested folders) the stage table does not name where it should."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) == 1:  # a top-level module: anywhere in the section
            if path.name != "__init__.py" and f"{path.name}`" not in section:
                out.append(f"rewardsmith/{path.name}")
            continue
        row = _row(section, parts[0])
        if len(parts) == 2:
            if path.name != "__init__.py" and not re.search(rf"[`/]{re.escape(path.name)}`", row):
                out.append("/".join(parts))
        elif f"`{parts[1]}/`" not in row and f"`{parts[1]}/" not in row:  # a nested folder: named as a folder
            out.append("/".join(parts[:2]) + "/")
    return sorted(set(out))


def test_the_stage_table_names_every_module_in_its_stages_row():
    assert missing(_section()) == []


def test_the_check_sees_a_module_left_out():
    section = _section()
    row = _row(section, "training")
    assert missing(section.replace(row, row.replace("`collect.py`", "`gather.py`"))) == ["training/collect.py"]
    assert "records" in " ".join(missing(section.replace("`records/`", "records")))


def test_the_readme_says_where_a_new_designer_and_a_new_scorer_go():
    section = _section()
    assert "**A new designer**" in section and "rewardsmith.designers" in section
    assert "**A new scorer**" in section and "rewardsmith.scorers" in section
    for group in ("rewardsmith.designers", "rewardsmith.scorers"):
        assert group in (PACKAGE / ("design" if "design" in group else "scoring") / "base.py").read_text()
