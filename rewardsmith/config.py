"""A run's settings (``config.json``), declared once.

Each field of ``EvolveConfig`` says, next to its default, its command-line help, its bounds or choices
and whether ``evolve --resume`` may change it. The ``evolve`` command's options, validation, the
resume rules and reading ``config.json`` back all follow from these declarations (``cli.py`` builds
the options from ``SETTINGS``), so a new setting is one field here and nothing else.
"""

from __future__ import annotations

import os
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, cast

from .design.base import default_designer, designer_plugin, designers
from .errors import ConfigError
from .host.confinement import SANDBOX_HELP, SANDBOX_MODES


@dataclass(frozen=True)
class Setting:
    """How one config field appears to users."""

    help: str
    kind: type = str                 # int, float, str or bool (a flag)
    optional: bool = False           # None is a valid value ("the task's default", "none")
    choices: tuple[str, ...] = ()
    minimum: float | None = None     # inclusive
    above: float | None = None       # exclusive lower bound
    maximum: float | None = None     # inclusive
    fraction: bool = False           # also accepts 1/9-style fractions on the command line
    resumable: bool = False          # a resumed run may change it
    option: bool = True              # has an --option (the task is chosen by --task, resolved first)

    def check(self, name: str, value: Any) -> None:
        """Raises ConfigError naming the option when ``value`` is out of bounds or of the wrong type."""
        flag = option_name(name)
        if value is None:
            if not self.optional:
                raise ConfigError(f"{flag} needs a value")
            return
        expected = (int, float) if self.kind is float else self.kind
        if isinstance(value, bool) and self.kind is not bool or not isinstance(value, expected):
            raise ConfigError(f"{flag} must be {_kind_text(self.kind)}, got {value!r}")
        if self.choices and value not in self.choices:
            raise ConfigError(f"{flag} must be {' or '.join(self.choices)}, got {value!r}")
        number = cast(float, value)  # bounds are declared only on numeric settings
        if self.minimum is not None and number < self.minimum:
            raise ConfigError(f"{flag} must be at least {self.minimum:g}, got {value}")
        if self.above is not None and number <= self.above:
            raise ConfigError(f"{flag} must be above {self.above:g}, got {value}")
        if self.maximum is not None and number > self.maximum:
            raise ConfigError(f"{flag} must be at most {self.maximum:g}, got {value}")


def _kind_text(kind: type) -> str:
    return {int: "a whole number", float: "a number", str: "text", bool: "true or false"}[kind]


def option_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def setting(default=MISSING, *, default_factory=MISSING, **declaration):
    """A config field with its user-facing declaration (see Setting)."""
    return field(default=default, default_factory=default_factory, metadata={"setting": Setting(**declaration)})


# keys that config.json files of earlier releases may hold, with the only value they ever had
RETIRED_KEYS: dict[str, Any] = {"extra": {}}


@dataclass
class EvolveConfig:
    """Everything that defines a run (stored as config.json; --resume reads it back)."""

    task: str = setting(help="The task's name.", option=False)
    designer: str = setting(default_designer(has_model=False), choices=tuple(designers()),
                            help="llm when a model is configured, else offline (AST mutation, no network).")
    model: str | None = setting(None, optional=True, resumable=True,
                                help="litellm model string, e.g. openai/gpt-4o-mini (default: $REWARDSMITH_MODEL).")
    api_base: str | None = setting(None, optional=True, resumable=True,
                                   help="Base URL of an OpenAI-compatible server (vLLM, Ollama, LM Studio, ...).")
    temperature: float = setting(1.0, kind=float, minimum=0.0, help="LLM sampling temperature.")
    iterations: int = setting(3, kind=int, minimum=1, resumable=True,
                              help="Generations (with --resume: raise it to extend the run).")
    samples: int = setting(4, kind=int, minimum=1, help="Candidates per generation.")
    timesteps: int | None = setting(None, kind=int, optional=True, minimum=64,
                                    help="PPO steps per candidate (default: the task's).")
    workers: int = setting(default_factory=lambda: os.cpu_count() or 1, kind=int, minimum=1, resumable=True,
                           help="Candidates trained at once, one process each (default: all cores).")
    seed: int = setting(0, kind=int, help="Seed of training and design.")
    repairs: int = setting(1, kind=int, minimum=0, help="Repair rounds for a rejected reward.")
    max_cost: float | None = setting(None, kind=float, optional=True, above=0.0, resumable=True,
                                     help="Stop cleanly once LLM spending reaches this many USD.")
    prompts: str | None = setting(None, optional=True,
                                  help="Directory of prompt templates overriding the shipped ones.")
    env_source: bool = setting(False, kind=bool, help="Show the environment's source code to the model (as Eureka does).")
    eval_episodes: int | None = setting(None, kind=int, optional=True, minimum=1,
                                        help="Deterministic evaluation episodes per training (default: the task's).")
    keep_trajectories: int = setting(5, kind=int, minimum=0,
                                     help="Evaluation episodes whose per-step data is kept for analysis.")
    llm_timeout: float = setting(120.0, kind=float, above=0.0, help="Seconds one LLM request may take.")
    max_seconds: float | None = setting(None, kind=float, optional=True, above=0.0,
                                        help="Soft wall-clock budget of one training: it stops early (and says so) past it.")
    llm_analyzer: bool = setting(False, kind=bool, help="The model diagnoses each trained policy from its analysis.")
    llm_critic: bool = setting(False, kind=bool, help="The model reviews each reward before training and may veto it.")
    critic_seconds: float = setting(10.0, kind=float, above=0.0,
                                    help="CPU seconds the critic's probe of one reward may use (wall clock: twice that).")
    feedback_replaces_reflection: bool = setting(
        False, kind=bool, help="When there is human feedback, the prompt shows it instead of the automatic analysis.")
    proxy_person: str | None = setting(
        None, optional=True, help="A proxy person answers the page's pairs after each generation by a hidden "
                                  "criterion, e.g. field=torso_angle,stat=abs-mean,prefer=low,error=0.1 "
                                  "(rewardsmith/people/proxy.py).")
    videos: str = setting("best", choices=("best", "every"), resumable=True,
                          help="Rollout videos after each generation: of its best, or of every scored candidate "
                               "(so the page can compare any pair it chooses, not only generation bests).")
    # the population: islands, their exchange, a person's preferences in parent choice (archive/population/)
    islands: int = setting(2, kind=int, minimum=1,
                           help="Islands of the population: each evolves apart from its own parents (a child "
                                "joins its parent's island); 1: one population.")
    migrate_every: int = setting(2, kind=int, minimum=1,
                                 help="Every this many generations each island's best becomes a parent on the "
                                      "next island (ring order).")
    preference_weight: float = setting(0.0, kind=float, minimum=0.0, resumable=True,
                                       help="Within the fitness's noise band, parents are re-ranked by a person's "
                                            "Bradley–Terry score times this (0: preferences do not choose parents).")
    # how the training compute is spent (schedule.py, executor.py)
    schedule: str = setting("halving", choices=("halving", "full"),
                            help="halving: every candidate trains a fraction of the budget and only the best "
                                 "continue, resuming from their checkpoints; full: every candidate gets the whole budget.")
    halving_eta: int = setting(3, kind=int, minimum=2, help="Successive halving keeps the best 1/ETA at each rung.")
    halving_min_fraction: float = setting(1 / 9, kind=float, above=0.0, maximum=1.0, fraction=True,
                                          help="The first rung's fraction of the budget; rungs are 1, 1/ETA, "
                                               "1/ETA², ... down to it (1/9: rungs 1/9, 1/3, 1).")
    final_top: int = setting(3, kind=int, minimum=1,
                             help="Candidates re-scored on --final-seeds seeds after the last generation.")
    final_seeds: int = setting(3, kind=int, minimum=0,
                               help="Fresh seeds of the final scoring of the top candidates, the baseline and the "
                                    "sparse reward (0: none).")
    no_screen: bool = setting(False, kind=bool,
                              help="Skip screening: by default each reward is first replayed on recorded episodes of "
                                   "known fitness and rejected, before any training, if it pays the worse ones more.")
    executor: str = setting("local", choices=("local", "ray"), resumable=True,
                            help="local processes or Ray tasks (pip install 'rewardsmith[ray]').")
    ray_address: str | None = setting(None, optional=True, resumable=True,
                                      help="An existing Ray cluster: auto, or the head's HOST:PORT (ray://HOST:10001 "
                                           "needs ray[client]); default: a local Ray with --workers CPUs.")
    ray_cpus_per_task: float = setting(1.0, kind=float, above=0.0, resumable=True,
                                       help="CPUs each Ray training asks for.")
    sandbox: str | None = setting(None, optional=True, choices=SANDBOX_MODES, resumable=True, help=SANDBOX_HELP)

    @classmethod
    def from_dict(cls, data: dict, where: str = "config.json") -> "EvolveConfig":
        """The config stored as ``data``; an unknown key is an error that names it."""
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if not (k in RETIRED_KEYS and v == RETIRED_KEYS[k])}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown setting{'s' * (len(unknown) > 1)} {', '.join(unknown)}; "
                              f"known settings: {', '.join(sorted(known))}")
        if "task" not in data:
            raise ConfigError(f"{where}: no task")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        """Checks every setting against its declaration, then the rules that involve several."""
        for f in fields(self):
            declaration(f.name).check(f.name, getattr(self, f.name))
        plugin = designer_plugin(self.designer)
        assert plugin is not None  # checked above: the designer setting's choices are the registered ones
        if plugin.needs_model and not self.model:
            raise ConfigError(f"the {plugin.title} needs --model (or REWARDSMITH_MODEL)")
        if self.proxy_person is not None:
            from .people.proxy_spec import parse_spec

            parse_spec(self.proxy_person)  # the syntax; the field is checked against the task when it is loaded
        if self.executor != "ray" and self.ray_address:
            raise ConfigError("--ray-address needs --executor ray")
        if self.executor == "ray":
            from .training.executor import import_ray

            import_ray()  # a missing Ray says how to install it before the run starts

    def resumed_with(self, changes: dict[str, Any]) -> "EvolveConfig":
        """This run's config with the settings a person gave to ``evolve --resume`` applied; a setting a
        resumed run may not change is an error that names it, never silently ignored."""
        fixed = sorted(name for name in changes if not declaration(name).resumable)
        if fixed:
            allowed = ", ".join(option_name(f.name) for f in fields(self) if declaration(f.name).resumable)
            raise ConfigError(f"{', '.join(map(option_name, fixed))}: fixed when the run started; a resumed run "
                              f"may change only {allowed}")
        if changes.get("model"):
            plugin = designer_plugin(self.designer)
            assert plugin is not None  # a run's designer is one of the registered ones (validate)
            if not plugin.needs_model:
                raise ConfigError(f"--model: this run uses the {self.designer} designer; start a new run with --model")
        iterations = changes.get("iterations")
        if iterations is not None and iterations < self.iterations:
            raise ConfigError(f"--iterations {iterations} is below the run's {self.iterations}; "
                              f"a resumed run can only be extended")
        updated = EvolveConfig(**{**asdict(self), **changes})
        updated.validate()
        return updated


def declaration(name: str) -> Setting:
    """The declaration of config field ``name``."""
    return SETTINGS[name]


SETTINGS: dict[str, Setting] = {f.name: f.metadata["setting"] for f in fields(EvolveConfig)}


def default_cache_dir() -> Path:
    """Where LLM responses are cached across runs: $REWARDSMITH_CACHE, else ~/.cache/rewardsmith/llm."""
    return Path(os.environ.get("REWARDSMITH_CACHE") or Path.home() / ".cache" / "rewardsmith" / "llm")


def default_run_dir(task_name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = Path(os.environ.get("REWARDSMITH_RUNS", "runs"))
    path = root / f"{stamp}-{task_name}"
    n = 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{task_name}-{n}"
    return path
