"""A run's one event sink (``Events``): every stage reports what happens through ``emit(kind, **data)``,
and each subscriber hears every event. The run store is one subscriber (``persisting``: it keeps a
JSON-safe projection of the kinds in ``PERSISTED``, in the shapes the page, ``show`` and a resumed run
read); the terminal view, the proxy person and any other observer are others.

A subscriber that raises does not stop the run: its first failure is told to the others (an
``observer_failed`` event, which the store keeps and the view shows as a note); later ones of the same
subscriber are counted (``failures``), not repeated.
Only the store is ``required``: an event it cannot keep is an error, as any failed write is.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

Sink = Callable[..., None]  # (kind, **data)


def _keep(*names: str) -> Callable[[dict], dict]:
    return lambda data: {name: data[name] for name in names}


def _everything(data: dict) -> dict:
    return dict(data)


# what the store keeps of each kind (kinds not here are for observers only: progress, a scored candidate —
# the candidate's row holds it —, notes); each projection gives the stored event's fields
PERSISTED: dict[str, Callable[[dict], dict]] = {
    "generation_done": _keep("generation"),
    "designed": _everything,
    "interrupted": _keep(),
    "finished": _keep("status", "seconds"),
    "max_cost": _keep("message"),
    "rungs": _keep("generation", "rungs", "why"),
    # stored as "kind", which cannot be a field of emit(kind, **data): emitted as "executor"
    "executor": lambda data: {"kind": data["executor"], "where": data["where"]},
    "halving_decision": _everything,
    "rung_seeds": _everything,
    "duplicate": _everything,
    "near_duplicate": _keep("candidate", "of", "reason"),
    "observer_failed": _keep("observer", "error", "event"),
    "final_boundary": _everything,
    "final_scored": _everything,
    "video": _everything,  # output/video.py: a written video (its candidate as an id)
    "video_unavailable": _everything,
    "video_fallback": _everything,
    "edit": _everything,  # people/human.py: a person's accepted edit (its candidate as an id)
    "proxy_answers": _everything,  # people/proxy.py: a generation's answers (a resumed run does not answer again)
}


def persisting(store) -> Sink:
    """The store's subscriber: keeps the ``PERSISTED`` kinds (``store.event``), ignores the rest."""

    def persist(kind: str, **data: Any) -> None:
        project = PERSISTED.get(kind)
        if project is not None:
            store.event(kind, project(data))

    return persist


class Events:
    """One run's event sink: ``emit`` hands an event to every subscriber, in the order they subscribed."""

    def __init__(self, store=None) -> None:
        """``store``: the run store, subscribed first (and required) when given."""
        self._subscribers: list[tuple[Sink, bool]] = []
        self._failures: dict[int, int] = {}
        self._lock = threading.Lock()
        if store is not None:
            self.subscribe(persisting(store), required=True)

    def subscribe(self, subscriber: Sink, required: bool = False) -> Sink:
        """Adds ``subscriber`` (called as ``subscriber(kind, **data)``); ``required``: its failure is the
        run's (the store), else it is reported and the run goes on."""
        self._subscribers.append((subscriber, required))
        return subscriber

    def emit(self, kind: str, /, **data: Any) -> None:
        """Hands one event to every subscriber."""
        for subscriber, required in list(self._subscribers):
            if required:
                subscriber(kind, **data)
                continue
            try:
                subscriber(kind, **data)
            except Exception as exc:  # noqa: BLE001 - an observer's failure is reported, never the run's
                self._failed(subscriber, kind, exc)

    __call__ = emit  # an Events is a sink itself, wherever a function (kind, **data) is taken

    def failures(self, subscriber: Sink) -> int:
        """How many events ``subscriber`` failed on."""
        return self._failures.get(id(subscriber), 0)

    def _failed(self, subscriber: Sink, kind: str, exc: Exception) -> None:
        with self._lock:
            count = self._failures[id(subscriber)] = self._failures.get(id(subscriber), 0) + 1
        if count > 1:
            return
        name = getattr(subscriber, "__qualname__", None) or type(subscriber).__name__
        error = f"{type(exc).__name__}: {exc}"
        self.emit("observer_failed", observer=name, error=error, event=kind)

    @classmethod
    def of(cls, store, given: Events | Sink | None) -> Events:
        """The sink a stage reports to: ``given`` when it is a run's ``Events`` (or its ``emit``), else a
        new one persisting to ``store`` with ``given`` (a function ``(kind, **data)``) subscribed."""
        if isinstance(given, Events):
            return given
        owner = getattr(given, "__self__", None)
        if isinstance(owner, Events):
            return owner
        events = cls(store)
        if given is not None:
            events.subscribe(given)
        return events
