"""Final multi-seed scoring: after the last generation, the top candidates, the baseline and the task's
sparse reward re-trained on fresh seeds at the full budget; mean ± std and the human-normalized score
where it means something (kept as meta ``final``; ``show``, ``export`` and the report read it, and it is
the strongest evidence selection.run_pick names the run's best by)."""

from __future__ import annotations

import json
import math
import statistics
from concurrent.futures import as_completed
from dataclasses import dataclass, field, replace
from typing import Callable

from .errors import TrainingError
from .executor import Cancelled
from .records import FinalEntry, FinalRun, FinalSummary
from .schedule import Training
from .store import FAILED, SCORED, RunStore, write_atomic

def final_subjects(store: RunStore, top: int) -> list:
    """The candidates the final scoring re-trains: the top ``top`` non-baseline ones in the run's own
    ranking (``selection.rank_key``: those that went furthest in successive halving first)."""
    from .selection import ranked

    return ranked(store.candidates(status=SCORED), exclude_origins=("baseline",))[:top]


@dataclass
class FinalPlan:
    """What the final scoring needs to know of the run."""

    seed: int                 # the search seed (the final seeds are the next ones)
    seeds: int                # how many fresh seeds; 0: no final scoring
    top: int                  # how many candidates
    eval_episodes: int | None = None
    note: Callable[[str], None] = field(default=lambda message: None)


def final_scoring(store: RunStore, training: Training, plan: FinalPlan) -> FinalSummary | None:
    """Re-trains the top candidates, the baseline and the task's sparse reward on fresh seeds at the
    full budget; records each seed as it finishes (a resumed run trains only missing ones) and gives
    the summary (also kept as meta ``final``)."""
    if plan.seeds <= 0:
        return None
    task, budget = training.task, training.budget
    seeds = [plan.seed + 1 + i for i in range(plan.seeds)]  # not the seed selection used
    subjects = [(c.id, "candidate", c.code) for c in final_subjects(store, plan.top)]
    baseline = store.baseline()
    if baseline is not None:
        subjects.append((baseline.id, "baseline", baseline.code))
    if task.sparse:
        subjects.append(("sparse", "sparse", task.sparse))
    if not any(role == "candidate" for _, role, _ in subjects):
        return None
    done = {(r.subject, r.seed) for r in store.final_runs()}
    todo = [(s, seed) for s in subjects for seed in seeds if (s[0], seed) not in done]
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
    summary = summarize_final(store.final_runs(), [s[0] for s in subjects], seeds, store)
    store.set_final(summary)
    store.event("final_scored", {"best": summary.best, "seeds": seeds})
    return summary


def summarize_final(rows: list[FinalRun], subjects: list[str], seeds: list[int], store: RunStore) -> FinalSummary:
    """Mean ± std fitness per subject over the final seeds, the best (``selection.final_best``), and the
    human-normalized score (fitness − sparse) / |baseline − sparse| where it means something
    (``normalization``)."""
    from .selection import final_best

    entries = []
    for subject in subjects:
        mine = [r for r in rows if r.subject == subject and r.seed in seeds]
        values = [r.fitness for r in mine if r.status == SCORED]
        entries.append(FinalEntry(
            id=subject, role=mine[0].role if mine else None, seeds=len(values),
            failed=sum(r.status == FAILED for r in mine), per_seed=values,
            fitness_mean=statistics.fmean(values) if values else None,
            fitness_std=statistics.pstdev(values) if len(values) > 1 else 0.0 if values else None,
            timesteps=max((r.timesteps or 0 for r in mine), default=None),
            search_fitness=store.candidate(subject).fitness if subject != "sparse" else None))
    by_role = {e.role: e for e in entries if e.role in ("baseline", "sparse")}
    base, sparse = by_role.get("baseline"), by_role.get("sparse")
    scale, note = normalization(base, sparse)
    entries = [replace(e, normalized=(e.fitness_mean - sparse.fitness_mean) / scale
                       if scale and e.fitness_mean is not None else None) for e in entries]
    return FinalSummary(seeds=list(seeds), timesteps=entries[0].timesteps if entries else None, entries=entries,
                        best=final_best(entries, store.config),
                        normalization=None if scale is None else
                        {"baseline": base.fitness_mean, "sparse": sparse.fitness_mean},
                        normalization_note=note)


def normalization(base: FinalEntry | None, sparse: FinalEntry | None) -> tuple[float | None, str | None]:
    """(|baseline − sparse|, None) when the human-normalized score means something; else (None, why
    not). It means nothing when the two are within their noise (|Δ| ≤ √(std_baseline² + std_sparse²)),
    or when either scored on a single seed (its noise unknown):
    the ratio then divides by noise and can print any number (walker at 300k steps: baseline
    3.37 ± 0.78, sparse 3.56 ± 1.0 made a candidate "30.2")."""
    if base is None or sparse is None or base.fitness_mean is None or sparse.fitness_mean is None:
        missing = [name for name, e in (("baseline", base), ("sparse", sparse))
                   if e is None or e.fitness_mean is None]
        return None, f"no {' or '.join(missing)} score"
    if min(base.seeds, sparse.seeds) < 2:
        return None, (f"the baseline and the sparse reward scored on {min(base.seeds, sparse.seeds)} seed, so their "
                      f"noise is unknown: compare raw fitness with the baseline's")
    gap = abs(base.fitness_mean - sparse.fitness_mean)
    noise = math.hypot(base.fitness_std or 0.0, sparse.fitness_std or 0.0)
    if gap == 0 or gap <= noise:
        return None, (f"the baseline ({base.fitness_mean:.4g} ± {base.fitness_std or 0:.2g}) and the sparse "
                      f"reward ({sparse.fitness_mean:.4g} ± {sparse.fitness_std or 0:.2g}) are within their "
                      f"noise (|Δ| {gap:.2g} ≤ combined std {noise:.2g}): compare raw fitness with the baseline's")
    return gap, None
