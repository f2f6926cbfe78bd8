"""The offline designer reads the analyzer's findings, learns which operators raise fitness, and has
operators that add a term from a state field, reshape a term and tune thresholds (issue 23). Fake
design contexts with fake candidates carrying analyses; no training."""

import random
from collections import Counter
from functools import lru_cache

import numpy as np
import pytest

from rewardsmith.archive.candidates import Candidate, code_hash
from rewardsmith.archive.records import (ActionStats, Analysis, CandidateResult, ComponentAnalysis, ComponentCurve,
                                         ComponentTrend, Confirmation, EvaluationMeans, FieldSummary, Finding, HalvingRecord,
                                         TrainingCurves)
from rewardsmith.design.base import DesignContext
from rewardsmith.design.learning import OperatorStats, beat_parent, operators_of
from rewardsmith.design.mutate import (SHAPES, add_component, component_variables, reshape_component,
                                       thresholds, tune_threshold)
from rewardsmith.design.offline import OfflineDesigner
from rewardsmith.design.operators import OPERATORS, apply, canonical, read
from rewardsmith.design.terms import field_terms
from rewardsmith.intake.critic import static_findings
from rewardsmith.sandbox.rewardcode import load_reward
from rewardsmith.task import State, list_tasks, load_task

HOPPER = load_task("hopper-forward")
FINDINGS = {
    "dominating_component": lambda s: Finding("dominating_component", f"'{s}' dominates the reward's magnitude.",
                                              {"share": 0.95}, f"'{s}' dominates (95%)", [s]),
    "early_termination": lambda s: Finding("early_termination", "Episodes end early (fell or unhealthy).",
                                           {"early_episodes": 3, "episodes": 3}, "falls early in 3/3 episodes"),
    "reward_hacking": lambda s: Finding("reward_hacking", "Possible reward hacking.", {},
                                        "reward hacking? (return +40%)"),
}


def candidate(cid, code, fitness, per_step=None, findings=(), subject=None, parent=None, notes="",
              status="scored", generation=0, fields=None, halving=None, budget_fraction=None, **extra):
    """A scored candidate whose analysis says ``per_step`` (component -> mean per step) and ``findings``."""
    per_step = per_step or {}
    whole = sum(abs(v) for v in per_step.values()) or 1.0
    analysis = Analysis(
        fitness=fitness or 0.0, fitness_std=0.0, seeds=[0], timesteps=1000, max_steps=1000, termination="failure",
        evaluation=EvaluationMeans(3, 120.0, 1.0, 1.0, 0.01), episodes=[], fields=fields or {},
        components={n: ComponentAnalysis(training=ComponentCurve([v, 1.5 * v], v, v, v), source="evaluation",
                                         mean_per_step=v, sign="+" if v > 0 else "-", fitness_corr=None,
                                         share=abs(v) / whole) for n, v in per_step.items()},
        actions=ActionStats(3, 0.1, 0.1, 0.5), training=TrainingCurves([], [], [], [], [], []),
        findings=[FINDINGS[f](subject) for f in findings]) if per_step or findings else None
    result = CandidateResult(components={n: ComponentTrend([v, 1.5 * v], v) for n, v in per_step.items()},
                             halving=halving, budget_fraction=budget_fraction)
    c = Candidate(id=cid, generation=generation, parent=parent, origin="offline" if parent else "baseline", code=code,
                  code_hash=code_hash(code), status=status, fitness=fitness, notes=notes, analysis=analysis,
                  result=result, timesteps=1000 if fitness is not None else None)
    for key, value in extra.items():
        setattr(c, key, value)
    return c


def context(parents, archive=None, samples=4, seed=0, generation=1, duplicates=(), task=HOPPER):
    return DesignContext(task=task, generation=generation, samples=samples, timesteps=1000,
                         archive=list(parents if archive is None else archive), best=parents[0], baseline=None,
                         failures=[], feedback=[], human_edits=[], seed=seed, parents=list(parents),
                         duplicates=list(duplicates))


def hacked_hopper(cid="c3"):
    """The hopper of issue 23: 'healthy' dominates, reward hacking, and it falls early."""
    return candidate(cid, HOPPER.baseline, 2.0, {"forward": 0.05, "healthy": 1.0, "control": -0.01},
                     ["dominating_component", "early_termination", "reward_hacking"], "healthy")


@lru_cache(maxsize=None)
def transitions(task_name, n=1):
    """``n`` real (state, action, next_state) of the task's environment under random actions."""
    task = load_task(task_name)
    env = task.make_env()
    try:
        obs, _ = env.reset(seed=0)
        env.action_space.seed(0)
        out = []
        for _ in range(n):
            state = State(task.state_values(env, obs))
            action = np.asarray(env.action_space.sample())
            obs, *_ = env.step(action)
            out.append((state, action, State(task.state_values(env, obs))))
        return out
    finally:
        env.close()


def hopper_states(count=40, seed=1):
    """Hopper states with every field drawn at random (is_healthy 0 or 1)."""
    rng = np.random.default_rng(seed)
    names = list(HOPPER.fields)
    out = []
    for _ in range(count):
        values = {"obs": rng.normal(size=11)}
        for n in names:
            values[n] = rng.normal(size=3) if n.startswith("joint") else float(rng.normal())
        values["is_healthy"] = float(rng.integers(2))
        values["torso_height"] = float(1.2 + 0.2 * rng.normal())
        out.append(State(values))
    return out


def test_a_dominating_term_the_analyzer_calls_hacked_is_never_made_larger():
    parent = hacked_hopper()
    before = load_reward(parent.code)
    states = hopper_states()
    action = np.array([0.3, -0.2, 0.5])
    proposals = [p for seed in range(6) for p in OfflineDesigner().propose(context([parent], samples=6, seed=seed))]
    assert len(proposals) >= 30
    for proposal in proposals:
        after = load_reward(proposal.code)
        for s, n in zip(states, states[1:]):
            new, old = after(s, action, n)[1].get("healthy", 0.0), before(s, action, n)[1]["healthy"]
            assert abs(new) <= abs(old) + 1e-12, proposal.notes
    notes = Counter(p.notes.split(":")[0] for p in proposals)
    assert notes["scale_down"] + notes["reshape"] > 0 and "scaled component 'healthy' by 2" not in str(proposals)


def test_falls_early_makes_it_add_or_raise_a_term_about_staying_up():
    # the health term does not dominate here: add_term or scale_up may go for staying up
    falls = candidate("c3", HOPPER.baseline, 2.0, {"forward": 1.0, "healthy": 1.0, "control": -0.01},
                      ["early_termination"])
    for seed in range(20):
        made = apply("add_term", falls.code, read(falls), HOPPER, random.Random(seed))
        assert made.note.split(" ")[3] in ("upright", "height", "steady") and "falls early" in made.note, made.note
        assert static_findings(made.code, list(HOPPER.fields)) == []
        raised = apply("scale_up", falls.code, read(falls), HOPPER, random.Random(seed))
        assert "'healthy'" in raised.note and "raise a health term" in raised.note
    # the designer as a whole: most children go for staying up, fewer without the finding
    calm = candidate("c4", HOPPER.baseline, 2.0, {"forward": 1.0, "healthy": 1.0, "control": -0.01})

    def health_share(parent):
        proposals = [p for seed in range(5) for p in OfflineDesigner().propose(context([parent], samples=8, seed=seed))]
        staying_up = [p for p in proposals if p.notes.split(" ")[:4][-1:] in (["upright"], ["height"], ["steady"])
                      and p.notes.startswith("add_term") or p.notes.startswith("scale_up: scaled component 'healthy'")]
        return len(staying_up) / len(proposals)

    assert health_share(falls) >= 0.4 > health_share(calm)


def test_a_new_term_reads_its_fields_observed_range():
    observed = {"torso_angle": FieldSummary("rad", "scalar", -0.08, -0.02, 0.0, 0.03, 0.06, 0.0)}
    terms = {t.name: t for t in field_terms(HOPPER, observed, 0.25)}
    assert "/ 0.04)" in terms["upright"].expression and "observed" in terms["upright"].why  # max |angle| / 2
    assert "/ 0.1)" in {t.name: t for t in field_terms(HOPPER, {}, 0.25)}["upright"].expression  # the doc's ±0.2


def test_operator_statistics_shift_the_choice_after_a_history():
    parent = candidate("c1", HOPPER.baseline, 2.0, {"forward": 1.0, "healthy": 1.0, "control": -0.01},
                       ["early_termination"])
    history = [parent]
    for i in range(6):  # drop always beat its parent here, add_term never did
        history.append(candidate(f"d{i}", parent.code + f"\n# {i}\n", 3.0, parent="c1",
                                 notes="drop: dropped component 'control'"))
        history.append(candidate(f"a{i}", parent.code + f"\n# a{i}\n", 1.0, parent="c1",
                                 notes="add_term: add term upright from field torso_angle (rad)"))
    learned, fresh = OperatorStats.from_archive(history), OperatorStats.from_archive([parent])
    assert learned.table()[("drop", "early_termination")] == (6, 6)
    assert learned.table()[("add_term", "early_termination")] == (0, 6)
    reading = read(parent)

    def picks(stats):
        rng = random.Random(0)
        return Counter(stats.choose(OPERATORS, reading, rng) for _ in range(400))

    before, after = picks(fresh), picks(learned)
    assert before["add_term"] > before["drop"]  # the finding's prior: falls early, so add a term
    assert after["drop"] > 2 * before["drop"] and after["add_term"] < before["add_term"] / 2


def test_a_duplicate_makes_its_operator_and_parent_less_likely():
    parent = candidate("c1", HOPPER.baseline, 2.0, {"forward": 1.0, "healthy": 1.0, "control": -0.01})
    dups = [candidate(f"x{i}", parent.code + f"\n# {i}\n", None, parent="c1", status="rejected",
                      notes="scale_down: scaled component 'forward' by 0.5", duplicate_of="c0") for i in range(2)]
    stats = OperatorStats.from_archive([parent], dups)
    assert stats.posterior("scale_down", read(parent))[1] > OperatorStats.from_archive([parent]).posterior(
        "scale_down", read(parent))[1] + 4


def test_a_child_is_compared_with_its_parent_fairly():
    parent = candidate("p", HOPPER.baseline, 2.0, halving=HalvingRecord(2, [100, 300, 1000], 3,
                                                                         {0: 0.5, 1: 1.0, 2: 2.0}, False))
    def cut(score):
        return candidate("c", HOPPER.baseline + "#", score, parent="p", budget_fraction=0.3,
                         halving=HalvingRecord(1, [100, 300, 1000], 3, {0: 0.6, 1: score}, True))

    assert beat_parent(cut(0.9), parent) is False  # 0.9 vs the parent's 1.0 at the same rung, not vs its 2.0
    assert beat_parent(cut(1.2), parent) is True
    # a one-seed child against a parent whose confirmation seed pulled its mean down: the search seeds compare
    confirmed = candidate("q", HOPPER.baseline, 9.2)
    confirmed.result = CandidateResult(confirmation=Confirmation(seed=1000, fitness=2.0, search_fitness=9.2, mean=5.6))
    assert beat_parent(candidate("s", "z", 7.6, parent="q"), confirmed) is False
    assert beat_parent(candidate("r", "x", None, parent="p", status="rejected"), parent) is False
    assert beat_parent(candidate("t", "y", None, parent="p", status="training"), parent) is None
    assert operators_of("scaled component 'healthy' by 0.5 (dominating); confirmed on seed 1000") == ["scale_down"]
    assert operators_of("add_term: add term upright; took component 'x' from the other parent (c2)") == \
        ["add_term", "crossover"]


@pytest.mark.parametrize("task", [t.name for t in list_tasks()])
def test_every_new_operator_gives_code_the_critic_accepts_on_every_baseline(task):
    task = load_task(task)
    (state, action, next_state), = transitions(task.name)
    made = [add_component(task.baseline, t.name, t.expression)[0] for t in field_terms(task, {}, 0.3)]
    for name in component_variables(task.baseline):
        made += [reshape_component(task.baseline, name, shape, 0.5, penalty) for shape in SHAPES
                 for penalty in (False, True)]
    made += [tune_threshold(task.baseline, random.Random(i), 1.1)[0] for i in range(len(thresholds(task.baseline)))]
    made = [m for m in made if m is not None]
    assert len(made) >= len(field_terms(task, {}, 0.3)) + 2
    for code in made:
        assert static_findings(code, list(task.fields)) == [], code
        total, components = load_reward(code)(state, action, next_state)
        assert np.isfinite(total) and all(np.isfinite(v) for v in components.values())
        assert total == pytest.approx(sum(components.values()), rel=1e-6, abs=1e-9), code


def test_the_same_seed_gives_the_same_children_and_sample_i_builds_on_parent_i_mod_n():
    a, b = hacked_hopper("c1"), candidate("c2", HOPPER.baseline.replace("1e-3", "2e-3"), 1.5,
                                          {"forward": 0.5, "healthy": 1.0, "control": -0.02})
    ctx = context([a, b], samples=6)
    first = OfflineDesigner().propose(ctx)
    assert [p.code for p in OfflineDesigner().propose(ctx)] == [p.code for p in first]
    assert [p.parent for p in first] == ["c1", "c2"] * 3
    assert len({code_hash(p.code) for p in first}) == 6
    assert [p.code for p in OfflineDesigner().propose(context([a, b], samples=6, seed=1))] != [p.code for p in first]
    # a resumed design phase (this generation's children already archived) proposes the same
    archived = [candidate(f"n{i}", p.code, None, parent=p.parent, status="pending", generation=1)
                for i, p in enumerate(first)]
    again = OfflineDesigner().propose(context([a, b], archive=[a, b] + archived, samples=6))
    assert [p.code for p in again] == [p.code for p in first]


def test_a_child_that_is_its_parent_again_up_to_layout_is_never_proposed():
    # issue 23's hopper run: crossing in 'control' from a parent whose 'control' is the baseline's gave the
    # baseline again (comments dropped, 1e-3 written 0.001), and it was trained as a new reward
    parent = candidate("c0", HOPPER.baseline, 2.0, {"forward": 1.0, "healthy": 1.0, "control": -0.01})
    other = candidate("c2", HOPPER.baseline.replace("DT = 0.008", "DT = 0.016"), 1.0)
    for seed in range(10):
        made = apply("crossover", parent.code, read(parent), HOPPER, random.Random(seed), [other])
        assert made is None or "'forward'" in made.note  # 'control' and 'healthy' are the same in both
    rewritten = candidate("c5", HOPPER.baseline.replace("1e-3", "0.001").replace("  # seconds", "  # s"), 1.0,
                          parent="c0", generation=0)
    proposals = OfflineDesigner().propose(context([parent, other], archive=[parent, other, rewritten], samples=8))
    layouts = {canonical(c.code) for c in (parent, other, rewritten)}
    assert proposals and all(canonical(p.code) not in layouts for p in proposals)
