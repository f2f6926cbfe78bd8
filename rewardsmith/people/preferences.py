"""What people's preferences say about the candidates: a Bradley–Terry score with its uncertainty, and how
far that ranking agrees with the ground-truth fitness.

A preference is "A better than B", "A and B equal" or "could not tell" (``store.add_preference``).
Bradley–Terry gives each candidate a strength ``s`` with P(A better than B) = 1 / (1 + exp(s_B - s_A)),
fitted on all answers at once, so the order the answers came in does not matter (Elo's would). An
"equal" counts as half a win each way; "could not tell" carries no information and is left out. A
Gaussian prior (mean 0, ``PRIOR_SD``) on every strength keeps the fit finite when one candidate won every
time or the comparisons fall into separate groups; the uncertainty is the Laplace approximation's
(the square root of the diagonal of the inverse Hessian at the optimum), found by Newton's method.

Ground-truth fitness stays the recorded score: this module only reports the preference ranking beside it,
with Kendall's τ between the two and each "conflict" (a person preferred A over B where B's fitness is the
higher) named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeGuard

import numpy as np

PRIOR_SD = 2.0  # a strength difference of 2 is P(win) = 0.88: a prior that allows a clear winner


@dataclass(frozen=True)
class Strength:
    """One candidate's Bradley–Terry score (log-strength, 0 = average) and its standard error, beside its
    ground-truth fitness (None where it has none)."""

    id: str
    score: float
    sd: float
    wins: float      # equal answers count half
    comparisons: int
    fitness: float | None = None


@dataclass(frozen=True)
class Conflict:
    """A preference that goes against the fitness: ``preferred`` chosen over ``other``, whose fitness is higher."""

    preferred: str
    other: str
    preferred_fitness: float
    other_fitness: float
    reason: str | None
    gap_sd: float | None = None  # the noise of the fitness gap: the two fitness spreads combined (None: unknown)

    @property
    def gap(self) -> float:
        """How much higher the fitness of the candidate the person rejected is."""
        return self.other_fitness - self.preferred_fitness

    def describe(self) -> str:
        """e.g. "person prefers c4 over c2; fitness says c2 by 1.3 ± 0.4 (3.1 vs 1.8)"."""
        noise = f" ± {self.gap_sd:.2g}" if self.gap_sd else ""
        return (f"person prefers {self.preferred} over {self.other}; fitness says {self.other} by {self.gap:.3g}"
                f"{noise} ({self.other_fitness:.4g} vs {self.preferred_fitness:.4g})")


@dataclass(frozen=True)
class PreferenceSummary:
    """What the preferences of a run say: scores best first, agreement with fitness, conflicts."""

    answers: int           # standing preferences, "could not tell" included
    informative: int       # those that enter the fit ("better" and "equal")
    strengths: list[Strength]
    tau: float | None      # Kendall's tau-b between preference score and fitness (None: fewer than 2 with both)
    tau_over: int          # how many candidates the tau compares
    conflicts: list[Conflict]

    def to_json(self) -> dict:
        return {"answers": self.answers, "informative": self.informative,
                "scores": [{"id": s.id, "score": s.score, "sd": s.sd, "wins": s.wins, "comparisons": s.comparisons,
                            "fitness": s.fitness} for s in self.strengths],
                "kendall_tau": self.tau, "tau_over": self.tau_over,
                "conflicts": [{"preferred": c.preferred, "other": c.other, "preferred_fitness": c.preferred_fitness,
                               "other_fitness": c.other_fitness, "gap": c.gap, "gap_sd": c.gap_sd,
                               "reason": c.reason, "describe": c.describe()} for c in self.conflicts]}

    def line(self) -> str:
        """One line for ``show``."""
        if not self.answers:
            return "preferences: none yet (rewardsmith prefer DIR A B, or the page: rewardsmith serve DIR)"
        top = ", ".join(f"{s.id} {s.score:+.2f} ± {s.sd:.2f} (fitness {_num(s.fitness)})" for s in self.strengths[:3])
        tau = "-" if self.tau is None else f"{self.tau:+.2f} over {self.tau_over}"
        return (f"preferences: {self.answers} answers ({self.informative} informative); Bradley–Terry {top or '-'}; "
                f"Kendall τ with fitness {tau}; {len(self.conflicts)} conflict(s)"
                + "".join(f"\n  conflict: {c.describe()}" for c in self.conflicts[:5]))


def bradley_terry(pairs: list[tuple[str, str, float]], prior_sd: float = PRIOR_SD,
                  iterations: int = 50) -> dict[str, tuple[float, float]]:
    """{id: (score, sd)} from ``(a, b, wins of a)`` comparisons (1: a better, 0.5: equal), by Newton's method
    on the log-posterior with a N(0, prior_sd²) prior on each score; scores centred on their mean, ``sd``
    the uncertainty of each one's difference from that mean."""
    ids = sorted({x for a, b, _ in pairs for x in (a, b)})
    if not ids:
        return {}
    index = {cid: i for i, cid in enumerate(ids)}
    n = len(ids)
    a_idx = np.array([index[a] for a, _, _ in pairs])
    b_idx = np.array([index[b] for _, b, _ in pairs])
    y = np.array([w for _, _, w in pairs], dtype=float)
    s = np.zeros(n)
    precision = 1.0 / prior_sd ** 2
    hessian = np.eye(n) * precision
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(s[b_idx] - s[a_idx]))  # P(a better than b)
        residual = y - p
        gradient = -precision * s
        np.add.at(gradient, a_idx, residual)
        np.add.at(gradient, b_idx, -residual)
        weight = p * (1.0 - p)
        hessian = np.eye(n) * precision  # the negative Hessian of the log-posterior
        np.add.at(hessian, (a_idx, a_idx), weight)
        np.add.at(hessian, (b_idx, b_idx), weight)
        np.add.at(hessian, (a_idx, b_idx), -weight)
        np.add.at(hessian, (b_idx, a_idx), -weight)
        step = np.linalg.solve(hessian, gradient)
        s = s + step
        if np.max(np.abs(step)) < 1e-10:
            break
    # scores are only defined up to a common shift: give them centred (mean 0) with the uncertainty of each
    # one's difference from the mean, not of the shift the prior alone pins down
    covariance = np.linalg.inv(hessian)
    centring = np.eye(n) - np.full((n, n), 1.0 / n)
    sd = np.sqrt(np.clip(np.diag(centring @ covariance @ centring.T), 0.0, None))
    s = s - s.mean()
    return {cid: (float(s[i]), float(sd[i])) for cid, i in index.items()}


def kendall_tau(x: list[float], y: list[float]) -> float | None:
    """Kendall's tau-b of two equally long sequences (None when either is constant or shorter than 2)."""
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else None


def summarize(preferences: list[dict], fitness: dict[str, float | None],
              spread: dict[str, float | None] | None = None) -> PreferenceSummary:
    """The summary of standing ``preferences`` (``store.preferences()`` rows) against each candidate's
    ``fitness`` (the ground truth; None for one without a score), with its ``spread`` (the std of that
    score over its seeds, where known) giving each conflict's noise."""
    spread = spread or {}
    pairs: list[tuple[str, str, float]] = []
    wins: dict[str, float] = {}
    counts: dict[str, int] = {}
    for p in preferences:
        if p["outcome"] == "unsure":
            continue
        won = 1.0 if p["outcome"] == "better" else 0.5
        pairs.append((p["preferred"], p["other"], won))
        for cid, w in ((p["preferred"], won), (p["other"], 1.0 - won)):
            wins[cid] = wins.get(cid, 0.0) + w
            counts[cid] = counts.get(cid, 0) + 1
    fitted = bradley_terry(pairs)
    strengths = sorted((Strength(cid, score, sd, wins[cid], counts[cid], fitness.get(cid) if _finite(fitness.get(cid))
                                 else None) for cid, (score, sd) in fitted.items()), key=lambda s: (-s.score, s.id))
    known = {cid: f for cid, f in fitness.items() if f is not None and _finite(f)}
    both = [s for s in strengths if s.id in known]
    tau = kendall_tau([s.score for s in both], [known[s.id] for s in both]) if len(both) >= 2 else None
    conflicts = [Conflict(p["preferred"], p["other"], known[p["preferred"]], known[p["other"]], p.get("reason"),
                          _combined(spread.get(p["preferred"]), spread.get(p["other"])))
                 for p in preferences if p["outcome"] == "better"
                 and p["preferred"] in known and p["other"] in known
                 and known[p["preferred"]] < known[p["other"]]]
    return PreferenceSummary(len(preferences), len(pairs), strengths, tau, len(both) if tau is not None else 0,
                             conflicts)


def run_summary(store) -> PreferenceSummary:
    """``summarize`` for a run: its standing preferences against each candidate's recorded fitness
    (the score the run ranks it by: ``selection.evidence_of``, the final scoring where it has one)."""
    from ..archive.selection import evidence_of

    final = store.final()
    fitness, spread = {}, {}
    for c in store.candidates():
        pick = evidence_of(c, final)
        fitness[c.id] = pick.fitness if pick is not None else None
        spread[c.id] = pick.fitness_std if pick is not None and pick.seeds > 1 else None
    return summarize(store.preferences(), fitness, spread)


def _finite(x: float | None) -> TypeGuard[float]:
    return x is not None and math.isfinite(x)


def _combined(a: float | None, b: float | None) -> float | None:
    """The noise of a difference of two scores with these spreads (None when either is unknown)."""
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return math.hypot(a, b)


def _num(x) -> str:
    return "-" if x is None else f"{x:.4g}"
