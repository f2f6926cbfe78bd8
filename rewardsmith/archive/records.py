"""The records that pass between stages: what the critic judged, what training reports, what evaluation
measured, what each successive-halving leg left and what halving decided (for a pool and for each
candidate), what screening judged, what the archive keeps of a scored candidate and how long it trained,
and what final scoring concluded.

Inside the program these are dataclasses read by attribute. They become JSON only at an edge: a
sandboxed child's output (checked field by field in ``trainer.py`` / ``untrusted.py`` before a record is
built), a Ray worker's reply, the run store's JSON columns and meta (a candidate's ``verdict``,
``result``, ``analysis`` and ``timings``, a halving leg's outcome and result, a final-scoring seed's
result, the meta ``final``) and the ``halving_decision`` event. ``to_json`` gives exactly the JSON the
release before these records wrote (same keys, same order; release 0.1.0 put a snapshot's "elapsed" and
an episode's "return" elsewhere), and ``from_json`` reads what any release stored; a stored value that
lacks a field is a RunStoreError naming it. These records import nothing of the rest of rewardsmith but
``errors``, so every stage (and the store) can use them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..errors import RunStoreError


def _need(data, key: str, what: str):
    """``data[key]`` of a stored JSON object, or a RunStoreError naming the field and the record."""
    if not isinstance(data, dict):
        raise RunStoreError(f"{what} is stored as a {type(data).__name__}; expected a JSON object")
    if key not in data:
        raise RunStoreError(f"{what} has no {key!r} field (stored keys: {', '.join(map(str, data)) or 'none'})")
    return data[key]


class _Plain:
    """A record stored as a JSON object with one key for each field, in field order, every one required:
    the field's name, or ``KEYS[name]`` where the stored key differs. A field named in ``RECORDS`` holds
    a record, one in ``TABLES`` a ``{name: record}`` table of them and one in ``LISTS`` a list of them;
    ``WHAT`` names the record in a RunStoreError."""

    WHAT = "a stored record"
    KEYS: dict = {}
    RECORDS: dict = {}
    TABLES: dict = {}
    LISTS: dict = {}

    def to_json(self) -> dict:
        return {self.KEYS.get(f.name, f.name): self._stored(f.name, getattr(self, f.name)) for f in fields(self)}

    def _stored(self, name: str, value):
        if name in self.RECORDS:
            return value.to_json()
        if name in self.TABLES:
            return {key: record.to_json() for key, record in value.items()}
        if name in self.LISTS:
            return [record.to_json() for record in value]
        return _copy(value)

    @classmethod
    def from_json(cls, data: dict):
        return cls(**{f.name: cls._read(f.name, _need(data, cls.KEYS.get(f.name, f.name), cls.WHAT))
                      for f in fields(cls)})

    @classmethod
    def _read(cls, name: str, stored):
        """One field's value from its stored JSON."""
        if name in cls.RECORDS:
            return cls.RECORDS[name].from_json(stored)
        if name in cls.TABLES or name in cls.LISTS:
            kind = dict if name in cls.TABLES else list
            if not isinstance(stored, kind):
                raise RunStoreError(f"{cls.WHAT}'s {name!r} is a {type(stored).__name__}; expected a JSON "
                                    f"{'object' if kind is dict else 'array'}")
            if kind is dict:
                return {key: cls.TABLES[name].from_json(v) for key, v in stored.items()}
            return [cls.LISTS[name].from_json(v) for v in stored]
        return _copy(stored)


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


# --------------------------------------------------------------------------- the critic's verdict


@dataclass(frozen=True)
class ComponentStats(_Plain):
    """One reward component over the critic's random-policy transitions: its mean, std, min and max."""

    WHAT = "a stored critic component statistic"

    mean: float
    std: float
    min: float
    max: float


@dataclass(frozen=True)
class ProbeStats(_Plain):
    """What the critic measured calling a reward on random-policy transitions (critic.py, its sandboxed
    probe): how many calls, the mean time per call (ms, the first call left out), the total reward's
    range, mean and std, and each component's statistics."""

    WHAT = "a stored critic probe"
    TABLES = {"components": ComponentStats}

    calls: int
    mean_call_ms: float
    total_min: float
    total_max: float
    total_mean: float
    total_std: float
    components: dict[str, ComponentStats]


@dataclass(frozen=True)
class CriticVerdict:
    """The critic's verdict as a candidate keeps it (``Candidate.verdict``; ``critic.Verdict.record``):
    every reason it rejected the code and every warning, as the text the designer and the person read,
    and what its probe measured (None when the code was rejected before the probe finished; stored as
    an empty object)."""

    errors: list[str]
    warnings: list[str]
    stats: ProbeStats | None = None

    def to_json(self) -> dict:
        return {"errors": list(self.errors), "warnings": list(self.warnings),
                "stats": {} if self.stats is None else self.stats.to_json()}

    @classmethod
    def from_json(cls, data: dict) -> "CriticVerdict":
        what = "a stored critic verdict"
        stats = _need(data, "stats", what)
        return cls(errors=list(_need(data, "errors", what)), warnings=list(_need(data, "warnings", what)),
                   stats=ProbeStats.from_json(stats) if stats else None)


# --------------------------------------------------------------------------- successive halving


@dataclass(frozen=True)
class Leg:
    """One finished leg of successive halving: one seed of a candidate trained up to one rung (the
    store's ``legs`` table): the rung's target, the steps reached, the evaluated fitness (mean and per
    episode; per episode is None in a leg release 0.1.0 kept), what this leg alone trained and took, the
    evaluation's env steps, this leg's training snapshots, and the seed's result at that rung (None
    where 0.1.0 kept only the last leg's)."""

    target: int
    timesteps: int
    fitness: float
    trained_steps: int
    train_seconds: float
    wall_seconds: float
    evaluation_steps: int
    snapshots: list[Snapshot]
    episode_fitness: list[float] | None = None
    result: SeedResult | None = None

    RESULT_FIELDS_LEFT_OUT = ("checkpoint",)  # the policy lives in its checkpoint file

    def to_json(self) -> dict:
        """The leg's stored outcome (the result is a column of its own: ``result_json``)."""
        out = {"target": self.target, "timesteps": self.timesteps, "fitness": self.fitness}
        if self.episode_fitness is not None:
            out["episode_fitness"] = list(self.episode_fitness)
        out.update(trained_steps=self.trained_steps, train_seconds=self.train_seconds,
                   wall_seconds=self.wall_seconds, evaluation_steps=self.evaluation_steps,
                   snapshots=[s.to_json() for s in self.snapshots])
        return out

    def result_json(self) -> dict | None:
        return None if self.result is None else self.result.to_json(leave_out=self.RESULT_FIELDS_LEFT_OUT)

    @classmethod
    def from_json(cls, outcome: dict, result: dict | None = None) -> "Leg":
        what = "a stored halving leg"
        episode_fitness = outcome.get("episode_fitness") if isinstance(outcome, dict) else None
        return cls(target=_need(outcome, "target", what), timesteps=_need(outcome, "timesteps", what),
                   fitness=_need(outcome, "fitness", what), trained_steps=_need(outcome, "trained_steps", what),
                   train_seconds=_need(outcome, "train_seconds", what),
                   wall_seconds=_need(outcome, "wall_seconds", what),
                   evaluation_steps=_need(outcome, "evaluation_steps", what),
                   snapshots=[Snapshot.from_json(s) for s in _need(outcome, "snapshots", what)],
                   episode_fitness=None if episode_fitness is None else list(episode_fitness),
                   result=None if result is None else SeedResult.from_json(result))


@dataclass(frozen=True)
class RungDecision(_Plain):
    """What successive halving decided at one rung a candidate reached, as the candidate keeps it:
    the rung, its target steps, the action ("cut" or "promote"), whether this candidate went on, and
    why (the cut rule's numbers in words)."""

    WHAT = "a stored halving decision"

    rung: int
    timesteps: int
    action: str
    kept: bool
    reason: str


@dataclass(frozen=True)
class HalvingDecision:
    """What successive halving decided for a whole pool at one rung (schedule.py: the cut rule's or a
    textbook cut's answer, ``PoolTrainer.decisions``, the ``halving_decision`` event): the rung, the
    action ("cut" or "promote") and why, and the rung's target steps once the pool names it. The cut
    rule adds each ranked candidate's score and noise there (rounded to 6 places) and the random
    policy's fitness; a cut adds who was kept, and the cut rule's cut the closest call's gap (None when
    infinite) and the noise it had to clear. The textbook cut (``schedule.top_of``) keeps no scores."""

    rung: int
    action: str
    reason: str
    timesteps: int | None = None
    scores: dict[str, float] | None = None
    noise: dict[str, float] | None = None
    random_fitness: float | None = None
    kept: list[str] | None = None
    gap: float | None = None
    needed: float | None = None

    def concerns(self, cid: str) -> bool:
        """Whether ``cid`` was among the candidates ranked at this rung (a textbook cut keeps no scores:
        every candidate still in the pool)."""
        return self.scores is None or cid in self.scores

    def for_candidate(self, rung: int) -> RungDecision:
        """This decision as a candidate that ended at ``rung`` keeps it: it went on from every earlier
        rung, and from its last one only when everyone was promoted."""
        return RungDecision(rung=self.rung, timesteps=self.timesteps, action=self.action,
                            kept=self.rung < rung or self.rung == rung and self.action == "promote",
                            reason=self.reason)

    def to_json(self) -> dict:
        """The event's JSON (after the pool): the keys this decision has, in the order the cut rule
        wrote them."""
        out = {"rung": self.rung}
        if self.scores is not None:
            out.update(scores=dict(self.scores), noise=dict(self.noise), random_fitness=self.random_fitness)
        out["action"] = self.action
        if self.kept is not None:
            out["kept"] = list(self.kept)
        if self.needed is not None:
            out.update(gap=self.gap, needed=self.needed)
        out["reason"] = self.reason
        if self.timesteps is not None:
            out["timesteps"] = self.timesteps
        return out

    @classmethod
    def from_json(cls, data: dict) -> "HalvingDecision":
        """A stored ``halving_decision`` event's data (its "pool" left to the caller)."""
        what = "a stored pool halving decision"
        scores = data.get("scores") if isinstance(data, dict) else None
        return cls(rung=_need(data, "rung", what), action=_need(data, "action", what),
                   reason=_need(data, "reason", what), timesteps=data.get("timesteps"),
                   scores=None if scores is None else dict(scores),
                   noise=None if scores is None else dict(_need(data, "noise", what)),
                   random_fitness=data.get("random_fitness"),
                   kept=None if data.get("kept") is None else list(data["kept"]), gap=data.get("gap"),
                   needed=data.get("needed"))


@dataclass(frozen=True)
class HalvingRecord:
    """A candidate's successive halving (``CandidateResult.halving``, schedule.py): the rung it ended at,
    the pool's rung targets and eta, its score and its score's noise at each rung it was scored at, the
    decisions at the rungs it reached, and whether it stopped before the full budget. Release 0.1.0
    kept neither noise nor decisions (None here)."""

    rung: int
    rungs: list[int]
    eta: int
    history: dict[int, float]
    stopped_early: bool
    noise: dict[int, float] | None = None
    decisions: list[RungDecision] | None = None

    def to_json(self) -> dict:
        """Stored with the rungs as string keys, in rung order."""
        out = {"rung": self.rung, "rungs": list(self.rungs), "eta": self.eta, "history": _by_rung(self.history)}
        if self.noise is not None:
            out["noise"] = _by_rung(self.noise)
        if self.decisions is not None:
            out["decisions"] = [d.to_json() for d in self.decisions]
        out["stopped_early"] = self.stopped_early
        return out

    @classmethod
    def from_json(cls, data: dict) -> "HalvingRecord":
        what = "a stored halving record"
        noise, decisions = (data.get("noise"), data.get("decisions")) if isinstance(data, dict) else (None, None)
        return cls(rung=_need(data, "rung", what), rungs=list(_need(data, "rungs", what)), eta=_need(data, "eta", what),
                   history=_rung_keys(_need(data, "history", what)),
                   stopped_early=_need(data, "stopped_early", what),
                   noise=None if noise is None else _rung_keys(noise),
                   decisions=None if decisions is None else [RungDecision.from_json(d) for d in decisions])


def _by_rung(values: dict[int, float]) -> dict[str, float]:
    return {str(r): v for r, v in sorted(values.items())}


def _rung_keys(stored: dict[str, float]) -> dict[int, float]:
    return {int(r): v for r, v in stored.items()}


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
class Timings:
    """How long a scored candidate's training took (``Candidate.timings``), summed over its seeds: wall
    time as the executor saw it (start-up, training and evaluation), training time alone, and the mean
    training speed in env steps per second. Runs before release 0.1.0 kept only the wall time of a
    failed training (the others None, and left out of the stored object)."""

    wall_seconds: float
    train_seconds: float | None = None
    steps_per_second: float | None = None

    def to_json(self) -> dict:
        out = {"wall_seconds": self.wall_seconds}
        if self.train_seconds is not None:
            out["train_seconds"] = self.train_seconds
        if self.steps_per_second is not None:
            out["steps_per_second"] = self.steps_per_second
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Timings":
        what = "a stored candidate's timings"
        return cls(wall_seconds=_need(data, "wall_seconds", what), train_seconds=data.get("train_seconds"),
                   steps_per_second=data.get("steps_per_second"))


@dataclass(frozen=True)
class ScreeningRow(_Plain):
    """One recorded episode screening judged on, as the verdict's table shows it: where it came from
    ("random", "baseline c0", a candidate's id), its fitness, its length and the reward's return on it
    (stored as "return")."""

    WHAT = "a stored screening table row"
    KEYS = {"reward_return": "return"}

    source: str
    fitness: float
    steps: int
    reward_return: float


@dataclass(frozen=True)
class ScreeningRecord:
    """What screening judged a reward on (screening.py; ``CandidateResult.screening``): whether it
    passed, how many recorded episodes, and, when it was judged by the preference test, the clearly
    ordered pairs and the share it ranks right (overall and against the random policy's episodes; None
    with no such pair), the Spearman rho of return against fitness, the fitness margin a pair needs and
    the table of episodes. ``table`` is None when it was not judged: fewer than two distinct fitnesses
    (``pairs`` 0), or the reward failed on a recorded episode (``pairs`` None)."""

    passed: bool
    episodes: int
    pairs: int | None = None
    agreement: float | None = None
    pairs_vs_random: int | None = None
    agreement_vs_random: float | None = None
    spearman: float | None = None
    margin: float | None = None
    table: list[ScreeningRow] | None = None

    JUDGED = ("agreement", "pairs_vs_random", "agreement_vs_random", "spearman", "margin")

    def to_json(self) -> dict:
        out = {"passed": self.passed, "episodes": self.episodes}
        if self.pairs is not None:
            out["pairs"] = self.pairs
        if self.table is not None:
            out.update({key: getattr(self, key) for key in self.JUDGED})
            out["table"] = [row.to_json() for row in self.table]
        return out

    @classmethod
    def from_json(cls, data: dict) -> "ScreeningRecord":
        what = "a stored screening verdict"
        passed, episodes = _need(data, "passed", what), _need(data, "episodes", what)
        if "table" not in data:
            return cls(passed=passed, episodes=episodes, pairs=data.get("pairs"))
        return cls(passed=passed, episodes=episodes, pairs=_need(data, "pairs", what),
                   **{key: _need(data, key, what) for key in cls.JUDGED},
                   table=[ScreeningRow.from_json(row) for row in data["table"]])


@dataclass(frozen=True)
class CandidateResult:
    """What the archive keeps of a candidate's training (``Candidate.result``): each seed's result
    (without trajectories, checkpoint and log, which live in files), each component's trend, the
    fraction of the search budget its fitness was measured at, and, when they happened, its screening
    verdict and evidence, its successive-halving record (rung scores and decisions) and its
    confirmation seed. A candidate rejected by screening has only
    ``budget_fraction`` (0) and ``screening``."""

    runs: list[SeedResult] | None = None
    components: dict[str, ComponentTrend] | None = None
    screening: ScreeningRecord | None = None
    budget_fraction: float | None = None
    halving: HalvingRecord | None = None
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
            out["screening"] = self.screening.to_json()
        if self.runs is not None and self.budget_fraction is not None:
            out["budget_fraction"] = self.budget_fraction
        if self.halving is not None:
            out["halving"] = self.halving.to_json()
        if self.confirmation is not None:
            out["confirmation"] = self.confirmation.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict) -> "CandidateResult":
        if not isinstance(data, dict):
            raise RunStoreError(f"a stored candidate result is a {type(data).__name__}; expected a JSON object")
        runs, components, confirmation = data.get("runs"), data.get("components"), data.get("confirmation")
        screening, halving = data.get("screening"), data.get("halving")
        return cls(runs=None if runs is None else [SeedResult.from_json(r) for r in runs],
                   components=None if components is None else
                   {name: ComponentTrend.from_json(c) for name, c in components.items()},
                   screening=None if screening is None else ScreeningRecord.from_json(screening),
                   budget_fraction=data.get("budget_fraction"),
                   halving=None if halving is None else HalvingRecord.from_json(halving),
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

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Finding":
        """A stored finding (release 0.1.0's may lack ``brief`` and ``subjects``)."""
        what = "a stored finding"
        return cls(name=_need(data, "name", what), message=_need(data, "message", what),
                   evidence=_need(data, "evidence", what), **{k: data[k] for k in ("brief", "subjects") if k in data})


@dataclass(frozen=True)
class EvaluationMeans(_Plain):
    """Means over a candidate's evaluation episodes (``Analysis.evaluation``): how many episodes, their
    length, the candidate's reward summed over an episode (stored as "return"), the native return, and
    the reward per step (None with no step)."""

    WHAT = "a stored analysis's evaluation"
    KEYS = {"reward_return": "return"}

    episodes: int
    length: float | None
    reward_return: float | None
    native_return: float | None
    reward_per_step: float | None


@dataclass(frozen=True)
class ActionStats(_Plain):
    """How the trained policy acted in its recorded evaluation episodes (``Analysis.actions``): the action
    dimensions, sign flips per step, the fraction at the bounds and the mean |action| as a fraction of
    the half-range (each None when nothing was recorded to measure it on)."""

    WHAT = "a stored analysis's action statistics"

    dims: int | None
    flip_rate: float | None
    saturation: float | None
    mean_abs: float | None


@dataclass(frozen=True)
class TrainingCurves(_Plain):
    """A candidate's training snapshots as series, one value a snapshot averaged over seeds (None where
    no seed had one; ``Analysis.training``): the step, training episodes' fitness, return and length,
    and the reward and native reward per step."""

    WHAT = "a stored analysis's training series"

    step: list
    fitness: list
    episode_return: list
    episode_length: list
    reward_per_step: list
    native_per_step: list


@dataclass(frozen=True)
class FieldPath(_Plain):
    """One state field over one evaluation episode: its first, last, least, greatest and mean value (a
    vector field's norm) and how far it moved from its start at the most."""

    WHAT = "a stored episode's field summary"

    first: float
    last: float
    min: float
    max: float
    mean: float
    displacement: float | None


@dataclass(frozen=True)
class EpisodeAnalysis(_Plain):
    """One evaluation episode as the analysis keeps it (``Analysis.episodes``): its seed and index, the
    task's fitness, its length, the candidate's reward summed over it (stored as "return"; None before
    it was replayed), the native return, how it ended ("terminated", "truncated" or "other") and each
    recorded state field's path (empty when no trajectory was kept)."""

    WHAT = "a stored analysis's episode"
    KEYS = {"reward_return": "return"}
    TABLES = {"fields": FieldPath}

    seed: int
    index: int
    fitness: float | None
    length: int
    reward_return: float | None
    native_return: float | None
    ended: str
    fields: dict[str, FieldPath]


@dataclass(frozen=True)
class ComponentCurve(_Plain):
    """One reward component's mean per step over training (``ComponentAnalysis.training``): the series
    (one value a snapshot, None where no seed had one) and its least, mean and greatest value."""

    WHAT = "a stored analysis's component series"

    series: list
    min: float | None
    mean: float | None
    max: float | None


@dataclass(frozen=True)
class ComponentAnalysis(_Plain):
    """One reward component as the analysis keeps it (``Analysis.components``): its series over training,
    where its evaluation figures come from ("evaluation": the kept evaluation episodes; "training": the
    last snapshot, when none was kept), its mean per step, its sign ("+", "-", "±" or "0"), its
    correlation with the episodes' fitness (None with too few episodes) and its share of the reward's
    magnitude."""

    WHAT = "a stored analysis's component"
    RECORDS = {"training": ComponentCurve}

    training: ComponentCurve
    source: str
    mean_per_step: float | None
    sign: str
    fitness_corr: float | None
    share: float | None


@dataclass(frozen=True)
class FieldSummary(_Plain):
    """One state field over all recorded evaluation states (``Analysis.fields``): its unit, whether the
    figures are of the value or of a vector's norm ("scalar" or "norm"), its least value, quartiles,
    greatest value and mean."""

    WHAT = "a stored analysis's field summary"

    unit: str
    kind: str
    min: float
    q25: float
    median: float
    q75: float
    max: float
    mean: float


@dataclass
class Analysis(_Plain):
    """Everything measured about one scored candidate (analyzer.py; ``Candidate.analysis``);
    ``to_dict``/``from_dict`` round-trip through JSON."""
    fitness: float
    fitness_std: float
    seeds: list[int]
    timesteps: int
    max_steps: int | None
    termination: str  # what the environment ending an episode means here: "failure" or "success"
    evaluation: EvaluationMeans
    episodes: list[EpisodeAnalysis]
    components: dict[str, ComponentAnalysis]
    fields: dict[str, FieldSummary]
    actions: ActionStats
    training: TrainingCurves
    findings: list[Finding]
    diagnosis: str | None = None  # an LLM analyst's text, when --llm-analyzer is on

    WHAT = "a stored analysis"
    RECORDS = {"evaluation": EvaluationMeans, "actions": ActionStats, "training": TrainingCurves}
    TABLES = {"components": ComponentAnalysis, "fields": FieldSummary}
    LISTS = {"episodes": EpisodeAnalysis, "findings": Finding}

    def to_dict(self) -> dict:
        return self.to_json()

    @classmethod
    def from_dict(cls, data: dict) -> "Analysis":
        """A stored analysis (keys this release does not know are ignored; ``diagnosis`` may be absent)."""
        if not isinstance(data, dict):
            raise RunStoreError(f"a stored analysis is a {type(data).__name__}; expected a JSON object")
        missing = [f.name for f in fields(cls) if f.name not in data and f.name != "diagnosis"]
        if missing:
            raise RunStoreError(f"a stored analysis has no {', '.join(map(repr, missing))} field")
        known = {f.name for f in fields(cls)}
        return cls(**{k: cls._read(k, v) for k, v in data.items() if k in known})

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
class FinalRun:
    """One seed of the final scoring (the store's ``final`` table): whose reward (a candidate's id, or
    "sparse") in which role, the fresh seed, whether it scored or failed (and why), its fitness, steps
    and steps trained, the seed's result (kept as a candidate's runs are: without trajectories,
    checkpoint and log) and when the store recorded it (None before)."""

    subject: str
    role: str
    seed: int
    status: str
    fitness: float | None = None
    timesteps: int | None = None
    steps_spent: int | None = None
    reason: str | None = None
    result: SeedResult | None = None
    created: float | None = None

    def result_json(self) -> dict | None:
        """The row's stored result."""
        return None if self.result is None else \
            self.result.to_json(leave_out=CandidateResult.STORED_RUN_FIELDS_LEFT_OUT)

    @classmethod
    def from_json(cls, row: dict) -> "FinalRun":
        """A row of the ``final`` table, its result column read as JSON."""
        what = "a stored final-scoring run"
        result = row.get("result") if isinstance(row, dict) else None
        return cls(subject=_need(row, "subject", what), role=_need(row, "role", what), seed=_need(row, "seed", what),
                   status=_need(row, "status", what), fitness=row.get("fitness"), timesteps=row.get("timesteps"),
                   steps_spent=row.get("steps_spent"), reason=row.get("reason"),
                   result=None if result is None else SeedResult.from_json(result), created=row.get("created"))


@dataclass(frozen=True)
class FinalSummary:
    """The final multi-seed scoring of a run (final.py; meta ``final``): the fresh seeds, the budget,
    every reward's entry, the best one's id (selection.final_best), and the fitness pair normalization
    divides by (None when the baseline and the sparse reward are within their noise or one is missing;
    ``normalization_note`` then says which, selection.normalization)."""

    seeds: list[int]
    timesteps: int | None
    entries: list[FinalEntry]
    best: str | None
    normalization: dict | None = None  # {"baseline": fitness mean, "sparse": fitness mean}
    normalization_note: str | None = None  # why there is no normalization (selection.normalization)

    def entry(self, subject: str) -> FinalEntry | None:
        return next((e for e in self.entries if e.id == subject), None)

    def by_role(self, role: str) -> FinalEntry | None:
        return next((e for e in self.entries if e.role == role), None)

    def to_json(self) -> dict:
        return {"seeds": list(self.seeds), "timesteps": self.timesteps,
                "entries": [e.to_json() for e in self.entries], "best": self.best,
                "normalization": None if self.normalization is None else dict(self.normalization),
                **({"normalization_note": self.normalization_note} if self.normalization_note else {})}

    @classmethod
    def from_json(cls, data: dict) -> "FinalSummary":
        what = "the stored final scoring (meta 'final')"
        return cls(seeds=list(_need(data, "seeds", what)), timesteps=data.get("timesteps"),
                   entries=[FinalEntry.from_json(e) for e in _need(data, "entries", what)],
                   best=data.get("best"), normalization=data.get("normalization"),
                   normalization_note=data.get("normalization_note"))
