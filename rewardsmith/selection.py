"""Which candidate is "the best", defined once: the run's best (what ``show``, the live view, export,
report and final scoring use) and the best shown to the designer (which must hold on a second seed).

Like with like: a fitness measured on the full budget beats any fitness measured at a lower halving rung
(``store.budget_fraction``), then the higher fitness, then the earlier candidate. The human baseline
competes only in offline-designer runs (it is their seed; for an LLM run it is a reference the model
never sees as "the best so far").
"""

from __future__ import annotations

from .store import SCORED, Candidate, budget_fraction


def rank_key(c: Candidate) -> tuple:
    """Sort key, best first when sorted ascending."""
    return (-budget_fraction(c), -c.fitness, c.seq)


def ranked(candidates: list[Candidate], exclude_origins: tuple[str, ...] = ()) -> list[Candidate]:
    """The scored candidates with a fitness, best first."""
    pool = [c for c in candidates if c.status == SCORED and c.fitness is not None
            and c.origin not in exclude_origins]
    return sorted(pool, key=rank_key)


def best_of(candidates: list[Candidate], exclude_origins: tuple[str, ...] = ()) -> Candidate | None:
    """The best of ``candidates`` (None when none is scored)."""
    order = ranked(candidates, exclude_origins)
    return order[0] if order else None


def best_so_far(candidates: list[Candidate],
                exclude_origins: tuple[str, ...] = ()) -> list[tuple[int, Candidate | None]]:
    """Per generation of ``candidates`` (ascending): the best of that generation and the earlier ones,
    by the same rule as the run's best (None while nothing is scored)."""
    generations = sorted({c.generation for c in candidates})
    return [(g, best_of([c for c in candidates if c.generation <= g], exclude_origins)) for g in generations]


def baseline_competes(config: dict) -> bool:
    """Whether the human baseline can be the run's best: only with the offline designer."""
    return config.get("designer") == "offline"


def best_of_run(store) -> Candidate | None:
    """The run's best scored candidate."""
    return best_of(store.candidates(status=SCORED),
                   exclude_origins=() if baseline_competes(store.config) else ("baseline",))


def confirmed_mean(c: Candidate) -> float | None:
    """A candidate's fitness as the designer's "best so far" compares it: the mean over its search seed
    and its confirmation seed when it has one (``result.confirmation``; None if that seed failed), else
    its search fitness."""
    confirmation = c.result.confirmation if c.result else None
    return c.fitness if confirmation is None else confirmation.mean


def confirmed_seeds(c: Candidate) -> int:
    """How many seeds ``confirmed_mean`` averages: 2 once the candidate has a confirmation seed, else 1."""
    return 2 if c.result is not None and c.result.confirmation is not None else 1


def prompt_best(store) -> Candidate | None:
    """The best shown to the designer: the incumbent recorded in meta ``prompt_best`` (a candidate
    replaces it only when its advantage holds on a second seed; evolve.Evolution._confirm), else the
    run's best."""
    cid = store.meta("prompt_best")
    if cid:
        return store.candidate(cid)
    return best_of_run(store)
