"""Final multi-seed scoring: after the last generation, the top candidates, the baseline and the task's
sparse reward re-trained on fresh seeds at the full budget; mean ± std and the human-normalized score
where it means something (kept as meta ``final``; ``show``, ``export`` and the report read it, and it is
the strongest evidence selection.run_pick names the run's best by). Before the top candidates are chosen,
those at the cut-off within each other's noise get a second seed, paid from what halving saved
(``boundary_seeds``)."""

from __future__ import annotations

import json
import math
import statistics
from concurrent.futures import as_completed
from dataclasses import dataclass, field, replace
from typing import Callable, cast

from ..errors import TrainingError
from .executor import Cancelled
from ..archive.events import Events
from ..archive.records import FinalEntry, FinalRun, FinalSummary
from .collect import Training
from ..archive.selection import normalized
from ..archive.store import FAILED, SCORED, Candidate, RunStore, write_atomic

CONFIRM_SEED_OFFSET = 1000  # the designer's best is confirmed on seed + this (never a final-scoring seed)

def final_subjects(store: RunStore, top: int) -> list:
    """The candidates the final scoring re-trains: the top ``top`` non-baseline ones by
    ``selection.in_contention`` (furthest in successive halving first, then the mean over their seeds)."""
    from ..archive.selection import in_contention

    return [p.candidate for p in in_contention(store.candidates(status=SCORED))[:top]]


def seed_spread(store: RunStore, archive: list[Candidate] | None = None) -> float | None:
    """The run's seed-to-seed standard deviation of one reward's fitness, pooled over every candidate
    with two seeds at the full budget (√(mean((a − b)² / 2))); None while no candidate has two. ``archive``:
    the run's candidates as already read (default: the store's)."""
    scored = store.candidates(status=SCORED) if archive is None else [c for c in archive if c.status == SCORED]
    # a scored candidate has its fitness
    pairs = [(cast(float, c.fitness), c.result.confirmation.fitness) for c in scored
             if c.result and c.result.confirmation and c.result.confirmation.fitness is not None]
    return math.sqrt(statistics.fmean((a - b) ** 2 / 2 for a, b in pairs)) if pairs else None


def score_noise(pick, spread: float | None, floor: float) -> float:
    """The noise of a candidate's score (a ``selection.Pick``): its evaluation episodes' (as halving
    judges a rung, ``schedule.episode_noise``), or the run's seed spread over its seeds when that is
    larger, and at least ``floor`` (the "no better than random" margin)."""
    from .schedule import episode_noise

    runs = (pick.candidate.result.runs if pick.candidate.result else None) or []
    episodes = episode_noise(list(runs[0].episode_fitness)) if runs else 0.0
    seeds = spread / math.sqrt(pick.seeds) if spread is not None else 0.0
    return max(floor, episodes, seeds)


def halving_savings(store: RunStore, timesteps: int) -> int:
    """Env steps successive halving saved in the search: the budget each candidate stopped early did not
    train, less what the second seeds at its rungs' cut-offs already spent of it (rung_seeds.py)."""
    from ..archive.store import full_budget

    saved = sum(max(0, timesteps - (c.timesteps or 0)) for c in store.candidates(status=SCORED)
                if not full_budget(c))
    return max(0, saved - sum(e.get("steps") or 0 for e in store.events("rung_seeds")))


@dataclass
class FinalPlan:
    """What the final scoring needs to know of the run."""

    seed: int                 # the search seed (the final seeds are the next ones)
    seeds: int                # how many fresh seeds; 0: no final scoring
    top: int                  # how many candidates
    eval_episodes: int | None = None
    note: Callable[[str], None] = field(default=lambda message: None)
    emit: Callable[..., None] | None = None  # the run's event sink (archive/events.py); None: the store alone


def boundary_seeds(store: RunStore, training: Training, plan: FinalPlan) -> dict | None:
    """More evidence at the final top-k cut-off, before it is drawn: the last candidate in
    (``plan.top``-th by ``selection.in_contention``) and every full-budget one behind it by no more than
    their noises combined (``score_noise``) get a second seed (the confirmation seed, search seed + 1000,
    kept as ``result.confirmation``) where they have one seed, the closest first, so the cut is drawn on
    two-seed means. Paid from what successive halving saved: at most that many full-budget trainings.
    Gives the record kept as meta ``final_boundary`` (what was trained, its cost and the savings);
    done once per run (a resumed run keeps it)."""
    from ..archive.records import CandidateResult, Confirmation
    from .schedule import random_margin
    from ..archive.selection import in_contention
    from ..archive.store import full_budget

    done = store.meta("final_boundary")
    if done is not None:
        return done
    order = [p for p in in_contention(store.candidates(status=SCORED)) if full_budget(p.candidate)]
    if len(order) <= plan.top:
        return None
    timesteps = training.budget.timesteps
    saved = halving_savings(store, timesteps)
    spread, floor = seed_spread(store), random_margin(store.meta("random_fitness"))
    last = order[plan.top - 1]
    close = [p for p in order[plan.top:]
             if last.fitness - p.fitness <= math.hypot(score_noise(last, spread, floor),
                                                        score_noise(p, spread, floor))]
    wanted = [p.candidate for p in [last] + sorted(close, key=lambda p: last.fitness - p.fitness)
              if close and not (p.candidate.result and p.candidate.result.confirmation)]
    affordable = saved // timesteps
    todo = wanted[:affordable]
    seed = plan.seed + CONFIRM_SEED_OFFSET
    if wanted:
        plan.note(f"final top-{plan.top} cut-off: {', '.join(c.id for c in wanted)} within the noise of each other "
                  f"(last in {last.id} {last.fitness:.4g}); {len(todo)} second seed(s) at {timesteps:,} steps "
                  f"from the {saved:,} steps halving saved"
                  + ("" if len(todo) == len(wanted) else f" (affords {affordable})"))
    futures = {c.id: training.executor.submit(training.task, c.code, seed, training.budget,
                                              eval_episodes=plan.eval_episodes) for c in todo}
    spent = 0
    for c in todo:
        try:
            result = futures[c.id].result()
            fitness = result.fitness
            steps = result.trained_steps if result.trained_steps is not None else result.timesteps
        except Cancelled:
            raise
        except TrainingError as exc:
            plan.note(f"final top-{plan.top} cut-off: the second seed of {c.id} failed: {exc}")
            fitness, steps = None, 0
        spent += steps
        # counted in its steps_spent, as a confirmation seed (confirmation.py) and a rung's second seed are
        store.update(c, result=replace(c.result or CandidateResult(), confirmation=Confirmation(
            seed=seed, fitness=fitness, search_fitness=c.fitness,
            mean=None if fitness is None else (c.fitness + fitness) / 2)), steps_spent=(c.steps_spent or 0) + steps)
    record = {"top": plan.top, "last_in": last.id, "close": [p.id for p in close],
              "trained": [c.id for c in todo], "unaffordable": [c.id for c in wanted[len(todo):]],
              "seed": seed, "steps": spent, "halving_saved": saved}
    store.set_meta("final_boundary", record)
    Events.of(store, plan.emit).emit("final_boundary", **record)
    if todo:
        chosen = [c.id for c in final_subjects(store, plan.top)]
        plan.note(f"final top-{plan.top} on two-seed means: {', '.join(chosen)} ({spent:,} extra env steps, "
                  f"{spent / saved:.0%} of what halving saved)")
    return record


def final_scoring(store: RunStore, training: Training, plan: FinalPlan) -> FinalSummary | None:
    """Re-trains the top candidates, the baseline and the task's sparse reward on fresh seeds at the
    full budget; records each seed as it finishes (a resumed run trains only missing ones) and gives
    the summary (also kept as meta ``final``)."""
    if plan.seeds <= 0:
        return None
    task, budget = training.task, training.budget
    boundary_seeds(store, training, plan)  # the cut-off below is drawn with them
    seeds = [plan.seed + 1 + i for i in range(plan.seeds)]  # not the seed selection used
    subjects = [(c.id, "candidate", c.code) for c in final_subjects(store, plan.top)]
    baseline = store.baseline()
    if baseline is not None:
        subjects.append((baseline.id, "baseline", baseline.code))
    if task.sparse:
        subjects.append(("sparse", "sparse", task.sparse))
    if not any(role == "candidate" for _, role, _ in subjects):
        return None
    shared = shared_fitness(store, task, subjects, plan)  # duplicates of another subject: not trained
    done = {(r.subject, r.seed) for r in store.final_runs()}
    todo = [(s, seed) for s in subjects if s[0] not in shared for seed in seeds if (s[0], seed) not in done]
    plan.note(f"final scoring: {len(subjects)} rewards × {len(seeds)} seeds "
              f"({len(todo)} trainings to go) at {budget.timesteps:,} steps")
    futures = {}
    for (subject, role, code), seed in todo:
        futures[training.executor.submit(
            task, code, seed, budget, return_checkpoint=True,
            eval_episodes=plan.eval_episodes)] = (subject, role, seed)
    for future in as_completed(futures):
        subject, role, seed = futures[future]
        try:
            result = future.result()
        except Cancelled:
            raise
        except TrainingError as exc:
            store.add_final_run(FinalRun(subject, role, seed, FAILED, reason=str(exc)))
            plan.note(f"final scoring: {subject} seed {seed} failed: {exc}")
            continue
        if result.checkpoint is not None:
            write_atomic(store.checkpoint_path(subject, seed), json.dumps(
                {**result.checkpoint, "timesteps": result.timesteps, "fitness": result.fitness}))
        store.add_final_run(FinalRun(subject, role, seed, SCORED, fitness=result.fitness, timesteps=result.timesteps,
                                     steps_spent=result.trained_steps, result=result))
        plan.note(f"final scoring: {subject} seed {seed} fitness {result.fitness:.4g}")
    for subject, match in shared.items():  # a duplicate's seeds are its original's, recorded as such (referred to)
        mine = {r.seed for r in store.final_runs() if r.subject == subject}
        for r in store.final_runs():
            if r.subject == match.of and r.seed in seeds and r.seed not in mine:
                store.add_final_run(FinalRun(subject, "candidate", r.seed, r.status, steps_spent=0,
                                             reason=shared_reason(match), same_as=match.of))
    summary = summarize_final(store.final_runs(), [s[0] for s in subjects], seeds, store)
    if shared:
        summary = replace(summary, duplicates={subject: shared_reason(m) for subject, m in shared.items()})
    store.set_final(summary)
    Events.of(store, plan.emit).emit("final_scored", best=summary.best, seeds=seeds)
    return summary


def shared_fitness(store: RunStore, task, subjects: list[tuple], plan: FinalPlan) -> dict:
    """Of the final scoring's candidates, each that duplicates an earlier one of them (its recorded
    ``duplicate_of``, its code or its fingerprint: intake/duplicates.py), with the Match: it is not
    trained again and shares that one's fitness."""
    from ..intake.duplicates import Duplicates, among

    ids = [subject for subject, role, _ in subjects if role in ("candidate", "baseline")]
    shared = among(Duplicates(store, task, plan.seed, plan.note), [store.candidate(i) for i in ids])
    for subject, match in shared.items():
        plan.note(f"final scoring: {subject} is not trained: {shared_reason(match)}")
    return shared


def shared_reason(match) -> str:
    return f"shares {match.of}'s fitness ({match.reason})"


def summarize_final(rows: list[FinalRun], subjects: list[str], seeds: list[int], store: RunStore) -> FinalSummary:
    """Mean ± std fitness per subject over the final seeds, the best (``selection.final_best``), and the
    human-normalized score (fitness − sparse) / |baseline − sparse| where it means something
    (``selection.normalized``)."""
    from ..archive.selection import final_best

    # each entry's figures by the rule the store reads them back with (records.FinalEntry.of)
    entries = [FinalEntry.of(subject, rows, list(seeds),
                             store.candidate(subject).fitness if subject != "sparse" else None) for subject in subjects]
    entries, reference, note = normalized(entries)  # one baseline and one sparse entry at most
    return FinalSummary(seeds=list(seeds), timesteps=entries[0].timesteps if entries else None, entries=entries,
                        best=final_best(entries, store.config, {c.id: c.seq for c in store.candidates()}),
                        normalization=reference,
                        normalization_note=note)
