"""The proxy person (`evolve --proxy-person SPEC`, people/proxy.py): it answers the page's pairs by a hidden
criterion read from each candidate's kept evaluation episodes, errs at the rate asked (seeded), stores its
answers as `rewardsmith prefer` does (source "proxy"), answers a generation once, and a bad SPEC is an
error naming the bad part. Stores are built without training; one slow test runs a tiny evolve with it."""

import json

import pytest

from rewardsmith.archive.records import CandidateResult, Trajectory
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.errors import ConfigError
from rewardsmith.people.proxy import ProxyPerson, ProxySpec, criterion, parse_spec
from rewardsmith.task import load_task_file
from conftest import invoke, TINY_TASK

REWARD = "def compute_reward(state, action, next_state):\n    # {name}\n    return 0.0, {{}}\n"


def scored(store, name, fitness, positions):
    """A scored candidate whose one kept episode visited ``positions``."""
    c = store.add_candidate(0, REWARD.format(name=name), "offline")
    store.update(c.id, status=SCORED, fitness=fitness, seeds=[0], timesteps=100,
                 result=CandidateResult(budget_fraction=1.0))
    store.write_trajectories(c.id, [Trajectory(fields={"position": positions, "velocity": [0.0] * len(positions)},
                                               actions=[0] * (len(positions) - 1))])
    return c.id


@pytest.fixture
def run(tmp_path):
    """Four scored candidates: fitness rises c0..c3, while the hidden criterion (mean |position|) is lowest
    for c3 and highest for c0: the proxy, preferring low, agrees with fitness."""
    store = RunStore.create(tmp_path / "run", {"task": "tiny-mountaincar", "designer": "offline"}, TINY_TASK)
    for i in range(4):
        scored(store, i, float(i + 1), [-(4 - i) * 0.1, (4 - i) * 0.1, -(4 - i) * 0.1])
    return store


def test_the_spec_is_read_with_its_defaults_and_each_bad_part_is_named():
    task = load_task_file(TINY_TASK)
    assert parse_spec("field=position", task) == ProxySpec("position", "abs-mean", "low", 0.0, 2)
    assert parse_spec(" field=velocity , stat=max, prefer=high, error=0.25, pairs=3", task) == \
        ProxySpec("velocity", "max", "high", 0.25, 3)
    bad = {"field=torso_angle": ("torso_angle", "its fields: position, velocity, height, distance_to_flag"),
           "stat=abs-mean": ("no field=NAME", "position, velocity"),
           "field=position,stat=median": ("stat='median'", "abs-mean, mean, min, max"),
           "field=position,prefer=up": ("prefer='up'", "low or high"),
           "field=position,error=0.7": ("error='0.7'", "between 0 and 0.5"),
           "field=position,error=often": ("error='often'", "between 0 and 0.5"),
           "field=position,pairs=0": ("pairs='0'", "at least 1"),
           "field=position,colour=red": ("unknown key 'colour'", "field, stat, prefer, error, pairs"),
           "field=position,stat": ("'stat' is not key=value", "field=torso_angle"),
           "field=position,field=velocity": ("'field' given twice", "")}
    for spec, (what, expected) in bad.items():
        with pytest.raises(ConfigError) as err:
            parse_spec(spec, task)
        assert what in str(err.value) and expected in str(err.value) and "--proxy-person" in str(err.value)


def test_the_criterion_summarises_every_kept_state_and_a_vector_by_its_norm():
    episodes = [Trajectory(fields={"x": [1.0, -3.0], "v": [[3.0, 4.0], [0.0, 0.0]]}, actions=[0]),
                Trajectory(fields={"x": [2.0], "v": [[0.0, 1.0]]}, actions=[])]
    assert criterion(episodes, ProxySpec("x")) == pytest.approx(2.0)
    assert criterion(episodes, ProxySpec("x", stat="mean")) == pytest.approx(0.0)
    assert criterion(episodes, ProxySpec("x", stat="final")) == pytest.approx((-3.0 + 2.0) / 2)
    assert criterion(episodes, ProxySpec("x", stat="abs-max")) == 3.0
    assert criterion(episodes, ProxySpec("v", stat="max")) == 5.0
    assert criterion([], ProxySpec("x")) is None


def test_it_answers_the_pages_pairs_by_the_hidden_criterion_through_the_prefer_path(run):
    from rewardsmith.people.web.data import pair

    shown = pair(run)
    ids = ProxyPerson(ProxySpec("position", pairs=3), seed=0).answer(run, generation=0)
    prefs = run.preferences()
    assert len(ids) == 3 and [p["id"] for p in prefs] == ids
    assert {prefs[0]["preferred"], prefs[0]["other"]} == {shown["a"], shown["b"]}  # the page's first pair
    assert all(p["source"] == "proxy" and p["outcome"] == "better" for p in prefs)
    # lower mean |position| is a later candidate here: every answer prefers the higher id
    assert all(p["preferred"] > p["other"] for p in prefs)
    assert "lower abs-mean of position" in prefs[0]["reason"]
    # the same generation is answered once (a resumed run replays generation_done)
    assert ProxyPerson(ProxySpec("position", pairs=3), seed=0).answer(run, generation=0) == []
    assert len(run.preferences()) == 3
    # and what `show` reads from them is the same as for a person's answers
    result = invoke("show", run.root, "--json")
    doc = json.loads(result.output)["preferences"]
    assert doc["answers"] == 3 and doc["conflicts"] == [] and doc["kendall_tau"] > 0.5


def test_the_error_rate_flips_that_share_of_answers_and_the_same_seed_answers_the_same(tmp_path):
    def answers(seed, error, name, n=120):
        store = RunStore.create(tmp_path / name, {"task": "tiny-mountaincar", "designer": "offline"}, TINY_TASK)
        a = scored(store, "upright", 1.0, [0.0, 0.1])
        scored(store, "leaning", 2.0, [0.5, 0.6])
        proxy, said = ProxyPerson(ProxySpec("position", error=error, pairs=1), seed=seed), []
        for generation in range(n):  # it never answers a standing pair again: each answer is withdrawn
            [pid] = proxy.answer(store, generation)
            said.append(store.preferences()[-1]["preferred"] == a)
            store.withdraw_preference(pid)
        return said

    assert answers(0, 0.0, "none", 20) == [True] * 20
    noisy = answers(0, 0.3, "noisy")
    assert 22 <= noisy.count(False) <= 50  # 30 % of 120 = 36; binomial sd 5
    assert answers(0, 0.3, "again") == noisy and answers(1, 0.3, "other") != noisy


def test_a_candidate_without_kept_episodes_gets_unsure_which_informs_nothing(run):
    c = run.add_candidate(0, REWARD.format(name="no episodes"), "offline")
    run.update(c.id, status=SCORED, fitness=10.0, seeds=[0], timesteps=100, result=CandidateResult(budget_fraction=1.0))
    ProxyPerson(ProxySpec("position", pairs=1), seed=0).answer(run, 0)  # the page pairs the top two first
    first = run.preferences()[0]
    assert c.id in (first["preferred"], first["other"]) and first["outcome"] == "unsure"


def test_evolve_refuses_a_bad_spec_before_making_the_run_directory(tmp_path):
    result = invoke("evolve", "--task", TINY_TASK, "--out", tmp_path / "run", "--proxy-person", "field=torso_angle")
    assert result.exit_code == 2 and "field='torso_angle'" in result.output and "position, velocity" in result.output
    assert not (tmp_path / "run").exists()
    result = invoke("evolve", "--task", TINY_TASK, "--out", tmp_path / "run", "--proxy-person", "field=position,error=2")
    assert result.exit_code == 2 and "error='2'" in result.output


@pytest.mark.slow
def test_a_tiny_evolve_with_a_proxy_person_records_its_answers(tmp_path):
    result = invoke("evolve", "--task", TINY_TASK, "--out", tmp_path / "run", "--iterations", "2", "--samples", "2",
                    "--workers", "1", "--final-seeds", "0", "--no-screen",
                    "--proxy-person", "field=position,stat=max,prefer=high,pairs=1")
    assert result.exit_code == 0, result.output
    store = RunStore(tmp_path / "run")
    prefs = store.preferences()
    answered = [e["generation"] for e in store.events("proxy_answers")]
    assert answered == [0, 1] and prefs and all(p["source"] == "proxy" for p in prefs)
    assert store.config["proxy_person"] == "field=position,stat=max,prefer=high,pairs=1"


def test_a_conflict_is_named_with_the_fitness_gap_and_its_noise():
    from rewardsmith.people.preferences import summarize

    prefs = [{"preferred": "c4", "other": "c2", "outcome": "better", "reason": None}]
    summary = summarize(prefs, {"c4": 1.8, "c2": 3.1}, {"c4": 0.3, "c2": 0.4})
    assert summary.conflicts[0].describe() == "person prefers c4 over c2; fitness says c2 by 1.3 ± 0.5 (3.1 vs 1.8)"
    assert [(s.id, s.fitness) for s in summary.strengths] == [("c4", 1.8), ("c2", 3.1)]
    assert summarize(prefs, {"c4": 1.8, "c2": 3.1}).conflicts[0].gap_sd is None  # one seed each: noise unknown


def test_show_the_page_and_the_report_put_fitness_beside_the_score_with_tau_and_conflicts(run):
    from rewardsmith.output.report import render_report
    from rewardsmith.people.web.data import state

    ProxyPerson(ProxySpec("position", pairs=2), seed=0).answer(run, 0)  # agrees with fitness
    run.add_preference("c0", "c3", "better", "c3 spins <b>\u202e", source="cli")  # a person who disagrees
    shown = invoke("show", run.root).output
    assert "Kendall τ with fitness" in shown and "(fitness 4)" in shown
    assert "conflict: person prefers c0 over c3; fitness says c3 by 3 (4 vs 1)" in shown
    doc = json.loads(invoke("show", run.root, "--json").output)["preferences"]
    assert {s["id"]: s["fitness"] for s in doc["scores"]}["c3"] == 4.0
    assert doc["conflicts"][0]["gap"] == 3.0 and doc["conflicts"][0]["gap_sd"] is None
    page = state(run)["preferences"]
    assert page["kendall_tau"] == doc["kendall_tau"] and page["conflicts"][0]["reason"] == "c3 spins <b>\\u202e"
    report = render_report(run)
    section = report.split('<section id="preferences">')[1].split("</section>")[0]
    assert "person prefers c0 over c3; fitness says c3 by 3" in section and f"{doc['kendall_tau']:+.2f}" in section
    assert "c3 spins &lt;b&gt;\\u202e" in section and "\u202e" not in report and "<b>" not in section
    assert '<section id="preferences">' not in render_report(RunStore.create(
        run.root.parent / "empty", {"task": "tiny-mountaincar", "designer": "offline"}, TINY_TASK))
