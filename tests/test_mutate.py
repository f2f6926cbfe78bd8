"""The offline designer's AST mutations and its guided choices."""

import random

import pytest

from rewardsmith.intake.critic import static_findings
from rewardsmith.archive.population import parents
from rewardsmith.design.base import DesignContext
from rewardsmith.design.offline import OfflineDesigner
from rewardsmith.design.mutate import (component_variables, crossover, drop_component, rescale_component,
                                       rescale_constant)
from rewardsmith.archive.records import (ActionStats, Analysis, CandidateResult, ComponentAnalysis, ComponentCurve,
                                         ComponentTrend, EvaluationMeans, TrainingCurves)
from rewardsmith.sandbox.rewardcode import load_reward
from rewardsmith.archive.store import Candidate, code_hash
from rewardsmith.task import State, load_task

PARENT = '''
import numpy as np

def compute_reward(state, action, next_state):
    progress = 5.0 * (next_state.position - state.position)
    bonus = 0.0
    if next_state.at_flag:
        bonus = 10.0
    effort = -0.1 * float(np.sum(np.square(action)))
    total = progress + bonus + effort
    return total, {"progress": progress, "bonus": bonus, "effort": effort}
'''

OTHER = '''
import numpy as np
GOAL = 0.45

def closeness(p):
    return np.exp(-abs(GOAL - p))

def compute_reward(s, a, ns):
    near = 2.0 * closeness(ns.position)
    speed = abs(ns.velocity) * 10
    return near + speed, {"near": near, "speed": speed}
'''

STATE = State({"position": -0.5, "velocity": 0.01, "at_flag": 0.0})
NEXT = State({"position": -0.4, "velocity": 0.02, "at_flag": 1.0})
ACTION = __import__("numpy").array([0.5])


def run(code):
    return load_reward(code)(STATE, ACTION, NEXT)


def test_component_variables_finds_named_terms():
    assert component_variables(PARENT) == {"progress": "progress", "bonus": "bonus", "effort": "effort"}
    assert component_variables("def compute_reward(s, a, n):\n    return 1.0, {'x': 2.0}\n") == {}


def test_rescale_component_scales_every_assignment_and_the_total():
    total, comps = run(PARENT)
    new_total, new_comps = run(rescale_component(PARENT, "bonus", 3.0))
    assert new_comps["bonus"] == pytest.approx(3 * comps["bonus"])
    assert new_comps["progress"] == pytest.approx(comps["progress"])
    assert new_total == pytest.approx(total + 2 * comps["bonus"])
    assert rescale_component(PARENT, "missing", 2.0) is None


def test_drop_component_zeroes_it():
    total, comps = run(drop_component(PARENT, "effort"))
    assert comps["effort"] == 0.0
    assert total == pytest.approx(comps["progress"] + comps["bonus"])


def test_rescale_constant_changes_one_literal_and_stays_valid():
    new = rescale_constant(PARENT, random.Random(3), 2.0)
    assert new != PARENT and static_findings(new) == []
    assert run(new) != run(PARENT)


def test_crossover_brings_helpers_and_constants_along():
    notes = set()
    for seed in range(10):
        code, note = crossover(PARENT, OTHER, random.Random(seed))
        notes.add(note)
        assert static_findings(code) == []
        total, comps = run(code)
        assert total == pytest.approx(sum(comps.values()))
    assert "added component 'near' from the other parent" in notes
    assert "added component 'speed' from the other parent" in notes


def test_crossover_refuses_a_term_whose_names_cannot_be_resolved():
    broken = OTHER.replace("GOAL = 0.45\n", "")
    for seed in range(10):
        result = crossover(PARENT, broken, random.Random(seed))
        assert result is None or "near" not in result[1]


def _candidate(cid, code, fitness, components=None):
    return Candidate(id=cid, generation=0, parent=None, origin="offline", code=code, code_hash=code_hash(code),
                     status="scored", fitness=fitness, result=CandidateResult(components={
                         name: ComponentTrend(**trend) for name, trend in (components or {}).items()}))


def test_offline_designer_proposes_distinct_valid_children_guided_by_statistics():
    task = load_task("mountaincar-reach")
    dominated = {"progress": {"final": 100.0, "series": [90.0, 100.0]},
                 "bonus": {"final": 0.5, "series": [0.5, 0.5]},
                 "effort": {"final": -0.5, "series": [-0.4, -0.6]}}
    best = _candidate("c1", PARENT, 1.0, dominated)
    second = _candidate("c2", OTHER, 0.5)
    ctx = DesignContext(task=task, generation=1, samples=6, timesteps=1000, archive=[best, second], best=best,
                        baseline=None, failures=[], feedback=[], human_edits=[], seed=0,
                        parents=parents([best, second], [], None))
    proposals = OfflineDesigner().propose(ctx)
    assert len(proposals) == 6
    assert len({code_hash(p.code) for p in proposals}) == 6
    assert all(static_findings(p.code, list(task.fields)) == [] for p in proposals)
    notes = " | ".join(p.notes for p in proposals)
    assert "dominating" in notes or "flat" in notes  # the statistics steered at least one mutation
    # same seed, same proposals: resuming a run redoes nothing differently
    again = OfflineDesigner().propose(ctx)
    assert [p.code for p in again] == [p.code for p in proposals]


def test_the_analyzers_component_shares_guide_the_designer_over_the_last_snapshots():
    from rewardsmith.design.offline import _component_stats

    # the last training snapshot says progress dominates; the evaluation episodes the analyzer measured say effort
    best = _candidate("c1", PARENT, 1.0, {"progress": {"final": 100.0, "series": [90.0, 100.0]},
                                          "bonus": {"final": 0.5, "series": [0.5, 0.5]},
                                          "effort": {"final": -0.5, "series": [-0.4, -0.6]}})
    assert _component_stats(best)["progress"]["share"] > 0.9
    best.analysis = Analysis(
        fitness=1.0, fitness_std=0.0, seeds=[0], timesteps=1000, max_steps=None, termination="failure",
        evaluation=EvaluationMeans(1, 999.0, 1.0, -1.0, 0.001), episodes=[], fields={},
        components={name: ComponentAnalysis(training=ComponentCurve([0.1], 0.1, 0.1, 0.1), source="evaluation",
                                            mean_per_step=0.1, sign="+", fitness_corr=None, share=share)
                    for name, share in (("progress", 0.02), ("bonus", 0.03), ("effort", 0.95))},
        actions=ActionStats(1, 0.0, 0.0, 0.5), training=TrainingCurves([], [], [], [], [], []), findings=[])
    stats = _component_stats(best)
    assert stats["effort"]["share"] == 0.95 and stats["progress"]["share"] == 0.02
    assert stats["bonus"]["flat"] and not stats["effort"]["flat"]


def test_iteration_prompt_shows_feedback_beside_or_instead_of_the_reflection():
    from rewardsmith.design.llm_designer import LLMDesigner
    from rewardsmith.design.prompting import Prompts

    task = load_task("mountaincar-reach")
    best = _candidate("c1", PARENT, 1.0)
    best.reflection = "REFLECTION-TEXT: 'bonus' flat over training"
    feedback = [{"candidate": "c1", "text": "it rocks but never climbs"}]
    designer = LLMDesigner(client=None, prompts=Prompts())

    def prompt(reflection):
        ctx = DesignContext(task=task, generation=1, samples=1, timesteps=1000, archive=[best], best=best,
                            baseline=None, failures=[], feedback=feedback, human_edits=[], reflection=reflection)
        return designer.messages_for(ctx)[-1]["content"]

    beside, instead = prompt(True), prompt(False)
    assert "REFLECTION-TEXT" in beside and "it rocks but never climbs" in beside
    assert "REFLECTION-TEXT" not in instead and "it rocks but never climbs" in instead
    assert "replaces the automatic analysis" in instead


def test_env_source_shows_the_environments_step_and_observation_code():
    from rewardsmith.design.prompting import Prompts

    task = load_task("hopper-forward")
    with_source, without = Prompts().initial(task, 1000, env_source=True), Prompts().initial(task, 1000)
    assert "def step(self, action)" in with_source and "def _get_obs(self)" in with_source
    assert "def step(self, action)" not in without
