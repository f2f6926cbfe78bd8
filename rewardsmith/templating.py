"""The jinja2 environments, with one set of whitespace rules.

Two kinds of template live apart: *prompts* (``prompts/*.j2``: text for a model, which a run's
``--prompts DIR`` may override) and *files* rewardsmith writes for people (``rewardsmith/templates/``:
the exported reward module and the HTML report; not overridable). Both trim the newline after a block
tag and the indentation before it and keep a file's final newline; prompts and the exported module
treat an undefined name as an error rather than as empty text.

Each environment is made once per process for its arguments: jinja compiles a template once per environment
(and still reloads one whose file changed). ``filters`` are ``(name, function)`` pairs the templates use; a
caller passes module-level functions (a lambda made per call would make a new environment every time) and never
changes the environment it gets.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

FILE_TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_RULES: dict[str, Any] = {"trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": True}


@functools.lru_cache(maxsize=16)
def file_environment(*, html: bool = False, filters: tuple = ()):
    """The environment of the templates for files rewardsmith writes. The HTML report escapes everything
    and renders what a run has: a run of an older release or one stopped early may lack a value, which
    shows as empty rather than failing the whole report."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(FILE_TEMPLATES_DIR)), autoescape=html,
                             undefined=jinja2.ChainableUndefined if html else jinja2.StrictUndefined, **_RULES)
    env.filters.update(filters)
    return env


@functools.lru_cache(maxsize=16)
def prompt_environment(override: str | Path | None = None, filters: tuple = ()):
    """The environment of the prompt templates; ``override``'s templates win over the shipped ones."""
    import jinja2

    from .task import PROMPTS_DIR

    dirs = ([str(override)] if override else []) + [str(PROMPTS_DIR)]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(dirs), undefined=jinja2.StrictUndefined, **_RULES)
    env.filters.update(filters)
    return env
