"""A proxy person (``evolve --proxy-person SPEC``): after each generation it answers the pairs the run's page
would show a person (``web.data.pair``: neighbours in the current ranking, compared least), preferring the
policy that is better on a *hidden criterion* the task's fitness does not measure, computed from each
candidate's kept evaluation episodes (``candidates/<id>.traj.json.gz``), and it errs at a chosen rate.
Its answers go through the same path as ``rewardsmith prefer`` (``store.add_preference``, source "proxy"),
so everything that reads preferences (the Bradley–Terry score, ``--preference-weight``, the next prompt,
``show``, the page, the report) treats them as a person's; each answered generation is told to the run's one
event sink (``proxy_answers``, which the store keeps), so the view and any observer hear it. It exists for
tests and for ``benchmarks/preferences.py``, which measures what preferences buy.

SPEC is comma-separated ``key=value`` parts, e.g. ``field=torso_angle,stat=abs-mean,prefer=low,error=0.1``:

- ``field`` (required): a state field of the task (a vector field counts by its norm at each state);
- ``stat``: how a candidate's episodes are summarised (over every recorded state of its kept episodes):
  ``abs-mean`` (default), ``mean``, ``min``, ``max``, ``abs-max``, ``std``, ``final`` (the mean of each
  episode's last value);
- ``prefer``: ``low`` (default) or ``high``;
- ``error``: the probability of answering the other way (default 0; at most 0.5), drawn from a generator
  seeded by the run's seed and the generation, so a run answers the same way every time;
- ``pairs``: how many pairs it answers after each generation (default 2).

A candidate without kept episodes cannot be judged: such a pair is answered "unsure" (no information).
"""

from __future__ import annotations

import math

import numpy as np

from .proxy_spec import ProxySpec, parse_spec  # noqa: F401 - parse_spec: the SPEC's parsing, for the CLI

SOURCE = "proxy"
EVENT = "proxy_answers"  # one per answered generation, so a resumed run does not answer it again


def criterion(trajectories, spec: ProxySpec) -> float | None:
    """The hidden criterion of a candidate from its kept evaluation episodes (``Trajectory`` records), or
    None when it has none (or none records the field)."""
    series = []
    for t in trajectories:
        values = t.fields.get(spec.field)
        if values is None or len(values) == 0:
            continue
        x = np.asarray(values, dtype=float)
        series.append(np.linalg.norm(x.reshape(len(x), -1), axis=1) if x.ndim > 1 else x)
    if not series:
        return None
    if spec.stat == "final":
        value = float(np.mean([s[-1] for s in series]))
    else:
        x = np.concatenate(series)
        value = {"abs-mean": lambda: np.mean(np.abs(x)), "mean": lambda: np.mean(x), "min": lambda: np.min(x),
                 "max": lambda: np.max(x), "abs-max": lambda: np.max(np.abs(x)), "std": lambda: np.std(x)}[spec.stat]()
    value = float(value)
    return value if math.isfinite(value) else None


class ProxyPerson:
    """Answers the page's pairs by the hidden criterion, with ``spec.error`` wrong answers, seeded."""

    def __init__(self, spec: ProxySpec, seed: int = 0, events=None):
        """``events``: the run's event sink (archive/events.py), which hears each generation's answers
        (``proxy_answers``; the store keeps it); default: one that persists to the store it answers on."""
        self.spec, self.seed, self.events = spec, seed, events
        self.nothing_new = False  # the last answer() found no pair it had not answered already

    def judge(self, store, cid: str) -> float | None:
        return criterion(store.trajectories(cid), self.spec)

    def answered(self, store, generation: int) -> bool:
        return any(e.get("generation") == generation for e in store.events(EVENT))

    def answer(self, store, generation: int) -> list[int]:
        """Answers up to ``spec.pairs`` pairs after ``generation`` (once per generation, also on resume),
        never a pair it has answered before (its standing answers); gives the ids of the recorded
        preferences. Where the page has no pair left that it has not answered, it stops and says so:
        ``nothing_new`` is then True, and so is the generation's event's."""
        from ..archive.events import Events
        from .web.data import pair

        self.nothing_new = False
        if self.answered(store, generation):
            return []
        rng = np.random.default_rng([self.seed, generation, 7_919])  # one stream per run and generation
        done = {frozenset((p["preferred"], p["other"])) for p in store.preferences() if p["source"] == SOURCE}
        ids: list[int] = []
        for _ in range(self.spec.pairs):
            shown = pair(store, skip=done)
            if shown is None:
                self.nothing_new = bool(done)
                break
            a, b = shown["a"], shown["b"]
            done.add(frozenset((a, b)))
            ca, cb = self.judge(store, a), self.judge(store, b)
            flip = bool(rng.random() < self.spec.error)
            if ca is None or cb is None:
                ids.append(store.add_preference(a, b, "unsure", "proxy person: no kept episodes to judge by",
                                                source=SOURCE))
                continue
            if ca == cb:
                ids.append(store.add_preference(a, b, "equal", self._reason(), source=SOURCE))
                continue
            a_better = (ca < cb) if self.spec.prefer == "low" else (ca > cb)
            if flip:
                a_better = not a_better
            preferred, other = (a, b) if a_better else (b, a)
            ids.append(store.add_preference(preferred, other, "better", self._reason(), source=SOURCE))
        Events.of(store, self.events).emit(EVENT, generation=generation, ids=ids, spec=self.spec.text(),
                                           **({"nothing_new": True} if self.nothing_new else {}))
        return ids

    def _reason(self) -> str:
        word = "lower" if self.spec.prefer == "low" else "higher"
        return f"proxy person: {word} {self.spec.stat} of {self.spec.field}"

