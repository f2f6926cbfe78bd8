"""The population: what a designer is shown of the run, and the one place that chooses parents.

It ranks the archive once (``ranking.rank``: by evidence, as ``selection`` names the best: final scoring
before confirmed seeds before one seed, a candidate stopped at a lower halving rung never above one measured
on the full budget; with ``--preference-weight`` a person's Bradley–Terry score re-ranks within the noise
band), splits it into islands (``islands``: each evolves apart, the best exchanged every ``--migrate-every``
generations) and behaviour cells (``cells``: MAP-Elites, the best of each cell its elite), and gives the
designer of a generation (design.base.DesignContext):

- ``parents``: the islands' parents interleaved, so sample i built on ``parents[i % len(parents)]`` covers
  every island equally; a proposal's ``parent`` decides the island its candidate joins (``island_for``);
- ``inspirations``: up to ``INSPIRATIONS`` elites of cells none of the parents is in, dealt across islands;
- ``best``: the run's best by the most evidence (selection.run_pick), last generation's failures, a
  person's unused feedback, edits not shown yet, and the run's standing preferences.

A designer only writes code.
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields

from ...design.base import DesignContext
from ...task import Task
from ..store import FAILED, REJECTED, SCORED, Candidate, RunStore
from .cells import Cell, cells, elites
from .islands import home, island_for, plan  # noqa: F401 - island_for: admission's and edits' island
from .ranking import own_spread, preference_scores, rank

INSPIRATIONS = 3  # elites of other behaviour cells shown beside the parents


def settings(config) -> tuple[int, int, float]:
    """(islands, migrate_every, preference_weight) of a run's config (an ``EvolveConfig`` or the stored
    ``config.json`` dict; a run from before islands had one population, as its migration m007 says)."""
    from ...config import EvolveConfig

    defaults = {f.name: f.default for f in dataclass_fields(EvolveConfig)}
    if isinstance(config, dict):
        defaults["islands"] = 1
    get = config.get if isinstance(config, dict) else (lambda k, d: getattr(config, k, d))
    return (int(get("islands", defaults["islands"])), int(get("migrate_every", defaults["migrate_every"])),
            float(get("preference_weight", defaults["preference_weight"])))


def ranked(store: RunStore, weight: float, preferences: list[dict] | None = None,
           archive: list[Candidate] | None = None, final=None) -> list[Candidate]:
    """The candidates that may be parents or elites, best first (``ranking.rank``): the run's contenders
    (the baseline only where it competes, selection.contenders); ``archive`` and ``final``: the run's
    candidates and final scoring as already read (default: read from the store)."""
    from ..selection import contenders

    archive = store.candidates() if archive is None else archive
    final = store.final() if final is None else final
    preferences = store.preferences() if preferences is None else preferences
    scores = preference_scores(preferences) if weight > 0 and preferences else None
    return [p.candidate for p in rank(archive, final, contenders(store.config), scores, weight,
                                      noise_of=score_noise_of(store, archive) if scores else own_spread)]


def score_noise_of(store: RunStore, archive: list[Candidate] | None = None):
    """The noise of a score as the final top-k cut-off judges it (``training.final.score_noise``): its
    evaluation episodes', the run's seed-to-seed spread over its seeds, at least the "no better than random"
    margin; so a preference can re-rank rewards the evidence cannot tell apart even where one seed's
    evaluation is deterministic (zero spread of its own). ``archive``: the run's candidates as already read."""
    from ...training.final import score_noise, seed_spread
    from ...training.schedule import random_margin

    spread, floor = seed_spread(store, archive), random_margin(store.meta("random_fitness"))
    return lambda pick: max(own_spread(pick), score_noise(pick, spread, floor))


def parents(archive: list[Candidate], human_edits: list[Candidate], baseline: Candidate | None, final=None,
            exclude_origins: tuple[str, ...] = ()) -> list[Candidate]:
    """The parents of a population of one island (``islands.plan``): its best by evidence, a person's scored
    edits not shown yet, its second best; with none of those, the baseline."""
    order = [p.candidate for p in rank(archive, final, exclude_origins)]
    return plan(order, 1, 0, 1, [c for c in human_edits if c.status == SCORED], baseline).parents


def inspirations(order: list[Candidate], cell: dict[str, Cell | None], parents: list[Candidate], islands: int,
                 count: int = INSPIRATIONS) -> list[Candidate]:
    """Up to ``count`` elites of cells no parent is in, best first within each island, the islands dealt in
    turn (OpenEvolve's ``database.sample(num_inspirations)``)."""
    taken = {p.id for p in parents}
    parent_cells = {cell[p.id] for p in parents if cell.get(p.id) is not None}
    pool = [members[0] for c, members in elites(order, cell).items() if c not in parent_cells
            and members[0].id not in taken]
    by_island = [[c for c in pool if home(c, islands) == k] for k in range(max(1, islands))]
    dealt = [own[j] for j in range(max(map(len, by_island), default=0)) for own in by_island if j < len(own)]
    return dealt[:count]


def design_context(store: RunStore, task: Task, config, timesteps: int, generation: int) -> DesignContext:
    """What the designer of ``generation`` is given (design.base.DesignContext); records the islands'
    offers (meta ``population.g<generation>``) that ``island_for`` places its proposals by. The archive is
    read once, here: the context's ``archive`` is what the generation's later stages hold (archive/held.py)."""
    from ..selection import contenders, pick_best

    islands, migrate_every, weight = settings(config)
    archive, final = store.candidates(), store.final()
    previous = [c for c in archive if c.generation == generation - 1]
    feedback = store.feedback(unused_only=True)
    pick = pick_best(archive, final, contenders(store.config))  # the run's best (selection.run_pick)
    shown = store.edits_shown()
    human_edits = [c for c in archive if c.origin == "human" and c.id not in shown]
    baseline = next((c for c in archive if c.origin == "baseline"), None)
    preferences = store.preferences()
    order = ranked(store, weight, preferences, archive, final)
    chosen = plan(order, islands, generation, migrate_every, [c for c in human_edits if c.status == SCORED],
                  baseline)
    store.set_meta(f"population.g{generation}", chosen.to_json())
    parents = chosen.parents
    return DesignContext(
        task=task, generation=generation, samples=config.samples,
        timesteps=timesteps, archive=archive, best=pick.candidate if pick else None,
        best_score=pick, baseline=baseline,
        failures=[c for c in previous if c.status in (REJECTED, FAILED)],
        feedback=feedback,
        reflection=not (config.feedback_replaces_reflection and feedback),
        human_edits=human_edits,
        seed=config.seed,
        parents=parents,
        inspirations=inspirations(order, cells(archive), parents, islands),
        preferences=[{k: p[k] for k in ("id", "preferred", "other", "outcome", "reason")} for p in preferences],
        duplicates=[c for c in archive if c.duplicate_of and c.generation < generation],  # intake/duplicates.py
    )


def summary(store: RunStore) -> dict:
    """The population as ``show --population --json`` gives it: the settings, each candidate's island and
    cell, each island's best by the ranking (``island_best``: an id or None per island), and per cell its
    members best first (the elite first)."""
    islands, migrate_every, weight = settings(store.config)
    archive = store.candidates()
    cell = cells(archive)
    order = ranked(store, weight, archive=archive)
    by_cell = elites(order, cell)
    elite_ids = {members[0].id for members in by_cell.values()}
    return {
        "islands": islands, "migrate_every": migrate_every, "preference_weight": weight,
        "island_best": [next((c.id for c in order if home(c, islands) == k), None) for k in range(max(1, islands))],
        "candidates": [{"id": c.id, "island": home(c, islands) if c.island is not None else None,
                        "cell": where.to_json() if (where := cell[c.id]) is not None else None,
                        "elite": c.id in elite_ids} for c in archive],
        "cells": [{"cell": c.to_json(), "label": c.label(), "elite": members[0].id,
                   "members": [m.id for m in members]} for c, members in by_cell.items()],
        "last_plan": _last_plan(store),
    }


def _last_plan(store: RunStore) -> dict | None:
    """The islands' offers of the last designed generation (None before any)."""
    designed = store.designed_generations()
    return store.meta(f"population.g{designed[-1]}") if designed else None
