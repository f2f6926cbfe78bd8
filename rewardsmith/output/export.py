"""Export: a scored reward as one standalone module a user can paste into a training script (CONTRACT §4).

The file (rendered from ``rewardsmith/templates/export.py.j2``) imports only numpy, math and gymnasium. It carries the
reward code verbatim between two markers, with its sha256 in the header; the task's field functions
(their source, so they must be self-contained); ``FIELDS``, ``State`` and ``state_of``; ``MAX_REWARD``, the
sandbox's bound on a step's reward; and a ``gymnasium.Wrapper`` that trains on ``compute_reward``'s total,
refusing a step the sandbox would have refused (not finite, or above the bound). The reward code keeps
every name it defines; where one collides with a name of the module's own, the module's gets a trailing
underscore.

Everything is checked before anything is written: the reward code passes today's static critic (the
module runs outside any sandbox, with the real numpy: the critic's numpy/math allow-list is what keeps
it to numbers), the module compiles, imports nothing else, the block between the markers is the code
and matches the header hash, and the module's own code uses no name the reward code rebinds.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import pprint
import re
import symtable
import textwrap
from pathlib import Path
from typing import Callable, cast

from .. import __version__
from ..intake.critic import static_findings
from ..errors import RewardsmithError
from ..archive.store import code_hash  # the header records the same hash the run store keys on
from ..sandbox.rewardcode import MAX_REWARD  # the bound the sandbox held the reward to
from ..task import StateField, Task

TEMPLATE = "export.py.j2"
BEGIN_MARKER = "# ---- BEGIN reward code (exactly as scored; sha256 in the header) ----"
END_MARKER = "# ---- END reward code ----"
ALLOWED_IMPORTS = frozenset({"numpy", "math", "gymnasium"})
META_KEYS = ("candidate", "fitness_mean", "fitness_std", "seeds", "timesteps", "run", "scoring")
# The module's own top-level names (field functions come on top, as _field_<name>).
OWN_NAMES = ("gym", "ENV_ID", "ENV_KWARGS", "MAX_REWARD", "_REGISTERED_ID", "_MAX_EPISODE_STEPS", "FIELDS",
             "State", "_read_only", "state_of", "_finite", "RewardWrapper", "make_env")
# The module's own names that make the reward's module-level values read-only, where it has any.
FREEZE_NAMES = ("_MappingProxy", "_FrozenList", "_frozen")
# Names both the module and the reward code may bind, provided both bind them to the same module.
SHARED_MODULES = {"np": "numpy", "numpy": "numpy", "math": "math"}
_BUILTINS = frozenset(dir(builtins))
_HASH_RE = re.compile(r"^# Code sha256:\s+([0-9a-f]{64})\s*$", re.M)


class ExportError(RewardsmithError):
    """A reward cannot be exported as a standalone module (the message says why and what to change)."""


# --------------------------------------------------------------------------- public API


def reward_block(module_text: str) -> str:
    """The reward code an exported module carries: the lines between its BEGIN and END markers."""
    lines = module_text.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == BEGIN_MARKER]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == END_MARKER]
    if not begins or not ends or ends[-1] < begins[0]:
        raise ExportError("not an exported reward module: the BEGIN/END reward code markers are missing")
    return "".join(lines[begins[0] + 1:ends[-1]])


def verify_module(module_text: str) -> str:
    """The header's code hash, after checking it is the sha256 of the reward block (else ExportError).

    The block is the code verbatim, plus a final newline if the code had none (so the hash of the
    block without its last newline also verifies).
    """
    match = _HASH_RE.search(module_text)
    if not match:
        raise ExportError("the module's header records no 'Code sha256:' line")
    recorded, block = match.group(1), reward_block(module_text)
    if recorded not in (code_hash(block), code_hash(block[:-1])):
        raise ExportError(f"the reward code was changed after export: its sha256 is {code_hash(block)}, "
                          f"the header records {recorded}")
    return recorded


def render_module(task: Task, code: str, meta: dict, module_name: str | None = None) -> str:
    """The standalone reward module's text for ``code`` on ``task``; ExportError if it cannot be made.

    ``meta``: {"candidate": id, "fitness_mean", "fitness_std", "seeds": [...], "timesteps": int,
    "run": run directory name or None}; only "candidate" is required. ``module_name`` is the import
    name the usage example shows (default ``<task>_reward``).
    """
    meta = _checked_meta(meta)
    bindings = _reward_bindings(code)
    _passes_todays_critic(task, code)
    frozen = state_names(code)
    taken = set(bindings)
    names = {}  # the module's own name -> the name it gets in this file
    for own in OWN_NAMES + FREEZE_NAMES * bool(frozen) + tuple(f"_field_{f}" for f in task.fields):
        names[own] = _free_name(own, taken)
    class_key = _camel(task.name) + "Reward"
    names[class_key] = _free_name(class_key, taken)
    fields = [_field_entry(f, names[f"_field_{f.name}"]) for f in task.fields.values()]
    env_is_class = _env_is_class(task)
    context = {
        "task_name": task.name,
        "env_id": task.env_id,
        "env_kwargs": _literal(task.env_kwargs, f"task {task.name!r}: ENV_KWARGS"),
        # written from the sandbox's one constant: the module cannot import rewardsmith (CONTRACT §4)
        "max_reward": repr(float(MAX_REWARD)),
        "version": __version__,
        "candidate": meta["candidate"],
        "header": _header(task, code, meta),
        "rename_notes": [f"the reward code defines its own `{own}`, so this module's is `{new}`"
                         for own, new in names.items() if own != new],
        "module_name": module_name or task.name.replace("-", "_") + "_reward",
        "class_name": names[class_key],
        "usage_timesteps": f"{meta['timesteps'] or task.training.timesteps:_}",
        "n": names,
        "fields": fields,
        "import_numpy": any("numpy" in f["uses"] for f in fields),
        "env_is_class": env_is_class,
        "registered_id": f"rewardsmith/{task.name}-v0",
        "max_episode_steps": repr(task.max_episode_steps),
        "begin_marker": BEGIN_MARKER,
        "end_marker": END_MARKER,
        "code": _as_block(code),
        "frozen_names": frozen,
    }
    text = _template().render(**context)
    _check_module(text, code, bindings, names.get("_frozen"))
    return text


def state_names(code: str) -> list[str]:
    """The reward code's module-level names that could hold state between calls (a list, a dict, a set,
    an array, a closure over one), which the module makes read-only after the reward code runs, as the
    sandbox does (``rewardcode.freeze_module``): every name a module-level statement other than an
    import or a ``def`` binds. (A ``def``'s defaults are constants: the static critic refuses others.)"""
    names: dict[str, None] = {}
    for node in ast.parse(code).body:
        if not isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.update((n.id, None) for n in ast.walk(node)
                         if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    return list(names)


def run_meta(store, candidate) -> dict:
    """The header metadata of a run's candidate: its final multi-seed score (``store.final()``,
    fresh seeds at the full budget) when the run has one for it, else its search score and seeds."""
    final = store.final()
    entry = final.entry(candidate.id) if final is not None else None
    meta = {"candidate": candidate.id, "run": store.root.name}
    if entry is not None and entry.fitness_mean is not None:
        seeds = sorted(r.seed for r in store.final_runs()
                       if r.subject == candidate.id and r.status == "scored" and r.seed in final.seeds)
        return {**meta, "fitness_mean": entry.fitness_mean, "fitness_std": entry.fitness_std,
                "seeds": seeds, "timesteps": entry.timesteps, "scoring": "final scoring on fresh seeds"}
    return {**meta, "fitness_mean": candidate.fitness, "fitness_std": candidate.fitness_std or 0.0,
            "seeds": candidate.seeds, "timesteps": candidate.timesteps, "scoring": "search"}


def export_module(task: Task, code: str, meta: dict, path: str | Path) -> Path:
    """Writes the standalone reward module to ``path`` (parents created) and returns the path."""
    path = Path(path)
    if path.suffix != ".py":
        raise ExportError(f"export path {str(path)!r} should end in .py (it is a Python module)")
    stem = path.stem if path.stem.isidentifier() else None
    text = render_module(task, code, meta, module_name=stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- pieces


def _passes_todays_critic(task: Task, code: str) -> None:
    """ExportError unless ``code`` passes the static critic as it is today. The module runs outside any
    sandbox with the real numpy, so the critic's rules (the numpy/math allow-list above all) are what
    keeps it to numbers; a run made by an older rewardsmith may hold code that today's rules refuse."""
    errors = [f for f in static_findings(code, list(task.fields)) if f.severity == "error"]
    if errors:
        raise ExportError(
            "the reward code fails rewardsmith's static critic as it is today, so it is not written as a "
            "module that runs outside the sandbox:\n" + "\n".join(f"- {f}" for f in errors) +
            "\nLikely cause: a run scored by an older rewardsmith. Change the code (rewardsmith edit) and "
            "export the edited candidate once it is scored.")


def _as_block(code: str) -> str:
    return code if code.endswith("\n") else code + "\n"


def _quoted(s) -> str:
    return json.dumps(str(s), ensure_ascii=False)  # a double-quoted Python str


def _template():
    from ..templating import file_environment

    return file_environment(filters=(("q", _quoted),)).get_template(TEMPLATE)


def _checked_meta(meta: dict) -> dict:
    unknown = sorted(set(meta) - set(META_KEYS))
    if unknown:
        raise ExportError(f"export metadata has unknown keys {unknown}; expected keys: {list(META_KEYS)}")
    if not meta.get("candidate"):
        raise ExportError(f"export metadata needs the candidate id under 'candidate'; got {meta!r}")
    out = {key: meta.get(key) for key in META_KEYS}
    out["candidate"] = str(out["candidate"])
    out["seeds"] = [int(s) for s in out["seeds"] or []]
    _plain_meta(out)
    return out


_CANDIDATE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _plain_meta(meta: dict) -> None:
    """ExportError unless the run's strings written into the header comment and the docstring stay
    there: a candidate id is a plain id (no quote can end the docstring), a run name and the scoring
    one printable line (no line break, in any of the forms Python reads as one, can end the comment)."""
    if not _CANDIDATE_RE.fullmatch(meta["candidate"]):
        raise ExportError(f"export metadata 'candidate' is {meta['candidate']!r}; expected a candidate id "
                          f"(letters, digits, '.', '_', '-')")
    for key in ("run", "scoring"):
        if meta[key] is not None and not (isinstance(meta[key], str) and meta[key].isprintable()):
            raise ExportError(f"export metadata {key!r} is {meta[key]!r}; expected one line of printable text")


def _header(task: Task, code: str, meta: dict) -> list[tuple[str, list[str]]]:
    """(label, lines) pairs of the header comment."""
    mean, std, seeds = meta["fitness_mean"], meta["fitness_std"], meta["seeds"]
    if mean is None:
        fitness = "not recorded"
    else:
        spread = f" ± {float(std):.4g}" if std is not None else ""
        over = f" over {len(seeds)} seed{'s' * (len(seeds) != 1)}" if seeds else ""
        scoring = f"; {meta['scoring']}" if meta.get("scoring") else ""
        fitness = f"{float(mean):.4g}{spread} (mean{' ± std' * bool(spread)}{over}{scoring})"
    kwargs = f" {_literal(task.env_kwargs, 'ENV_KWARGS', 10_000)}" if task.env_kwargs else ""
    candidate = meta["candidate"] + (f" (run {meta['run']})" if meta["run"] else "")
    training = task.training
    settings = f"n_envs={training.n_envs}, normalize={training.normalize}, " + \
        (f"PPO {pprint.pformat(training.ppo, width=10_000, sort_dicts=False)}" if training.ppo
         else "PPO defaults")
    source = textwrap.wrap(f"(the task's defaults{'; ' * bool(training.source)}{training.source})", 70)
    return [
        ("Task", [task.name]),
        ("Environment", [task.env_id + kwargs]),
        ("Goal", textwrap.wrap(task.goal, 70) or [""]),
        ("Candidate", [candidate]),
        ("Fitness", [fitness]),
        ("Seeds", [", ".join(map(str, seeds)) or "not recorded"]),
        ("Timesteps", [f"{meta['timesteps']} per seed" if meta["timesteps"] else "not recorded"]),
        ("Code sha256", [code_hash(code), "(of the reward code between the BEGIN/END markers below)"]),
        ("Trained with", textwrap.wrap(settings, 70) + source),
    ]


def _literal(value, what: str, width: int = 80) -> str:
    text = pprint.pformat(value, width=width, sort_dicts=False)
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError):
        same = False
    if not same:
        raise ExportError(f"{what} = {value!r} cannot be written as a Python literal in the exported "
                          f"module; use plain numbers, strings, lists and dicts")
    return text


def _camel(name: str) -> str:
    camel = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)
    return camel if camel[:1].isalpha() else "Task" + camel


def _free_name(name: str, taken: set) -> str:
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _reward_bindings(code: str) -> dict[str, str]:
    """Module-level names the reward code binds -> the module it imports under that name, or ''."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ExportError(f"the reward code does not compile: {exc.msg} at line {exc.lineno}") from None
    if not any(isinstance(n, ast.FunctionDef) and n.name == "compute_reward" for n in tree.body):
        raise ExportError("the reward code defines no module-level compute_reward(state, action, next_state)")
    bound: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                bound[alias.asname or root] = alias.name if alias.asname else root
        elif isinstance(node, ast.ImportFrom):
            bound.update({alias.asname or alias.name: "" for alias in node.names})
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[node.name] = ""
        else:
            bound.update({n.id: "" for n in ast.walk(node) if isinstance(n, ast.Name)
                          and isinstance(n.ctx, (ast.Store, ast.Del))})
    return bound


def _global_names(source: str) -> set[str]:
    """Names a piece of top-level code reads from its module's globals (or builtins)."""
    table = symtable.symtable(source, "<export>", "exec")
    names = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    stack = list(table.get_children())
    while stack:
        child = stack.pop()
        names |= {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
        stack += child.get_children()
    return names


def _field_entry(spec: StateField, func_name: str) -> dict:
    """A field's template entry: its source renamed to ``func_name``; it must be self-contained."""
    where = f"state field {spec.name!r} ({spec.fn.__code__.co_filename})"
    try:
        source = spec.source()
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError) as exc:
        raise ExportError(f"{where}: its source cannot be read for export ({exc})") from None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(tree.body) != 1 or not defs:
        raise ExportError(f"{where}: expected its source to be one function definition")
    table = symtable.symtable(source, "<field>", "exec").get_children()[0]
    outside = set()
    for scope in [table, *table.get_children()]:
        outside |= {s.get_name() for s in scope.get_symbols()
                    if (s.is_global() or s.is_free()) and s.is_referenced()}
    foreign = sorted(outside - _BUILTINS - set(SHARED_MODULES))
    if foreign:
        raise ExportError(
            f"{where} uses {', '.join(foreign)} from outside the function; the exported module carries "
            f"field functions alone, so a field may use only its arguments, numpy (np) and math. Move "
            f"the value into the function (e.g. a literal) or compute it from env and obs.")
    uses = outside & set(SHARED_MODULES)
    for name in uses:
        value = spec.fn.__globals__.get(name)
        if getattr(value, "__name__", None) != SHARED_MODULES[name]:
            raise ExportError(f"{where} uses {name!r}, which its task file binds to {value!r}; expected the "
                              f"{SHARED_MODULES[name]} module")
    lines = source.splitlines()
    line = defs[0].lineno - 1
    lines[line] = re.sub(rf"\bdef\s+{re.escape(defs[0].name)}\b", f"def {func_name}", lines[line], count=1)
    return {"name": spec.name, "func": func_name, "unit": spec.unit, "doc": spec.doc,
            "source": "\n".join(lines).rstrip(), "uses": uses}


def _env_is_class(task: Task) -> bool:
    """Whether ENV is a user's environment class (``package.module:Class``), as Task.make_env decides."""
    if ":" not in task.env_id:
        return False
    import gymnasium as gym

    if task.env_id in gym.registry:
        return False
    module_name, _, attr = task.env_id.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure means we cannot tell; say so
        raise ExportError(f"task {task.name!r}: could not import {module_name!r} to resolve ENV "
                          f"{task.env_id!r}: {type(exc).__name__}: {exc}") from exc
    return attr not in gym.registry and isinstance(getattr(module, attr, None), type)


def _check_module(text: str, code: str, bindings: dict[str, str], freezer: str | None = None) -> None:
    """Raises ExportError unless ``text`` is a sound standalone module carrying ``code`` unchanged
    (``freezer``: the module's name for ``_frozen``, whose ``X = _frozen(X)`` lines read the reward's names)."""
    try:
        tree = ast.parse(text)
        compile(tree, "<exported module>", "exec")
    except SyntaxError as exc:
        raise ExportError(f"the exported module does not compile: {exc.msg} at line {exc.lineno} "
                          f"(`{(exc.text or '').strip()}`)") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or "."]
        else:
            continue
        for module in modules:
            if module.split(".")[0] not in ALLOWED_IMPORTS:
                raise ExportError(f"the exported module would import {module!r} (line {node.lineno}); "
                                  f"it may import only numpy, math and gymnasium")
    if reward_block(text) != _as_block(code):
        raise ExportError("the reward code block in the exported module differs from the code")
    if verify_module(text) != code_hash(code):
        raise ExportError("the header's code hash does not match the code")
    # the module's own code (everything outside the reward block) must not read a name the reward code
    # rebinds, e.g. a builtin the reward shadows, or np bound to something other than numpy
    first = text.splitlines().index(BEGIN_MARKER) + 2  # 1-based line numbers of the reward block
    last = first + _as_block(code).count("\n") - 1
    clashes: set[str] = set()
    segment = _segments(text)
    for node in tree.body:
        if not first <= node.lineno <= last and not _freezes(node, freezer):
            clashes |= _global_names(segment(node)) & set(bindings)
    clashes = {n for n in clashes if n != "compute_reward" and SHARED_MODULES.get(n) != bindings[n]}
    if clashes:
        raise ExportError(
            f"the reward code binds {', '.join(sorted(clashes))} at module level, and the exported module's "
            f"own code (field functions, State, the wrapper) needs the standard meaning of "
            f"{'that name' if len(clashes) == 1 else 'those names'}; rename it in the reward code "
            f"(e.g. with `rewardsmith edit`) and export the edited candidate once it is scored")


def _segments(text: str) -> Callable[[ast.stmt], str]:
    """``ast.get_source_segment(text, node)`` for many nodes of one text, which is split into lines once
    (the standard function splits the whole text again for every node). Lines end as the parser ends them
    (``\\r\\n``, ``\\n`` or ``\\r``); a node's columns count UTF-8 bytes."""
    lines, start = [], 0
    for end in re.finditer(r"\r\n|\n|\r", text):
        lines.append(text[start:end.end()])
        start = end.end()
    lines.append(text[start:])

    def segment(node: ast.stmt) -> str:
        first, last = node.lineno - 1, cast(int, node.end_lineno) - 1
        begin, end = node.col_offset, cast(int, node.end_col_offset)
        if first == last:
            return lines[first].encode()[begin:end].decode()
        return "".join([lines[first].encode()[begin:].decode(), *lines[first + 1:last],
                        lines[last].encode()[:end].decode()])

    return segment


def _freezes(node: ast.stmt, freezer: str | None) -> bool:
    """Whether ``node`` is ``X = <freezer>(X)``: the module making one of the reward's names read-only."""
    return freezer is not None and isinstance(node, ast.Assign) and len(node.targets) == 1 \
        and isinstance(target := node.targets[0], ast.Name) and isinstance(call := node.value, ast.Call) \
        and isinstance(call.func, ast.Name) and call.func.id == freezer and not call.keywords \
        and len(call.args) == 1 and isinstance(arg := call.args[0], ast.Name) and arg.id == target.id
