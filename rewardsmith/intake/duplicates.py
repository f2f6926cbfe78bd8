"""Duplicates: a proposal that would train exactly as an archived candidate does is recorded as that
candidate's duplicate, with its reason and 0 RL steps, instead of being trained (issue 23).

**Code duplicates** (``canonical.py``): the same syntax tree once docstrings are dropped, numeric constant
expressions folded, module-level numeric constants inlined and local variables renamed. Nothing runs.

**Behavioural duplicates** (``equivalence``): the reward's per-step totals on a fixed *fingerprint set*
of recorded episodes (the run's random-policy episodes, ``screening/random.traj.json.gz``, and the
baseline's kept evaluation episodes: the first of screening's ``references``) are a transform of an
archived candidate's that the trainer cannot tell apart. What the trainer does (``sandbox/train.py``):
PPO, and where the task's ``TRAINING["normalize"]`` asks for it, stable-baselines3's ``VecNormalize``
with the PPO ``gamma``; its reward normalisation (``norm_reward``, on unless the task's options turn it
off) divides each reward by the running standard deviation of the discounted return and only then clips
it (``clip_reward``), never subtracting a mean. So:

- the identical per-step rewards train identically, with or without normalisation;
- a positive scale ``a * r`` does where rewards are normalised: the discounted return, its standard
  deviation and so the normalised reward PPO sees are the same for every ``a > 0``, and clipping comes
  after the division. (Up to VecNormalize's start-up prior: a variance of 1 with a weight of 1e-4
  samples, and the 1e-8 under the square root, both forgotten within the first rollout.) Without
  normalisation a scale changes the value loss against the policy loss and what gradient clipping cuts,
  so it is not a duplicate there;
- a constant offset ``r + b`` is not, in general: on a task whose episodes can end early it changes
  what staying alive is worth (a positive ``b`` pays the agent to survive, a negative one to fall). Where
  every episode runs to the time limit, every policy is paid the same ``b`` on every step, so it
  changes no policy's return relative to another's; there ``a * r + b`` is a duplicate (with ``a`` 1
  where rewards are not normalised). Whether episodes run to the limit is read from the fingerprint
  episodes: every one of them (the random policy's and the baseline's) must have reached it.

The relation is fitted on the concatenated per-step totals and must hold on every step within
``RTOL`` of the rewards' spread. Equal rewards on the recorded steps are no duplicate where a term of
either reward never varies on them (a flag bonus no recorded episode reaches): what it changes is unseen
there, so the proposal is a near-duplicate and trains. A reward that is not equivalent but whose per-step totals
correlate above ``NEAR_CORRELATION`` with an archived candidate's is a *near-duplicate*: flagged (a
note on the candidate and an event) and trained.

The proposal's totals come from the same sandboxed ``replay`` job screening runs (``Examination.replay``
serves screening the one replay), never from this process; every number is checked by
``training.replay`` before it is used. Each candidate's fingerprint is kept as
``fingerprints/<id>.json.gz`` (keyed by the fingerprint set), so later candidates compare with it without
running archived code again; a missing one is computed when first needed (one replay job).

A reward's numbers on recorded states are its own to choose: one that pays differently on recorded and on
live states can look like another reward here. What that can do is bounded: a proposal is only ever
compared with candidates archived before it, a duplicate is recorded with the id and the numbers it was
judged on, and nothing of the earlier candidate (status, fitness, training) changes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, cast

import numpy as np

from .canonical import canonical  # noqa: F401 - code duplicates; importable from here too

if TYPE_CHECKING:
    from ..archive.held import Held

RTOL = 1e-6               # the relation holds on every step within this share of the largest |reward|
NEAR_CORRELATION = 0.99   # above this per-step correlation a reward that is not equivalent is flagged
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Match:
    """A proposal found equal (``duplicate``) or close (a near-duplicate) to archived candidate ``of``."""

    of: str
    reason: str
    duplicate: bool = True


@dataclass(frozen=True)
class Rule:
    """Which transforms of the per-step reward the run's training cannot tell apart, and why."""

    scale: bool           # a positive scale (reward normalisation)
    offset: bool          # a constant offset (episodes all run to the time limit)
    episodes: int = 0
    steps: int = 0


# --------------------------------------------------------------------------- behavioural duplicates


def training_rule(task, episodes) -> Rule:
    """Which transforms the run's training cannot tell apart (see the module doc), given the task's
    training settings and the fingerprint ``episodes`` (Trajectory records)."""
    normalize = task.training.normalize
    scale = bool(normalize) and (not isinstance(normalize, dict) or normalize.get("norm_reward", True) is not False)
    limits = {t.max_steps for t in episodes if t.max_steps}
    limit = max(limits) if limits else _time_limit(task)
    offset = bool(episodes) and limit is not None and all(
        t.steps == limit and t.terminated is not True for t in episodes)
    return Rule(scale, offset, len(episodes), sum(t.steps for t in episodes))


def _time_limit(task) -> int | None:
    env = task.make_env()
    try:
        return getattr(env.spec, "max_episode_steps", None) if env.spec is not None else None
    finally:
        env.close()


def equivalence(new: np.ndarray, old: np.ndarray, rule: Rule) -> tuple[bool, float, float, float | None]:
    """Whether per-step totals ``new`` train as ``old`` do under ``rule``: (equivalent, scale, offset,
    correlation (None where either is constant)). The relation must hold on every step within ``RTOL``
    of ``new``'s spread, plus float rounding of its magnitude."""
    new, old = np.asarray(new, dtype=float), np.asarray(old, dtype=float)
    dn, do = new - new.mean(), old - old.mean()
    vn, vo = float(dn @ dn), float(do @ do)
    corr = float(dn @ do / math.sqrt(vn * vo)) if vn > 0 and vo > 0 else None
    magnitude = max(float(np.max(np.abs(new), initial=0.0)), float(np.max(np.abs(old), initial=0.0)))
    tol = RTOL * float(np.max(np.abs(dn), initial=0.0)) + 1e-12 * magnitude + 1e-300

    def holds(a: float, b: float) -> bool:
        return float(np.max(np.abs(new - (a * old + b)), initial=0.0)) <= tol

    if holds(1.0, 0.0):
        return True, 1.0, 0.0, corr
    if rule.offset:
        a = float(dn @ do / vo) if vo > 0 else 1.0
        b = float(new.mean() - a * old.mean())
    else:
        a, b = (float(new @ old / (old @ old)) if (old @ old) > 0 else 0.0), 0.0
    if not rule.scale:  # without reward normalisation only an offset may differ
        a, b = 1.0, float(new.mean() - old.mean()) if rule.offset else 0.0
    if b != 0.0 and holds(a, 0.0):
        b = 0.0
    return bool(a > 0 and holds(a, b)), a, b, corr


def describe(of: str, a: float, b: float, rule: Rule) -> str:
    """The reason a duplicate is recorded with."""
    where = f"on {rule.episodes} recorded episodes ({rule.steps:,} steps)"
    if abs(a - 1.0) <= RTOL and b == 0.0:
        return f"duplicate of {of}: its rewards equal {of}'s on every step {where}"
    shift = "" if b == 0.0 else f" {'+' if b > 0 else '-'} {abs(b):.3g} per step"
    why = []
    if abs(a - 1.0) > RTOL:
        why.append("reward normalisation trains them identically")
    if b != 0.0:
        why.append("every one of these episodes runs to the time limit, so a constant per step pays every "
                   "policy the same")
    return f"duplicate of {of}: its rewards are {a:#.3g}× {of}'s{shift} {where}; {'; '.join(why)}"


def near(of: str, new, old, corr: float, rule: Rule) -> str:
    """The note a near-duplicate is flagged with, saying why it is trained all the same."""
    affine, a, b, _ = equivalence(new, old, Rule(True, True))
    if affine and b != 0.0 and not rule.offset:
        why = (f"its rewards are {a:#.3g}× {of}'s {'+' if b > 0 else '-'} {abs(b):.3g} per step, and episodes "
               f"of this task can end early, so a constant per step changes what staying alive is worth")
    elif affine and not rule.scale:
        why = f"its rewards are {a:#.3g}× {of}'s, and this task trains without reward normalisation"
    else:
        why = "its rewards are no exact transform of them that the training cannot tell apart"
    return (f"near-duplicate of {of}: its per-step rewards correlate {corr:.6g} with {of}'s on "
            f"{rule.episodes} recorded episodes ({rule.steps:,} steps); trained, as {why}")


def fingerprint_key(trajectories) -> str:
    """What identifies the fingerprint set: its episodes' states, fields and actions."""
    digest = hashlib.sha256()
    for t in trajectories:
        digest.update(json.dumps([t.actions, t.obs, sorted(t.fields.items())], separators=(",", ":")).encode())
    return digest.hexdigest()


def fingerprint_episodes(references: list) -> list:
    """The fingerprint set out of screening's ``references``: the random-policy episodes and the
    baseline's (the fixed part; archived candidates' episodes come and go)."""
    return [r for r in references if r.source == "random" or r.source.startswith("baseline ")]


# --------------------------------------------------------------------------- in a run


class Duplicates:
    """A run's duplicate check: compares each proposal with the candidates archived before it (code,
    then behaviour) and keeps every candidate's fingerprint as ``fingerprints/<id>.json.gz``."""

    def __init__(self, store, task, seed: int = 0, note: Callable[[str], None] = lambda message: None,
                 replay: Callable | None = None):
        """``replay``: the sandboxed replay (``training.replay.replay``, the default)."""
        from ..training.replay import replay as sandboxed

        self.store, self.task, self.seed, self.note = store, task, seed, note
        self.sandboxed = replay or sandboxed

    def examine(self, code: str, screening: bool, held: Held) -> "Examination":
        """The check of one proposal; ``screening``: screening will judge it on the same replay; ``held``: the
        run's candidates as intake holds them (archive/held.py), with their recorded episodes (screening.py
        ``recorded``: read once a generation, and only when a check replays a proposal)."""
        return Examination(self, code, screening, held)

    def targets(self, archive: list | None = None) -> list:
        """The candidates a proposal may duplicate: admitted ones (pending, training or scored), of
        ``archive`` (the run's candidates in the archive's order; None: the store's)."""
        from ..archive.candidates import PENDING, SCORED, TRAINING

        archive = self.store.candidates() if archive is None else archive
        return [c for c in archive if c.status in (PENDING, TRAINING, SCORED) and not c.duplicate_of]

    def _path(self, cid: str):
        return self.store.root / "fingerprints" / f"{cid}.json.gz"

    def save(self, cid: str, key: str, printed: "Fingerprint | None", error: str | None = None) -> None:
        from ..archive.candidates import gzip_json, write_atomic

        if _ID.match(cid):
            write_atomic(self._path(cid), gzip_json(
                {"episodes": key, "rewards": None if printed is None else printed.rewards,
                 "silent": None if printed is None else list(printed.silent), "error": error}))

    def fingerprint(self, candidate, episodes: list, key: str) -> "Fingerprint | None":
        """``candidate``'s fingerprint on ``episodes``: its kept one or, when it has none for this set, one
        replay job (kept); None where its reward fails on them or the job could not run."""
        from ..archive.candidates import read_gzip_json
        from ..errors import RewardCodeError, SandboxError

        path = self._path(candidate.id)
        if _ID.match(candidate.id) and path.is_file():
            try:
                kept = read_gzip_json(path)
            except (OSError, ValueError, EOFError):
                kept = None
            if isinstance(kept, dict) and kept.get("episodes") == key:
                return Fingerprint.of(kept.get("rewards"), kept.get("silent"))
        try:
            replayed = self.sandboxed(self.task, candidate.code, [r.trajectory for r in episodes])
        except RewardCodeError as exc:
            self.save(candidate.id, key, None, str(exc)[:500])
            return None
        except (SandboxError, ValueError) as exc:
            self.note(f"duplicate check: {candidate.id}'s fingerprint could not be computed ({exc})")
            return None
        printed = Fingerprint.replayed(replayed)
        self.save(candidate.id, key, printed)
        return printed


@dataclass(frozen=True)
class Fingerprint:
    """A reward's per-step totals on the fingerprint episodes (``rewards``, one list per episode) and the
    terms that never vary on them (``silent``: what they would change is unseen there)."""

    rewards: list
    silent: tuple = ()

    @classmethod
    def replayed(cls, episodes: list) -> "Fingerprint":
        names = {n for e in episodes for n in e.components}
        spans = {n: [v for e in episodes for v in e.components.get(n, [0.0] * len(e.rewards))] for n in names}
        return cls([list(e.rewards) for e in episodes],
                   tuple(sorted(n for n, v in spans.items() if not v or np.ptp(v) == 0)))

    @classmethod
    def of(cls, rewards, silent) -> "Fingerprint | None":
        ok = isinstance(rewards, list) and isinstance(silent, (list, type(None))) and \
            all(isinstance(n, str) for n in silent or [])
        return cls(rewards, tuple(silent or ())) if ok and _concatenated(rewards) is not None else None

    @property
    def values(self) -> np.ndarray:
        # finite per-step rewards: ``of`` checks stored ones, the reward process checks replayed ones
        return cast(np.ndarray, _concatenated(self.rewards))


def _concatenated(rewards: list) -> np.ndarray | None:
    try:
        values = np.concatenate([np.asarray(r, dtype=float) for r in rewards]) if rewards else np.zeros(0)
    except (TypeError, ValueError):
        return None
    return values if values.ndim == 1 and np.all(np.isfinite(values)) else None


def compare(new: Fingerprint, old: Fingerprint, of: str, rule: Rule) -> tuple[float, Match] | None:
    """``new`` against archived ``old``: a duplicate Match, a near-duplicate one (with how close, for
    ranking), or None. Equal on every recorded step is no duplicate where a term of either never varies
    there: what it changes is unseen (a flag bonus no recorded episode reaches)."""
    a_values, b_values = new.values, old.values
    if a_values is None or b_values is None or a_values.shape != b_values.shape:
        return None
    same, a, b, corr = equivalence(a_values, b_values, rule)
    silent = sorted(set(new.silent) | set(old.silent))
    if same and not silent:
        return 2.0, Match(of, describe(of, a, b, rule))
    if same:
        return 1.0, Match(of, f"near-duplicate of {of}: {describe(of, a, b, rule).split(': ', 1)[1]}; trained, as "
                              f"term{'s' * (len(silent) > 1)} {', '.join(silent)} never var"
                              f"{'y' if len(silent) > 1 else 'ies'} on those episodes, so what "
                              f"{'they change' if len(silent) > 1 else 'it changes'} is unseen", duplicate=False)
    if corr is not None and corr > NEAR_CORRELATION:
        return corr, Match(of, near(of, a_values, b_values, corr, rule), duplicate=False)
    return None


class Examination:
    """One proposal's duplicate check. ``duplicate()`` gives the Match that keeps it from training (or
    None) and leaves a near-duplicate in ``near``; ``replay`` serves screening the same sandboxed replay
    (``refs``: the episodes it was made on, screening's references); ``keep(id)`` keeps the fingerprint."""

    def __init__(self, owner: Duplicates, code: str, screening: bool, held: Held):
        """``held``: the run's candidates, in the archive's order, that it is checked against, with screening's
        recorded episodes of them (screening.py ``recorded``)."""
        self.owner, self.code, self.screening, self.held = owner, code, screening, held
        self.refs: list | None = None
        self.near: Match | None = None
        self._fingerprint: tuple[str, Fingerprint] | None = None
        self._asked: list | None = None
        self._answer: Any = None  # the replayed episodes, or the exception the replay raised

    def duplicate(self) -> Match | None:
        owner = self.owner
        targets = owner.targets(self.held.all())
        digest = canonical(self.code)
        for c in targets if digest is not None else ():
            if canonical(c.code) == digest:
                return Match(c.id, f"duplicate of {c.id}: the same code as {c.id} once constants are folded "
                                   f"and local variables renamed")
        if not targets and not self.screening:
            return None
        from ..errors import RewardCodeError, SandboxError
        from .screening import recorded

        refs = recorded(owner.store, owner.task, owner.seed, self.held)
        episodes = fingerprint_episodes(refs)
        if not episodes:
            return None
        asked = refs if self.screening else episodes
        self.refs = refs if self.screening else None
        try:
            replayed = self.replay(owner.task, self.code, [r.trajectory for r in asked])
        except RewardCodeError:
            return None  # screening says so, with the error
        except (SandboxError, ValueError) as exc:
            owner.note(f"duplicate check could not run ({exc}); the reward goes ahead")
            return None
        positions = {id(r): i for i, r in enumerate(asked)}
        new = Fingerprint.replayed([replayed[positions[id(r)]] for r in episodes])
        key = fingerprint_key([r.trajectory for r in episodes])
        self._fingerprint = (key, new)
        rule = training_rule(owner.task, [r.trajectory for r in episodes])
        closest = None
        for c in targets:
            old = owner.fingerprint(c, episodes, key)
            found = compare(new, old, c.id, rule) if old is not None else None
            if found is not None and found[1].duplicate:
                return found[1]
            if found is not None and (closest is None or found[0] > closest[0]):
                closest = found
        self.near = closest[1] if closest is not None else None
        return None

    def replay(self, task, code: str, trajectories: list, limits=None):
        """The sandboxed replay, made once: asked again for the same episodes, the same answer (or error)."""
        same = self._asked is not None and code == self.code and len(trajectories) == len(self._asked) and \
            all(a is b for a, b in zip(trajectories, self._asked))
        if not same:
            self._asked = list(trajectories)
            try:
                self._answer = self.owner.sandboxed(task, code, trajectories, limits=limits)
            except Exception as exc:  # noqa: BLE001 - kept to be raised again to whoever asks next
                self._answer = exc
        if isinstance(self._answer, Exception):
            raise self._answer
        return self._answer

    def keep(self, cid: str) -> None:
        """Keeps the proposal's fingerprint as candidate ``cid``'s (when the replay made one)."""
        if self._fingerprint is not None:
            self.owner.save(cid, *self._fingerprint)


def among(checker: Duplicates, candidates: list) -> dict[str, Match]:
    """Of ``candidates``, each that duplicates an earlier one of them (archive order), with its Match:
    by its recorded ``duplicate_of``, its code, or its kept (or computed) fingerprint."""
    from .screening import references

    episodes = fingerprint_episodes(references(checker.store, checker.task, seed=checker.seed))
    key = fingerprint_key([r.trajectory for r in episodes])
    rule = training_rule(checker.task, [r.trajectory for r in episodes]) if episodes else None
    found: dict[str, Match] = {}
    originals: list[tuple] = []  # (candidate, code digest, fingerprint)
    for c in sorted(candidates, key=lambda c: c.seq):
        digest = canonical(c.code)
        match = next((Match(o.id, c.reason or f"duplicate of {o.id}") for o, _, _ in originals
                      if o.id == c.duplicate_of), None) or next(
            (Match(o.id, f"duplicate of {o.id}: the same code as {o.id} once constants are folded and local "
                         f"variables renamed") for o, d, _ in originals if digest is not None and d == digest), None)
        new = checker.fingerprint(c, episodes, key) if episodes and match is None else None
        if new is not None:
            assert rule is not None  # a fingerprint is made only with episodes, which give the rule
            for o, _, old in originals:
                same = compare(new, old, o.id, rule) if old is not None else None
                if same is not None and same[1].duplicate:
                    match = same[1]
                    break
        if match is not None:
            found[c.id] = match
        else:
            originals.append((c, digest, new))
    return found
