"""The population chooses parents (archive/population/): by evidence, not the luckiest search seed; in
islands that evolve apart and exchange their best; with elites per behaviour cell as inspirations; and,
with --preference-weight, a person's preferences within the fitness's noise band. Runs are built in a real
store with fake candidates (no training), as tests/test_best.py does."""

import json

import pytest

from rewardsmith.archive.population import design_context, inspirations, island_for, plan, ranked, summary
from rewardsmith.archive.population.cells import Cell, cell_of, cells
from rewardsmith.archive.records import (ActionStats, Analysis, CandidateResult, ComponentAnalysis, ComponentCurve,
                                         Confirmation, EvaluationMeans, FieldSummary, TrainingCurves)
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.config import EvolveConfig
from rewardsmith.task import load_task_file
from conftest import TINY_TASK, invoke

REWARD = '''
def compute_reward(state, action, next_state):
    # {name}
    return 0.0, {{"zero": 0.0}}
'''


def analysis(shares=None, speed=0.0, effort=0.5, length=200.0):
    """An analysis with the descriptors a cell reads: component shares, the speed field's mean, the mean
    |action|, the mean episode length (of 200)."""
    curve = ComponentCurve([], None, None, None)
    shares = shares or {"a": 0.5, "b": 0.5}
    return Analysis(
        fitness=0.0, fitness_std=0.0, seeds=[0], timesteps=1024, max_steps=200, termination="failure",
        evaluation=EvaluationMeans(1, length, None, None, None), episodes=[],
        components={n: ComponentAnalysis(curve, "evaluation", s, "+", None, s) for n, s in shares.items()},
        fields={"velocity": FieldSummary("m/s", "scalar", -1.0, -0.5, 0.0, 0.5, 1.0, speed)},
        actions=ActionStats(1, 0.0, 0.0, effort), training=TrainingCurves([], [], [], [], [], []), findings=[])


def scored(store, name, fitness, origin="offline", generation=0, parent=None, island=0, fraction=1.0, std=0.0,
           confirmed=None, analysed=None):
    c = store.add_candidate(generation, REWARD.format(name=name), origin, parent=parent, notes=name, island=island)
    confirmation = None if confirmed is None else Confirmation(1, confirmed, fitness, (fitness + confirmed) / 2)
    store.update(c.id, status=SCORED, fitness=fitness, fitness_std=std, seeds=[0], timesteps=1024,
                 result=CandidateResult(budget_fraction=fraction, confirmation=confirmation))
    if analysed is not None:
        store.update(c.id, analysis=analysed)
    return store.candidate(c.id)


@pytest.fixture
def make(tmp_path):
    task = load_task_file(TINY_TASK)

    def create(**config):
        settings = {"task": task.name, "designer": "offline", "timesteps": 1024, **config}
        return RunStore.create(tmp_path / f"run{len(list(tmp_path.iterdir()))}", settings, task.path), task
    return create


def context(store, task, generation=1, **config):
    settings = {"task": task.name, "samples": 4, **json.loads((store.root / "config.json").read_text()), **config}
    return design_context(store, task, EvolveConfig(**settings), 1024, generation)


def test_parents_are_ranked_by_evidence_where_raw_fitness_disagrees(make):
    store, task = make(islands=1)
    base = scored(store, "baseline", 1.0, origin="baseline")
    stopped = scored(store, "stopped at the first rung", 9.0, fraction=1 / 9)  # highest raw fitness
    lucky = scored(store, "lucky single seed", 5.0, confirmed=1.0)            # its second seed: mean 3.0
    solid = scored(store, "solid", 4.0, confirmed=4.4)                         # confirmed mean 4.2
    raw = sorted(store.candidates(status=SCORED), key=lambda c: -c.fitness)
    assert [c.id for c in raw[:2]] == [stopped.id, lucky.id]  # what ranking by raw fitness picked

    ctx = context(store, task)
    assert [p.id for p in ctx.parents] == [solid.id, lucky.id]
    assert stopped.id not in [p.id for p in ctx.parents] and ctx.best.id == solid.id
    # the full budget before a lower rung however high its score
    assert [c.id for c in ranked(store, 0.0)] == [solid.id, lucky.id, base.id, stopped.id]


def test_a_child_joins_its_parents_island_and_parentless_candidates_are_dealt_round_robin(make):
    store, task = make(islands=3)
    assert [island_for(store, None, 0, 3) for _ in range(1)] == [0]
    made = [store.add_candidate(0, REWARD.format(name=f"llm {i}"), "llm", island=island_for(store, None, 0, 3))
            for i in range(5)]
    assert [c.island for c in made] == [0, 1, 2, 0, 1]
    assert island_for(store, made[2].id, 5, 3) == 2  # not offered in generation 5: its parent's island


def test_islands_evolve_apart_and_every_island_is_covered(make):
    store, task = make(islands=2, migrate_every=10)
    a1 = scored(store, "a1", 5.0, island=0)
    a2 = scored(store, "a2", 4.0, island=0)
    b1 = scored(store, "b1", 2.0, island=1)
    b2 = scored(store, "b2", 1.0, island=1)
    ctx = context(store, task, generation=1)
    assert [p.id for p in ctx.parents] == [a1.id, b1.id, a2.id, b2.id]  # interleaved: sample i -> i % 4
    # a proposal built on b2 joins island 1, though island 0's candidates score higher
    child = store.add_candidate(1, REWARD.format(name="child"), "offline", parent=b2.id,
                                island=island_for(store, b2.id, 1, 2))
    assert child.island == 1


def test_the_best_of_each_island_migrates_to_the_next_every_k_generations(make):
    store, task = make(islands=2, migrate_every=2)
    a1 = scored(store, "a1", 5.0, island=0)
    b1 = scored(store, "b1", 2.0, island=1)
    quiet = context(store, task, generation=1)
    assert [p.id for p in quiet.parents] == [a1.id, b1.id]
    ctx = context(store, task, generation=2)
    # island 0 offers its best, then island 1's best (a migrant); island 1 its best, then island 0's
    assert [p.id for p in ctx.parents] == [a1.id, b1.id, b1.id, a1.id]
    offers = store.meta("population.g2")["offers"]
    assert offers == {a1.id: [0, 1], b1.id: [1, 0]}
    # a1's children spread over the two islands that offered it
    placed = []
    for i in range(4):
        island = island_for(store, a1.id, 2, 2)
        placed.append(island)
        store.add_candidate(2, REWARD.format(name=f"a1 child {i}"), "offline", parent=a1.id, island=island)
    assert placed == [0, 1, 0, 1]


def test_an_empty_island_borrows_the_best_and_its_children_populate_it(make):
    store, task = make(islands=2)
    base = scored(store, "baseline", 1.0, origin="baseline", island=0)
    ctx = context(store, task, generation=0)
    assert [p.id for p in ctx.parents] == [base.id, base.id]
    assert store.meta("population.g0")["borrowed"] == [1]
    islands = []
    for i in range(4):
        island = island_for(store, base.id, 0, 2)
        islands.append(island)
        store.add_candidate(0, REWARD.format(name=f"mutant {i}"), "offline", parent=base.id, island=island)
    assert islands == [0, 1, 0, 1]


def test_cells_bucket_what_the_analyzer_measured():
    from rewardsmith.archive.candidates import Candidate

    reference = analysis(speed=0.0)
    fast = Candidate("c1", 0, None, "llm", "", "", SCORED, analysis=analysis({"run": 0.95, "alive": 0.05}, speed=0.9,
                                                                               effort=0.9, length=60.0))
    assert cell_of(fast, reference) == Cell("run", "high", "-", "high", "short")
    calm = Candidate("c2", 0, None, "llm", "", "", SCORED, analysis=analysis(speed=0.1, effort=0.1))
    assert cell_of(calm, reference) == Cell("mixed", "mid", "-", "low", "full")
    assert cell_of(Candidate("c3", 0, None, "llm", "", "", SCORED), reference) is None


def test_inspirations_are_elites_of_other_cells_not_crowded_out_by_a_lucky_seed(make):
    store, task = make(islands=2, migrate_every=10)
    scored(store, "baseline", 1.0, origin="baseline", island=0, analysed=analysis())
    # three of one behaviour (fast), the best of them lucky; one different (slow) and two others
    a1 = scored(store, "fast lucky", 9.0, island=0, analysed=analysis(speed=0.9))
    scored(store, "fast", 8.0, island=0, analysed=analysis(speed=0.9))
    b1 = scored(store, "fast on b", 7.0, island=1, analysed=analysis(speed=0.9))
    scored(store, "fast on b too", 6.0, island=1, analysed=analysis(speed=0.9))
    slow = scored(store, "slow", 2.0, island=0, analysed=analysis(speed=-0.9))
    lazy = scored(store, "lazy", 1.5, island=1, analysed=analysis(effort=0.05))
    ctx = context(store, task)
    assert a1.id in [p.id for p in ctx.parents] and b1.id in [p.id for p in ctx.parents]
    ids = [c.id for c in ctx.inspirations]
    assert ids[:2] == [slow.id, lazy.id]  # low fitness, but the best of their cells, one from each island
    assert not set(ids) & {p.id for p in ctx.parents} and len(ids) == 3
    every = cells(store.candidates())
    assert len({every[i] for i in ids}) == len(ids)  # each from a different cell

    doc = summary(store)
    elites = {c["elite"] for c in doc["cells"]}
    assert {a1.id, slow.id, lazy.id} <= elites and b1.id not in elites  # a cell's elite is its best only


def test_preference_weight_reranks_within_the_noise_band_only(make):
    store, task = make(islands=1)
    top = scored(store, "top", 5.0, std=1.0)
    close = scored(store, "close", 4.5, std=1.0)        # within noise of top (0.5 <= 1.41)
    far = scored(store, "far", 1.0, std=1.0)            # beyond noise
    stopped = scored(store, "lower rung", 4.9, std=1.0, fraction=1 / 3)
    for _ in range(3):
        store.add_preference(close.id, top.id, "better", "keeps its torso upright")
        store.add_preference(far.id, close.id, "better")
        store.add_preference(stopped.id, top.id, "better")
    assert [c.id for c in ranked(store, 0.0)] == [top.id, close.id, far.id, stopped.id]  # W=0: unchanged
    reranked = [c.id for c in ranked(store, 1.0)]
    assert reranked[:2] == [close.id, top.id]       # preferred, and within the fitness's noise
    assert reranked[2:] == [far.id, stopped.id]     # never beyond the noise, never across a rung

    ctx = context(store, task, preference_weight=1.0)
    assert ctx.parents[0].id == close.id
    assert ctx.preferences[0] == {"id": 1, "preferred": close.id, "other": top.id, "outcome": "better",
                                  "reason": "keeps its torso upright"}
    assert context(store, task).parents[0].id == top.id  # weight 0


def test_preferences_rerank_deterministic_scores_within_the_runs_seed_spread(make):
    # one seed's evaluation is deterministic (no spread of its own), yet seeds of one reward differ: the band
    # is the final cut-off's noise (the run's seed-to-seed spread, here from a confirmed candidate: 1.4)
    store, task = make(islands=1)
    top = scored(store, "top", 5.0)
    close = scored(store, "close", 4.5)               # within the seed spread of top
    far = scored(store, "far", 1.0)                   # beyond it
    confirmed = scored(store, "confirmed", 2.0, confirmed=4.0)  # two seeds 2.0 apart: seed spread √2
    for _ in range(3):
        store.add_preference(close.id, top.id, "better", "keeps its torso upright")
        store.add_preference(far.id, top.id, "better")
    one_seed = [top.id, close.id, far.id]
    assert [c.id for c in ranked(store, 1.0)] == [confirmed.id, close.id, top.id, far.id]
    assert [c.id for c in ranked(store, 0.0)] == [confirmed.id] + one_seed


def test_plan_with_no_candidates_falls_back_to_the_baseline(make):
    store, task = make(islands=2)
    assert plan([], 2, 0, 2).parents == []
    ctx = context(store, task, generation=0)
    assert ctx.parents == [] and ctx.inspirations == []


def test_old_runs_are_migrated_onto_island_0(tmp_path):
    import shutil
    from pathlib import Path

    shutil.copytree(Path(__file__).parent / "data" / "run-0.1.0", tmp_path / "old")
    store = RunStore(tmp_path / "old")
    assert "m007_islands" in store.migrations_applied
    assert {c.island for c in store.candidates()} == {0}


def test_show_says_islands_cells_and_elites(make):
    store, task = make(islands=2)
    scored(store, "baseline", 1.0, origin="baseline", island=0, analysed=analysis())
    b = scored(store, "fast", 3.0, island=1, analysed=analysis({"</script>\u202e": 0.95, "b": 0.05}, speed=0.9))
    text = invoke("show", store.root).output
    assert "population: 2 islands" in text and "island 1:" in text and b.id in text
    assert "\u202e" not in text and "\\u202e" in text  # a component's name is reward code's text
    doc = json.loads(invoke("show", store.root, "--population", "--json").output)
    assert doc["islands"] == 2 and {c["id"]: c["island"] for c in doc["candidates"]}[b.id] == 1
    assert any(c["elite"] == b.id and c["cell"]["speed"] == "high" for c in doc["cells"])


def test_the_report_shows_islands_and_cells_with_untrusted_names_escaped(make, monkeypatch):
    from rewardsmith.output import report

    for plot in ("fitness_plot", "components_plot"):  # matplotlib's seconds; the plots are not what is tested
        monkeypatch.setattr(report, plot, lambda *args, **kwargs: None)
    store, task = make(islands=2)
    scored(store, "baseline", 1.0, origin="baseline", island=0, analysed=analysis())
    b = scored(store, "fast", 3.0, island=1, analysed=analysis({"<script>x()</script>\u202e": 0.95, "b": 0.05},
                                                                speed=0.9))
    page = report.render_report(store)
    section = page[page.index('<section id="population">'):page.index("</section>", page.index('id="population"'))]
    assert "2 islands" in section and f'href="#cand-{b.id}"' in section and "(2, elite)" in section
    assert "<script>" not in section and "&lt;script&gt;" in section and "\u202e" not in section


def test_the_live_view_says_each_islands_parents_and_a_candidates_island(make):
    import io

    from rich.console import Console

    from rewardsmith.output.view import LiveView

    store, task = make(islands=2)
    a = scored(store, "a", 2.0, island=0)
    b = scored(store, "b", 1.0, island=1)
    context(store, task, generation=1)
    out = io.StringIO()
    view = LiveView(store, Console(file=out, width=200), task_name=task.name)
    view("designing", generation=1, samples=4)
    child = store.add_candidate(1, REWARD.format(name="child"), "offline", parent=b.id,
                                island=island_for(store, b.id, 1, 2))
    view("candidate", candidate=child)
    said = out.getvalue()
    assert f"parents by island: 0: {a.id}; 1: {b.id}" in said
    assert f"{child.id} accepted (offline, from {b.id}, island 1)" in said
