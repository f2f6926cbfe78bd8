"""The evolutionary loop: design → critic (+ repair) → training → scoring → archive → next prompt.

Everything goes through the run store as it happens, so ``--resume`` continues a stopped or killed
run: generations whose design phase finished are not designed again, scored candidates are never
trained again, and candidates that were training when the run died continue from the checkpoint
of their last finished halving rung (or from the start).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

from .config import EvolveConfig  # noqa: F401 - the loop's settings; importable from here too
from .intake.critic import Critic
from .design.base import DesignContext, Proposal
from .errors import LLMError, TrainingError
from .host.launch import Limits
from .archive.records import Analysis, CandidateResult, Confirmation, HalvingRecord, Snapshot, Timings
from .archive.store import code_hash, FAILED, PENDING, REJECTED, SCORED, TRAINING, Candidate, RunStore
from .task import Task
from .training.final import CONFIRM_SEED_OFFSET
from .training.trainer import Budget, Score

PROBE = "probe"  # a pool schedule: the baseline, trained in legs and evaluated at each (schedule.Halving.probe_rungs)


class Evolution:
    """Runs (or resumes) one evolutionary reward search in a run directory."""

    def __init__(self, store: RunStore, task: Task, config: EvolveConfig, designer, on_event=None,
                 client=None, between_generations=None, executor=None):
        """``executor``: where trainings run (anything with executor.LocalExecutor's ``submit`` and
        ``close``); default: the one the configuration asks for, started on first use."""
        self.store = store
        self.task = task
        self.config = config
        self.designer = designer
        self.client = client
        self.critic = Critic(task, seed=config.seed, limits=Limits(
            wall_seconds=2 * config.critic_seconds, cpu_seconds=config.critic_seconds, memory_mb=1536))
        self.on_event = on_event or (lambda kind, **data: None)
        self.budget = Budget(config.timesteps or task.training.timesteps, max_seconds=config.max_seconds)
        self.stop_reason: str | None = None
        self.current_generation: int | None = None  # what LLM calls are recorded under
        self.between_generations = between_generations  # (generation) -> False to stop (--interactive)
        self._executor = executor

    # ------------------------------------------------------------------ the run

    def run(self) -> Candidate | None:
        """Runs every remaining generation; returns the best candidate."""
        self.store.set_meta("status", "running")
        started = time.monotonic()
        self.on_event("start", run=str(self.store.root), designer=self.designer.name)
        try:
            self.current_generation = 0  # the baseline belongs to generation 0 (--llm-analyzer may call)
            self._baseline()
            for generation in range(self.config.iterations):
                if self.stop_reason:
                    break
                self.current_generation = generation
                if not self._designed(generation):
                    self._design(generation)
                self._train_generation(generation)
                self._video(generation)
                self.store.event("generation_done", {"generation": generation})
                self.on_event("generation_done", generation=generation, best=self.best())
                last = generation == self.config.iterations - 1
                if self.between_generations and not last and not self.between_generations(generation):
                    self.stop_reason = "stopped by the user"
            # hand edits made after the last designed generation are still trained
            for generation in sorted({c.generation for c in self.store.candidates(status=(PENDING, TRAINING))}):
                self._train_generation(generation)
            self._final_scoring()
        except KeyboardInterrupt:
            self.store.set_meta("status", "interrupted")
            self.store.event("interrupted", {})
            self._close_executor(cancel=True)
            raise
        except BaseException:
            self._close_executor(cancel=True)
            raise
        self._close_executor()
        status = f"stopped: {self.stop_reason}" if self.stop_reason else "finished"
        self.store.set_meta("status", status)
        self.store.event("finished", {"status": status, "seconds": time.monotonic() - started})
        best = self.best()
        self.on_event("finish", best=best, baseline=self.baseline(), status=status)
        return best

    def best(self) -> Candidate | None:
        """The run's best candidate, by the most evidence (selection.run_pick)."""
        from .archive.selection import best_of_run

        return best_of_run(self.store)

    def baseline(self) -> Candidate | None:
        return self.store.baseline()

    # ------------------------------------------------------------------ the human baseline

    def _baseline(self) -> None:
        """The task's human reward, scored first on the same budget and seed: every run's reference
        (and the offline designer's starting point). It belongs to generation 0."""
        if self.baseline() is None:
            self._admit(Proposal(self.task.baseline, "baseline", notes="the task's human-written reward"), 0)
        self._train_generation(0)

    # ------------------------------------------------------------------ design

    def _designed(self, generation: int) -> bool:
        return self.store.designed(generation)

    def context(self, generation: int) -> DesignContext:
        from .archive.selection import run_pick

        archive = self.store.candidates()
        previous = [c for c in archive if c.generation == generation - 1]
        feedback = self.store.feedback(unused_only=True)
        pick = run_pick(self.store)  # the designer's "best so far" is the run's best
        return DesignContext(
            task=self.task, generation=generation, samples=self.config.samples,
            timesteps=self.budget.timesteps, archive=archive, best=pick.candidate if pick else None,
            best_score=pick, baseline=self.baseline(),
            failures=[c for c in previous if c.status in (REJECTED, FAILED)],
            feedback=feedback,
            reflection=not (self.config.feedback_replaces_reflection and feedback),
            human_edits=[c for c in archive if c.origin == "human" and c.id not in self._seen_edits()],
            seed=self.config.seed,
        )

    def _design(self, generation: int) -> None:
        ctx = self.context(generation)
        self.on_event("designing", generation=generation, samples=ctx.samples)
        try:
            proposals = self.designer.propose(ctx)
        except LLMError as exc:
            self._stop_on_llm_error(exc)
            if not self.stop_reason:
                raise
            return
        for proposal in proposals:
            try:
                self._admit(proposal, generation)
            except LLMError as exc:
                self._stop_on_llm_error(exc)
                if not self.stop_reason:
                    raise
                break
        self.store.mark_feedback_used([f["id"] for f in ctx.feedback], generation)
        edits = [e.id for e in ctx.human_edits]
        self.store.mark_designed(generation, len(proposals), edits)
        self.store.event("designed", {"generation": generation, "proposals": len(proposals), "edits": edits})

    def _seen_edits(self) -> set[str]:
        return self.store.edits_shown()

    def _stop_on_llm_error(self, exc: LLMError) -> None:
        from .design.llm import BudgetExhausted

        if isinstance(exc, BudgetExhausted):
            self.stop_reason = str(exc)
            self.store.event("max_cost", {"message": str(exc)})
            self.on_event("note", message=f"stopping: {exc}")

    def _admit(self, proposal: Proposal, generation: int) -> Candidate:
        """Checks a proposal (repairing it up to --repairs times) and records every attempt."""
        attempt = proposal
        for round_ in range(self.config.repairs + 1):
            existing = self.store.by_hash(code_hash(attempt.code))
            if existing is not None and existing.generation == generation:
                candidate = existing  # resuming a design phase: the same code is already recorded
            elif existing is not None:
                self.on_event("note", message=f"duplicate of {existing.id}; not trained again")
                return existing
            else:
                verdict = self.critic.check(attempt.code) if not attempt.notes.startswith("no code") else None
                veto = self._llm_veto(attempt) if verdict is not None and verdict.accepted else None
                accepted = verdict is not None and verdict.accepted and veto is None
                reason = attempt.notes if verdict is None else None if accepted else veto or verdict.report()
                screening = self._screen(attempt) if accepted else None
                if screening is not None and not screening.passed:
                    accepted, reason = False, screening.reason
                candidate = self.store.add_candidate(
                    generation, attempt.code, attempt.origin, parent=attempt.parent,
                    status=PENDING if accepted else REJECTED, reason=reason,
                    verdict=None if verdict is None else verdict.record(),
                    notes=attempt.notes)
                if screening is not None:  # rejected or not, what it was judged on; no training spent yet
                    self.store.update(candidate.id, timesteps=0 if not accepted else None, steps_spent=0,
                                      result=screening.record())
                    candidate = self.store.candidate(candidate.id)
                self.on_event("candidate", candidate=candidate)
            if candidate.status != REJECTED or round_ == self.config.repairs:
                return candidate
            repaired = self.designer.repair(attempt, candidate.reason or "")
            if repaired is None:
                return candidate
            repaired.parent = candidate.id
            attempt = repaired
        return candidate

    def _screen(self, proposal: Proposal):
        """Screening before any RL step (screening.py), or None: switched off (--no-screen), the
        baseline itself, or no recorded episodes to judge on yet."""
        if self.config.no_screen or proposal.origin == "baseline":
            return None
        from .intake.screening import screen_in_run

        return screen_in_run(self.store, self.task, proposal.code, self.config.seed, self._random_fitness(),
                             lambda why: self.on_event("note", message=why))

    def _llm_veto(self, proposal: Proposal) -> str | None:
        """The optional LLM critic (--llm-critic): a reason to veto a sound reward, or None."""
        if not self.config.llm_critic or self.client is None or proposal.origin == "baseline":
            return None
        from .analysis.analyzer import critic_prompt, parse_veto

        messages = critic_prompt(self.task, proposal.code, self.config.prompts)
        reply = self.client.complete(messages, n=1, purpose="llm-critic")[0]
        try:
            veto, reason = parse_veto(reply.text)
        except LLMError as exc:
            self.on_event("note", message=f"LLM critic gave no verdict ({exc}); the reward goes ahead")
            return None
        return f"vetoed by the LLM critic: {reason}" if veto else None

    # ------------------------------------------------------------------ training

    def _train_generation(self, generation: int) -> None:
        """Trains the generation's unfinished candidates: the baseline on the full budget, the others by
        the run's schedule (successive halving or full; see schedule.py), ``--workers`` at a time; then
        checks whether the generation's best replaces the designer's best so far (``_confirm``)."""
        from .training.schedule import CutRule, PoolTrainer, random_margin

        for ids, rungs, eta, schedule in self._pools(generation):
            cut = None
            if len(rungs) > 1 and schedule != PROBE:
                random_fitness = self._random_fitness()
                cut = CutRule(eta, random_fitness, floor=random_margin(random_fitness))
            PoolTrainer(self.store, self.training(), self, ids, rungs, eta, [self.config.seed], cut,
                        every_rung=schedule == PROBE).run()
        self._confirm(generation)

    def training(self, budget: Budget | None = None):
        """What every training of this run shares (schedule.Training)."""
        from .training.schedule import Training

        return Training(self.task, budget or self.budget, self.executor(),
                        keep_trajectories=self.config.keep_trajectories, eval_episodes=self.config.eval_episodes)

    def _pools(self, generation: int) -> list[tuple[list[str], list[int], int, str]]:
        """The pools (ids, rung targets, eta, schedule) with unfinished members: those recorded before (a
        resumed run replays them as they were), then new ones, each recorded before it starts. With
        halving, the baseline trains the full budget in legs (``PROBE``: evaluated at each of
        ``Halving.probe_rungs``, never stopped), so its evaluated curve can place the candidates' rungs."""
        from .training.schedule import Halving

        todo = self.store.candidates(generation=generation, status=(PENDING, TRAINING))
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
                rungs = self._place_rungs(generation)
            probe = Halving(self.config.halving_eta, self.config.halving_min_fraction).probe_rungs(
                self.budget.timesteps, self._rollout())
        for ids, pool_rungs, kind in ((baseline, probe, PROBE), (rest, rungs, "halving")):
            if ids:
                schedule = "full" if len(pool_rungs) == 1 else kind
                self.store.add_training_pool(generation, ids, pool_rungs, self.config.halving_eta, schedule)
                pools.append((ids, pool_rungs, self.config.halving_eta, schedule))
        return pools

    def _rollout(self) -> int:
        """Env steps per PPO rollout: rung targets are whole rollouts."""
        return int(self.task.training.ppo.get("n_steps", 2048)) * self.task.training.n_envs

    def _confirm(self, generation: int) -> None:
        """Gathers the evidence the designer's best so far (selection.run_pick) changes on: when the
        generation's best full-budget candidate beats the best of the earlier generations on its one
        search seed, it trains a second seed (so does the incumbent, once, if it has only its search
        seed) at the same budget; the rule then ranks both by their two-seed means, so the challenger
        takes the place only if its advantage holds. One attempt per generation; both seeds are kept
        in each candidate's ``result.confirmation``."""
        from .archive.selection import best_of, contenders, evidence_of, pick_best
        from .archive.store import full_budget

        attempts = self.store.meta("confirmations", {})
        if str(generation) in attempts:
            return
        exclude = contenders(self.store.config)
        scored = self.store.candidates(status=SCORED)
        held = pick_best([c for c in scored if c.generation < generation], None, exclude)
        challenger = best_of([c for c in scored if c.generation == generation and full_budget(c)], exclude)
        if challenger is None or held is None:  # nothing shown yet: the first best needs no second seed
            return
        incumbent = held.candidate
        if challenger.fitness <= held.fitness:
            return
        seed = self.config.seed + CONFIRM_SEED_OFFSET
        todo = [challenger] + ([] if incumbent.result and incumbent.result.confirmation else [incumbent])
        self.on_event("note", message=f"{challenger.id} ({challenger.fitness:.4g}) beats the best so far "
                                      f"{incumbent.id} ({held.fitness:.4g}) on one seed: "
                                      f"training seed {seed} to confirm")
        futures = {c.id: self.executor().submit(self.task, c.code, seed, self.budget,
                                                eval_episodes=self.config.eval_episodes) for c in todo}
        extra = {}
        for cid, future in futures.items():
            try:
                extra[cid] = future.result().fitness
            except TrainingError as exc:
                self.on_event("note", message=f"confirmation seed of {cid} failed: {exc}")
                extra[cid] = None
        for c in todo:
            fit = extra[c.id]
            record = Confirmation(seed=seed, fitness=fit, search_fitness=c.fitness,
                                  mean=None if fit is None else (c.fitness + fit) / 2)
            self.store.update(c.id, result=replace(c.result or CandidateResult(), confirmation=record))
        theirs = evidence_of(self.store.candidate(incumbent.id)).fitness
        ours = extra[challenger.id]
        mine = None if ours is None else (challenger.fitness + ours) / 2
        confirmed = mine is not None and mine > theirs
        verdict = (f"{'confirmed' if confirmed else 'not confirmed'} on seed {seed}: mean of 2 seeds "
                   f"{'-' if mine is None else f'{mine:.4g}'} vs the best so far {incumbent.id} {theirs:.4g}")
        current = self.store.candidate(challenger.id)
        self.store.update(challenger.id, result=replace(current.result, confirmation=replace(
            current.result.confirmation, against=incumbent.id, against_mean=theirs, confirmed=confirmed)),
            notes="; ".join(n for n in (current.notes, verdict) if n))
        self.store.set_meta("confirmations", {**attempts, str(generation): {
            "challenger": challenger.id, "incumbent": incumbent.id, "confirmed": confirmed}})
        self.on_event("note", message=f"{challenger.id}: {verdict}")

    def _place_rungs(self, generation: int) -> list[int]:
        """A new halving pool's rungs, placed by the baseline's training curve (schedule.place_rungs)."""
        from .training.schedule import CurvePoint, Halving, baseline_curve, place_rungs

        baseline = self.baseline()
        scored = baseline is not None and baseline.status == SCORED
        # the baseline's evaluated curve (trusted: the evaluation job never loads reward code); a baseline
        # trained in one leg (an older run) leaves only its training snapshots
        curve = baseline_curve(self.store, baseline.id, self.config.seed) if scored else None
        if curve is None and scored and baseline.result and baseline.result.runs:
            curve = [CurvePoint.of_snapshot(s) for s in baseline.result.runs[0].snapshots]
        from .intake.screening import random_references

        spread = statistics.pstdev(r.fitness for r in random_references(self.store, self.task, self.config.seed))
        rungs, why = place_rungs(Halving(self.config.halving_eta, self.config.halving_min_fraction),
                                 self.budget.timesteps, self._rollout(), curve, self._random_fitness(), spread)
        self.store.event("rungs", {"generation": generation, "rungs": rungs, "why": why})
        self.on_event("note", message=f"generation {generation}: {why}")
        return rungs

    def executor(self):
        """Where trainings run (local processes or Ray), started on first use."""
        if self._executor is None:
            from .training.executor import make_executor

            self._executor = make_executor(self.config.executor, self.config.workers, self.config.ray_address,
                                           self.config.ray_cpus_per_task)
            self.store.event("executor", {"kind": self.config.executor, "where": self._executor.describe()})
            self.on_event("note", message=f"training on {self._executor.describe()}")
        return self._executor

    def close(self, cancel: bool = False) -> None:
        """Stops the executor (``run`` does it; callers that train pools themselves call it)."""
        self._close_executor(cancel)

    def _close_executor(self, cancel: bool = False) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            executor.close(cancel=cancel)

    # ------------------------------------------------------------------ what pools report (schedule.Recorder)

    def training_started(self, candidate: Candidate) -> None:
        self.on_event("training", candidate=candidate)

    def progress(self, candidate: Candidate):
        """The progress callback of one candidate's trainings: its log file and the live view."""

        def progress(seed, snapshot):
            self.store.append_log(candidate.id, _log_line(seed, snapshot))
            self.on_event("progress", candidate=candidate, snapshot=snapshot, budget=self.budget.timesteps)

        return progress

    def failed(self, candidate: Candidate, exc: TrainingError, steps_spent: int | None = None) -> None:
        self.store.update(candidate.id, status=FAILED, reason=str(exc), steps_spent=steps_spent)
        self.on_event("failed", candidate=self.store.candidate(candidate.id))

    def scored(self, candidate: Candidate, score: Score, budget_fraction: float = 1.0,
               halving: HalvingRecord | None = None, note: str | None = None) -> None:
        """Records a scored candidate; ``budget_fraction`` < 1 when successive halving stopped it early
        (its fitness is then that rung's, and ``timesteps`` says how far it trained)."""
        # each kept trajectory carries its evaluation episode's fitness (screening compares against it)
        trajectories = [replace(t, fitness=run.episode_fitness[i]) if i < len(run.episode_fitness) else t
                        for run in score.runs for i, t in enumerate(run.trajectories)]
        if trajectories:
            self.store.write_trajectories(candidate.id, trajectories)
        analysis, reflection = self._analyze(candidate, score)
        result = CandidateResult(runs=score.runs, components=score.component_summary(),
                                 screening=candidate.result.screening if candidate.result else None,
                                 budget_fraction=budget_fraction, halving=halving)
        self.store.update(
            candidate.id, status=SCORED, fitness=score.mean, fitness_std=score.std, seeds=score.seeds,
            timesteps=score.timesteps,
            steps_spent=sum(r.trained_steps if r.trained_steps is not None else r.timesteps for r in score.runs),
            result=result, analysis=analysis, reflection=reflection,
            notes="; ".join(n for n in (candidate.notes, note) if n) or None,
            timings=Timings(wall_seconds=sum(r.wall_seconds or 0.0 for r in score.runs),
                            train_seconds=sum(r.train_seconds for r in score.runs),
                            steps_per_second=score.steps_per_second))
        self.on_event("scored", candidate=self.store.candidate(candidate.id))

    def _final_scoring(self) -> None:
        """After the last generation: the top candidates, the baseline and the sparse reward re-trained on
        ``--final-seeds`` fresh seeds (see final.py)."""
        from .training.final import FinalPlan, final_scoring

        plan = FinalPlan(self.config.seed, self.config.final_seeds, self.config.final_top,
                         eval_episodes=self.config.eval_episodes,
                         note=lambda message: self.on_event("note", message=message))
        summary = final_scoring(self.store, self.training(), plan) if plan.seeds > 0 else None
        if summary is not None:
            self.on_event("final", summary=summary)

    def _analyze(self, candidate: Candidate, score: Score) -> tuple[Analysis, str]:
        from .analysis.analyzer import analyze, render_reflection

        archive = [{"id": c.id, "fitness": c.fitness,
                    "reward_per_step": _last(c.result, "reward_per_step")}
                   for c in self.store.candidates(status=SCORED) if c.id != candidate.id]
        analysis = analyze(self.task, score, archive, random_fitness=self._random_fitness())
        if self.config.llm_analyzer and self.client is not None:
            analysis = self._llm_diagnosis(candidate, analysis)
        reflection = render_reflection(self.task, candidate.id, analysis, code=candidate.code,
                                       prompts_dir=self.config.prompts)
        return analysis, reflection

    def _video(self, generation: int) -> None:
        """A short GIF of the generation's best policy (where rendering works; said once if not)."""
        from .archive.selection import best_of

        best = best_of(self.store.candidates(generation=generation, status=SCORED))
        if best is None or (self.store.root / "videos" / f"gen{generation}-{best.id}.gif").exists():
            return
        from .output.video import write_generation_video

        write_generation_video(self.store, self.task, best.id, generation,
                               on_note=lambda message: self.on_event("note", message=message))

    def _random_fitness(self) -> float:
        """The task's fitness under random actions (once per run, kept in the store): the analyzer's
        "no better than random" reference."""
        value = self.store.meta("random_fitness")
        if value is None:
            from .analysis.analyzer import random_policy_fitness

            value = random_policy_fitness(self.task, seed=self.config.seed)
            self.store.set_meta("random_fitness", value)
        return value

    def _llm_diagnosis(self, candidate, analysis):
        from .analysis.analyzer import analyzer_prompt

        try:
            messages = analyzer_prompt(self.task, analysis, candidate.code, self.config.prompts)
            reply = self.client.complete(messages, n=1, purpose="llm-analyzer")[0]
            analysis.diagnosis = reply.text.strip()
        except LLMError as exc:
            self.on_event("note", message=f"LLM analyzer failed for {candidate.id}: {exc}")
        return analysis


# ---------------------------------------------------------------------- helpers


def _last(result: CandidateResult | None, key: str):
    """A figure of the first seed's last training snapshot (None without one)."""
    snaps = result.runs[0].snapshots if result and result.runs else None
    return getattr(snaps[-1], key) if snaps else None


def _log_line(seed: int, snap: Snapshot) -> str:
    fit = "-" if snap.fitness is None else f"{snap.fitness:.4g}"
    comps = " ".join(f"{k}={v:.3g}" for k, v in snap.components.items())
    return (f"seed={seed} step={snap.step} reward/step={snap.reward_per_step:.4g} "
            f"native/step={snap.native_per_step:.4g} fitness={fit} {comps}")


def score_from(candidate: Candidate, store: RunStore | None = None) -> Score:
    """The Score of a scored candidate, rebuilt from the store (trajectories included if kept)."""
    runs = list(candidate.result.runs or []) if candidate.result else []
    if store is not None and runs:
        runs[0].trajectories = store.trajectories(candidate.id)
    return Score.of(runs)


def default_cache_dir() -> Path:
    """Where LLM responses are cached across runs: $REWARDSMITH_CACHE, else ~/.cache/rewardsmith/llm."""
    return Path(os.environ.get("REWARDSMITH_CACHE") or Path.home() / ".cache" / "rewardsmith" / "llm")


def default_run_dir(task_name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = Path(os.environ.get("REWARDSMITH_RUNS", "runs"))
    path = root / f"{stamp}-{task_name}"
    n = 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{task_name}-{n}"
    return path
