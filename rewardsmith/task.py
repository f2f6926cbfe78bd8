"""Tasks: the environment, the goal, the named state fields, the ground-truth fitness (CONTRACT §2).

A task is a Python file. It declares module-level names::

    NAME = "mountaincar-reach"               # unique
    ENV = "MountainCarContinuous-v0"          # registered id, or "package.module:Class"
    ENV_KWARGS = {}                           # optional
    GOAL = "Reach the flag ..."               # what the designer sees
    TRAINING = {"timesteps": 30_000, "ppo": {...}, ...}   # default settings (see TrainingSettings)
    BASELINE = '''def compute_reward(state, action, next_state): ...'''   # human-written reward
    SPARSE = '''def compute_reward(state, action, next_state): ...'''     # the success signal alone

    @field(unit="m")
    def position(env, obs):
        '''Car position along the track; the flag is at 0.45.'''
        return float(obs[0])

    def fitness(episode):
        '''Ground truth for one evaluation episode; higher is better.'''

Field functions get the *unwrapped* environment and the raw observation; they may use numpy and
math only, because the exported reward module carries their source.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any, Callable, NoReturn

import numpy as np

from .errors import TaskError, UnknownFieldError



def _data_dir(installed: str, in_checkout: str) -> Path:
    """Where shipped data lives: inside the installed package, else beside it in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / installed, here.parent / in_checkout):
        if candidate.is_dir():
            return candidate
    return here.parent / in_checkout


BUILTIN_TASKS_DIR = _data_dir("builtin_tasks", "tasks")
PROMPTS_DIR = _data_dir("prompts", "prompts")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


# --------------------------------------------------------------------------- fields and states


@dataclass(frozen=True)
class StateField:
    """A named quantity reward code may read as ``state.<name>``."""

    name: str
    fn: Callable[[Any, np.ndarray], Any]
    doc: str
    unit: str

    def source(self) -> str:
        """The field function's source without its decorator (for the exported module)."""
        src = textwrap.dedent(inspect.getsource(self.fn))
        lines = [ln for ln in src.splitlines() if not ln.lstrip().startswith("@")]
        return "\n".join(lines) + "\n"


def field(unit: str = "", doc: str | None = None):
    """Marks a task-module function ``fn(env, obs)`` as a named state field."""

    def mark(fn):
        text = doc or (inspect.getdoc(fn) or "").strip().splitlines()[0:1]
        text = text if isinstance(text, str) else (text[0] if text else "")
        fn.__rewardsmith_field__ = StateField(fn.__name__, fn, text, unit)
        return fn

    return mark


class State:
    """A read-only view of one environment state: ``obs`` plus the task's named fields.

    ``State(values)`` gives an instance of a class made once per set of names (``state_type``): a tuple
    of the values with one read-only property per name. Reading a field costs what reading a tuple
    item does (reward code reads several per step), and nothing can be changed, added or reached
    behind the values: the wrapper records the fitness fields from the very values the reward sees.
    """

    __slots__ = ()

    def __new__(cls, values: dict[str, Any]):
        return tuple.__new__(state_type(tuple(values)), values.values())


def _no_field(name: str, names):
    return UnknownFieldError(f"state has no field {name!r}; the fields that exist are: {', '.join(sorted(names))}")


def _not_a_sequence(self, *args):
    raise TypeError("a state is not a sequence; read its fields as attributes (next_state.name)")


def _no_setting(self, name, value):
    raise AttributeError(f"state is read-only (tried to set {name!r})")


def _no_deleting(self, name):
    raise AttributeError(f"state is read-only (tried to delete {name!r})")


# what a tuple would add to a state: the state behaves as before it was one (no len, items, iteration,
# arithmetic or ordering; equal only to itself; always true)
_TUPLE_BEHAVIOUR = {
    **dict.fromkeys(("__len__", "__getitem__", "__iter__", "__contains__", "__add__", "__mul__", "__rmul__",
                     "__lt__", "__le__", "__gt__", "__ge__", "__reversed__"), _not_a_sequence),
    "__eq__": object.__eq__, "__ne__": object.__ne__, "__hash__": object.__hash__,
    "__bool__": lambda self: True, "__setattr__": _no_setting, "__delattr__": _no_deleting,
}


@functools.lru_cache(maxsize=None)
def state_type(names: tuple[str, ...]) -> type:
    """The State class whose instances hold values for ``names`` in that order (made once per set of
    names): ``tuple.__new__(state_type(names), values)`` builds a state from a sequence of values."""
    known = tuple(names)

    def __getattr__(self, name: str) -> NoReturn:
        raise _no_field(name, known)

    def __repr__(self):
        return f"State({', '.join(sorted(known))})"

    namespace: dict[str, Any] = {"__slots__": (), "__getattr__": __getattr__, "__repr__": __repr__, **_TUPLE_BEHAVIOUR}
    def refused(attr: str) -> property:
        return property(lambda self: __getattr__(self, attr))

    for attr in ("count", "index"):  # tuple's public methods: unknown fields unless the task declares them
        namespace[attr] = refused(attr)
    for i, name in enumerate(known):
        namespace[name] = _item(i, name)
    return type("State", (State, tuple), namespace)


def _item(i: int, name: str):
    """A read-only descriptor for item ``i`` of the tuple that is the state (not through __getitem__,
    which a state refuses)."""
    try:
        # namedtuple's C accessor: as fast as reading a tuple item (private, so not in typeshed)
        from collections import _tuplegetter  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - Pythons without it (namedtuple falls back the same way)
        return property(lambda self: tuple.__getitem__(self, i), doc=f"the state's {name!r}")
    return _tuplegetter(i, f"the state's {name!r}")


def frozen(value):
    """An immutable copy of an array: its buffer is a ``bytes`` object, so not even
    ``flags.writeable = True`` makes it writable again (scalars pass through)."""
    if isinstance(value, np.ndarray):
        dtype = value.dtype
        if dtype.hasobject:
            value = value.copy()
            value.flags.writeable = False
            return value
        # per step for the action (and obs and array fields): dtype positional (as a keyword it costs
        # more than the copy), and no reshape for the usual 1-d array
        copy = np.frombuffer(value.tobytes(), dtype)
        return copy if value.ndim == 1 else copy.reshape(value.shape)
    return value


# --------------------------------------------------------------------------- episodes


@dataclass
class Episode:
    """One rollout, as fitness functions and the analyzer see it.

    ``fields[name]`` has one row per visited state (reset state included: length + 1 rows);
    ``actions`` and ``native_rewards`` one row per step. Fields are also attributes:
    ``episode.x_position``.
    """

    fields: dict[str, np.ndarray]
    actions: np.ndarray
    native_rewards: np.ndarray
    terminated: bool
    truncated: bool
    max_steps: int | None = None
    components: dict[str, np.ndarray] = dc_field(default_factory=dict)
    rewards: np.ndarray | None = None

    @property
    def length(self) -> int:
        return int(len(self.native_rewards))

    def __getattr__(self, name):
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(f"episode has no field {name!r}; fields: {', '.join(sorted(fields))}")


# --------------------------------------------------------------------------- training settings


# stable-baselines3 PPO keyword arguments a task may set (PPO's own, minus env/policy/device/seed/verbose)
PPO_KEYS = frozenset({
    "learning_rate", "n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "clip_range", "clip_range_vf",
    "normalize_advantage", "ent_coef", "vf_coef", "max_grad_norm", "use_sde", "sde_sample_freq", "target_kl",
    "stats_window_size", "policy_kwargs",
})


@dataclass
class TrainingSettings:
    """Default PPO settings of a task. ``ppo`` holds stable-baselines3 PPO keyword arguments;
    ``learning_rate``/``clip_range`` may be ``"lin_<x>"`` (linear decay, as rl-baselines3-zoo writes
    it) and ``policy_kwargs.activation_fn`` may be ``"relu"`` or ``"tanh"``. ``source`` says where the
    settings come from and why; ``steps_per_second`` is a measured training speed (env steps per second
    of one training on one idle core) that ``rewardsmith tasks`` turns into a time estimate.
    ``budget_note`` says, with the measured figures, why at this budget the baseline does not clearly beat
    both the random policy and the sparse reward (≥ 3 std, benchmarks/task_table.py) and why a larger
    default is not taken; empty where it does. ``rewardsmith tasks`` and the task table show it."""

    timesteps: int = 50_000
    n_envs: int = 1
    normalize: bool | dict = False
    eval_episodes: int = 5
    ppo: dict = dc_field(default_factory=dict)
    source: str = ""
    steps_per_second: float | None = None
    budget_note: str = ""

    @classmethod
    def from_dict(cls, data: dict, where: str) -> "TrainingSettings":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise TaskError(f"{where}: TRAINING has unknown keys {sorted(unknown)}; allowed: {sorted(known)}")
        settings = cls(**data)
        settings._check(where)
        return settings

    def _check(self, where: str) -> None:
        def positive_int(name, value):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise TaskError(f"{where}: TRAINING[{name!r}] must be a positive int, got {value!r}")

        positive_int("timesteps", self.timesteps)
        positive_int("n_envs", self.n_envs)
        positive_int("eval_episodes", self.eval_episodes)
        if not isinstance(self.normalize, (bool, dict)):
            raise TaskError(f"{where}: TRAINING['normalize'] must be True, False or a dict of VecNormalize "
                            f"options, got {self.normalize!r}")
        if not isinstance(self.source, str):
            raise TaskError(f"{where}: TRAINING['source'] must be a string, got {self.source!r}")
        if not isinstance(self.budget_note, str):
            raise TaskError(f"{where}: TRAINING['budget_note'] must be a string (why the baseline does not clearly "
                            f"beat the sparse reward at this budget), got {self.budget_note!r}")
        if self.steps_per_second is not None and (isinstance(self.steps_per_second, bool) or not isinstance(
                self.steps_per_second, (int, float)) or not self.steps_per_second > 0):
            raise TaskError(f"{where}: TRAINING['steps_per_second'] must be a positive number (a measured "
                            f"training speed), got {self.steps_per_second!r}")
        if not isinstance(self.ppo, dict):
            raise TaskError(f"{where}: TRAINING['ppo'] must be a dict of PPO arguments, got {self.ppo!r}")
        unknown = set(self.ppo) - PPO_KEYS
        if unknown:
            raise TaskError(f"{where}: TRAINING['ppo'] has unknown PPO arguments {sorted(unknown)}; "
                            f"allowed: {sorted(PPO_KEYS)}")
        for name in ("n_steps", "batch_size", "n_epochs"):
            if name in self.ppo:
                positive_int(f"ppo.{name}", self.ppo[name])
        rollout = self.ppo.get("n_steps", 2048) * self.n_envs
        batch = self.ppo.get("batch_size", 64)
        if rollout < 2 or batch > rollout:
            raise TaskError(f"{where}: TRAINING: a rollout of n_steps x n_envs = {rollout} steps must be at least "
                            f"2 and at least ppo.batch_size ({batch})")

    def estimated_seconds(self, timesteps: int | None = None) -> float | None:
        """About how long one training of ``timesteps`` (default: the budget) takes on one idle core, from
        the measured ``steps_per_second`` (training only, not start-up or evaluation); None if unmeasured."""
        if not self.steps_per_second:
            return None
        return (timesteps or self.timesteps) / float(self.steps_per_second)


# --------------------------------------------------------------------------- the task


@dataclass
class Task:
    """A loaded task file."""

    name: str
    env_id: str
    env_kwargs: dict
    goal: str
    fields: dict[str, StateField]
    fitness_fn: Callable[[Episode], float]
    baseline: str
    sparse: str
    training: TrainingSettings
    path: Path
    fitness_doc: str = ""
    fitness_fields: tuple[str, ...] = ()
    max_episode_steps: int | None = None
    termination: str = "failure"  # what the env ending an episode early means: "failure" or "success"

    def make_env(self, render_mode: str | None = None):
        """A fresh gymnasium environment for this task (with its registered time limit)."""
        import gymnasium as gym

        kwargs = dict(self.env_kwargs)
        if render_mode:
            kwargs["render_mode"] = render_mode
        env_id = self.env_id
        try:
            if env_id not in gym.registry and ":" in env_id:
                module_name, _, attr = env_id.partition(":")
                import importlib

                module = importlib.import_module(module_name)
                if attr not in gym.registry and isinstance(getattr(module, attr, None), type):
                    # a user's own environment class: register it once under a task-scoped id
                    env_id = f"rewardsmith/{self.name}-v0"
                    if env_id not in gym.registry:
                        gym.register(id=env_id, entry_point=self.env_id,
                                     max_episode_steps=self.max_episode_steps)
                else:
                    env_id = attr
            return gym.make(env_id, **kwargs)
        except Exception as exc:  # gymnasium raises many kinds; say which task and env failed
            raise TaskError(
                f"task {self.name!r} ({self.path}): could not make environment {self.env_id!r} "
                f"with {kwargs}: {type(exc).__name__}: {exc}"
            ) from exc

    def state_values(self, env, obs, names=None, with_obs: bool = True) -> dict[str, Any]:
        """The named fields (all, or ``names``) of the environment's current state, plus ``obs`` (unless
        ``with_obs`` is false: the training wrapper skips the copy when the reward never reads it)."""
        keys, read = self.state_reader(list(self.fields) if names is None else names, with_obs)
        return dict(zip(keys, read(env.unwrapped, obs)))

    def state_reader(self, names, with_obs: bool = True):
        """``(keys, read)``: ``read(unwrapped_env, obs)`` gives the values of ``keys`` (``obs`` first when
        ``with_obs``, then ``names``) as a list, each frozen: what the training wrapper calls every step."""
        fns = [self.fields[name].fn for name in names]
        keys = (("obs",) if with_obs else ()) + tuple(names)

        def read(unwrapped, obs):
            values = [frozen(obs)] if with_obs else []
            append = values.append
            for fn in fns:
                value = fn(unwrapped, obs)
                append(value if type(value) is float else frozen(value))  # floats are immutable already
            return values

        return keys, read

    def fitness(self, episode: Episode) -> float:
        """The task's ground-truth fitness of one episode, as a float."""
        return float(self.fitness_fn(episode))


def _fields_read_by(fn, field_names) -> tuple[str, ...]:
    """Field names a (trusted) task function mentions, so training records only those."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return tuple(field_names)
    mentioned = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            mentioned.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            mentioned.add(node.value)
    return tuple(n for n in field_names if n in mentioned)


def load_task_file(path: str | Path) -> Task:
    """Loads and validates the task file at ``path``; every problem is a TaskError naming the file."""
    path = Path(path).resolve()
    if not path.is_file():
        raise TaskError(f"task file {path} does not exist")
    module_name = f"rewardsmith_task_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # a name Python does not import (not .py)
        raise TaskError(f"task file {path} cannot be imported: expected a Python file (.py)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise TaskError(f"task file {path} failed to import: {type(exc).__name__}: {exc}") from exc
    sys.modules.setdefault(module_name, module)

    def need(name, kind):
        if not hasattr(module, name):
            raise TaskError(f"task file {path} does not define {name} (expected {kind.__name__})")
        value = getattr(module, name)
        if not isinstance(value, kind):
            raise TaskError(
                f"task file {path}: {name} is a {type(value).__name__}; expected {kind.__name__}"
            )
        return value

    name = need("NAME", str)
    if not _NAME_RE.match(name):
        raise TaskError(f"task file {path}: NAME {name!r} must be lowercase letters, digits and dashes")
    env_id = need("ENV", str)
    goal = need("GOAL", str).strip()
    baseline = need("BASELINE", str)
    sparse = getattr(module, "SPARSE", "")
    training = TrainingSettings.from_dict(dict(getattr(module, "TRAINING", {})), str(path))
    fitness_fn = getattr(module, "fitness", None)
    if not callable(fitness_fn):
        raise TaskError(f"task file {path} does not define a function fitness(episode)")
    fields = {}
    for value in vars(module).values():
        spec_field = getattr(value, "__rewardsmith_field__", None)
        if isinstance(spec_field, StateField):
            if spec_field.name == "obs":
                raise TaskError(f"task file {path}: a field may not be called 'obs' (it is always there)")
            fields[spec_field.name] = spec_field
    if not fields:
        raise TaskError(f"task file {path} declares no state fields (decorate functions with @field)")
    return Task(
        name=name,
        env_id=env_id,
        env_kwargs=dict(getattr(module, "ENV_KWARGS", {})),
        goal=goal,
        fields=fields,
        fitness_fn=fitness_fn,
        baseline=textwrap.dedent(baseline).strip() + "\n",
        sparse=textwrap.dedent(sparse).strip() + "\n" if sparse else "",
        training=training,
        path=path,
        fitness_doc=(inspect.getdoc(fitness_fn) or "").strip(),
        fitness_fields=_fields_read_by(fitness_fn, list(fields)),
        max_episode_steps=getattr(module, "MAX_EPISODE_STEPS", None),
        termination=_termination(module, path),
    )


def _termination(module, path) -> str:
    value = getattr(module, "TERMINATION", "failure")
    if value not in ("failure", "success"):
        raise TaskError(f"task file {path}: TERMINATION is {value!r}; expected 'failure' (the env ends an "
                        f"episode when the agent fails, e.g. falls) or 'success' (when it reaches the goal)")
    return value


def builtin_task_paths() -> list[Path]:
    return sorted(p for p in BUILTIN_TASKS_DIR.glob("*.py") if not p.name.startswith("_"))


def list_tasks() -> list[Task]:
    """Every shipped task, sorted by name."""
    return sorted((load_task_file(p) for p in builtin_task_paths()), key=lambda t: t.name)


def load_task(name_or_path: str | Path) -> Task:
    """A task by shipped name (``hopper-forward``) or by path to a task file."""
    text = str(name_or_path)
    if text.endswith(".py") or "/" in text or Path(text).is_file():
        return load_task_file(text)
    candidate = BUILTIN_TASKS_DIR / (text.replace("-", "_") + ".py")
    if candidate.is_file():
        task = load_task_file(candidate)
        if task.name == text:
            return task
    for path in builtin_task_paths():
        task = load_task_file(path)
        if task.name == text:
            return task
    names = ", ".join(t.name for t in list_tasks())
    raise TaskError(f"no task named {text!r}; shipped tasks: {names} (or pass a path to a task file)")

