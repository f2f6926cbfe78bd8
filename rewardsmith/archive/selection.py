"""Which candidate is "the best", defined once, by the most evidence.

Every place that names a best (``show``, ``show --json``'s ``best``, the report, the live view, the
designer's "best so far" and ``export``'s default) asks ``run_pick``. A candidate's evidence is the best
measurement the run holds of it, in this order:

1. ``final``: the final scoring's mean over fresh seeds at the full budget (final.py), where it has one;
2. ``confirmed``: the mean of its search seed and its confirmation seed (training/confirmation.py);
3. ``search``: its search fitness, at the halving rung where it stopped.

Candidates are compared by: a score over two or more seeds before any single seed (one short seed ranks
rewards by luck); then the kind of evidence above; then like with like (a score at the full budget
before one at a lower halving rung, ``store.budget_fraction``); then the higher score; then the earlier
candidate. The human baseline competes only in offline-designer runs (it is their seed; for an LLM run
it is a reference the model never sees as "the best so far").
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import cast

from .candidates import SCORED, Candidate, budget_fraction
from .evidence import Pick
from .records import FinalEntry


def evidence_of(c: Candidate, final=None) -> Pick | None:
    """The most evidence the run holds of ``c`` (None when it has no score): its final-scoring entry
    in ``final`` (a ``records.FinalSummary``) when that has a score, else its confirmed two-seed mean,
    else its search fitness."""
    entry = final.entry(c.id) if final is not None else None
    if entry is not None and entry.fitness_mean is not None and entry.seeds:
        return Pick(c, entry.fitness_mean, entry.fitness_std, entry.seeds, "final", 1.0)
    if c.status != SCORED or c.fitness is None:
        return None
    confirmation = c.result.confirmation if c.result else None
    if confirmation is not None and confirmation.fitness is not None and confirmation.mean is not None:
        spread = abs(confirmation.fitness - c.fitness) / 2  # the population std of two values
        return Pick(c, confirmation.mean, spread, 2, "confirmed", budget_fraction(c))
    return Pick(c, c.fitness, c.fitness_std, max(1, len(c.seeds or [])), "search", budget_fraction(c))


def picks(candidates: list[Candidate], final=None, exclude_origins: tuple[str, ...] = ()) -> list[Pick]:
    """The candidates with a score, each with its most evidence, best first."""
    out = [evidence_of(c, final) for c in candidates if c.origin not in exclude_origins]
    return sorted((p for p in out if p is not None), key=Pick.key)


def pick_best(candidates: list[Candidate], final=None, exclude_origins: tuple[str, ...] = ()) -> Pick | None:
    """The best of ``candidates`` by the rule (None when none has a score)."""
    order = picks(candidates, final, exclude_origins)
    return order[0] if order else None


def contenders(config: dict) -> tuple[str, ...]:
    """The origins left out of "the best": the baseline, except with the offline designer."""
    return () if baseline_competes(config) else ("baseline",)


def baseline_competes(config: dict) -> bool:
    """Whether the human baseline can be the run's best: only where it is the designer's seed (the offline
    designer's)."""
    from ..design.base import designer_plugin

    plugin = designer_plugin(config.get("designer"))
    return bool(plugin and plugin.baseline_competes)


def run_pick(store) -> Pick | None:
    """The run's best with the score that makes it so (final scoring where the run has one)."""
    return pick_best(store.candidates(), store.final(), contenders(store.config))


def best_of_run(store) -> Candidate | None:
    """The run's best candidate (``run_pick``)."""
    pick = run_pick(store)
    return pick.candidate if pick else None


def prompt_best(store) -> Candidate | None:
    """The best shown to the designer as "the best so far": the run's best, by the same rule (during
    the search that is the best confirmed two-seed mean; a challenger gets its second seed only when
    its search seed beats it, training/confirmation.py)."""
    return best_of_run(store)


def final_best(summary_entries, config: dict, seq: dict[str, int] | None = None) -> str | None:
    """The id of the best final-scoring entry by the rule (what final.summarize_final records). A tie goes
    to the earlier candidate (``seq``: each id's place in the archive), as ``Pick.key`` breaks it, so the
    summary and ``run_pick`` name the same best (a duplicate sharing its original's fitness, rewards that all
    reach a task's cap); without ``seq``, to the earlier entry."""
    competing = ("candidate", "baseline") if baseline_competes(config) else ("candidate",)
    order = seq or {}
    ranked = sorted(((e.seeds < 2, -e.fitness_mean, order.get(e.id, i), i) for i, e in enumerate(summary_entries)
                     if e.role in competing and e.fitness_mean is not None and e.seeds),)
    return summary_entries[ranked[0][3]].id if ranked else None


def best_so_far(candidates: list[Candidate],
                exclude_origins: tuple[str, ...] = ()) -> list[tuple[int, Pick | None]]:
    """Per generation of ``candidates`` (ascending): the best of that generation and the earlier ones,
    by the rule, as the search saw it (None while nothing is scored)."""
    generations = sorted({c.generation for c in candidates})
    return [(g, pick_best([c for c in candidates if c.generation <= g], None, exclude_origins))
            for g in generations]


# ------------------------------------------------------------------ contention for the final scoring


def in_contention(candidates: list[Candidate], exclude_origins: tuple[str, ...] = ("baseline",)) -> list[Pick]:
    """Whom the final scoring re-trains first: those that went furthest in successive halving, then the
    higher mean over the seeds each has (a confirmed or boundary seed counts; final.boundary_seeds)."""
    out = [evidence_of(c) for c in candidates if c.origin not in exclude_origins]
    return sorted((p for p in out if p is not None),
                  key=lambda p: (-p.budget_fraction, -p.fitness, p.candidate.seq))


# ------------------------------------------------------------------ single-seed ranking (screening)


def rank_key(c: Candidate) -> tuple:
    """Sort key, best first: the full budget first, then the search fitness."""
    return (-budget_fraction(c), -cast(float, c.fitness), c.seq)  # ranked candidates are scored


def ranked(candidates: list[Candidate], exclude_origins: tuple[str, ...] = ()) -> list[Candidate]:
    """The scored candidates with a fitness, by ``rank_key``."""
    pool = [c for c in candidates if c.status == SCORED and c.fitness is not None
            and c.origin not in exclude_origins]
    return sorted(pool, key=rank_key)


def best_of(candidates: list[Candidate], exclude_origins: tuple[str, ...] = ()) -> Candidate | None:
    """The best of ``candidates`` by the rule, with no final scoring (None when none is scored)."""
    pick = pick_best(candidates, None, exclude_origins)
    return pick.candidate if pick else None


def confirmed_mean(c: Candidate) -> float | None:
    """A candidate's score as the search compares it: the mean over its search seed and its
    confirmation seed when it has one (None if that seed failed), else its search fitness."""
    confirmation = c.result.confirmation if c.result else None
    return c.fitness if confirmation is None else confirmation.mean


def confirmed_seeds(c: Candidate) -> int:
    """How many seeds ``confirmed_mean`` averages: 2 once the candidate has a confirmation seed, else 1."""
    return 2 if c.result is not None and c.result.confirmation is not None else 1


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


def normalized(entries: list[FinalEntry]) -> tuple[list[FinalEntry], dict[str, float] | None, str | None]:
    """The final scoring's ``entries``, each with its human-normalized score (fitness − sparse) /
    |baseline − sparse| where ``normalization`` says it means something (else None); the pair it divides
    by (``{"baseline", "sparse"}`` fitness means, None where it means nothing) and the note saying why not.
    The baseline and the sparse reward are the first entries in those roles. (Data migration m004 re-judges
    stored summaries with it: what it gives a stored summary must not change.)"""
    base = next((e for e in entries if e.role == "baseline"), None)
    sparse = next((e for e in entries if e.role == "sparse"), None)
    scale, note = normalization(base, sparse)
    reference: dict[str, float] | None = None
    if scale is not None:
        # normalization gives a scale only where both have a mean
        assert base is not None and base.fitness_mean is not None
        assert sparse is not None and sparse.fitness_mean is not None
        reference = {"baseline": base.fitness_mean, "sparse": sparse.fitness_mean}
    return [replace(e, normalized=(e.fitness_mean - reference["sparse"]) / scale
                    if scale and reference and e.fitness_mean is not None else None) for e in entries], reference, note
