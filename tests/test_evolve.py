"""`rewardsmith evolve`, `show`, `feedback` end to end: offline designer, LLM designer against a stub
server on 127.0.0.1, the response cache, kill -9 and --resume."""

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

import pytest

from rewardsmith.archive.store import RunStore
from conftest import invoke, TINY_TASK


GOOD = '''Here is a reward that builds up momentum:
```python
import numpy as np

def compute_reward(state, action, next_state):
    def energy(s):
        return 0.0025 * np.sin(3.0 * s.position) + 0.5 * s.velocity ** 2
    gain = 400.0 * (energy(next_state) - energy(state)) / 0.0025
    flag = 10.0 * next_state.at_flag
    effort = -0.05 * float(np.sum(np.square(action)))
    return gain + flag + effort, {"energy_gain": gain, "flag": flag, "effort": effort}
```'''
SYNTAX_ERROR = "```python\ndef compute_reward(state, action, next_state)\n    return 1.0, {}\n```"
IMPORTS_OS = ("```python\nimport os\n\ndef compute_reward(state, action, next_state):\n"
              "    os.system('touch pwned')\n    return 0.0, {'x': 0.0}\n```")
LOOPS = ("```python\ndef compute_reward(state, action, next_state):\n    while True:\n        pass\n"
         "    return 0.0, {}\n```")
NAN = ("```python\ndef compute_reward(state, action, next_state):\n"
       "    return float('nan'), {'nan': float('nan')}\n```")
WEAK = ("```python\nimport numpy as np\n\ndef compute_reward(state, action, next_state):\n"
        "    effort = -0.1 * float(np.sum(np.square(action)))\n    return effort, {'effort': effort}\n```")

STILL = ("```python\ndef compute_reward(state, action, next_state):\n"
         "    calm = -100.0 * abs(next_state.velocity)\n    return calm, {'calm': calm}\n```")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A scratch working directory and response cache; no model configured from the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("REWARDSMITH_MODEL", raising=False)
    monkeypatch.delenv("REWARDSMITH_API_BASE", raising=False)
    return tmp_path


@pytest.mark.slow
def test_offline_designer_end_to_end(isolated):
    result = invoke("evolve", "--task", TINY_TASK, "--iterations", 2, "--samples", 2, "--out", "run",
                    "--final-seeds", 0)
    assert result.exit_code == 0, result.output
    assert "using the offline designer" in result.output
    flat = " ".join(result.output.split())  # the terminal wraps long lines at 80 columns
    assert "baseline (human reward, same budget)" in flat
    assert "rewardsmith export run" in flat
    doc = json.loads(invoke("show", "run", "--json").output)
    assert doc["task"] == "tiny-mountaincar" and doc["status"] == "finished"
    assert {"id", "generation", "parent", "origin", "status", "fitness", "reason", "timesteps", "budget_fraction",
            "rungs"} <= set(doc["candidates"][0])
    baseline = doc["candidates"][0]
    assert baseline["status"] == "scored" and baseline["parent"] is None
    children = [c for c in doc["candidates"] if c["parent"]]
    assert len(children) == 4 and all(c["generation"] in (0, 1) for c in children)
    store = RunStore("run")
    full = max(c.timesteps for c in store.candidates(status="scored"))  # halving stops some candidates early
    # the best by the most evidence: among the full-budget candidates with as many seeds as it, the highest
    from rewardsmith.archive.selection import evidence_of, run_pick

    assert doc["best"] == run_pick(store).to_json() and doc["best"]["evidence"] in ("confirmed", "search")
    assert doc["best"]["fitness"] == max(evidence_of(c).fitness for c in store.candidates(status="scored")
                                         if c.timesteps == full and evidence_of(c).seeds == doc["best"]["seeds"])
    assert not any(evidence_of(c).seeds > doc["best"]["seeds"] for c in store.candidates(status="scored"))
    for c in store.candidates(status="scored"):
        assert (store.root / "candidates" / f"{c.id}.log").read_text().count("step=") >= 1
        assert c.analysis.components and c.reflection
    text = invoke("show", "run").output
    assert "c0" in text and "best:" in text


def _stub_script(stub):
    # generation 0 asks for 5 samples; then one repair per rejected sample, in order
    for reply in (GOOD, SYNTAX_ERROR, IMPORTS_OS, LOOPS, NAN):
        stub.enqueue(reply)
    for reply in (SYNTAX_ERROR, IMPORTS_OS, LOOPS, NAN):
        stub.enqueue(reply)  # the "repairs" repeat the mistake
    stub.default_reply = GOOD  # generation 1 proposes the same reward again: a duplicate, not retrained


@pytest.mark.slow
def test_llm_designer_against_a_stub_server(isolated, stub_llm):  # noqa: F811
    _stub_script(stub_llm)
    before = set(os.listdir(isolated))
    args = ["evolve", "--task", TINY_TASK, "--model", "openai/stub-coder", "--api-base", stub_llm.url,
            "--iterations", 2, "--samples", 5, "--seed", 3, "--final-seeds", 0]
    os.environ["OPENAI_API_KEY"] = "sk-test"
    try:
        result = invoke(*args, "--out", "run", "--max-cost", 5)
    finally:
        del os.environ["OPENAI_API_KEY"]
    assert result.exit_code == 0, result.output
    store = RunStore("run")
    by_origin = {}
    for c in store.candidates():
        by_origin.setdefault(c.origin, []).append(c)
    llm = by_origin["llm"]
    good = llm[0]
    assert good.status == "scored"
    reasons = {c.id: c.reason or "" for c in store.candidates(status="rejected")}
    text = "\n".join(reasons.values())
    assert "syntax error" in text and "import of 'os' is not allowed" in text
    assert "wall-clock limit" in text or "CPU-time limit" in text
    assert "nan" in text.lower()
    assert all(c.status == "rejected" for c in llm[1:5])
    # rejected rewards never reached training
    assert not any((store.root / "candidates" / f"{cid}.log").exists() for cid in reasons)
    # the syntax error went back to the model in a repair prompt
    repair_prompts = [r["messages"][-1]["content"] for r in stub_llm.requests if r.get("n", 1) == 1]
    assert any("syntax error" in p for p in repair_prompts)
    # the good reward wins; generation 1's identical proposal was recognised, not trained again;
    # the iteration prompt carried the best code, its reflection and the failures
    assert store.best_of_run().id == good.id
    assert [c.id for c in store.candidates(status="scored") if c.origin == "llm"] == [good.id]
    iteration = stub_llm.requests[5]["messages"][-1]["content"]
    assert good.id in iteration and "energy_gain" in iteration and "import of 'os'" in iteration
    calls = store.llm_calls()
    assert len(calls) >= 6 and all(c["model"] for c in calls)
    # nothing written outside the run directory (and the response cache)
    assert set(os.listdir(isolated)) - before == {"run", "cache"}
    assert not (isolated / "pwned").exists()

    # the same run again, same seed: every response replays from the cache, no request is made
    requests = len(stub_llm.requests)
    os.environ["OPENAI_API_KEY"] = "sk-test"
    try:
        again = invoke(*args, "--out", "run2")  # no final scoring: the replay is what is tested
    finally:
        del os.environ["OPENAI_API_KEY"]
    assert again.exit_code == 0, again.output
    assert len(stub_llm.requests) == requests
    assert [c.code_hash for c in RunStore("run2").candidates()] == [c.code_hash for c in store.candidates()]


@pytest.mark.slow
def test_feedback_reaches_the_next_prompt(isolated, stub_llm):  # noqa: F811
    stub_llm.default_reply = GOOD
    base = ["--model", "openai/stub-coder", "--api-base", stub_llm.url, "--samples", 1, "--seed", 5,
            "--final-seeds", 0, "--no-screen"]  # WEAK would be screened out and the last prompt a repair
    result = invoke("evolve", "--task", TINY_TASK, *base, "--iterations", 1, "--out", "run")
    assert result.exit_code == 0, result.output
    assert invoke("feedback", "run", "--candidate", "c1", "--text", "it rocks but never climbs").exit_code == 0
    bad = invoke("feedback", "run", "--candidate", "c99", "--text", "x")
    assert bad.exit_code == 2 and "no candidate 'c99'" in bad.output
    # one more generation on the same run: the resumed run's prompt carries the feedback
    stub_llm.default_reply = WEAK
    assert invoke("evolve", "--resume", "run", "--iterations", 2).exit_code == 0
    prompt = stub_llm.requests[-1]["messages"][-1]["content"]
    assert "it rocks but never climbs" in prompt and "about c1" in prompt
    assert RunStore("run").feedback(unused_only=True) == []


@pytest.mark.slow
def test_llm_critic_vetoes_before_training_and_llm_analyzer_joins_the_reflection(isolated, stub_llm):  # noqa: F811
    designs = itertools.chain([GOOD, WEAK], itertools.repeat(WEAK))  # the repair repeats the flaw

    def respond(body):
        system = body["messages"][0]["content"]
        if "review reward functions" in system:  # --llm-critic
            code = body["messages"][-1]["content"]
            return "VERDICT: VETO\nonly an effort penalty: the car is paid to stand still" \
                if "energy_gain" not in code else "VERDICT: ACCEPT"
        if "explains its\nbehaviour" in system:  # --llm-analyzer
            return "The car swings higher each time and reaches the flag."
        return next(designs)

    stub_llm.responder = respond
    result = invoke("evolve", "--task", TINY_TASK, "--model", "openai/stub-coder", "--api-base", stub_llm.url,
                    "--iterations", 1, "--samples", 2, "--out", "run", "--final-seeds", 0, "--seed", 2,
                    "--llm-critic", "--llm-analyzer")
    assert result.exit_code == 0, result.output
    store = RunStore("run")
    llm = {("energy_gain" in c.code): c for c in store.candidates() if c.origin == "llm"}
    vetoed, good = llm[False], llm[True]
    assert vetoed.status == "rejected" and "vetoed by the LLM critic: only an effort penalty" in vetoed.reason
    assert not (store.root / "candidates" / f"{vetoed.id}.log").exists()  # no compute spent on it
    assert good.status == "scored"
    assert "Analyst's diagnosis: The car swings higher" in good.reflection
    calls = store.llm_calls()
    assert [c["purpose"] for c in calls].count("llm-critic") == 2  # the repair repeated c2: no new review
    assert {c["purpose"] for c in calls} == {"design g0", "llm-critic", "repair", "llm-analyzer"}
    assert {c["generation"] for c in calls} == {0}
    repair = [r for r in stub_llm.requests if "the car is paid to stand still" in r["messages"][-1]["content"]]
    assert len(repair) == 1  # the veto's reason went back to the model for repair


@pytest.mark.slow
def test_screening_rejects_before_training_and_the_reason_goes_back_for_repair(isolated, stub_llm):  # noqa: F811
    # tiny mountain car at 1,024 steps: the trained policies barely move (fitness ~0.07) while random
    # flailing gets 0.2-0.6; a reward for keeping still pays the idle episodes most: it ranks them backwards
    designs = itertools.chain([GOOD, STILL], itertools.repeat(STILL))
    stub_llm.responder = lambda body: next(designs)
    result = invoke("evolve", "--task", TINY_TASK, "--model", "openai/stub-coder", "--api-base", stub_llm.url,
                    "--iterations", 1, "--samples", 2, "--out", "run", "--final-seeds", 0, "--seed", 5)
    assert result.exit_code == 0, result.output
    store = RunStore("run")
    weak = [c for c in store.candidates() if "calm" in c.code]
    assert len(weak) == 1 and weak[0].status == "rejected"  # the repair repeated the same code
    first = weak[0]
    assert first.reason.startswith("REJECTED by screening (no training step spent)")
    assert "Spearman" in first.reason and "random" in first.reason and "return" in first.reason
    assert first.result.screening.passed is False and first.result.screening.table
    assert not (store.root / "candidates" / f"{first.id}.log").exists()  # no training
    repair = [r for r in stub_llm.requests if "REJECTED by screening" in r["messages"][-1]["content"]]
    assert len(repair) == 1
    doc = json.loads(invoke("show", "run", "--json").output)
    entry = next(c for c in doc["candidates"] if c["id"] == first.id)
    assert entry["timesteps"] == 0 and entry["budget_fraction"] == 0 and entry["rungs"] == []
    assert store.config["no_screen"] is False
    good = next(c for c in store.candidates() if "energy_gain" in c.code and c.origin == "llm")
    assert good.status == "scored" and good.result.screening.passed is True


@pytest.mark.slow
def test_kill_9_then_resume_loses_nothing_and_redoes_nothing(isolated):
    cmd = [sys.executable, "-m", "rewardsmith.cli", "evolve", "--task", TINY_TASK, "--iterations", "1",
           "--samples", "2", "--out", "run", "--final-seeds", "0", "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    db = isolated / "run" / "run.db"
    deadline = time.monotonic() + 240
    scored_before = {}
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if not db.exists():
                continue
            try:  # read-only; the run creates the file a moment before its tables
                with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
                    rows = con.execute("SELECT id, status, fitness, updated FROM candidates").fetchall()
            except sqlite3.OperationalError:
                continue
            scored = {r[0]: r for r in rows if r[1] == "scored"}
            if scored and any(r[1] == "training" for r in rows):
                scored_before = scored
                children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                          text=True).stdout.split()
                break
        assert scored_before, "the run never reached a moment with one candidate scored and one training"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert children, "the run had no sandboxed child while a candidate was training"
    time.sleep(2)
    leftover = [pid for pid in children if _alive(int(pid))]
    assert not leftover, f"sandboxed children {leftover} outlived the killed run"

    result = invoke("evolve", "--resume", "run")
    assert result.exit_code == 0, result.output
    store = RunStore("run")
    assert store.meta("status") == "finished"
    after = {c.id: c for c in store.candidates()}
    for cid, (_, _, fitness, updated) in scored_before.items():
        # never re-scored (a later confirmation seed may add result.confirmation, nothing else)
        assert after[cid].fitness == fitness
        assert after[cid].updated == updated or after[cid].result.confirmation is not None
    assert all(c.status in ("scored", "rejected", "failed") for c in after.values())
    assert len(after) == 3  # baseline + 1 generation × 2: nothing designed twice


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_bad_input_gets_clear_errors(isolated):
    result = invoke("evolve", "--task", "no-such-task")
    assert result.exit_code == 2 and "no task named 'no-such-task'" in result.output
    result = invoke("evolve", "--task", TINY_TASK, "--samples", 0)
    assert result.exit_code == 2 and "--samples must be at least 1" in result.output
    result = invoke("show", str(isolated))
    assert result.exit_code == 2 and "not a rewardsmith run" in result.output
    result = invoke("evolve", "--resume", str(isolated / "nowhere"))
    assert result.exit_code == 2


# ---------------------------------------------------------------------- the designer's best needs two seeds

SEEDED = '''
def compute_reward(state, action, next_state):
    # by seed: {by_seed}
    return 0.0, {{"zero": 0.0}}
'''


class SeededExecutor:
    """Trainings whose fitness is written in the reward code, per seed (an executor's interface)."""

    def __init__(self):
        self.calls = []

    def submit(self, task, code, seed, budget, on_progress=None, **options):
        from concurrent.futures import Future

        from rewardsmith.archive.records import EpisodeSummary, Snapshot
        from rewardsmith.training.trainer import SeedResult

        self.calls.append((code, seed))
        by_seed = json.loads(code.split("# by seed: ")[1].splitlines()[0])
        fitness = by_seed[str(seed)]
        snapshot = Snapshot(step=budget.timesteps, reward_per_step=0.0, native_per_step=0.0,
                            components={"zero": 0.0}, episodes=1, elapsed=0.0, fitness=fitness)
        future = Future()
        future.set_result(SeedResult(seed=seed, fitness=fitness, episode_fitness=[fitness], timesteps=budget.timesteps,
                                     steps_per_second=1.0, train_seconds=0.0, snapshots=[snapshot],
                                     episodes=[EpisodeSummary(fitness=fitness, length=10, reward_return=0.0,
                                                              native_return=0.0, terminated=False, truncated=True)],
                                     trained_steps=budget.timesteps))
        return future

    def close(self, cancel=False):
        pass


def test_the_designers_best_changes_only_when_the_advantage_holds_on_a_second_seed(tmp_path):
    from rewardsmith.design.offline import OfflineDesigner
    from rewardsmith.loop import EvolveConfig, Evolution
    from rewardsmith.archive.selection import prompt_best
    from rewardsmith.training.final import CONFIRM_SEED_OFFSET
    from rewardsmith.task import load_task_file
    from rewardsmith.output.view import show_json

    task = load_task_file(TINY_TASK)
    config = EvolveConfig(task=task.name, timesteps=1024, final_seeds=0, no_screen=True)
    store = RunStore.create(tmp_path / "run", config.to_dict(), task.path)
    extra = str(CONFIRM_SEED_OFFSET)

    def add(generation, origin, search, second):
        return store.add_candidate(generation, SEEDED.format(by_seed=json.dumps({"0": search, extra: second})), origin)

    executor = SeededExecutor()
    evolution = Evolution(store, task, config, OfflineDesigner(), executor=executor)
    base = add(0, "baseline", 0.5, 0.5)
    evolution.train_generation(0)
    assert prompt_best(store).id == base.id  # the first best needs no second seed
    assert CONFIRM_SEED_OFFSET not in {seed for _, seed in executor.calls}
    lucky = add(1, "offline", 0.9, 0.0)
    evolution.train_generation(1)
    # 0.9 beat 0.5 on one seed; both trained seed 1000: 0.45 vs 0.5, so the baseline stays the designer's best
    assert sorted(seed for _, seed in executor.calls[-2:]) == [CONFIRM_SEED_OFFSET] * 2
    lucky, base = store.candidate(lucky.id), store.candidate(base.id)
    assert lucky.result.confirmation.to_json() == {
        "seed": CONFIRM_SEED_OFFSET, "fitness": 0.0, "search_fitness": 0.9, "mean": 0.45, "against": base.id,
        "against_mean": 0.5, "confirmed": False}
    assert base.result.confirmation.mean == 0.5 and "not confirmed" in lucky.notes
    # one rule: the run's best and the designer's are the same, by their two-seed means
    assert evolution.context(2).best.id == base.id == evolution.best().id
    solid = add(2, "offline", 0.8, 0.7)
    evolution.train_generation(2)
    assert executor.calls[-1] == (solid.code, CONFIRM_SEED_OFFSET)  # the incumbent already has two seeds
    assert store.candidate(solid.id).result.confirmation.confirmed is True
    assert evolution.context(3).best.id == solid.id == prompt_best(store).id
    # the prompt's "best so far" is the mean of its two seeds (0.8 and 0.7), not the search seed's 0.8
    from rewardsmith.design.llm_designer import LLMDesigner
    from rewardsmith.design.prompting import Prompts

    prompt = LLMDesigner(client=None, prompts=Prompts()).messages_for(evolution.context(3))[-1]["content"]
    assert f"candidate {solid.id}, fitness 0.75, the mean of 2 training seeds" in prompt
    doc = show_json(store)
    assert doc["prompt_best"] == solid.id
    assert next(c for c in doc["candidates"] if c["id"] == lucky.id)["confirmation"]["confirmed"] is False
    # a generation's confirmation is never redone (a resumed run)
    calls = len(executor.calls)
    evolution.train_generation(2)
    assert len(executor.calls) == calls
