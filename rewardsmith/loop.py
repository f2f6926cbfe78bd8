"""The evolutionary loop: the order of the stages in a generation, and nothing else.

design (design/) → admission (intake/) → training and confirmation (training/) → analysis and records
(analysis/, archive/) → the next generation's design, then final scoring. Each stage is one object built
here with the narrow things it uses, among them the run's one event sink (archive/events.py: each
happening emitted once; the store, the terminal view and any observer subscribe). Records pass between
stages in memory (archive/held.py ``Held``: read once at a generation's start, the design context's
archive, handed to intake, which judges against it and puts in each candidate it admits; never re-read
inside it) and the run store records every step as it happens, so ``--resume`` continues a stopped or
killed run: generations whose design phase finished are not designed again,
scored candidates are never trained again, and candidates that were training when the run died continue
from the checkpoint of their last finished halving rung (or from the start).
"""

from __future__ import annotations

import time

from .analysis.recorder import RunRecorder
from .analysis.reference import RandomReference
from .archive.events import Events
from .archive.population import design_context
from .archive.store import PENDING, TRAINING, Candidate, RunStore
from .config import EvolveConfig  # noqa: F401 - the loop's settings; importable from here too
from .design.base import DesignContext, Proposal
from .errors import LLMError
from .intake.admission import Intake
from .intake.critic import Critic
from .task import Task
from .archive.held import Held
from .training.generation import GenerationTrainer
from .training.trainer import Budget


class Evolution:
    """Runs (or resumes) one evolutionary reward search in a run directory."""

    def __init__(self, store: RunStore, task: Task, config: EvolveConfig, designer, on_event=None,
                 client=None, between_generations=None, executor=None, events: Events | None = None):
        """``executor``: where trainings run (anything with executor.LocalExecutor's ``submit`` and
        ``close``); default: the one the configuration asks for, started on first use. ``events``: the
        run's one event sink (archive/events.py; default: one that persists to ``store``); ``on_event``
        (a function ``(kind, **data)``, e.g. the terminal view) is subscribed to it."""
        self.store, self.task, self.config, self.designer, self.client = store, task, config, designer, client
        self.events = events if events is not None else Events(store)
        if on_event is not None:
            self.events.subscribe(on_event)
        self.emit = self.on_event = self.events.emit  # every stage reports here, once per happening
        self.edits_heard: list[str] = []  # a person's edits told to the sink (the page's), by id: see _design
        self.events.subscribe(self._hear)
        self.budget = Budget(config.timesteps or task.training.timesteps, max_seconds=config.max_seconds)
        self.stop_reason: str | None = None
        self.current_generation: int | None = None  # what LLM calls are recorded under
        self.between_generations = between_generations  # (generation) -> False to stop (--interactive)
        self.reference = RandomReference(store, task, config.seed)
        critic = Critic.for_run(task, config)  # the same probe as a person's edit gets (people/human.py)
        self.intake = Intake(store, task, config, critic, self.reference.fitness, self.events, client)
        self.recorder = RunRecorder(store, task, config, self.budget, self.reference.fitness, self.events, client)
        self.trainer = GenerationTrainer(store, task, config, self.budget, self.recorder, self.reference,
                                         self.events, executor)

    # ------------------------------------------------------------------ the run

    def run(self) -> Candidate | None:
        """Runs every remaining generation; returns the best candidate."""
        self.store.set_meta("status", "running")
        started = time.monotonic()
        self.emit("start", run=str(self.store.root), designer=self.designer.name)
        try:
            self.current_generation = 0  # the baseline belongs to generation 0 (--llm-analyzer may call)
            self._baseline()
            for generation in range(self.config.iterations):
                if self.stop_reason:
                    break
                self.current_generation = generation
                held = self._design(generation) if not self.store.designed(generation) else None
                held = self.train_generation(generation, held)
                self._video(generation, held)
                self.emit("generation_done", generation=generation, best=self.best(held))
                last = generation == self.config.iterations - 1
                if self.between_generations and not last and not self.between_generations(generation):
                    self.stop_reason = "stopped by the user"
            # hand edits made after the last designed generation are still trained
            for generation in sorted({c.generation for c in self.store.candidates(status=(PENDING, TRAINING))}):
                self.train_generation(generation)
            self._final_scoring()
        except KeyboardInterrupt:
            self.store.set_meta("status", "interrupted")
            self.emit("interrupted")
            self.trainer.close(cancel=True)
            raise
        except BaseException:
            self.trainer.close(cancel=True)
            raise
        self.trainer.close()
        status = f"stopped: {self.stop_reason}" if self.stop_reason else "finished"
        self.store.set_meta("status", status)
        seconds = time.monotonic() - started
        best = self.best()
        self.emit("finished", status=status, seconds=seconds, best=best, baseline=self.baseline())
        return best

    def best(self, held: Held | None = None) -> Candidate | None:
        """The run's best candidate, by the most evidence (selection.run_pick), among ``held`` where given
        (the generation's records in memory), else the store's."""
        from .archive.selection import best_of_run, contenders, pick_best

        if held is None:
            return best_of_run(self.store)
        pick = pick_best(held.all(), self.store.final(), contenders(self.store.config))
        return pick.candidate if pick else None

    def baseline(self) -> Candidate | None:
        return self.store.baseline()

    def _baseline(self) -> None:
        """The task's human reward, scored first on the same budget and seed: every run's reference
        (and the offline designer's starting point). It belongs to generation 0."""
        if self.baseline() is None:
            self.intake.admit(Proposal(self.task.baseline, "baseline", notes="the task's human-written reward"), 0,
                              self.designer)
        self.train_generation(0)

    def context(self, generation: int) -> DesignContext:
        """What the designer of ``generation`` is shown (archive/population.py)."""
        return design_context(self.store, self.task, self.config, self.budget.timesteps, generation)

    def _design(self, generation: int) -> Held:
        """Designs and admits the generation's proposals; gives the run's candidates as the design context
        read them, with each admitted one as intake recorded it (what training starts from)."""
        ctx = self.context(generation)
        held = Held(ctx.archive)
        self.emit("designing", generation=generation, samples=ctx.samples)
        try:
            proposals = self.designer.propose(ctx)
        except LLMError as exc:
            self._stop_on_llm_error(exc)
            if not self.stop_reason:
                raise
            return held
        for proposal in proposals:
            try:
                self.intake.admit(proposal, generation, self.designer, held)  # puts each attempt in ``held``
            except LLMError as exc:
                self._stop_on_llm_error(exc)
                if not self.stop_reason:
                    raise
                break
        self.store.mark_feedback_used([f["id"] for f in ctx.feedback], generation)
        edits = [e.id for e in ctx.human_edits]
        self.store.mark_designed(generation, len(proposals), edits)
        self.emit("designed", generation=generation, proposals=len(proposals), edits=edits)
        heard, self.edits_heard = self.edits_heard, []  # an edit told while it was designed joins it
        for cid in [c for c in heard if held.get(c) is None]:
            held.put(self.store.candidate(cid))
        return held

    def _hear(self, kind: str, **data) -> None:
        if kind == "edit" and isinstance(data.get("candidate"), str):
            self.edits_heard.append(data["candidate"])

    def _stop_on_llm_error(self, exc: LLMError) -> None:
        from .design.llm import BudgetExhausted

        if isinstance(exc, BudgetExhausted):
            self.stop_reason = str(exc)
            self.emit("max_cost", message=str(exc))

    def train_generation(self, generation: int, held: Held | None = None) -> Held:
        """Trains the generation's unfinished candidates and confirms its best (training/generation.py);
        ``held``: the run's candidates as its design left them (None: read from the store at its start)."""
        return self.trainer.train(generation, held)

    def close(self, cancel: bool = False) -> None:
        """Stops the executor (``run`` does it; callers that train pools themselves call it)."""
        self.trainer.close(cancel)

    def _final_scoring(self) -> None:
        """After the last generation: the top candidates, the baseline and the sparse reward re-trained on
        ``--final-seeds`` fresh seeds (see final.py)."""
        from .training.final import FinalPlan, final_scoring

        plan = FinalPlan(self.config.seed, self.config.final_seeds, self.config.final_top,
                         eval_episodes=self.config.eval_episodes,
                         note=lambda message: self.emit("note", message=message), emit=self.emit)
        summary = final_scoring(self.store, self.trainer.training(), plan) if plan.seeds > 0 else None
        if summary is not None:
            self.emit("final", summary=summary)

    def _video(self, generation: int, held: Held | None = None) -> None:
        """The generation's videos (output/video.py: its best policy's, or every scored one's with
        ``--videos every``; where rendering works, said once if not), of ``held``'s scored candidates (None:
        the store's)."""
        from .output.video import write_generation_videos

        scored = None if held is None else [c for c in held.scored() if c.generation == generation]
        write_generation_videos(self.store, self.task, generation, every=self.config.videos == "every",
                                events=self.events, on_note=lambda message: self.emit("note", message=message),
                                scored=scored)
