"""`show --population` (text and --json) and the report's Population section show each island's best and
last migrant, the cells, the duplicates ("duplicate of cX (reason), 0 steps"; near-duplicates flagged) and
what the offline designer learned (operator statistics); an LLM run says it has no such operators. Runs are
built in a real store without training (tests/population_run.py)."""

import json

import pytest

from rewardsmith.archive.store import SCORED, RunStore
from conftest import TINY_TASK, invoke
from population_run import HOSTILE, make_population_run


@pytest.fixture
def no_plots(monkeypatch):
    from rewardsmith.output import report

    for plot in ("fitness_plot", "components_plot"):  # matplotlib's seconds; the plots are not what is tested
        monkeypatch.setattr(report, plot, lambda *args, **kwargs: None)
    return report


def test_show_population_says_islands_cells_duplicates_and_operators(tmp_path):
    make_population_run(tmp_path / "run").close()
    text = invoke("show", tmp_path / "run", "--population").output
    assert "population: 2 islands" in text
    assert "island 0: c0 cell 4 (elite), c1 cell 2 (elite), c5 (+1 not scored); best c1 0.62" in text
    assert "island 1:" in text and "best c6 0.71" in text and "last migrant c1 in generation 2" in text
    assert ("c4 duplicate of c1 (its rewards equal c1's on every step on 5 recorded episodes (1,000 steps)),"
            " 0 steps") in text
    assert "c5 near-duplicate of c1 (its per-step rewards correlate 0.998" in text and "), trained" in text
    lines = text.splitlines()
    ops = lines[lines.index(next(ln for ln in lines if ln.startswith("operators"))) + 1:]
    # c1 (add_term) beat c0 (falls early); c4 (a duplicate, add_term) and c5 (add_term, 0.58) did not beat c1
    assert any(ln.split() == ["add_term", "after", "early_termination", "1", "/", "1"] for ln in ops), ops
    assert any(ln.split() == ["add_term", "after", "no_progress", "0", "/", "2"] for ln in ops), ops
    assert any(ln.split() == ["reshape", "after", "none", "1", "/", "1"] for ln in ops), ops


def test_show_population_json_has_operators_duplicates_and_each_islands_best(tmp_path):
    make_population_run(tmp_path / "run").close()
    doc = json.loads(invoke("show", tmp_path / "run", "--population", "--json").output)
    rows = {(r["operator"], r["finding"]): (r["tries"], r["improved"]) for r in doc["operators"]}
    assert rows[("add_term", "early_termination")] == (1, 1) and rows[("scale_down", "early_termination")] == (1, 0)
    assert rows[("add_term", "no_progress")] == (2, 0)
    assert set(doc["operators"][0]) == {"operator", "finding", "tries", "improved"}
    assert doc["duplicates"] == [{"id": "c4", "of": "c1", "timesteps": 0, "reason": doc["duplicates"][0]["reason"]}]
    assert doc["duplicates"][0]["reason"].startswith("duplicate of c1: its rewards equal")
    assert [(d["id"], d["of"]) for d in doc["near_duplicates"]] == [("c5", "c1")]
    assert doc["island_best"] == ["c1", "c6"]
    assert doc["last_migrant"] == [{"generation": 2, "id": "c3"}, {"generation": 2, "id": "c1"}]
    assert {c["elite"] for c in doc["cells"]} == {"c0", "c1", "c2", "c3", "c6"}


def test_an_llm_run_says_it_has_no_offline_designer_operators(tmp_path, no_plots):
    store = RunStore.create(tmp_path / "run", {"task": "tiny-mountaincar", "designer": "llm", "model": "m",
                                               "timesteps": 1000}, TINY_TASK)
    for k, origin in enumerate(["baseline", "llm", "llm"]):
        c = store.add_candidate(k, f"def compute_reward(s, a, n):\n    return {k}.0, {{}}\n", origin,
                                parent="c0" if k else None, notes="scale_up: a model wrote this")
        store.update(c.id, status=SCORED, fitness=float(k), seeds=[0], timesteps=1000)
    assert "operators: no offline-designer operators in this run" in invoke("show", store.root, "--population").output
    assert json.loads(invoke("show", store.root, "--population", "--json").output)["operators"] == []
    page = no_plots.render_report(store)
    assert "no offline-designer operators in this run" in page
    assert "No duplicate or near-duplicate was proposed." in page


def test_the_report_shows_duplicates_operators_and_island_bests_escaped(tmp_path, no_plots):
    store = make_population_run(tmp_path / "run", hostile=True)
    page = no_plots.render_report(store)
    start = page.index('<section id="population">')
    section = page[start:page.index("</section>", start)]
    assert '<a href="#rej-c4">c4</a> duplicate of c1 (its rewards equal' in section and "), 0 steps</li>" in section
    assert "c5 near-duplicate of c1 (its per-step rewards correlate 0.998" in section
    assert '<a href="#cand-c6">c6</a> 0.71' in section and "c1 (generation 2)" in section  # island 1's best, migrant
    assert "<td>add_term</td><td>early_termination</td><td class=\"num\">1</td><td class=\"num\">1</td>" in section
    for text in HOSTILE[:3]:  # a dominating term's name and the duplicates' reasons are untrusted
        assert text not in section
    assert "&lt;script&gt;window.__pwned" in section and "\u202e" not in section and "\\u202e" in section


def test_show_population_prints_hostile_names_and_reasons_inert(tmp_path):
    make_population_run(tmp_path / "run", hostile=True).close()
    text = invoke("show", tmp_path / "run", "--population").output
    assert "\u202e" not in text and "\u2066" not in text and "\\u202eevil" in text
    assert "c4 duplicate of c1 (" in text
