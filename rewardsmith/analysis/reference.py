"""The random policy's reference, measured once per run: ``EPISODES`` random-action episodes under one
seed rule (``random_trajectories``), recorded as evaluation episodes are and kept in the run directory
(``TRAJECTORIES``), their mean fitness (meta ``random_fitness``) and their spread. The analyzer's "no
better than random", screening's random-policy episodes and halving's cut and rung placement all read
this one measurement.

A run recorded before it was shared may hold only one half: the mean (meta ``random_fitness``, measured
then on other episodes) or the episodes. What is stored is kept (a resumed run does not move its
reference); the missing half is measured, or computed from the episodes, on first use.
"""

from __future__ import annotations

import copy
import hashlib
import statistics
import threading
from dataclasses import replace
from typing import cast

import numpy as np

from ..archive.records import Trajectory
from ..archive.store import RunStore, gzip_json, read_gzip_json, write_atomic
from ..task import Task

EPISODES = 5
TRAJECTORIES = "screening/random.traj.json.gz"  # where screening first kept them; old runs have it there


def reset_seed(seed: int, episode: int) -> int:
    """The environment seed of random episode ``episode`` of a run seeded ``seed`` (the one seed rule)."""
    return 20_000 + seed * 100 + episode


def recorded(episode, observations) -> Trajectory:
    """An episode ``sandbox.evaluate.run_episode`` rolled out, as the run keeps trajectories (rounded to
    6 places; no reward replayed on it yet)."""
    def plain(a):
        return np.asarray(a, dtype=float).round(6).tolist()

    return Trajectory(fields={k: plain(v) for k, v in episode.fields.items()}, obs=plain(observations),
                      actions=plain(episode.actions))


_ROLLED_OUT: dict[tuple, list[Trajectory]] = {}  # random_trajectories's results in this process, by _task_key
_ROLLED_OUT_LOCK = threading.Lock()
KEPT_ROLLOUTS = 8


def _task_key(task: Task) -> tuple | None:
    """What a task's random-policy episodes depend on: its file's content (environment, fields, fitness) and
    the settings loaded from it; None for a task with no file to read."""
    try:
        content = hashlib.sha256(task.path.read_bytes()).hexdigest()
    except (OSError, TypeError, AttributeError):
        return None
    return (str(task.path), content, task.env_id, repr(sorted(task.env_kwargs.items())), task.max_episode_steps)


def random_trajectories(task: Task, episodes: int = EPISODES, seed: int = 0) -> list[Trajectory]:
    """Random-action episodes of the task's environment (the action space seeded with ``seed``, episode
    ``i`` reset with ``reset_seed(seed, i)``), each with the task's fitness; no candidate code involved.
    Rolled out once per process for a task file's content, episode count and seed (about 0.3 s of CPU for
    mountain car's five; a process serving several runs of one task, or a test suite, asks again), and handed
    out as copies."""
    key = _task_key(task)
    if key is not None:
        key += (episodes, seed)
        with _ROLLED_OUT_LOCK:
            if key not in _ROLLED_OUT:
                _ROLLED_OUT[key] = _roll_out(task, episodes, seed)
                while len(_ROLLED_OUT) > KEPT_ROLLOUTS:  # the oldest goes (a locomotion task's are a few MB)
                    del _ROLLED_OUT[next(iter(_ROLLED_OUT))]
            return copy.deepcopy(_ROLLED_OUT[key])
    return _roll_out(task, episodes, seed)


def _roll_out(task: Task, episodes: int, seed: int) -> list[Trajectory]:
    from ..sandbox.evaluate import run_episode

    env = task.make_env()
    env.action_space.seed(seed)
    out = []
    try:
        for i in range(episodes):
            episode, observations = run_episode(task, env, lambda obs: env.action_space.sample(),
                                                reset_seed(seed, i))
            out.append(replace(recorded(episode, observations), fitness=float(task.fitness(episode))))
    finally:
        env.close()
    return out


class RandomReference:
    """The run's random-policy reference (see the module doc), measured on first use and kept in the run
    store: ``episodes`` (the trajectories, each with its fitness), ``fitness`` (their mean) and
    ``spread`` (their population std)."""

    def __init__(self, store: RunStore, task: Task, seed: int):
        self.store, self.task, self.seed = store, task, seed
        self._lock = threading.Lock()
        self._episodes: list[Trajectory] | None = None

    def episodes(self) -> list[Trajectory]:
        """The random-policy episodes, rolled out once per run (kept as ``TRAJECTORIES``)."""
        with self._lock:
            if self._episodes is None:
                path = self.store.root / TRAJECTORIES
                if path.is_file():
                    self._episodes = [Trajectory.from_json(t) for t in read_gzip_json(path)]
                else:
                    self._episodes = random_trajectories(self.task, EPISODES, self.seed)
                    write_atomic(path, gzip_json([t.to_json() for t in self._episodes]))
            return self._episodes

    def fitness(self) -> float:
        """The task's mean fitness under random actions (meta ``random_fitness``; the episodes' mean,
        stored on first use)."""
        value = self.store.meta("random_fitness")
        if value is None:
            value = statistics.fmean(cast(float, t.fitness) for t in self.episodes())  # each has its fitness
            self.store.set_meta("random_fitness", value)
        return value

    def spread(self) -> float:
        """The population std of the random-policy episodes' fitness."""
        return statistics.pstdev(cast(float, t.fitness) for t in self.episodes())  # each has its fitness
