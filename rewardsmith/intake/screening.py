"""Screening before any RL step (CARD's trajectory preference test): a reward is scored, inside the
sandbox (``replay.replay``), on recorded episodes whose fitness is known, and rejected when its returns
rank them against their fitness.

The episodes (``references``): the baseline's evaluation episodes (trusted: recorded by the evaluation
process, kept as ``candidates/<id>.traj.json.gz``), the run's random-policy episodes (its one random
reference, ``analysis/reference.py``, shared with the analyzer and halving; no candidate code involved),
and the archive's scored candidates' kept evaluation episodes.

The test (``judge``): of every pair of episodes where one is clearly fitter (by more than the analyzer's
"no better than random" margin), the share where the reward gives the fitter one the higher return
(a tie counts half). A reward that does so in at most ``REJECT_AGREEMENT`` of at least ``MIN_PAIRS``
pairs prefers worse behaviour: an all-negative per-step reward on a task that ends on failure (it pays
the agent to die early), or a bonus paid on termination. A reward that cannot tell the episodes apart
(a sparse success bonus on episodes that all fail, say) agrees on half the pairs and passes: screening
rejects only evidence of preferring the wrong episodes, never the lack of evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, cast

import numpy as np

from ..archive.candidates import Candidate
from ..archive.records import CandidateResult, ScreeningRecord, ScreeningRow, Trajectory
from ..task import Task

if TYPE_CHECKING:
    from ..archive.held import Held

REJECT_AGREEMENT = 0.2    # rejected: the fitter episode gets the higher return in at most 20 % of the pairs
MIN_PAIRS = 6             # ... of at least this many clearly ordered pairs
PER_CANDIDATE = 2         # kept episodes taken from each archived candidate
MAX_ARCHIVED = 8          # archived candidates whose episodes are used (best and worst first)


@dataclass
class Reference:
    """One recorded episode with its known fitness."""

    source: str            # "baseline c0", "random", "c3"
    fitness: float
    trajectory: Trajectory

    @property
    def length(self) -> int:
        return self.trajectory.steps


@dataclass(frozen=True)
class Verdict:
    """Whether a reward passed screening and the numbers it was judged on (``evidence``, what the
    candidate keeps), and why not."""

    evidence: ScreeningRecord
    reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.evidence.passed

    def record(self) -> CandidateResult:
        """What a candidate keeps of it before any training (``Candidate.result``)."""
        return CandidateResult(budget_fraction=0.0, screening=self.evidence)


def screen_in_run(store, task: Task, code: str, seed: int, random_fitness: float | None,
                  could_not: Callable[[str], None], held: Held, refs: list[Reference] | None = None,
                  replay=None) -> Verdict | None:
    """Screens ``code`` on the run's recorded episodes (``refs``, or those of ``held``, the run's candidates as
    intake holds them: ``recorded``, read once), as the loop and a person's edit are screened; None when the
    screening job itself fails (``could_not`` hears why): the reward, not judged, goes on to training.
    ``replay``: the sandboxed replay to use (the duplicate check's, made once; default
    ``training.replay.replay``)."""
    from ..errors import SandboxError

    try:
        return screen(task, code, recorded(store, task, seed, held) if refs is None else refs, random_fitness,
                      replay=replay)
    except (SandboxError, ValueError) as exc:
        could_not(f"screening could not run ({exc}); the reward goes on to training")
        return None


def random_episodes(task: Task, episodes: int | None = None, seed: int = 0) -> list[Reference]:
    """Random-action episodes of the task's environment under the run's one seed rule
    (``reference.random_trajectories``)."""
    from ..analysis.reference import EPISODES, random_trajectories

    # each random-policy episode is recorded with its fitness
    return [Reference("random", cast(float, t.fitness), t)
            for t in random_trajectories(task, episodes or EPISODES, seed)]


def scripted_episodes(task: Task, policy, episodes: int, seed: int = 0, source: str = "scripted") -> list[Reference]:
    """Episodes of a trusted policy function ``policy(obs) -> action`` (tests and benchmarks)."""
    from ..sandbox.evaluate import run_episode

    env = task.make_env()
    try:
        return [Reference(source, task.fitness(ep), _record(ep, obs))
                for ep, obs in (run_episode(task, env, policy, 30_000 + seed * 100 + i) for i in range(episodes))]
    finally:
        env.close()


def _record(episode, observations) -> Trajectory:
    from ..analysis.reference import recorded

    return recorded(episode, observations)


def references(store, task: Task, seed: int = 0, archive: list[Candidate] | None = None) -> list[Reference]:
    """The run's recorded episodes with known fitness: the baseline's, random ones (rolled out once per
    run), and the archive's (those with ``obs`` and ``fitness`` recorded). ``archive``: the run's candidates
    as already read (a generation's, archive/held.py; default: read from the store)."""
    from ..archive.selection import ranked

    archive = store.candidates() if archive is None else archive
    refs = random_references(store, task, seed)
    baseline = next((c for c in archive if c.origin == "baseline"), None)
    if baseline is not None:
        refs += _kept(store, baseline.id, f"baseline {baseline.id}")
    scored = [c for c in ranked(archive) if c.origin != "baseline"]
    picked = scored[:MAX_ARCHIVED // 2] + scored[MAX_ARCHIVED // 2:][-(MAX_ARCHIVED // 2):]
    for c in picked:
        refs += _kept(store, c.id, c.id)[:PER_CANDIDATE]
    return refs


def recorded(store, task: Task, seed: int, held: Held) -> list[Reference]:
    """``references`` of the run's candidates as ``held`` holds them (a generation's, archive/held.py), read from
    the run's files once and kept on ``held`` (``Held.episodes``) until a scored record is put there: through a
    design phase, where no candidate is scored, N proposals' duplicate checks and screenings read them once."""
    if held.episodes is None:
        held.episodes = references(store, task, seed=seed, archive=held.all())
    return list(held.episodes)  # the same episodes (the duplicate check's replay serves screening by them)


def random_references(store, task: Task, seed: int = 0) -> list[Reference]:
    """The run's random-policy episodes: its one random reference (``reference.RandomReference``),
    rolled out once per run."""
    from ..analysis.reference import RandomReference

    # each random-policy episode is recorded with its fitness
    return [Reference("random", cast(float, t.fitness), t) for t in RandomReference(store, task, seed).episodes()]


def _kept(store, cid: str, source: str) -> list[Reference]:
    return [Reference(source, float(t.fitness), t) for t in store.trajectories(cid)
            if t.obs is not None and t.fitness is not None]


def _agreement(refs, returns, margin, better, worse) -> tuple[float, int]:
    """(share of pairs (i in better, j in worse), i clearly fitter, where i gets the higher return; pairs)."""
    agree = pairs = 0.0
    for i in better:
        for j in worse:
            if refs[i].fitness - refs[j].fitness > margin:
                pairs += 1
                scale = max(1.0, abs(returns[i]), abs(returns[j]))
                diff = returns[i] - returns[j]
                agree += 1.0 if diff > 1e-9 * scale else 0.5 if abs(diff) <= 1e-9 * scale else 0.0
    return (agree / pairs if pairs else math.nan), int(pairs)


def judge(refs: list[Reference], returns: list[float], margin: float) -> Verdict:
    """The trajectory preference test on episodes with known fitness and the reward's returns on them:
    over all clearly ordered pairs, and between the episodes clearly fitter than every random-policy
    episode and the random ones (the signature of the early-termination hacks: random flailing that
    ends soon is paid more than the best recorded behaviour)."""
    n = len(refs)
    everyone = range(n)
    randoms = [k for k in everyone if refs[k].source == "random"]
    ceiling = max((refs[k].fitness for k in randoms), default=math.inf)
    good = [k for k in everyone if refs[k].fitness > ceiling + margin]
    overall, pairs = _agreement(refs, returns, margin, everyone, everyone)
    versus_random, random_pairs = _agreement(refs, returns, margin, good, randoms)
    rho = _spearman([r.fitness for r in refs], returns)
    table = [ScreeningRow(r.source, round(r.fitness, 4), r.length, round(ret, 4))
             for r, ret in sorted(zip(refs, returns), key=lambda x: -x[0].fitness)]
    wrong_overall = pairs >= MIN_PAIRS and overall <= REJECT_AGREEMENT
    wrong_vs_random = random_pairs >= MIN_PAIRS and versus_random <= REJECT_AGREEMENT
    evidence = ScreeningRecord(
        passed=not (wrong_overall or wrong_vs_random), episodes=n, pairs=pairs,
        agreement=None if not pairs else round(overall, 3), pairs_vs_random=random_pairs,
        agreement_vs_random=None if not random_pairs else round(versus_random, 3),
        spearman=None if rho is None else round(rho, 3), margin=margin, table=table)
    if evidence.passed:
        return Verdict(evidence)
    best = max(range(n), key=lambda k: refs[k].fitness)
    versus = ""
    if randoms:
        beaten = [k for k in randoms if returns[k] > returns[best]]
        versus = (f"; the fittest episode ({refs[best].source}, fitness {refs[best].fitness:.4g}, "
                  f"{refs[best].length} steps) gets a return of {returns[best]:.4g}, while "
                  f"{len(beaten)} of {len(randoms)} random-policy episodes (fitness "
                  f"{_span([refs[k].fitness for k in randoms])}, {_span([refs[k].length for k in randoms], 'g')} "
                  f"steps) get more: {_span([returns[k] for k in randoms])}")
    share, count, which = (versus_random, random_pairs, "an episode clearly fitter than every random-policy one "
                           "is paired with a random one") if wrong_vs_random else (overall, pairs, "one episode is clearly fitter")
    summary = (f"its returns rank recorded episodes against their fitness: of {count} pairs where {which}, "
               f"it pays the fitter one more in only {share:.0%} "
               f"(Spearman rho between return and fitness {rho if rho is None else f'{rho:.2f}'}){versus}. "
               f"Trained on it, the agent would learn the worse behaviour (e.g. ending episodes early).")
    rows = "\n".join(f"  {t.source:<14} fitness {t.fitness:>10.4g}  steps {t.steps:>5}  "
                     f"return {t.reward_return:>11.4g}" for t in table)
    reason = f"REJECTED by screening (no training step spent)\n{summary}\n{rows}"
    return Verdict(evidence, reason)


def screen(task: Task, code: str, refs: list[Reference], random_fitness: float | None, limits=None,
           replay=None) -> Verdict:
    """Replays ``code`` on ``refs`` in the sandbox (``replay``: default ``training.replay.replay``) and
    judges it (see the module doc). A reward that fails on a recorded step is rejected with the error;
    RewardCodeError is not raised."""
    from ..errors import RewardCodeError
    from ..training.replay import replay as sandboxed
    from ..training.schedule import random_margin

    replay = replay or sandboxed

    if len({round(r.fitness, 9) for r in refs}) < 2:
        return Verdict(ScreeningRecord(passed=True, episodes=len(refs), pairs=0))
    try:
        replayed = replay(task, code, [r.trajectory for r in refs], limits=limits)
    except RewardCodeError as exc:
        return Verdict(ScreeningRecord(passed=False, episodes=len(refs)),
                       f"REJECTED by screening (no training step spent)\nthe reward fails on a recorded episode: {exc}")
    returns = [float(math.fsum(e.rewards)) for e in replayed]
    return judge(refs, returns, random_margin(random_fitness))


def _spearman(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3:
        return None
    rx, ry = _ranks(x), _ranks(y)
    if np.std(rx) == 0 or np.std(ry) == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(values: list[float]) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    for v in set(values):  # ties share their mean rank
        idx = [i for i, w in enumerate(values) if w == v]
        ranks[idx] = ranks[idx].mean()
    return ranks


def _span(values: list[float], spec: str = ".4g") -> str:
    lo, hi = min(values), max(values)
    return f"{lo:{spec}}" if lo == hi else f"{lo:{spec}} to {hi:{spec}}"
