"""How a sandboxed child's Python starts: without ``site`` where that changes nothing a job can import.

``site`` puts the installation's site-packages and the path lines of its ``.pth`` files on ``sys.path``, and
runs the files' import lines. On a machine with an editable install (its import finder) or another import
hook (a certificate bundle patched at start-up) that costs 30-40 ms of a child's start, a fifth of a small
job such as a critic's probe. So the child starts with ``-S`` and gets the same path entries, read here once
from the same files and appended after the standard library, where ``site`` would have put them; the import
lines are not run. rewardsmith's own editable finder is not needed (``launch.child_environment`` puts the
package on PYTHONPATH). Where another import line makes modules importable that a job may need (an editable
install of another package, as a custom task's environment often is: setuptools' ``__editable__`` finders),
the child starts with ``site`` as before.
"""

from __future__ import annotations

import functools
import os
import sys

SITE_PATH_VARIABLE = "REWARDSMITH_SITE_PATH"
# what ``site`` does to the path (the entries made absolute, duplicates dropped, its own entries appended after
# the standard library), then the child as ``python -m rewardsmith.sandbox.child`` runs it
_BOOTSTRAP = f"""\
import os, sys
path = []
for entry in sys.path + os.environ.pop({SITE_PATH_VARIABLE!r}).split(os.pathsep):
    entry = os.path.abspath(entry) if entry else entry
    if entry not in path:
        path.append(entry)
sys.path[:] = path
from rewardsmith.sandbox.child import main
main()
"""
_OWN_EDITABLE = "__editable__.rewardsmith-"


def child_command(*arguments: str) -> tuple[list[str], dict[str, str]]:
    """The command that starts ``rewardsmith.sandbox.child`` with ``arguments``, and what it adds to the
    child's environment."""
    path = site_path()
    if path is None:
        return [sys.executable, "-m", "rewardsmith.sandbox.child", *arguments], {}
    return [sys.executable, "-S", "-c", _BOOTSTRAP, *arguments], {SITE_PATH_VARIABLE: os.pathsep.join(path)}


@functools.cache
def site_path() -> tuple[str, ...] | None:
    """The entries ``site`` adds to ``sys.path`` in a child (no user site: the child has PYTHONNOUSERSITE),
    in its order; None when a ``.pth`` file's import line is another package's editable install."""
    import site

    entries: list[str] = []
    for folder in site.getsitepackages():
        if not os.path.isdir(folder):
            continue
        entries.append(os.path.abspath(folder))
        for added in pth_entries(folder):
            if added is None:
                return None
            if added not in entries:
                entries.append(added)
    return tuple(entries)


def pth_entries(folder: str):
    """The directories ``folder``'s ``.pth`` files add (``site.addpackage``'s rules: sorted file names, a
    path line counts when it exists, comments and import lines add nothing), and None for an import line of
    another package's editable install."""
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".pth") or name.startswith("."):
            continue
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue  # site skips a file it cannot read
        for line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith(("import ", "import\t")):
                if name.startswith("__editable__") and not name.startswith(_OWN_EDITABLE):
                    yield None
                continue
            entry = os.path.abspath(os.path.join(folder, line.rstrip()))
            if os.path.exists(entry):
                yield entry
