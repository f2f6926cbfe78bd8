"""Training and scoring a reward (parent side): PPO in a sandboxed child, fitness over seeds.

``train_once`` runs one seed as three sandboxed jobs: ``train`` (PPO on the candidate's reward; gives
the policy as plain numbers; the learner never loads candidate code: the reward comes from a reward
process beside it, ``launch.run_with_reward_process``), ``evaluate`` (a fresh process that never loads candidate code rolls the
policy out and computes the task's fitness: the only fitness selection sees), and ``replay`` (the
reward on those evaluation episodes, for the analyzer's components and returns). Every number a
child sends is checked first (``rewardsmith.untrusted``). ``train`` runs several seeds, ``workers``
at a time, and gives a ``Score`` with mean ± std fitness.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from .. import untrusted
from ..errors import RewardCodeError, SandboxError, TrainingError
from ..host.launch import Limits, run_job, run_with_reward_process
from ..archive.records import ComponentTrend, EpisodeSummary, SeedResult, Snapshot, Trajectory
from ..scoring.base import ScoreCard, Subject, ground_truth, score_cards
from .replay import replay
from ..sandbox.checkpoint import check as check_checkpoint, clean as clean_checkpoint
from ..sandbox.policy import NumpyPolicy, PolicyFormatError
from ..sandbox.rewardserver import fields_read_by
from ..task import Task

DEFAULT_MEMORY_MB = 4096
log = logging.getLogger(__name__)


@dataclass
class Budget:
    """How much one training may spend."""

    timesteps: int
    max_seconds: float | None = None  # soft: training stops early (and says so) past it
    memory_mb: int = DEFAULT_MEMORY_MB

    def wall_seconds(self) -> float:
        soft = self.max_seconds or (60.0 + self.timesteps / 150.0)
        return soft + 120.0  # evaluation and start-up on top; then the process is killed


@dataclass
class Score:
    """An evaluated reward over seeds, as the registered scorers judged it (``cards``, by scorer name:
    scoring/), plus what training looked like. ``mean`` and ``std`` are the ground truth's card: the
    fitness the run stores."""

    cards: dict[str, ScoreCard]
    seeds: list[int]
    timesteps: int
    runs: list[SeedResult]

    @classmethod
    def of(cls, runs: list[SeedResult], subject: str | None = None, preferences: list[dict] | tuple = ()) -> "Score":
        """The seeds' results judged by every registered scorer (``subject``: the candidate's id, where
        the reward is one; ``preferences``: the run's standing preferences, for scorers that read them)."""
        cards = score_cards(Subject(subject, runs=tuple(runs), preferences=tuple(preferences)))
        return cls(cards=cards, seeds=[r.seed for r in runs], timesteps=max(r.timesteps for r in runs), runs=runs)

    @property
    def mean(self) -> float:
        return ground_truth(self.cards).metrics["fitness"]

    @property
    def std(self) -> float:
        return ground_truth(self.cards).metrics["fitness_std"]

    @property
    def steps_per_second(self) -> float:
        return statistics.fmean(r.steps_per_second for r in self.runs)

    def component_summary(self) -> dict[str, ComponentTrend]:
        """Per component: its mean per step at each snapshot and at the last (averaged over seeds)."""
        values: dict[str, list[list[float]]] = {}
        for run in self.runs:
            for i, snap in enumerate(run.snapshots):
                for name, value in snap.components.items():
                    per_snapshot = values.setdefault(name, [[] for _ in run.snapshots])
                    if i < len(per_snapshot):
                        per_snapshot[i].append(value)
        summary = {}
        for name, per_snapshot in values.items():
            series = [statistics.fmean(v) if v else math.nan for v in per_snapshot]
            summary[name] = ComponentTrend(series=series, final=series[-1] if series else math.nan)
        return summary

    def label(self) -> str:
        return f"{self.mean:.4g} ± {self.std:.2g} over {len(self.seeds)} seed{'s' * (len(self.seeds) > 1)}"


def job_for(task: Task, code: str | None, seed: int, budget: Budget, *, settings: dict | None = None,
            checkpoint: dict | None = None, planned_total: int | None = None,
            return_checkpoint: bool = False, keep_trajectories: int = 0,
            eval_episodes: int | None = None) -> dict:
    base = {"n_envs": task.training.n_envs, "normalize": task.training.normalize,
            "eval_episodes": task.training.eval_episodes, "ppo": task.training.ppo}
    return {
        "kind": "train", "task_path": str(task.path), "code": code, "seed": seed,
        "timesteps": budget.timesteps, "planned_total": planned_total or budget.timesteps,
        "settings": {**base, **(settings or {})}, "max_seconds": budget.max_seconds,
        "checkpoint": checkpoint, "return_checkpoint": return_checkpoint,
        "keep_trajectories": keep_trajectories,
        "eval_episodes": eval_episodes or task.training.eval_episodes,
    }


def train_once(task: Task, code: str | None, seed: int, budget: Budget, on_progress=None, **options) -> SeedResult:
    """Trains one seed in a sandboxed process, then scores the policy in one that never loaded the
    reward; TrainingError says why when there is no score."""
    keep = int(options.get("keep_trajectories") or 0)
    episodes = int(options.get("eval_episodes") or task.training.eval_episodes)
    if options.get("checkpoint") is not None:
        try:
            check_checkpoint(options["checkpoint"])
        except PolicyFormatError as exc:  # e.g. rewardsmith 0.1's pickled models: never unpickled
            log.warning("seed %s trains afresh: its checkpoint cannot be resumed (%s)", seed, exc)
            options = {**options, "checkpoint": None}
    job = job_for(task, code, seed, budget, **options)
    limits = Limits(wall_seconds=budget.wall_seconds(), memory_mb=budget.memory_mb)

    def forward(event):
        if event.get("event") == "progress":
            snapshot = _snapshot(event.get("snapshot"))  # checked before anyone displays it
            if on_progress is not None:
                on_progress(seed, snapshot)

    started = time.monotonic()
    try:
        if code:
            try:
                reads = fields_read_by(code, ["obs", *task.fields])
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                reads = []  # the reward process fails to load it and says why
            result = run_with_reward_process(job, limits, forward, reads=reads)
        else:
            result = run_job(job, limits, forward)
        trained = _trained(result, bool(options.get("return_checkpoint")))
        evaluation = evaluate_policy(task, trained["policy"], seed, episodes,
                                     keep=episodes if code else keep)
    except SandboxError as exc:
        blame = "the reward code" if exc.kind in ("RewardCodeError", "UnknownFieldError") \
            or str(exc).startswith("the reward process failed") else "the training process"
        raise TrainingError(f"training seed {seed} failed ({blame}): {exc}") from exc
    summaries, trajectories = evaluation["episodes"], evaluation["trajectories"]
    if code:
        try:
            replayed = replay(task, code, trajectories)
        except (RewardCodeError, SandboxError) as exc:
            raise TrainingError(f"training seed {seed} failed (the reward code, on the evaluation episodes): "
                                f"{exc}") from exc
        summaries = [replace(summary, reward_return=math.fsum(episode.rewards))
                     for summary, episode in zip(summaries, replayed)]
        trajectories = [replace(trajectory, rewards=episode.rewards, components=episode.components)
                        for trajectory, episode in zip(trajectories, replayed)]
    else:
        summaries = [replace(summary, reward_return=summary.native_return) for summary in summaries]
        trajectories = [replace(trajectory, rewards=list(trajectory.native_rewards), components={})
                        for trajectory in trajectories]
    fitness = [s.fitness for s in summaries]
    seed_result = SeedResult(
        seed=seed, fitness=statistics.fmean(fitness), episode_fitness=fitness,
        timesteps=trained["timesteps"], steps_per_second=trained["steps_per_second"],
        train_seconds=trained["train_seconds"], snapshots=trained["snapshots"], episodes=summaries,
        trajectories=trajectories[:keep], stopped_early=trained["stopped_early"],
        checkpoint=trained.get("checkpoint"), log_tail=trained["log_tail"],
        trained_steps=trained["trained_steps"])
    seed_result.wall_seconds = time.monotonic() - started
    return seed_result


def evaluate_policy(task: Task, policy: dict, seed: int, episodes: int, keep: int = 0) -> dict:
    """The task's fitness of ``policy`` (plain numbers) over ``episodes`` deterministic episodes, from a
    sandboxed job that never loads candidate code: {"episodes": [EpisodeSummary...], "trajectories":
    [Trajectory...]} (the first ``keep`` episodes' rows), every number checked."""
    job = {"kind": "evaluate", "task_path": str(task.path), "policy": policy, "seed": int(seed),
           "episodes": int(episodes), "keep": int(keep)}
    steps = task.max_episode_steps or 1000
    limits = Limits(wall_seconds=60.0 + episodes * steps / 100.0, memory_mb=2048)
    result = untrusted.mapping(run_job(job, limits), "the evaluation result")
    summaries = result.get("episodes")
    if not isinstance(summaries, list) or len(summaries) != episodes:
        raise untrusted.violation("a wrong number of evaluation episodes", f"{episodes}")
    checked = [_episode_summary(s, f"evaluation episode {i + 1}") for i, s in enumerate(summaries)]
    trajectories = result.get("trajectories")
    if not isinstance(trajectories, list) or len(trajectories) != min(keep, episodes):
        raise untrusted.violation("a wrong number of evaluation trajectories", f"{min(keep, episodes)}")
    return {"episodes": checked,
            "trajectories": [_trajectory(t, f"evaluation trajectory {i + 1}") for i, t in enumerate(trajectories)]}


def _trajectory(value, what: str) -> Trajectory:
    """An evaluation episode's recorded rows, checked for shape (the replay job and the analyzer read
    the numbers as float arrays; the native rewards are checked here)."""
    data = untrusted.mapping(value, what)
    recorded = untrusted.mapping(data.get("fields"), f"'fields' of {what}")
    for key in ("actions", "obs"):
        if not isinstance(data.get(key), list):
            raise untrusted.violation(f"a {type(data.get(key)).__name__} as {key!r} of {what}", "a list of rows")
    steps = len(data["actions"])
    if len(data["obs"]) != steps + 1 or any(not isinstance(v, list) or len(v) != steps + 1 for v in recorded.values()):
        raise untrusted.violation(f"rows of another length in {what}", f"{steps + 1} per field and obs")
    bounds: dict[str, list[float | None]] = {}
    for key in ("action_low", "action_high"):
        if data.get(key) is not None:
            bounds[key] = [None if v is None else untrusted.number(v, f"an item of {key!r} of {what}")
                           for v in _list(data[key], f"{key!r} of {what}")]
    max_steps = data.get("max_steps")
    return Trajectory(
        fields={untrusted.text(k, f"a field name in {what}"): v for k, v in recorded.items()},
        obs=data["obs"], actions=data["actions"],
        native_rewards=untrusted.numbers(data.get("native_rewards"), f"'native_rewards' of {what}", steps),
        terminated=data.get("terminated") is True, truncated=data.get("truncated") is True,
        max_steps=None if max_steps is None else untrusted.count(max_steps, f"'max_steps' of {what}"),
        action_low=bounds.get("action_low"), action_high=bounds.get("action_high"))


def _list(value, what: str) -> list:
    if not isinstance(value, list):
        raise untrusted.violation(f"a {type(value).__name__} as {what}", "a list")
    return value


def _episode_summary(value, what: str) -> EpisodeSummary:
    """An evaluation episode's summary, checked (numbers finite, the length a count)."""
    data = untrusted.mapping(value, what)
    return EpisodeSummary(
        fitness=untrusted.number(data.get("fitness"), f"'fitness' of {what}"),
        length=untrusted.count(data.get("length"), f"'length' of {what}"),
        native_return=untrusted.number(data.get("native_return"), f"'native_return' of {what}"),
        terminated=data.get("terminated") is True, truncated=data.get("truncated") is True)


def _snapshot(value) -> Snapshot:
    """A training snapshot, checked (numbers finite, names identifiers); figures from the training child."""
    what = "a training snapshot"
    snap = untrusted.mapping(value, what)
    components = untrusted.mapping(snap.get("components"), f"'components' of {what}")
    optional = {key: None if snap.get(key) is None else untrusted.number(snap[key], f"{key!r} of {what}")
                for key in ("fitness", "episode_return", "episode_length")}
    return Snapshot(
        step=untrusted.count(snap.get("step"), f"'step' of {what}"),
        reward_per_step=untrusted.number(snap.get("reward_per_step"), f"'reward_per_step' of {what}"),
        native_per_step=untrusted.number(snap.get("native_per_step"), f"'native_per_step' of {what}"),
        components={k: v[0] for k, v in untrusted.components(
            {k: [v] for k, v in components.items()}, f"'components' of {what}", 1).items()},
        episodes=untrusted.count(snap.get("episodes"), f"'episodes' of {what}"),
        elapsed=untrusted.number(snap.get("elapsed"), f"'elapsed' of {what}", minimum=0),
        **optional)


def _trained(result, want_checkpoint: bool) -> dict:
    """The training job's result with every field checked: the policy and checkpoint decode to finite
    arrays of the right shapes; the figures are numbers. Anything else is a protocol SandboxError."""
    data = untrusted.mapping(result, "the training result")
    try:
        policy = NumpyPolicy(data.get("policy")).as_data()  # what was checked, nothing more
        checkpoint = clean_checkpoint(data.get("checkpoint")) if want_checkpoint else None
    except PolicyFormatError as exc:
        raise untrusted.violation(f"a policy or checkpoint that does not decode ({exc})",
                                  "finite float32 arrays of the policy's shapes") from None
    snapshots = data.get("snapshots")
    if not isinstance(snapshots, list) or len(snapshots) > 10_000:
        raise untrusted.violation("no list of snapshots", "a list of training snapshots")
    stopped = data.get("stopped_early")
    return {
        "policy": policy, "checkpoint": checkpoint,
        "timesteps": untrusted.count(data.get("timesteps"), "the step count"),
        "trained_steps": untrusted.count(data.get("trained_steps"), "the trained step count"),
        "train_seconds": untrusted.number(data.get("train_seconds"), "the training time", minimum=0),
        "steps_per_second": untrusted.number(data.get("steps_per_second"), "the training speed", minimum=0),
        "snapshots": [_snapshot(s) for s in snapshots],
        "stopped_early": None if stopped is None else untrusted.text(stopped, "the early-stop reason"),
        "log_tail": untrusted.text(data.get("log_tail", ""), "the log"),
    }


def train(task: Task, code: str | None, seeds: list[int], budget: Budget, workers: int = 1,
          on_progress=None, **options) -> Score:
    """Trains every seed (``workers`` at a time) and scores the reward over them."""
    if workers <= 1 or len(seeds) == 1:
        runs = [train_once(task, code, s, budget, on_progress, **options) for s in seeds]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(train_once, task, code, s, budget, on_progress, **options) for s in seeds]
            runs = [f.result() for f in futures]
    return Score.of(runs)
