"""Training a generation (the pool's public entry, ``GenerationTrainer.train``): its unfinished candidates
in pools (the baseline on the full budget in evaluated legs, the others by the run's schedule: successive
halving on rungs placed by the baseline's curve, or full), ``--workers`` at a time; then confirmation of
the generation's best (confirmation.py). Each pool is recorded before it starts, so a resumed run replays
it as it was.

The generation's records pass from stage to stage in memory (``Held``): the candidates are read from the
store once at the generation's start (the design context's archive, with intake's admitted candidates, or
the store's on a resumed generation), and each record a stage writes (a pool's member, the recorder's
scored or failed candidate, a confirmation) is put back as the store gave it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..archive.events import Events, Sink
from ..archive.held import Held
from ..archive.store import PENDING, SCORED, TRAINING, RunStore
from ..task import Task
from .confirmation import confirm
from .trainer import Budget

if TYPE_CHECKING:
    from .pool import HoldingRecorder

PROBE = "probe"  # a pool schedule: the baseline, trained in legs and evaluated at each (schedule.Halving.probe_rungs)


class GenerationTrainer:
    """Trains a run's generations; gets only what training uses: the store, the task, the settings, the
    budget, where pools report (``recorder``: pool.HoldingRecorder), the random reference and the event sink."""

    def __init__(self, store: RunStore, task: Task, config, budget: Budget, recorder: HoldingRecorder,
                 reference, events: Events | Sink | None, executor=None):
        """``executor``: where trainings run (anything with executor.LocalExecutor's ``submit`` and
        ``close``); default: the one the configuration asks for, started on first use. ``reference``: the
        run's random-policy reference (analysis/reference.py: ``fitness()``, ``spread()``); ``events``: the
        run's event sink (archive/events.py; a function ``(kind, **data)`` is subscribed to a new one)."""
        self.store, self.task, self.config, self.budget = store, task, config, budget
        self.recorder, self.reference = recorder, reference
        self.events = Events.of(store, events)
        self._executor = executor
        self.held: Held | None = None  # the records of the generation being trained (``train``)

    def train(self, generation: int, held: Held | None = None) -> Held:
        """Trains the generation's unfinished candidates: the baseline on the full budget, the others by
        the run's schedule (successive halving or full; see schedule.py), ``--workers`` at a time; then
        checks whether the generation's best replaces the designer's best so far (confirmation.py).
        ``held``: the run's candidates as the generation's start gave them (the design context's archive and
        intake's admitted candidates); None: read from the store once, here (a resumed generation). Gives
        them with every record the generation wrote."""
        # given: a person's edit recorded while an earlier generation was designed trains first, in its own
        earlier = sorted({c.generation for c in held.all() if c.generation < generation and
                          c.status in (PENDING, TRAINING)}) if held is not None else []
        self.held = held = held if held is not None else Held.read(self.store)
        for each in earlier + [generation]:
            self._train(each, held)
        return held

    def _train(self, generation: int, held: Held) -> None:
        from .pool import PoolTrainer
        from .schedule import CutRule, random_margin

        recorder = self.recorder.holding(held)  # compares a scored candidate with ``held``'s, puts it there
        for ids, rungs, eta, schedule in self._pools(generation, held):
            cut = None
            if len(rungs) > 1 and schedule != PROBE:
                random_fitness = self.reference.fitness()
                cut = CutRule(eta, random_fitness, floor=random_margin(random_fitness))
            pool = PoolTrainer(self.store, self.training(), recorder, ids, rungs, eta, [self.config.seed], cut,
                               every_rung=schedule == PROBE, events=self.events, known=held.by_id)
            pool.run()
            for member in pool.members.values():
                held.put(member)
        confirm(self.store, self.task, self.config, self.budget, self.executor, generation, self.events.emit,
                held=held)

    def training(self, budget: Budget | None = None):
        """What every training of this run shares (collect.Training)."""
        from .collect import Training

        return Training(self.task, budget or self.budget, self.executor(),
                        keep_trajectories=self.config.keep_trajectories, eval_episodes=self.config.eval_episodes)

    def _pools(self, generation: int, held: Held) -> list[tuple[list[str], list[int], int, str]]:
        """The pools (ids, rung targets, eta, schedule) with unfinished members: those recorded before (a
        resumed run replays them as they were), then new ones, each recorded before it starts. With
        halving, the baseline trains the full budget in legs (``PROBE``: evaluated at each of
        ``Halving.probe_rungs``, never stopped), so its evaluated curve can place the candidates' rungs."""
        from .schedule import Halving

        todo = held.unfinished(generation)
        unfinished = {c.id for c in todo}
        pools = []
        for pool in self.store.training_pools(generation):
            if unfinished & set(pool.members):
                pools.append((pool.members, pool.rungs, pool.eta, pool.schedule))
                unfinished -= set(pool.members)
        full = [self.budget.timesteps]
        baseline = [c.id for c in todo if c.id in unfinished and c.origin == "baseline"]
        rest = [c.id for c in todo if c.id in unfinished and c.origin != "baseline"]
        rungs, probe = full, full
        if self.config.schedule == "halving":
            if rest:
                rungs = self.place_rungs(generation)
            probe = Halving(self.config.halving_eta, self.config.halving_min_fraction).probe_rungs(
                self.budget.timesteps, self.rollout())
        for ids, pool_rungs, kind in ((baseline, probe, PROBE), (rest, rungs, "halving")):
            if ids:
                schedule = "full" if len(pool_rungs) == 1 else kind
                self.store.add_training_pool(generation, ids, pool_rungs, self.config.halving_eta, schedule)
                pools.append((ids, pool_rungs, self.config.halving_eta, schedule))
        return pools

    def rollout(self) -> int:
        """Env steps per PPO rollout: rung targets are whole rollouts."""
        return int(self.task.training.ppo.get("n_steps", 2048)) * self.task.training.n_envs

    def place_rungs(self, generation: int) -> list[int]:
        """A new halving pool's rungs, placed by the baseline's training curve (schedule.place_rungs)."""
        from .schedule import CurvePoint, Halving, baseline_curve, place_rungs

        baseline = self.held.baseline() if self.held is not None else self.store.baseline()
        scored = baseline is not None and baseline.status == SCORED
        # the baseline's evaluated curve (trusted: the evaluation job never loads reward code); a baseline
        # trained in one leg (an older run) leaves only its training snapshots
        curve = baseline_curve(self.store, baseline.id, self.config.seed) if baseline and scored else None
        if curve is None and baseline and scored and baseline.result and baseline.result.runs:
            curve = [CurvePoint.of_snapshot(s) for s in baseline.result.runs[0].snapshots]
        rungs, why = place_rungs(Halving(self.config.halving_eta, self.config.halving_min_fraction),
                                 self.budget.timesteps, self.rollout(), curve, self.reference.fitness(),
                                 self.reference.spread())
        self.events.emit("rungs", generation=generation, rungs=rungs, why=why)
        return rungs

    def executor(self):
        """Where trainings run (local processes or Ray), started on first use."""
        if self._executor is None:
            from .executor import make_executor

            self._executor = make_executor(self.config.executor, self.config.workers, self.config.ray_address,
                                           self.config.ray_cpus_per_task)
            self.events.emit("executor", executor=self.config.executor, where=self._executor.describe())
        return self._executor

    def close(self, cancel: bool = False) -> None:
        """Stops the executor (the loop does it at the end of a run; callers that train pools themselves
        call it)."""
        if self._executor is not None:
            executor, self._executor = self._executor, None
            executor.close(cancel=cancel)
