"""The page's Population view (#/population, people/web/static/population.js): islands, behaviour cells,
duplicates and the offline designer's operator statistics from ``/api/population`` (output/population.py's
view, built from the store), reached by keyboard, a cell's row opening its elite, updated live when the
store says a generation finished; hostile component names, notes and reasons show as text with no script
run. Debian's chromium driven by Playwright, as tests/test_serve.py does; runs built without training
(tests/population_run.py)."""

import json
import time

import pytest

from rewardsmith.archive.records import CandidateResult
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.people.web.server import PageServer
from population_run import HOSTILE, make_population_run
from test_serve import Page, browser, request  # noqa: F401 - browser: the module's chromium fixture


@pytest.fixture
def served(tmp_path):
    def serve(hostile=False):
        make_population_run(tmp_path / "run", hostile=hostile).close()
        server = PageServer(tmp_path / "run").start()
        servers.append(server)
        return server
    servers: list[PageServer] = []
    yield serve
    for server in servers:
        server.close()


def test_the_population_endpoint_needs_the_token_and_sends_printable_text(served):
    server = served(hostile=True)
    response, _ = request(server, path="/api/population", token=False)
    assert response.status == 401
    response, body = request(server, path="/api/population")
    assert response.status == 200 and response.getheader("Access-Control-Allow-Origin") is None
    doc = json.loads(body)
    assert "\u202e" not in body.decode() and "\\u202e" in doc["cells"][-1]["descriptors"]["dominant"]
    assert [(d["id"], d["of"], d["timesteps"]) for d in doc["duplicates"]] == [("c4", "c1", 0)]
    assert doc["duplicates"][0]["reason"].startswith("its rewards equal c1's")  # "duplicate of c1: " said by the view
    assert {"operator": "add_term", "finding": "early_termination", "tries": 1, "improved": 1} in doc["operators"]
    assert [f["best"]["id"] for f in doc["island_facts"]] == ["c1", "c6"]


@pytest.mark.slow
def test_the_population_view_lists_islands_cells_and_duplicates_and_follows_the_store(browser, served, tmp_path):
    server = served()
    view = Page(browser, server)
    p = view.page
    try:
        p.wait_for_selector("#candidates")
        p.keyboard.press("Tab")  # the header's links come first: watch, population
        p.keyboard.press("Tab")
        p.keyboard.press("Enter")
        p.wait_for_selector("body[data-view='population'][data-population]")
        islands = [p.inner_text(f"#islands tr[data-island='{k}']") for k in (0, 1)]
        assert "c0 (4, elite)" in islands[0] and "c1 0.62" in islands[0] and "c3 in generation 2" in islands[0]
        assert "c6 0.71" in islands[1] and "c1 in generation 2" in islands[1] and "(+1 not scored)" in islands[1]
        cells = p.inner_text("#cells")
        for elite in ("c0", "c1", "c2", "c3", "c6"):
            assert p.query_selector(f"#cells tr[data-elite='{elite}'] a[href='#/c/{elite}']") is not None, elite
        assert "forward" in cells and "0.71" in cells
        duplicate = p.inner_text("#duplicates tr.duplicate[data-id='c4']")
        assert "duplicate of" in duplicate and "c1" in duplicate and "its rewards equal c1's" in duplicate
        assert duplicate.rstrip().endswith("0")  # RL steps
        assert "near-duplicate of" in p.inner_text("#duplicates tr.near-duplicate[data-id='c5']")
        assert "add_term" in p.inner_text("#operators") and "early_termination" in p.inner_text("#operators")
        p.click("#cells tr[data-elite='c6'] td.num >> nth=1")  # a row, not its link, opens the elite
        p.wait_for_selector("body[data-view='candidate'] pre.code")
        assert p.evaluate("location.hash") == "#/c/c6"
        p.go_back()
        p.wait_for_selector("body[data-view='population'] #islands")
        loads = int(p.get_attribute("body", "data-population"))
        store = RunStore(tmp_path / "run")  # as the run in another process: c7 scored, generation 3 done
        started = time.monotonic()
        store.update("c7", status=SCORED, fitness=0.9, seeds=[0], timesteps=1000,
                     result=CandidateResult(budget_fraction=1.0))
        store.event("generation_done", {"generation": 3})
        p.wait_for_selector(f"body[data-population='{loads + 1}']", timeout=3000)
        p.wait_for_selector("#islands tr[data-island='1'] td:has-text('c7 0.9')", timeout=3000)
        assert time.monotonic() - started < 3.0
        store.close()
        assert view.errors == [] and view.outside == [], (view.errors, view.outside)
    finally:
        view.close()


@pytest.mark.slow
def test_hostile_names_notes_and_reasons_show_as_text_in_the_population_view(browser, served):
    server = served(hostile=True)
    view = Page(browser, server)
    p = view.page
    try:
        p.goto(view.base + "/#/population")
        p.wait_for_selector("body[data-view='population'][data-population]")
        shown = p.inner_text("body")
        assert p.evaluate("window.__pwned") is None
        assert p.evaluate("document.querySelectorAll('script').length") == 3  # player.js, app.js, population.js
        assert p.evaluate("document.querySelectorAll('[onerror], [onload], iframe, object, embed, img, svg').length") == 0
        assert p.evaluate("[...document.querySelectorAll('a')].filter(a => !a.getAttribute('href')"
                          ".startsWith('#/')).length") == 0
        assert "\u202e" not in shown and "\u2066" not in shown and "\\u202eevil\\u202c" in shown
        for text in HOSTILE[:4]:  # a dominating term's name (cells), duplicates' and near-duplicates' reasons
            assert shown.count(text) >= 3, text
        assert view.dialogs == [] and view.errors == [] and view.outside == [], (view.dialogs, view.errors, view.outside)
    finally:
        view.close()
