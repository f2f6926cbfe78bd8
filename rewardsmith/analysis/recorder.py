"""What a training pool reports (``pool.Recorder``), recorded: a candidate's progress in its log and
the live view, a failure, and a scored candidate with its trajectories, its analysis and reflection (the
analyzer, and the model's diagnosis with --llm-analyzer), its result and its timings."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from ..archive.events import Events, Sink
from ..archive.records import Analysis, CandidateResult, HalvingRecord, Snapshot, Timings
from ..archive.store import FAILED, SCORED, Candidate, RunStore
from ..errors import LLMError, TrainingError
from ..scoring.base import ground_truth
from ..task import Task
from ..training.trainer import Budget, Score

if TYPE_CHECKING:
    from ..archive.held import Held


class RunRecorder:
    """Records what a run's training pools report; gets only what recording uses."""

    def __init__(self, store: RunStore, task: Task, config, budget: Budget, random_fitness: Callable[[], float],
                 events: Events | Sink | None, client=None):
        """``events``: the run's event sink (archive/events.py; a function ``(kind, **data)`` is subscribed to
        a new one)."""
        self.store, self.task, self.config, self.budget = store, task, config, budget
        self.random_fitness, self.client = random_fitness, client
        self.emit = Events.of(store, events).emit
        self.held: Held | None = None  # the generation's records (``holding``); None: the store is read

    def holding(self, held: Held) -> "RunRecorder":
        """This recorder for one generation: a scored candidate's analysis compares it with ``held``'s scored
        candidates (the generation's records in memory, training/generation.py), and each candidate it records
        is put there as written."""
        recorder = copy.copy(self)
        recorder.held = held
        return recorder

    def _put(self, candidate: Candidate) -> None:
        if self.held is not None:
            self.held.put(candidate)

    def training_started(self, candidate: Candidate) -> None:
        self.emit("training", candidate=candidate)

    def progress(self, candidate: Candidate):
        """The progress callback of one candidate's trainings: its log file and the live view."""

        def progress(seed, snapshot):
            self.store.append_log(candidate.id, _log_line(seed, snapshot))
            self.emit("progress", candidate=candidate, snapshot=snapshot, budget=self.budget.timesteps)

        return progress

    def failed(self, candidate: Candidate, exc: TrainingError, steps_spent: int | None = None) -> Candidate:
        """Records a failed training; gives the candidate as recorded."""
        failed = self.store.update(candidate, status=FAILED, reason=str(exc), steps_spent=steps_spent)
        self._put(failed)
        self.emit("failed", candidate=failed)
        return failed

    def scored(self, candidate: Candidate, score: Score, budget_fraction: float = 1.0,
               halving: HalvingRecord | None = None, note: str | None = None, extra_steps: int = 0) -> Candidate:
        """Records a scored candidate and gives it as recorded (``extra_steps``: env steps trained for it beyond
        its score's seeds, a second seed at a halving cut-off: rung_seeds.py, counted in its steps_spent); ``budget_fraction`` < 1 when successive halving stopped it early
        (its fitness is then that rung's, and ``timesteps`` says how far it trained). Every registered
        scorer judges it, with its id and the person's standing preferences; the ground truth's card is
        the fitness stored."""
        score = Score.of(score.runs, candidate.id, self.store.preferences())
        truth = ground_truth(score.cards)
        # each kept trajectory carries its evaluation episode's fitness (screening compares against it)
        trajectories = [replace(t, fitness=run.episode_fitness[i]) if i < len(run.episode_fitness) else t
                        for run in score.runs for i, t in enumerate(run.trajectories)]
        if trajectories:
            self.store.write_trajectories(candidate.id, trajectories)
        analysis, reflection = self._analyze(candidate, score)
        result = CandidateResult(runs=score.runs, components=score.component_summary(),
                                 screening=candidate.result.screening if candidate.result else None,
                                 budget_fraction=budget_fraction, halving=halving)
        scored = self.store.update(
            candidate, status=SCORED, fitness=truth.metrics["fitness"], fitness_std=truth.metrics["fitness_std"],
            seeds=score.seeds,
            timesteps=score.timesteps,
            steps_spent=extra_steps + sum(r.trained_steps if r.trained_steps is not None else r.timesteps
                                          for r in score.runs),
            result=result, analysis=analysis, reflection=reflection,
            notes="; ".join(n for n in (candidate.notes, note) if n) or None,
            timings=Timings.of(score.runs))
        self._put(scored)
        self.emit("scored", candidate=scored)
        return scored

    def _analyze(self, candidate: Candidate, score: Score) -> tuple[Analysis, str]:
        from .analyzer import analyze, render_reflection

        scored = self.held.scored() if self.held is not None else self.store.candidates(status=SCORED)
        archive = [{"id": c.id, "fitness": c.fitness, "reward_per_step": _last(c.result, "reward_per_step")}
                   for c in scored if c.id != candidate.id]
        analysis = analyze(self.task, score, archive, random_fitness=self.random_fitness())
        if self.config.llm_analyzer and self.client is not None:
            analysis = self._llm_diagnosis(candidate, analysis)
        reflection = render_reflection(self.task, candidate.id, analysis, code=candidate.code,
                                       prompts_dir=self.config.prompts)
        return analysis, reflection

    def _llm_diagnosis(self, candidate, analysis):
        from .analyzer import analyzer_prompt

        try:
            messages = analyzer_prompt(self.task, analysis, candidate.code, self.config.prompts)
            reply = self.client.complete(messages, n=1, purpose="llm-analyzer")[0]
            analysis.diagnosis = reply.text.strip()
        except LLMError as exc:
            self.emit("note", message=f"LLM analyzer failed for {candidate.id}: {exc}")
        return analysis


def _last(result: CandidateResult | None, key: str):
    """A figure of the first seed's last training snapshot (None without one)."""
    snaps = result.runs[0].snapshots if result and result.runs else None
    return getattr(snaps[-1], key) if snaps else None


def _log_line(seed: int, snap: Snapshot) -> str:
    fit = "-" if snap.fitness is None else f"{snap.fitness:.4g}"
    comps = " ".join(f"{k}={v:.3g}" for k, v in snap.components.items())
    return (f"seed={seed} step={snap.step} reward/step={snap.reward_per_step:.4g} "
            f"native/step={snap.native_per_step:.4g} fitness={fit} {comps}")
