"""An edit made on a live run's page goes through the run's one event sink (issue 20: one sink feeds the
terminal view and any observer): ``evolve --serve`` hands the page its Events, so the run's observers hear a
person's edit from the page once, as they hear one typed in the terminal; the store keeps the same ``edit``
row as a page served on its own (``rewardsmith serve``, no run's sink: tests/test_sink_edits_videos.py)
keeps."""

from __future__ import annotations

import json

import pytest

from conftest import TINY_TASK
from rewardsmith.archive.events import Events
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.people.web.server import PageServer
from rewardsmith.task import load_task_file
from test_serve import request


def _run(root):
    task = load_task_file(TINY_TASK)
    store = RunStore.create(root, {"task": task.name, "designer": "offline"}, task.path)
    c = store.add_candidate(1, task.baseline, "offline")
    store.update(c.id, status=SCORED, fitness=0.1, seeds=[0])
    return store, task.baseline.replace("10.0 * next_state", "25.0 * next_state"), c.id


def _edit_on_the_page(page, parent, code):
    response, body = request(page, "POST", "/api/edit", origin=f"http://127.0.0.1:{page.port}",
                             body={"parent": parent, "code": code, "screen": False})
    assert response.status == 200, body
    return json.loads(body)


def _edit_rows(root):
    store = RunStore(root)
    try:
        return [r["data"] for r in store.db.execute("SELECT data FROM events WHERE kind = 'edit' ORDER BY id")]
    finally:
        store.close()


@pytest.mark.slow  # the real critic probe and duplicate check: about 3-4 s
def test_an_edit_on_a_live_runs_page_is_heard_by_the_runs_observers_once(tmp_path):
    store, code, parent = _run(tmp_path / "run")
    events, heard = Events(store), []
    events.subscribe(lambda kind, **data: heard.append((kind, data)))
    page = PageServer(store.root, events=events).start()
    try:
        answer = _edit_on_the_page(page, parent, code)
    finally:
        page.close()
    assert answer["accepted"], answer
    edits = [data for kind, data in heard if kind == "edit"]
    assert edits == [{"candidate": answer["candidate"], "parent": parent, "screened": False}]
    expected = json.dumps({"candidate": answer["candidate"], "parent": parent, "screened": False})
    assert _edit_rows(store.root) == [expected]  # kept once, in the shape `rewardsmith edit` keeps it


def test_the_page_hands_a_persons_edit_the_sink_it_was_given(tmp_path, monkeypatch):
    """The wiring alone (fast): the edit on the page reaches human.add_edit with the live run's sink, and with
    none when the page is served on its own."""
    from rewardsmith.people import human

    store, code, parent = _run(tmp_path / "run")
    given = []

    def add_edit(store, task, parent_id, code, screen=True, events=None):
        given.append(events)
        return human.Edit(None, None, None)  # refused, nothing kept: only the wiring is under test here

    monkeypatch.setattr(human, "add_edit", add_edit)
    monkeypatch.setattr(human.Edit, "report", property(lambda self: "refused by the test"))
    events = Events(store)
    for sink in (events, None):
        page = PageServer(store.root, events=sink).start()
        try:
            assert not _edit_on_the_page(page, parent, code)["accepted"]
        finally:
            page.close()
    assert given == [events, None]
