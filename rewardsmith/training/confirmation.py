"""Confirmation: the evidence the designer's best so far (selection.run_pick) changes on. When a
generation's best full-budget candidate beats the best of the earlier generations on its one search
seed, it trains a second seed (so does the incumbent, once, if it has only its search seed) at the same
budget; the rule then ranks both by their two-seed means, so the challenger takes the place only if its
advantage holds. One attempt per generation; both seeds are kept in each candidate's
``result.confirmation``, and the env steps a confirmation seed trained count in its ``steps_spent``, as a
second seed at a halving cut-off does (rung_seeds.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable, cast

from ..archive.records import CandidateResult, Confirmation
from ..archive.store import SCORED, RunStore
from ..errors import TrainingError
from ..task import Task
from .final import CONFIRM_SEED_OFFSET
from .trainer import Budget

if TYPE_CHECKING:
    from ..archive.held import Held


def confirm(store: RunStore, task: Task, config, budget: Budget, executor, generation: int,
            emit: Callable[..., None], held: Held | None = None) -> None:
    """Trains the confirmation seeds of ``generation``'s challenger (and the incumbent) when it needs them,
    and records the outcome; ``executor``: a function giving where trainings run; ``held``: the run's
    candidates as the generation holds them (training/generation.py), where each record written here is put
    back (None: the scored ones are read from the store)."""
    from ..archive.selection import best_of, contenders, evidence_of, pick_best
    from ..archive.store import full_budget

    attempts = store.meta("confirmations", {})
    if str(generation) in attempts:
        return
    exclude = contenders(store.config)
    scored = held.scored() if held is not None else store.candidates(status=SCORED)
    standing = pick_best([c for c in scored if c.generation < generation], None, exclude)
    challenger = best_of([c for c in scored if c.generation == generation and full_budget(c)], exclude)
    if challenger is None or standing is None:  # nothing shown yet: the first best needs no second seed
        return
    incumbent = standing.candidate
    if cast(float, challenger.fitness) <= standing.fitness:  # best_of picks only among scored candidates
        return
    seed = config.seed + CONFIRM_SEED_OFFSET
    todo = [challenger] + ([] if incumbent.result and incumbent.result.confirmation else [incumbent])
    emit("note", message=f"{challenger.id} ({challenger.fitness:.4g}) beats the best so far "
                             f"{incumbent.id} ({standing.fitness:.4g}) on one seed: "
                             f"training seed {seed} to confirm")
    futures = {c.id: executor().submit(task, c.code, seed, budget, eval_episodes=config.eval_episodes)
               for c in todo}
    extra: dict = {}  # fitness of each confirmation seed, None where it failed
    steps: dict[str, int] = {}  # env steps each confirmation seed trained
    for cid, future in futures.items():
        try:
            result = future.result()
        except TrainingError as exc:  # what a failed training trained is not reported: nothing is counted
            emit("note", message=f"confirmation seed of {cid} failed: {exc}")
            extra[cid], steps[cid] = None, 0
            continue
        extra[cid] = result.fitness
        steps[cid] = result.trained_steps if result.trained_steps is not None else result.timesteps
    recorded = {}
    for c in todo:
        fit = extra[c.id]
        record = Confirmation(seed=seed, fitness=fit, search_fitness=c.fitness,
                              mean=None if fit is None else (c.fitness + fit) / 2)
        recorded[c.id] = store.update(c, result=replace(c.result or CandidateResult(), confirmation=record),
                                      steps_spent=(c.steps_spent or 0) + steps[c.id])
    held_now = evidence_of(recorded.get(incumbent.id, incumbent))
    assert held_now is not None  # it was picked for its score
    theirs = held_now.fitness
    ours = extra[challenger.id]
    mine = None if ours is None else (challenger.fitness + ours) / 2
    confirmed = mine is not None and mine > theirs
    verdict = (f"{'confirmed' if confirmed else 'not confirmed'} on seed {seed}: mean of 2 seeds "
               f"{'-' if mine is None else f'{mine:.4g}'} vs the best so far {incumbent.id} {theirs:.4g}")
    current = recorded[challenger.id]
    assert current.result is not None and current.result.confirmation is not None  # recorded just above
    recorded[challenger.id] = store.update(current, result=replace(current.result, confirmation=replace(
        current.result.confirmation, against=incumbent.id, against_mean=theirs, confirmed=confirmed)),
        notes="; ".join(n for n in (current.notes, verdict) if n))
    if held is not None:
        for candidate in recorded.values():
            held.put(candidate)
    store.set_meta("confirmations", {**attempts, str(generation): {
        "challenger": challenger.id, "incumbent": incumbent.id, "confirmed": confirmed}})
    emit("note", message=f"{challenger.id}: {verdict}")
