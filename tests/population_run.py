"""A run with a population worth showing, built in a real store without training (the population views'
tests and docs/make_screenshots.py): two islands that exchanged their best in generation 2, four behaviour
cells, offline children whose notes name their operators on parents with analyzer findings (so the
operator statistics have rows), a duplicate (not trained, 0 steps) and a near-duplicate (trained, flagged).
With ``hostile``, a dominating component name, candidate notes and the duplicates' reasons carry hostile text."""

from __future__ import annotations

from pathlib import Path

from rewardsmith.archive.records import (ActionStats, Analysis, CandidateResult, ComponentAnalysis, ComponentCurve,
                                         EvaluationMeans, FieldSummary, Finding, TrainingCurves)
from rewardsmith.archive.store import REJECTED, SCORED, RunStore
from conftest import TINY_TASK

HOSTILE = ["<script>window.__pwned = 1; alert(1)</script>",
           '"><img src=x onerror="window.__pwned = 2; alert(2)">',
           "'><svg onload=window.__pwned=3>",
           "javascript:window.__pwned=4",
           "bidi \u202eevil\u202c and \u2066isolate\u2069 zero\u200bwidth"]
EVIL = " ".join(HOSTILE)
REWARD = "def compute_reward(state, action, next_state):\n    # {name}\n    return {k}.0, {{'speed': 1.0}}\n"


def analysis(shares: dict, speed: float = 0.0, effort: float = 0.5, length: float = 200.0,
             findings: tuple[str, ...] = ()) -> Analysis:
    """An analysis with what a cell reads (component shares, the speed field's mean, mean |action|, episode
    length of 200) and the named findings (what the offline designer's statistics are kept by)."""
    curve = ComponentCurve([], None, None, None)
    return Analysis(
        fitness=0.0, fitness_std=0.0, seeds=[0], timesteps=1000, max_steps=200, termination="failure",
        evaluation=EvaluationMeans(1, length, None, None, None), episodes=[],
        components={n: ComponentAnalysis(curve, "evaluation", s, "+", None, s) for n, s in shares.items()},
        fields={"velocity": FieldSummary("m/s", "scalar", -1.0, -0.5, 0.0, 0.5, 1.0, speed)},
        actions=ActionStats(1, 0.0, 0.0, effort), training=TrainingCurves([], [], [], [], [], []),
        findings=[Finding(f, f"{f} seen", {}, f) for f in findings])


def make_population_run(root: Path, hostile: bool = False) -> RunStore:
    """The run (module docstring); ids c0..c7:

    c0 baseline (island 0, cell 1, finding early_termination) 0.40; c1 offline from c0 "add_term" 0.62
    (island 0); c2 from c0 "scale_down" 0.31 (island 1, a fast cell whose dominant term is hostile when asked);
    c3 from c1 "scale_up" 0.55 (island 1, migrant c1 in generation 2); c4 duplicate of c1 (rejected, 0 steps);
    c5 near-duplicate of c1, trained 0.58; c6 from c2 "reshape" 0.71 (island 1); c7 training."""
    evil = f" {EVIL}" if hostile else ""  # appended to notes and reasons
    term = EVIL if hostile else "forward"
    store = RunStore.create(root, {"task": "tiny-mountaincar", "designer": "offline", "timesteps": 1000,
                                   "islands": 2, "migrate_every": 2}, TINY_TASK)
    store.set_meta("random_fitness", 0.1)
    plans = {1: {"islands": [["c0"], ["c0"]], "offers": {"c0": [0, 1]}, "migrants": {}, "borrowed": [1]},
             2: {"islands": [["c1", "c3"], ["c3", "c1"]], "offers": {"c1": [0, 1], "c3": [1, 0]},
                 "migrants": {"1": "c1", "0": "c3"}, "borrowed": []}}
    rows = [  # id, generation, origin, parent, island, fitness, notes, analysis
        ("c0", 0, "baseline", None, 0, 0.40, "the task's human-written reward",
         analysis({"height": 0.5, "speed": 0.5}, findings=("early_termination",))),
        ("c1", 1, "offline", "c0", 0, 0.62, "add_term: a term about staying up",
         analysis({"height": 0.5, "speed": 0.5}, speed=0.9, findings=("no_progress",))),
        ("c2", 1, "offline", "c0", 1, 0.31, f"scale_down: halved 'speed'{evil}",
         analysis({term: 0.95, "speed": 0.05}, speed=0.9)),
        ("c3", 2, "offline", "c1", 1, 0.55, "scale_up: raised 'height'",
         analysis({"height": 0.5, "speed": 0.5}, effort=0.9)),
    ]
    for cid, generation, origin, parent, island, fitness, notes, analysed in rows:
        c = store.add_candidate(generation, REWARD.format(name=cid, k=len(cid) + generation + int(cid[1:])),
                                origin, parent=parent, notes=notes, island=island, candidate_id=cid)
        store.update(c.id, status=SCORED, fitness=fitness, fitness_std=0.0, seeds=[0], timesteps=1000,
                     result=CandidateResult(budget_fraction=1.0), analysis=analysed)
    for g in (1, 2):
        store.mark_designed(g, 3, [])
        store.set_meta(f"population.g{g}", plans[g])
    why = f"its rewards equal c1's on every step on 5 recorded episodes (1,000 steps){evil}"
    store.add_candidate(2, REWARD.format(name="c4", k=40), "offline", parent="c1", status=REJECTED,
                        reason=f"duplicate of c1: {why}", notes=f"add_term: the same term again{evil}",
                        island=0, candidate_id="c4")
    store.update("c4", duplicate_of="c1", timesteps=0, steps_spent=0)
    store.event("duplicate", {"candidate": "c4", "of": "c1", "reason": f"duplicate of c1: {why}"})
    near = f"near-duplicate of c1: its per-step rewards correlate 0.998 with c1's on 5 recorded episodes{evil}; trained"
    store.add_candidate(2, REWARD.format(name="c5", k=50), "offline", parent="c1", notes=f"add_term: close\n{near}",
                        island=0, candidate_id="c5")
    store.update("c5", status=SCORED, fitness=0.58, fitness_std=0.0, seeds=[0], timesteps=1000,
                 result=CandidateResult(budget_fraction=1.0))
    store.event("near_duplicate", {"candidate": "c5", "of": "c1", "reason": near})
    c6 = store.add_candidate(2, REWARD.format(name="c6", k=60), "offline", parent="c2", notes="reshape: clipped 'speed'",
                             island=1, candidate_id="c6")
    store.update(c6.id, status=SCORED, fitness=0.71, fitness_std=0.0, seeds=[0], timesteps=1000,
                 result=CandidateResult(budget_fraction=1.0),
                 analysis=analysis({"height": 0.5, "speed": 0.5}, speed=-0.9, effort=0.1))
    store.add_candidate(3, REWARD.format(name="c7", k=70), "offline", parent="c6", notes="drop: removed 'height'",
                        island=1, candidate_id="c7")
    store.event("generation_done", {"generation": 2})
    store.set_meta("status", "running")
    return store
