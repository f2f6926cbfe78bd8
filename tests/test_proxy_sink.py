"""The proxy person reports each answered generation through the run's one event sink (archive/events.py,
issue 20), not straight to the store: an observer subscribed to the run's sink hears its answers once, and
the store keeps the same ``proxy_answers`` row it kept when the proxy wrote it itself (``show --json`` and a
resumed run read it). Without a run's sink (a proxy used on its own) the row is stored as before."""

import json
import types

from rewardsmith.archive.events import Events
from rewardsmith.archive.store import RunStore
from rewardsmith.people.proxy import EVENT, ProxyPerson, ProxySpec
from rewardsmith.task import load_task_file
from conftest import TINY_TASK
from test_proxy_new_pairs import make_run


def stored_rows(store):
    """The ``proxy_answers`` rows' data exactly as kept (the JSON text, field order included)."""
    return [r["data"] for r in store.db.execute("SELECT data FROM events WHERE kind = ? ORDER BY id", (EVENT,))]


def old_row(generation, ids, spec, nothing_new=False):
    """The row the proxy wrote itself before it reported through the sink (``store.event(EVENT, {...})``)."""
    return json.dumps({"generation": generation, "ids": ids, "spec": spec.text(),
                       **({"nothing_new": True} if nothing_new else {})})


def test_an_observer_of_the_runs_sink_hears_the_answers_once_and_the_stored_row_is_unchanged(tmp_path):
    store, _ = make_run(tmp_path / "run", 4, 2)
    events, heard = Events(store), []
    events.subscribe(lambda kind, **data: heard.append((kind, data)))
    spec = ProxySpec("position", pairs=2)
    proxy = ProxyPerson(spec, seed=0, events=events)
    ids = proxy.answer(store, 0)
    assert len(ids) == 2
    assert heard == [(EVENT, {"generation": 0, "ids": ids, "spec": spec.text()})]
    assert stored_rows(store) == [old_row(0, ids, spec)]
    assert proxy.answer(store, 0) == [] and len(heard) == 1 and len(stored_rows(store)) == 1  # once per generation


def test_nothing_new_is_heard_and_kept_in_its_old_shape(tmp_path):
    store, _ = make_run(tmp_path / "run", 2, 2)
    events, heard = Events(store), []
    events.subscribe(lambda kind, **data: heard.append(kind))
    spec = ProxySpec("position", pairs=3)
    ids = ProxyPerson(spec, events=events).answer(store, 0)
    assert len(ids) == 1 and heard == [EVENT]
    assert stored_rows(store) == [old_row(0, ids, spec, nothing_new=True)]


def test_without_a_runs_sink_the_row_is_stored_as_before(tmp_path):
    store, _ = make_run(tmp_path / "run", 4, 2)
    spec = ProxySpec("position", pairs=2)
    ids = ProxyPerson(spec).answer(store, 0)
    assert stored_rows(store) == [old_row(0, ids, spec)]


def test_evolves_wiring_gives_the_proxy_the_runs_sink(tmp_path):
    """cli_evolve subscribes the proxy to the run's sink and hands it that sink: on ``generation_done`` a
    later observer (the view's place) hears the answers once, then the generation, then the proxy's note."""
    from rewardsmith.cli_evolve import _answering, _proxy

    store, _ = make_run(tmp_path / "run", 4, 2)
    config = types.SimpleNamespace(proxy_person="field=position,pairs=2", seed=0)
    events, heard = Events(store), []
    proxy = _proxy(config, load_task_file(TINY_TASK), events)
    events.subscribe(_answering(proxy, store, events.emit))
    events.subscribe(lambda kind, **data: heard.append(kind))
    events.emit("generation_done", generation=0)
    assert heard == [EVENT, "note", "generation_done"]
    rows = RunStore(tmp_path / "run").events(EVENT)
    assert len(rows) == 1 and rows[0]["generation"] == 0 and len(rows[0]["ids"]) == 2
