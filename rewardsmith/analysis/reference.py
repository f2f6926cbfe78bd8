"""The random policy's reference: the task's fitness under random actions, measured once per run and
kept in the run store; the analyzer's "no better than random", screening's and halving's reference."""

from __future__ import annotations

from ..archive.store import RunStore
from ..task import Task


class RandomReference:
    """The run's random-policy fitness, measured on first use (``fitness``)."""

    def __init__(self, store: RunStore, task: Task, seed: int):
        self.store, self.task, self.seed = store, task, seed

    def fitness(self) -> float:
        """The task's fitness under random actions (once per run, kept in the store)."""
        value = self.store.meta("random_fitness")
        if value is None:
            from .analyzer import random_policy_fitness

            value = random_policy_fitness(self.task, seed=self.seed)
            self.store.set_meta("random_fitness", value)
        return value
