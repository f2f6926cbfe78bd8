"""The records that pass between stages: what training reports, what evaluation measured, what the
archive keeps of a scored candidate and what final scoring concluded.

Inside the program these are dataclasses read by attribute. They become JSON only at an edge: a
sandboxed child's output (checked field by field in ``trainer.py`` / ``untrusted.py`` before a record is
built), a Ray worker's reply, and the run store's JSON columns and meta. ``to_json`` gives exactly the
JSON earlier releases wrote (same keys, same order), and ``from_json`` reads what any release stored;
a stored value that lacks a field is a RunStoreError naming it. These records import nothing of the
rest of rewardsmith but ``errors``, so every stage (and the store) can use them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from .errors import RunStoreError


def _need(data, key: str, what: str):
    """``data[key]`` of a stored JSON object, or a RunStoreError naming the field and the record."""
    if not isinstance(data, dict):
        raise RunStoreError(f"{what} is stored as a {type(data).__name__}; expected a JSON object")
    if key not in data:
        raise RunStoreError(f"{what} has no {key!r} field (stored keys: {', '.join(map(str, data)) or 'none'})")
    return data[key]


# --------------------------------------------------------------------------- training and evaluation


@dataclass(frozen=True)
class Snapshot:
    """Training progress at one step, as the training child measured it (over the steps since the
    previous snapshot): reward and native reward per step, each component's mean per step, and the
    finished training episodes (how many, their mean fitness, return and length; None when none
    finished). Figures from a process that ran candidate code: reflection and the live view show
    them, selection never reads them."""

    step: int
    reward_per_step: float
    native_per_step: float
    components: dict[str, float]
    episodes: int
    elapsed: float
    fitness: float | None = None
    episode_return: float | None = None
    episode_length: float | None = None

    def to_json(self) -> dict:
        return {"step": self.step, "reward_per_step": self.reward_per_step, "native_per_step": self.native_per_step,
                "components": dict(self.components), "episodes": self.episodes, "elapsed": self.elapsed,
                "fitness": self.fitness, "episode_return": self.episode_return,
                "episode_length": self.episode_length}

    @classmethod
    def from_json(cls, data: dict) -> "Snapshot":
        what = "a stored training snapshot"
        return cls(step=_need(data, "step", what), reward_per_step=_need(data, "reward_per_step", what),
                   native_per_step=_need(data, "native_per_step", what),
                   components=dict(_need(data, "components", what)), episodes=_need(data, "episodes", what),
                   elapsed=data.get("elapsed", 0.0), fitness=data.get("fitness"),
                   episode_return=data.get("episode_return"), episode_length=data.get("episode_length"))


@dataclass(frozen=True)
class EpisodeSummary:
    """One deterministic evaluation episode, from the job that never loaded candidate code: the task's
    fitness, length, native return and how it ended; ``reward_return`` is the candidate's reward
    summed over it (replayed afterwards; the native return for the native reward), None until then.
    Stored as JSON with the key "return"."""

    fitness: float
    length: int
    native_return: float
    terminated: bool
    truncated: bool
    reward_return: float | None = None

    def to_json(self) -> dict:
        out = {"fitness": self.fitness, "length": self.length, "native_return": self.native_return,
               "terminated": self.terminated, "truncated": self.truncated}
        if self.reward_return is not None:
            out["return"] = self.reward_return
        return out

    @classmethod
    def from_json(cls, data: dict) -> "EpisodeSummary":
        what = "a stored evaluation episode"
        return cls(fitness=_need(data, "fitness", what), length=_need(data, "length", what),
                   native_return=_need(data, "native_return", what),
                   terminated=bool(data.get("terminated", False)), truncated=bool(data.get("truncated", False)),
                   reward_return=data.get("return"))


@dataclass
class SeedResult:
    """What one training run of one seed produced.

    ``fitness``, ``episode_fitness`` and ``episodes`` come only from the evaluation job, which never
    loaded candidate code: they are what selection uses. ``snapshots`` (including the fitness of
    training episodes) come from the training child that ran the reward: reflection and the live view
    may show them, selection never reads them.
    """

    seed: int
    fitness: float
    episode_fitness: list[float]
    timesteps: int
    steps_per_second: float
    train_seconds: float
    snapshots: list[Snapshot]
    episodes: list[EpisodeSummary]
    trajectories: list[Trajectory] = field(default_factory=list)
    stopped_early: str | None = None
    checkpoint: dict | None = None
    log_tail: str = ""
    trained_steps: int | None = None  # steps this leg trained (less than ``timesteps`` when resumed)
    worker: dict | None = None        # where it ran when not in a local thread (e.g. the Ray node)
    wall_seconds: float | None = None  # start-up, training and evaluation, as the executor saw it

    def to_json(self, leave_out: tuple[str, ...] = ()) -> dict:
        """The JSON object the store keeps (``leave_out``: fields kept elsewhere or not at all, e.g.
        the checkpoint, trajectories and log)."""
        out = {}
        for f in fields(self):
            if f.name in leave_out:
                continue
            value = getattr(self, f.name)
            if f.name in ("snapshots", "episodes", "trajectories"):
                value = [v.to_json() for v in value]
            else:
                value = _copy(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict) -> "SeedResult":
        """A result the store (or a Ray worker, which checked it) kept; fields an older release did not
        write take their defaults, fields it wrote that this one does not know are ignored."""
        what = "a stored training result"
        return cls(
            seed=_need(data, "seed", what), fitness=_need(data, "fitness", what),
            episode_fitness=list(_need(data, "episode_fitness", what)), timesteps=_need(data, "timesteps", what),
            steps_per_second=data.get("steps_per_second", 0.0), train_seconds=data.get("train_seconds", 0.0),
            snapshots=[Snapshot.from_json(s) for s in data.get("snapshots") or []],
            episodes=[EpisodeSummary.from_json(e) for e in data.get("episodes") or []],
            trajectories=[Trajectory.from_json(t) for t in data.get("trajectories") or []],
            stopped_early=data.get("stopped_early"), checkpoint=data.get("checkpoint"),
            log_tail=data.get("log_tail", ""),
            trained_steps=data.get("trained_steps"), worker=data.get("worker"),
            wall_seconds=data.get("wall_seconds"))


@dataclass(frozen=True)
class Trajectory:
    """One recorded episode: rows per visited state (``fields``: the task's named fields; ``obs``: the
    raw observations, absent before release 0.2) and per step (``actions``; ``native_rewards``; and,
    once a reward was replayed on it, that reward's ``rewards`` and ``components``), how it ended, the
    time limit and the action bounds (None where unbounded; absent for a discrete action space), and
    its fitness where known. Evaluation episodes and random-policy episodes are recorded this way;
    screening and the analyzer read them."""

    fields: dict[str, list]
    actions: list
    obs: list | None = None
    native_rewards: list[float] | None = None
    terminated: bool | None = None
    truncated: bool | None = None
    max_steps: int | None = None
    action_low: list | None = None
    action_high: list | None = None
    rewards: list[float] | None = None
    components: dict[str, list[float]] | None = None
    fitness: float | None = None

    @property
    def steps(self) -> int:
        return len(self.actions)

    def to_json(self) -> dict:
        """The stored object: the keys this trajectory has, in the order the evaluation job, the replay
        and the archive add them (an evaluation recording always carries ``max_steps``, even null)."""
        out = {}
        for key in ("fields", "obs", "actions", "native_rewards", "terminated", "truncated", "max_steps",
                    "action_low", "action_high", "rewards", "components", "fitness"):
            value = getattr(self, key)
            if value is not None or key == "max_steps" and self.terminated is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Trajectory":
        what = "a stored trajectory"
        return cls(fields=dict(_need(data, "fields", what)), actions=_need(data, "actions", what),
                   **{f.name: data.get(f.name) for f in fields(cls) if f.name not in ("fields", "actions")})


def _copy(value):
    """A deep copy of plain JSON data (lists and dicts), so a stored object never aliases a record."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# --------------------------------------------------------------------------- what the archive keeps


@dataclass(frozen=True)
class ComponentTrend:
    """One reward component over training: its mean per step at each snapshot (averaged over seeds;
    NaN where no seed had one) and at the last."""

    series: list[float]
    final: float

    def to_json(self) -> dict:
        return {"series": list(self.series), "final": self.final}

    @classmethod
    def from_json(cls, data: dict) -> "ComponentTrend":
        return cls(series=list(data.get("series") or []) if isinstance(data, dict) else [],
                   final=_need(data, "final", "a stored component summary"))


@dataclass(frozen=True)
class Confirmation:
    """A second seed at the same budget for the designer's best so far (evolve.Evolution._confirm):
    its fitness (None if that training failed), the search fitness, and their mean; for a challenger
    also whom it was measured against and whether its advantage held."""

    seed: int
    fitness: float | None
    search_fitness: float | None
    mean: float | None
    against: str | None = None
    against_mean: float | None = None
    confirmed: bool | None = None

    def to_json(self) -> dict:
        out = {"seed": self.seed, "fitness": self.fitness, "search_fitness": self.search_fitness, "mean": self.mean}
        if self.against is not None:
            out.update(against=self.against, against_mean=self.against_mean, confirmed=self.confirmed)
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Confirmation":
        what = "a stored confirmation"
        return cls(seed=_need(data, "seed", what), fitness=data.get("fitness"),
                   search_fitness=data.get("search_fitness"), mean=data.get("mean"), against=data.get("against"),
                   against_mean=data.get("against_mean"), confirmed=data.get("confirmed"))


@dataclass(frozen=True)
class CandidateResult:
    """What the archive keeps of a candidate's training (``Candidate.result``): each seed's result
    (without trajectories, checkpoint and log, which live in files), each component's trend, the
    fraction of the search budget its fitness was measured at, and, when they happened, its screening
    verdict (``{"passed", **screening evidence}``), its successive-halving record (schedule.py's
    decisions and rung scores) and its confirmation seed. A candidate rejected by screening has only
    ``budget_fraction`` (0) and ``screening``."""

    runs: list[SeedResult] | None = None
    components: dict[str, ComponentTrend] | None = None
    screening: dict | None = None
    budget_fraction: float | None = None
    halving: dict | None = None
    confirmation: Confirmation | None = None

    STORED_RUN_FIELDS_LEFT_OUT = ("trajectories", "checkpoint", "log_tail")

    def to_json(self) -> dict:
        out = {}
        if self.runs is not None:
            out["runs"] = [r.to_json(leave_out=self.STORED_RUN_FIELDS_LEFT_OUT) for r in self.runs]
        if self.components is not None:
            out["components"] = {name: c.to_json() for name, c in self.components.items()}
        if self.runs is None and self.budget_fraction is not None:
            out["budget_fraction"] = self.budget_fraction  # an untrained candidate's row began with it
        if self.screening is not None:
            out["screening"] = _copy(self.screening)
        if self.runs is not None and self.budget_fraction is not None:
            out["budget_fraction"] = self.budget_fraction
        if self.halving is not None:
            out["halving"] = _copy(self.halving)
        if self.confirmation is not None:
            out["confirmation"] = self.confirmation.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict) -> "CandidateResult":
        if not isinstance(data, dict):
            raise RunStoreError(f"a stored candidate result is a {type(data).__name__}; expected a JSON object")
        runs, components, confirmation = data.get("runs"), data.get("components"), data.get("confirmation")
        return cls(runs=None if runs is None else [SeedResult.from_json(r) for r in runs],
                   components=None if components is None else
                   {name: ComponentTrend.from_json(c) for name, c in components.items()},
                   screening=data.get("screening"), budget_fraction=data.get("budget_fraction"),
                   halving=data.get("halving"),
                   confirmation=None if confirmation is None else Confirmation.from_json(confirmation))


# --------------------------------------------------------------------------- the analyzer's record


@dataclass
class Finding:
    """One failure mode a detector found, with the numbers that show it."""
    name: str
    message: str
    evidence: dict[str, float]
    brief: str = ""  # a few words for tables (``summary_line``)
    subjects: list[str] = field(default_factory=list)  # the components or fields concerned


@dataclass
class Analysis:
    """Everything measured about one scored candidate (analyzer.py; ``Candidate.analysis``);
    ``to_dict``/``from_dict`` round-trip through JSON."""
    fitness: float
    fitness_std: float
    seeds: list[int]
    timesteps: int
    max_steps: int | None
    termination: str  # what the environment ending an episode means here: "failure" or "success"
    evaluation: dict  # means over evaluation episodes: episodes, length, return, native_return, reward_per_step
    episodes: list[dict]
    components: dict[str, dict]
    fields: dict[str, dict]
    actions: dict
    training: dict
    findings: list[Finding]
    diagnosis: str | None = None  # an LLM analyst's text, when --llm-analyzer is on

    def to_dict(self) -> dict:
        return asdict(self)

    to_json = to_dict

    @classmethod
    def from_dict(cls, data: dict) -> "Analysis":
        if not isinstance(data, dict):
            raise RunStoreError(f"a stored analysis is a {type(data).__name__}; expected a JSON object")
        missing = [f.name for f in fields(cls) if f.name not in data and f.name != "diagnosis"]
        if missing:
            raise RunStoreError(f"a stored analysis has no {', '.join(map(repr, missing))} field")
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in data.items() if k in known},
                      "findings": [Finding(**f) for f in data["findings"]]})

    from_json = from_dict

    def finding(self, name: str) -> Finding | None:
        return next((f for f in self.findings if f.name == name), None)


# --------------------------------------------------------------------------- final scoring


@dataclass(frozen=True)
class FinalEntry:
    """One reward's final multi-seed score: mean ± std fitness over the fresh seeds that scored, how
    many failed, its search fitness (for a candidate or the baseline; never for the sparse reward) and
    its human-normalized score (None when undefined)."""

    id: str
    role: str | None
    seeds: int
    failed: int
    per_seed: list[float]
    fitness_mean: float | None
    fitness_std: float | None
    timesteps: int | None
    search_fitness: float | None = None
    normalized: float | None = None

    def to_json(self) -> dict:
        out = {"id": self.id, "role": self.role, "seeds": self.seeds, "failed": self.failed,
               "per_seed": list(self.per_seed), "fitness_mean": self.fitness_mean,
               "fitness_std": self.fitness_std, "timesteps": self.timesteps}
        if self.id != "sparse":  # the task's sparse reward has no search fitness; its entry has no key
            out["search_fitness"] = self.search_fitness
        out["normalized"] = self.normalized
        return out

    @classmethod
    def from_json(cls, data: dict) -> "FinalEntry":
        what = "a stored final-scoring entry"
        return cls(id=_need(data, "id", what), role=data.get("role"), seeds=data.get("seeds", 0),
                   failed=data.get("failed", 0), per_seed=list(data.get("per_seed") or []),
                   fitness_mean=data.get("fitness_mean"), fitness_std=data.get("fitness_std"),
                   timesteps=data.get("timesteps"), search_fitness=data.get("search_fitness"),
                   normalized=data.get("normalized"))


@dataclass(frozen=True)
class FinalSummary:
    """The final multi-seed scoring of a run (final.py; meta ``final``): the fresh seeds, the budget,
    every reward's entry, the best one's id, and the fitness pair normalization divides by (None when
    the baseline and the sparse reward scored the same or one is missing)."""

    seeds: list[int]
    timesteps: int | None
    entries: list[FinalEntry]
    best: str | None
    normalization: dict | None = None  # {"baseline": fitness mean, "sparse": fitness mean}

    def entry(self, subject: str) -> FinalEntry | None:
        return next((e for e in self.entries if e.id == subject), None)

    def by_role(self, role: str) -> FinalEntry | None:
        return next((e for e in self.entries if e.role == role), None)

    def to_json(self) -> dict:
        return {"seeds": list(self.seeds), "timesteps": self.timesteps,
                "entries": [e.to_json() for e in self.entries], "best": self.best,
                "normalization": None if self.normalization is None else dict(self.normalization)}

    @classmethod
    def from_json(cls, data: dict) -> "FinalSummary":
        what = "the stored final scoring (meta 'final')"
        return cls(seeds=list(_need(data, "seeds", what)), timesteps=data.get("timesteps"),
                   entries=[FinalEntry.from_json(e) for e in _need(data, "entries", what)],
                   best=data.get("best"), normalization=data.get("normalization"))
