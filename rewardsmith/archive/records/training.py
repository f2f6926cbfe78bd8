"""What training and evaluation report: snapshots, episode summaries, a seed's result, trajectories."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .codec import _copy, _need


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
                   elapsed=_need(data, "elapsed", what), fitness=_need(data, "fitness", what),
                   episode_return=_need(data, "episode_return", what),
                   episode_length=_need(data, "episode_length", what))


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
                   terminated=bool(_need(data, "terminated", what)), truncated=bool(_need(data, "truncated", what)),
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
    def from_json(cls, data: dict, held: dict | None = None) -> "SeedResult":
        """A result the store (or a Ray worker, which checked it) kept: every field, but the ones a
        place keeps elsewhere (``to_json``'s ``leave_out``: trajectories, checkpoint, log); fields this
        release does not know are ignored. ``held``: the values of fields the store keeps once in another
        place and so leaves out of the stored result (a leg's outcome, a final-scoring row's columns, a
        candidate's legs), as records (snapshots, episodes) or plain values."""
        what = "a stored training result"
        held = held or {}
        need = lambda key: _copy(held[key]) if key in held else _need(data, key, what)  # noqa: E731
        return cls(
            seed=need("seed"), fitness=need("fitness"), episode_fitness=list(need("episode_fitness")),
            timesteps=need("timesteps"), steps_per_second=need("steps_per_second"),
            train_seconds=need("train_seconds"), snapshots=list(held["snapshots"]) if "snapshots" in held else
            [Snapshot.from_json(s) for s in need("snapshots")],
            episodes=list(held["episodes"]) if "episodes" in held else
            [EpisodeSummary.from_json(e) for e in need("episodes")],
            trajectories=[Trajectory.from_json(t) for t in data.get("trajectories") or []],
            stopped_early=need("stopped_early"), checkpoint=data.get("checkpoint"),
            log_tail=data.get("log_tail", ""), trained_steps=need("trained_steps"), worker=need("worker"),
            wall_seconds=need("wall_seconds"))


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
