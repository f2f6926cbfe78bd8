"""Training and scoring a reward (parent side): PPO in a sandboxed child, fitness over seeds.

``train_once`` runs one seed in its own killable process (``rewardsmith.sandbox.train`` is the child's side);
``train`` runs several seeds, ``workers`` at a time, and gives a ``Score`` with mean ± std fitness.
"""

from __future__ import annotations

import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .errors import SandboxError, TrainingError
from .launch import Limits, run_job
from .task import Task

DEFAULT_MEMORY_MB = 4096


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
class SeedResult:
    """What one training run of one seed produced."""

    seed: int
    fitness: float
    episode_fitness: list[float]
    timesteps: int
    steps_per_second: float
    train_seconds: float
    snapshots: list[dict]
    episodes: list[dict]
    trajectories: list[dict] = field(default_factory=list)
    stopped_early: str | None = None
    checkpoint: dict | None = None
    log_tail: str = ""
    trained_steps: int | None = None  # steps this leg trained (less than ``timesteps`` when resumed)
    worker: dict | None = None        # where it ran when not in a local thread (e.g. the Ray node)
    wall_seconds: float | None = None  # start-up, training and evaluation, as the executor saw it

    @classmethod
    def from_child(cls, data: dict) -> "SeedResult":
        return cls(
            seed=data["seed"], fitness=data["fitness"], episode_fitness=data["episode_fitness"],
            timesteps=data["timesteps"], steps_per_second=data["steps_per_second"],
            train_seconds=data["train_seconds"], snapshots=data["snapshots"], episodes=data["episodes"],
            trajectories=data.get("trajectories", []), stopped_early=data.get("stopped_early"),
            checkpoint=data.get("checkpoint"), log_tail=data.get("log_tail", ""),
            trained_steps=data.get("trained_steps"), worker=data.get("worker"),
            wall_seconds=data.get("wall_seconds"),
        )


@dataclass
class Score:
    """Fitness of one reward over seeds, plus what training looked like."""

    mean: float
    std: float
    seeds: list[int]
    timesteps: int
    runs: list[SeedResult]

    @classmethod
    def of(cls, runs: list[SeedResult]) -> "Score":
        values = [r.fitness for r in runs]
        return cls(mean=statistics.fmean(values), std=statistics.pstdev(values) if len(values) > 1 else 0.0,
                   seeds=[r.seed for r in runs], timesteps=max(r.timesteps for r in runs), runs=runs)

    @property
    def steps_per_second(self) -> float:
        return statistics.fmean(r.steps_per_second for r in self.runs)

    def component_summary(self) -> dict[str, dict]:
        """Per component: the mean per step at the last snapshot (averaged over seeds), and its series."""
        summary = {}
        for run in self.runs:
            for i, snap in enumerate(run.snapshots):
                for name, value in snap["components"].items():
                    entry = summary.setdefault(name, {"series": [[] for _ in run.snapshots]})
                    if i < len(entry["series"]):
                        entry["series"][i].append(value)
        for entry in summary.values():
            entry["series"] = [statistics.fmean(v) if v else math.nan for v in entry["series"]]
            entry["final"] = entry["series"][-1] if entry["series"] else math.nan
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
    """Trains one seed in a sandboxed process; TrainingError says why when it produces no policy."""
    job = job_for(task, code, seed, budget, **options)
    limits = Limits(wall_seconds=budget.wall_seconds(), memory_mb=budget.memory_mb)

    def forward(event):
        if on_progress is not None and event.get("event") == "progress":
            on_progress(seed, event["snapshot"])

    started = time.monotonic()
    try:
        result = SeedResult.from_child(run_job(job, limits, forward))
    except SandboxError as exc:
        blame = "the reward code" if exc.kind in ("RewardCodeError", "UnknownFieldError") else "the training process"
        raise TrainingError(f"training seed {seed} failed ({blame}): {exc}") from exc
    result.wall_seconds = time.monotonic() - started
    return result


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
