"""The population: what a designer is shown of the run. It chooses the best so far by the most evidence
(selection.run_pick: confirmed, multi-rung aware), so every designer builds on the same candidate, and
gathers last generation's failures, a person's unused feedback and edits not shown yet. It also chooses
the parents a designer that mutates code builds on (``parents``); a designer only writes code."""

from __future__ import annotations

from typing import cast

from ..design.base import DesignContext
from ..task import Task
from .store import FAILED, REJECTED, SCORED, Candidate, RunStore

PARENTS = 2  # the archive's best this many, and every scored edit of a person, are a mutation's parents


def design_context(store: RunStore, task: Task, config, timesteps: int, generation: int) -> DesignContext:
    """What the designer of ``generation`` is given (design.base.DesignContext)."""
    from .selection import run_pick

    archive = store.candidates()
    previous = [c for c in archive if c.generation == generation - 1]
    feedback = store.feedback(unused_only=True)
    pick = run_pick(store)  # the designer's "best so far" is the run's best
    human_edits = [c for c in archive if c.origin == "human" and c.id not in store.edits_shown()]
    baseline = store.baseline()
    return DesignContext(
        task=task, generation=generation, samples=config.samples,
        timesteps=timesteps, archive=archive, best=pick.candidate if pick else None,
        best_score=pick, baseline=baseline,
        failures=[c for c in previous if c.status in (REJECTED, FAILED)],
        feedback=feedback,
        reflection=not (config.feedback_replaces_reflection and feedback),
        human_edits=human_edits,
        seed=config.seed,
        parents=parents(archive, human_edits, baseline),
    )


def parents(archive: list[Candidate], human_edits: list[Candidate], baseline: Candidate | None) -> list[Candidate]:
    """The candidates a mutation builds on, the first the likeliest: the archive's ``PARENTS`` best by
    search fitness and every scored edit of a person; with none of those, the baseline."""
    scored = sorted((c for c in archive if c.fitness is not None and c.status == SCORED),
                    key=lambda c: -cast(float, c.fitness))
    edits = [c for c in human_edits if c.status == SCORED]
    return (scored[:PARENTS] + edits) or ([baseline] if baseline else [])
