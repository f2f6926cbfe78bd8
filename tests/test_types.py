"""The type check CI runs (issue 20): mypy on the package, configured in pyproject.toml, before the tests.

mypy itself runs in .ci/run, not here (a cold run takes about a minute); these check that the gate
stays a gate: CI calls it before pytest, its configuration skips no module's errors, only packages that
really ship no types are excused from stubs, and every silenced line says which error it silences."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def _mypy_config() -> dict:
    return tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["tool"]["mypy"]


def test_ci_type_checks_the_package_before_the_tests():
    lines = [line.strip() for line in (CHECKOUT / ".ci" / "run").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    mypy = [i for i, line in enumerate(lines) if line.startswith('"$python" -m mypy')]
    pytest = [i for i, line in enumerate(lines) if line.startswith('"$python" -m pytest')]
    assert mypy and pytest and mypy[0] < pytest[0], lines
    assert "set -euo pipefail" in lines  # a mypy error stops the script


def test_mypy_checks_the_whole_package_and_ignores_no_errors():
    config = _mypy_config()
    assert config["files"] == ["rewardsmith"]
    assert config["python_version"] == "3.11"
    assert "ignore_errors" not in config and "ignore_missing_imports" not in config
    for override in config.get("overrides", []):
        assert set(override) == {"module", "ignore_missing_imports"}, override


def test_only_packages_without_types_are_excused_from_stubs():
    for override in _mypy_config().get("overrides", []):
        for module in override["module"]:
            if module.endswith(".*"):
                continue
            spec = importlib.util.find_spec(module)
            assert spec is not None and spec.submodule_search_locations, f"{module} is not an installed package"
            folder = Path(list(spec.submodule_search_locations)[0])
            assert not (folder / "py.typed").exists(), f"{module} ships its types: mypy should read them"


def test_mypy_is_pinned_and_installed_with_the_tests():
    project = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]
    assert any(re.match(r"mypy\b", r) for r in project["optional-dependencies"]["test"])
    pins = (CHECKOUT / "constraints.txt").read_text().splitlines()
    assert any(re.fullmatch(r"mypy==[\d.]+", line) for line in pins)


def test_every_silenced_line_names_its_error_code():
    bare = [f"{path.relative_to(CHECKOUT)}:{n}" for path in sorted((CHECKOUT / "rewardsmith").rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(r"#\s*type:\s*ignore(?!\[[a-z-]+(, *[a-z-]+)*\])", line)]
    assert not bare, f"a '# type: ignore' without an error code: {bare}"
