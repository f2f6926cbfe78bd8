"""Scoring a reward on recorded trajectories, without any RL (parent side).

``replay`` sends the code and the trajectories to a sandboxed ``replay`` job
(``rewardsmith.sandbox.replay``) and gives, per episode, the reward's total and components on every
step, each number checked here. Used to screen candidates on recorded trajectories (CARD-style) and
to attach components to the trusted evaluation episodes for the analyzer.

A trajectory is a ``records.Trajectory`` (what the evaluation job records): ``fields`` (name -> one
row per visited state), ``obs`` (one row per visited state) and ``actions`` (one row per step) are
sent. Trajectories stored before release 0.2 have no ``obs``: there, a reward that reads ``state.obs``
fails with a message naming it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import untrusted
from ..errors import RewardCodeError
from ..host.launch import Limits, run_job
from ..archive.records import Trajectory
from ..task import Task

MAX_STEPS = 2_000_000  # recorded steps one replay job takes


@dataclass
class ReplayedEpisode:
    """The reward on one recorded episode."""

    rewards: list[float]                 # one per step
    components: dict[str, list[float]]   # term -> one value per step


def _steps(task: Task, trajectory: Trajectory, index: int) -> int:
    """The step count of a well-formed trajectory; ValueError says what is wrong with it."""
    if not isinstance(trajectory, Trajectory):
        raise ValueError(f"trajectory {index + 1} is a {type(trajectory).__name__}; expected a Trajectory")
    actions, obs, fields = trajectory.actions, trajectory.obs, trajectory.fields
    if not isinstance(actions, list) or not isinstance(fields, dict) or not isinstance(obs, (list, type(None))):
        raise ValueError(f"trajectory {index + 1} needs 'fields' (dict), 'actions' and 'obs' (lists)")
    steps = len(actions)
    if obs is not None and len(obs) != steps + 1:
        raise ValueError(f"trajectory {index + 1} has {len(obs)} obs rows for {steps} actions; expected {steps + 1}")
    for name, rows in fields.items():
        if name not in task.fields:
            raise ValueError(f"trajectory {index + 1} records {name!r}, which is not a field of task {task.name!r}")
        if not isinstance(rows, list) or len(rows) != steps + 1:
            raise ValueError(f"trajectory {index + 1}: field {name!r} has "
                             f"{len(rows) if isinstance(rows, list) else 'no'} rows; expected {steps + 1}")
    return steps


def replay(task: Task, code: str, trajectories: list[Trajectory],
           limits: Limits | None = None) -> list[ReplayedEpisode]:
    """``code``'s reward on every step of ``trajectories``. RewardCodeError names the episode and step
    where the reward failed; SandboxError says when the job itself failed (limits, protocol)."""
    steps = [_steps(task, t, i) for i, t in enumerate(trajectories)]
    if sum(steps) > MAX_STEPS:
        raise ValueError(f"{sum(steps)} recorded steps in one replay; at most {MAX_STEPS}")
    job = {"kind": "replay", "task_path": str(task.path), "code": code,
           "trajectories": [{"fields": t.fields, **({"obs": t.obs} if t.obs is not None else {}), "actions": t.actions}
                            for t in trajectories]}
    limits = limits or Limits(wall_seconds=60.0 + sum(steps) / 500.0, memory_mb=2048)
    result = untrusted.mapping(run_job(job, limits), "the replay result")
    if "error" in result:
        message = untrusted.text(result["error"], "the replay error")
        raise RewardCodeError(message)
    episodes = result.get("episodes")
    if not isinstance(episodes, list) or len(episodes) != len(trajectories):
        raise untrusted.violation(f"{len(episodes) if isinstance(episodes, list) else 'no'} replayed episodes",
                                  f"{len(trajectories)}")
    replayed = []
    for i, (episode, n) in enumerate(zip(episodes, steps)):
        episode = untrusted.mapping(episode, f"replayed episode {i + 1}")
        replayed.append(ReplayedEpisode(
            rewards=untrusted.numbers(episode.get("rewards"), f"the rewards of replayed episode {i + 1}", n),
            components=untrusted.components(episode.get("components"), f"replayed episode {i + 1}", n)))
    return replayed
