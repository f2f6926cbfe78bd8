"""Duplicates (issue 23): a proposal that trains exactly as an archived candidate does is recorded as its
duplicate with 0 RL steps and the reason; a near-duplicate is flagged and trained. Rewards run in the
sandbox (the real replay job); the critic is a stand-in that accepts (it is not what is tested here)."""

import gzip
import json
import re
from dataclasses import replace

import pytest

from rewardsmith.archive.population import design_context
from rewardsmith.archive.store import PENDING, REJECTED, SCORED, RunStore, write_atomic
from rewardsmith.config import EvolveConfig
from rewardsmith.design.base import Proposal
from rewardsmith.intake.admission import Intake
from rewardsmith.intake.critic import Verdict
from rewardsmith.intake.duplicates import Fingerprint, Rule, canonical, compare, equivalence, fingerprint_episodes
from rewardsmith.intake.screening import random_episodes, references
from rewardsmith.task import load_task, load_task_file

HOPPER = load_task("hopper-forward").baseline
# the hopper candidate: every term scaled by the same factor (its total is 2x the baseline's)
SCALED = '''
import numpy as np

DT = 0.008

def compute_reward(state, action, next_state):
    forward = 2.0 * (next_state.x_position - state.x_position) / DT
    healthy = 2.0 * next_state.is_healthy
    control = -2e-3 * float(np.sum(np.square(action)))
    return forward + healthy + control, {"forward": forward, "healthy": healthy, "control": control}
'''
# the baseline with its constants written as expressions and its variables renamed
RENAMED = '''
import numpy as np

STEP = 0.004 * 2  # seconds per environment step

def compute_reward(state, action, next_state):
    """Forward speed, staying healthy, a little effort."""
    speed = (next_state.x_position - state.x_position) / STEP
    alive = 1.0 * next_state.is_healthy
    effort = -(1e-3) * float(np.sum(np.square(action)))
    out = speed + alive + effort
    return out, {"forward": speed, "healthy": alive, "control": effort}
'''
# the baseline plus a constant per step: on hopper, whose episodes end when it falls, that pays for
# staying alive, so it is not a duplicate
OFFSET = HOPPER.replace("total = forward + healthy + control", "total = forward + healthy + control + 0.5")
# a different reward whose per-step totals follow the baseline's closely
NEAR = HOPPER.replace("total = forward + healthy + control",
                      "total = forward + healthy + control - 0.01 * abs(next_state.torso_angle)")


BASELINE_FINGERPRINT = []  # c0's kept fingerprint, shared by the tests (one replay job fewer each)


class Accepting:
    """The critic's stand-in: accepts every reward (the duplicate check comes after it)."""

    def check(self, code):
        return Verdict()


class Designer:
    def repair(self, proposal, report):
        raise AssertionError("a duplicate is never sent for repair")


@pytest.fixture(scope="module")
def hopper_episodes():
    """The task and the baseline's kept episodes; the run's random-policy ones are rolled out once too."""
    task = load_task("hopper-forward")
    return task, random_episodes(task, episodes=3, seed=4), random_episodes(task, seed=0)


def make_run(tmp_path, task, episodes, randoms, no_screen=True):
    """A run whose baseline is scored and kept ``episodes`` (random-policy ones here: the fingerprint
    needs recorded states, not good ones), with its random-policy episodes ``randoms`` rolled out."""
    config = EvolveConfig(task=task.name, no_screen=no_screen, seed=0)
    store = RunStore.create(tmp_path / "run", config.to_dict(), task.path)
    base = store.add_candidate(0, task.baseline, "baseline", status=SCORED)
    store.update(base.id, fitness=1.0, timesteps=1000, steps_spent=1000)
    store.write_trajectories(base.id, [replace(r.trajectory, fitness=r.fitness) for r in episodes])
    write_atomic(store.root / "screening" / "random.traj.json.gz", gzip.compress(json.dumps(
        [replace(r.trajectory, fitness=r.fitness).to_json() for r in randoms]).encode()))
    if BASELINE_FINGERPRINT:  # the baseline's, computed by the first test that needed it (the same episodes)
        write_atomic(store.root / "fingerprints" / "c0.json.gz", BASELINE_FINGERPRINT[0])
    events = []
    intake = Intake(store, task, config, Accepting(), lambda: 0.0, lambda kind, **data: events.append((kind, data)))
    return store, intake, events


def test_a_scaled_copy_of_the_baseline_is_a_duplicate_with_0_steps(tmp_path, hopper_episodes):
    task, episodes, randoms = hopper_episodes
    store, intake, _ = make_run(tmp_path, task, episodes, randoms)
    c = intake.admit(Proposal(SCALED, "offline", parent="c0"), 1, Designer())
    assert c.status == REJECTED and c.duplicate_of == "c0" and c.timesteps == 0 and c.steps_spent == 0
    fingerprint = fingerprint_episodes(references(store, task))  # the run's random episodes and the baseline's
    assert len(fingerprint) == 5 + len(episodes)
    assert c.reason == (f"duplicate of c0: its rewards are 2.00× c0's on {len(fingerprint)} recorded episodes "
                        f"({sum(r.length for r in fingerprint):,} steps); reward normalisation trains them identically")
    assert [e["candidate"] for e in store.events("duplicate")] == [c.id]
    # the fingerprints are kept: the baseline's (computed once, lazily) and the proposal's
    assert (store.root / "fingerprints" / f"{c.id}.json.gz").is_file()
    BASELINE_FINGERPRINT[:] = [(store.root / "fingerprints" / "c0.json.gz").read_bytes()]
    # the next generation's designer hears of it (design.base.DesignContext.duplicates)
    config = EvolveConfig(task=task.name, no_screen=True, seed=0)
    assert [d.id for d in design_context(store, task, config, 1000, 2).duplicates] == [c.id]
    assert design_context(store, task, config, 1000, 1).duplicates == []  # only earlier generations'


def test_a_renamed_constant_folded_copy_is_a_code_duplicate_without_running_it(tmp_path, hopper_episodes):
    task, episodes, randoms = hopper_episodes
    assert canonical(RENAMED) == canonical(HOPPER) != canonical(SCALED)
    assert canonical(HOPPER.replace("1e-3", "2e-3")) != canonical(HOPPER)
    store, intake, _ = make_run(tmp_path, task, episodes, randoms)

    def no_replay(*args, **kwargs):
        raise AssertionError("a code duplicate needs no sandbox job")

    intake.duplicates.sandboxed = no_replay
    c = intake.admit(Proposal(RENAMED, "offline", parent="c0"), 1, Designer())
    assert c.duplicate_of == "c0" and c.timesteps == 0
    assert "the same code as c0 once constants are folded and local variables renamed" in c.reason


def test_an_offset_on_a_task_that_ends_early_is_not_a_duplicate_but_is_flagged(tmp_path, hopper_episodes):
    task, episodes, randoms = hopper_episodes
    assert any(r.trajectory.steps < 1000 for r in episodes)  # hopper falls: episodes end early
    store, intake, events = make_run(tmp_path, task, episodes, randoms)
    c = intake.admit(Proposal(OFFSET, "offline", parent="c0"), 1, Designer())
    assert c.status == PENDING and c.duplicate_of is None  # trained
    assert "near-duplicate of c0" in c.notes and "1.00× c0's + 0.5 per step" in c.notes
    assert "can end early" in c.notes
    assert [e["candidate"] for e in store.events("near_duplicate")] == [c.id]
    # one event, which the store keeps and the view shows as a note (archive/events.py)
    assert [data["candidate"] for kind, data in events if kind == "near_duplicate"] == [c.id]
    assert any("near-duplicate of c0" in data["reason"] for kind, data in events if kind == "near_duplicate")


def test_a_near_duplicate_is_flagged_and_trained(tmp_path, hopper_episodes):
    task, episodes, randoms = hopper_episodes
    store, intake, _ = make_run(tmp_path, task, episodes, randoms)
    c = intake.admit(Proposal(NEAR, "offline", parent="c0"), 1, Designer())
    assert c.status == PENDING and c.duplicate_of is None
    assert re.search(r"near-duplicate of c0: its per-step rewards correlate 0\.99\d* with c0's", c.notes)
    assert "no exact transform" in c.notes


def test_the_rule_follows_the_trainer_and_the_episodes():
    x = [0.3, -1.0, 2.5, 0.0, 1.25]
    two_x = [2 * v for v in x]
    shifted = [v + 0.5 for v in x]
    # normalised rewards, episodes that end early: a scale is equivalent, an offset is not
    assert equivalence(two_x, x, Rule(scale=True, offset=False))[:3] == (True, 2.0, 0.0)
    assert not equivalence(shifted, x, Rule(scale=True, offset=False))[0]
    # no reward normalisation: not even a scale; fixed-length episodes: an offset is
    assert not equivalence(two_x, x, Rule(scale=False, offset=False))[0]
    assert equivalence(shifted, x, Rule(scale=False, offset=True))[0]
    assert not equivalence([-v for v in x], x, Rule(scale=True, offset=True))[0]  # a negative scale never


def test_a_lying_replay_cannot_make_a_proposal_a_duplicate_of_anything(tmp_path, hopper_episodes):
    """The replay's output is data: a reward that prints a forged result changes nothing (the parent
    reads only its private result pipe), and a forged answer with the wrong count, NaN or strings is
    refused by the parent's checks (the proposal is then no duplicate and goes on to be judged)."""
    task, episodes, randoms = hopper_episodes
    store, intake, events = make_run(tmp_path, task, episodes, randoms)
    from rewardsmith.training import replay as replay_module

    # honest numbers, then a forged result line on stdout: the sandbox does not take it as the result
    liar = SCALED.replace("def compute_reward(state, action, next_state):",
                          "def compute_reward(state, action, next_state):\n"
                          "    print('{\"result\": {\"episodes\": []}}')")
    c = intake.admit(Proposal(liar.replace("2.0 *", "3.0 *").replace("-2e-3", "-3e-3"), "offline"), 1, Designer())
    assert c.duplicate_of == "c0" and "3.00× c0's" in c.reason  # its own honest numbers decide

    for factor, forged in ((4, {"episodes": [{"rewards": [float("nan")]}]}), (5, {"episodes": "2x c0"}),
                           (6, {"episodes": [{"rewards": ["1"] * 5, "components": {}}] * 3})):
        def lie(job, limits, forged=forged):
            return forged

        original = replay_module.run_job
        replay_module.run_job = lie
        try:
            c = intake.admit(Proposal(SCALED.replace("2.0 *", f"{factor}.0 *"), "offline"), 1, Designer())
        finally:
            replay_module.run_job = original
        assert c.duplicate_of is None and c.status == PENDING
        assert store.candidate("c0").status == SCORED and store.candidate("c0").duplicate_of is None
    assert any("duplicate check could not run" in data.get("message", "") for _, data in events)


class FakeExecutor:
    """Trainings whose fitness is a number per reward (an executor's interface); records what it trained."""

    def __init__(self, fitness: dict):
        self.fitness, self.calls = fitness, []

    def submit(self, task, code, seed, budget, on_progress=None, **options):
        from concurrent.futures import Future

        from rewardsmith.archive.records import EpisodeSummary, SeedResult

        name = next((n for n, c in self.fitness.items() if c[0] == code), "sparse")
        value = self.fitness.get(name, (None, 0.1))[1] + seed / 100
        self.calls.append((name, seed))
        future = Future()
        future.set_result(SeedResult(seed=seed, fitness=value, episode_fitness=[value], timesteps=budget.timesteps,
                                     steps_per_second=1.0, train_seconds=0.0, snapshots=[],
                                     episodes=[EpisodeSummary(fitness=value, length=10, reward_return=0.0,
                                                              native_return=0.0, terminated=False, truncated=True)],
                                     trained_steps=budget.timesteps))
        return future


def test_final_scoring_trains_a_duplicate_once_and_says_so(tmp_path, hopper_episodes):
    """Two candidates both trained in the search (a run from before this check, resumed): in the final
    scoring the later is found a duplicate of the earlier (the baseline) and shares its fitness."""
    from rewardsmith.training.final import FinalPlan, final_scoring
    from rewardsmith.training.collect import Training
    from rewardsmith.training.trainer import Budget

    task, episodes, randoms = hopper_episodes
    store, _, _ = make_run(tmp_path, task, episodes, randoms)
    for code, fitness in ((SCALED, 2.0), (NEAR, 1.5)):
        c = store.add_candidate(1, code, "offline", parent="c0", status=SCORED)
        store.update(c.id, fitness=fitness, seeds=[0], timesteps=1000)
    executor, notes = FakeExecutor({"c0": (HOPPER, 1.0), "c1": (SCALED, 9.0), "c2": (NEAR, 1.5)}), []
    summary = final_scoring(store, Training(task, Budget(1000), executor), FinalPlan(0, 2, 2, note=notes.append))
    assert sorted(executor.calls) == sorted((s, seed) for s in ("c0", "c2", "sparse") for seed in (1, 2))
    assert sorted(summary.entry("c1").per_seed) == sorted(summary.entry("c0").per_seed) == [1.01, 1.02]
    assert summary.duplicates["c1"].startswith("shares c0's fitness (duplicate of c0: its rewards are 2.00× c0's")
    assert all(r.steps_spent == 0 and r.reason.startswith("shares c0's fitness")
               for r in store.final_runs() if r.subject == "c1")
    assert any(n.startswith("final scoring: c1 is not trained: shares c0's fitness") for n in notes)
    assert store.final().duplicates == summary.duplicates  # kept, and read back


def test_show_json_the_report_and_the_live_view_say_duplicate_of(tmp_path, hopper_episodes):
    from conftest import invoke
    from rewardsmith.output.view import LiveView
    from rich.console import Console

    task, episodes, randoms = hopper_episodes
    store, _, _ = make_run(tmp_path, task, episodes, randoms)
    why = "duplicate of c0: its rewards are 2.00× c0's on 8 recorded episodes (282 steps); reward normalisation ..."
    c = store.add_candidate(1, SCALED, "offline", parent="c0", status=REJECTED, reason=why)
    store.update(c.id, duplicate_of="c0", timesteps=0, steps_spent=0)
    shown = invoke("show", store.root)
    flat = " ".join(shown.output.split())
    assert "1 rejected (1 as duplicates, not trained)" in flat and "│ duplicate of c0:" in flat
    assert "duplicate of c0: not trained (0 RL steps)" in invoke("show", store.root, "--candidate", c.id).output
    doc = json.loads(invoke("show", store.root, "--json").output)
    entries = {e["id"]: e for e in doc["candidates"]}
    assert entries[c.id]["duplicate_of"] == "c0" and entries[c.id]["reason"] == why and entries[c.id]["timesteps"] == 0
    assert "duplicate_of" not in entries["c0"]  # only a duplicate has the key
    assert invoke("report", store.root).exit_code == 0
    html = (store.root / "report.html").read_text()
    assert "rejected (duplicate of c0)" in html and "duplicate of c0: its rewards are 2.00× c0&#39;s" in html
    console = Console(record=True, width=200, force_terminal=False)
    LiveView(store, console)("candidate", candidate=store.candidate(c.id))
    assert f"{c.id} rejected: duplicate of c0: its rewards are 2.00× c0's" in console.export_text()


NORMALIZED_TASK = '''"""Tiny mountain car trained with reward normalisation (so a scaled reward trains as the original)."""
import importlib.util

from rewardsmith.task import BUILTIN_TASKS_DIR

_spec = importlib.util.spec_from_file_location("_shipped_mountaincar", BUILTIN_TASKS_DIR / "mountaincar_reach.py")
_shipped = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shipped)
globals().update({k: v for k, v in vars(_shipped).items() if not k.startswith("__")})

NAME = "tiny-mountaincar-normalized"
TRAINING = {"timesteps": 1024, "n_envs": 1, "normalize": True, "eval_episodes": 1,
            "ppo": {"n_steps": 256, "batch_size": 64, "n_epochs": 2}}
'''


def _reply(code: str) -> str:
    return f"Here it is:\n```python\n{code.strip()}\n```"


@pytest.mark.slow
def test_an_llm_run_never_trains_a_scaled_copy_and_tells_the_model(tmp_path, monkeypatch, stub_llm):
    """End to end (the scripted model, the real sandbox and PPO): generation 0 proposes the baseline
    scaled by 3 and another reward; the copy is recorded as a duplicate of c0 with 0 steps, the other
    trains, and the next generation's designer is told."""
    from conftest import invoke

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    (tmp_path / "task.py").write_text(NORMALIZED_TASK)
    baseline = load_task("mountaincar-reach").baseline
    tripled = baseline.replace("100.0 *", "300.0 *").replace("10.0 *", "30.0 *").replace("-0.1 *", "-0.3 *")
    other = baseline.replace("10.0 * next_state.at_flag", "50.0 * next_state.at_flag")
    stub_llm.enqueue(_reply(tripled))
    stub_llm.enqueue(_reply(other))
    result = invoke("evolve", "--task", tmp_path / "task.py", "--model", "openai/stub-coder", "--api-base",
                    stub_llm.url, "--iterations", 1, "--samples", 2, "--seed", 1, "--final-seeds", 0, "--out", "run")
    assert result.exit_code == 0, result.output
    store = RunStore(tmp_path / "run")
    copy = next(c for c in store.candidates() if c.code.strip() == tripled.strip())
    assert copy.status == REJECTED and copy.duplicate_of == "c0" and copy.timesteps == 0
    assert copy.reason.startswith("duplicate of c0: its rewards are 3.00× c0's on 6 recorded episodes")
    assert not (store.root / "candidates" / f"{copy.id}.log").exists()  # never trained
    assert [c.status for c in store.candidates() if c.code.strip() == other.strip()] == ["scored"]
    # the next generation's designer is told (DesignContext.duplicates, which the LLM prompt shows)
    config = EvolveConfig.from_dict(store.config)
    ctx = design_context(store, load_task_file(tmp_path / "task.py"), config, 1024, 1)
    assert [c.id for c in ctx.duplicates] == [copy.id]


def test_equal_rewards_are_no_duplicate_where_a_term_never_varies_on_the_recorded_steps():
    """Mountain car's flag bonus doubled: on episodes that never reach the flag it pays the same as the
    original on every step, yet trains differently once the flag is found; a near-duplicate, trained."""
    rule = Rule(scale=False, offset=False, episodes=1, steps=3)
    original = Fingerprint([[0.5, -0.25, 1.0]], silent=())
    assert compare(Fingerprint([[0.5, -0.25, 1.0]]), original, "c0", rule)[1].duplicate
    unseen = compare(Fingerprint([[0.5, -0.25, 1.0]], silent=("flag",)), original, "c0", rule)[1]
    assert not unseen.duplicate
    assert unseen.reason == ("near-duplicate of c0: its rewards equal c0's on every step on 1 recorded episodes "
                             "(3 steps); trained, as term flag never varies on those episodes, so what it changes "
                             "is unseen")


@pytest.fixture
def baseline_fingerprint(tmp_path_factory, hopper_episodes):
    """c0's fingerprint kept (BASELINE_FINGERPRINT), computed here when no earlier test of this worker did."""
    if not BASELINE_FINGERPRINT:
        task, episodes, randoms = hopper_episodes
        store, intake, _ = make_run(tmp_path_factory.mktemp("fingerprint"), task, episodes, randoms)
        intake.admit(Proposal(SCALED, "offline", parent="c0"), 1, Designer())
        BASELINE_FINGERPRINT[:] = [(store.root / "fingerprints" / "c0.json.gz").read_bytes()]
    return BASELINE_FINGERPRINT[0]


def test_screening_and_the_duplicate_check_share_one_replay_job(tmp_path, hopper_episodes, baseline_fingerprint):
    task, episodes, randoms = hopper_episodes
    store, intake, _ = make_run(tmp_path, task, episodes, randoms, no_screen=False)
    jobs = []
    sandboxed = intake.duplicates.sandboxed

    def counted(task, code, trajectories, limits=None):
        jobs.append(len(trajectories))
        return sandboxed(task, code, trajectories, limits=limits)

    intake.duplicates.sandboxed = counted
    c = intake.admit(Proposal(NEAR, "offline", parent="c0"), 1, Designer())
    assert c.status == PENDING and c.result.screening is not None and c.result.screening.episodes == 8
    assert jobs == [8]  # one job: the fingerprint episodes are screening's first ones
