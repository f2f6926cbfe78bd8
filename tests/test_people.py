"""People in the loop: `rewardsmith edit` (from --file and from $EDITOR), rejected edits kept as drafts,
edits trained in the next generation and shown to the designer, and `evolve --interactive`."""

import shutil
import sys

import pytest

from rewardsmith.archive.store import RunStore
from stub_llm import StubLLM
from conftest import invoke, TINY_TASK

FLAG_ONLY = '''import numpy as np

def compute_reward(state, action, next_state):
    progress = 10.0 * (next_state.position - state.position)
    flag = 5.0 * next_state.at_flag
    return progress + flag, {"progress": progress, "flag": flag}
'''
LLM_REPLY = f"```python\n{FLAG_ONLY.replace('10.0', '20.0')}```"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One generation of the LLM designer (a stub server) on the tiny task: the baseline and one candidate."""
    root = tmp_path_factory.mktemp("people")
    with pytest.MonkeyPatch.context() as env, StubLLM(default_reply=LLM_REPLY) as stub:
        env.setenv("REWARDSMITH_CACHE", str(root / "cache"))
        result = invoke("evolve", "--task", TINY_TASK, "--iterations", 1, "--samples", 1, "--out", root / "run",
                        "--final-seeds", 0, "--seed", 1, "--model", "openai/stub-coder", "--api-base", stub.url,
                        "--temperature", 0.3)
    assert result.exit_code == 0, result.output
    return root / "run"


@pytest.fixture
def run(finished_run, tmp_path, monkeypatch):
    """A private copy of the finished run, with a scratch cache and no model from the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("REWARDSMITH_MODEL", raising=False)
    monkeypatch.delenv("REWARDSMITH_API_BASE", raising=False)
    shutil.copytree(finished_run, tmp_path / "run")
    return tmp_path / "run"


@pytest.fixture
def editor(tmp_path, monkeypatch):
    """$EDITOR is a real program: a script that rewrites the file it is given with FLAG_ONLY."""
    script = tmp_path / "editor.py"
    script.write_text(f"import sys\nopen(sys.argv[1], 'w').write({FLAG_ONLY!r})\n")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    return script


@pytest.mark.slow
def test_an_accepted_edit_becomes_a_child_trained_in_the_next_generation(run, tmp_path, stub_llm):  # noqa: F811
    (tmp_path / "edit.py").write_text(FLAG_ONLY)
    result = invoke("edit", run, "c0", "--file", tmp_path / "edit.py")
    assert result.exit_code == 0, result.output
    assert "accepted as c0e1 (parent c0)" in result.output and "evolve --resume" in result.output
    edit = RunStore(run).candidate("c0e1")
    assert (edit.parent, edit.origin, edit.status, edit.generation) == ("c0", "human", "pending", 1)
    assert edit.code == FLAG_ONLY
    # the next generation trains it and the designer sees it as a person's contribution
    stub_llm.default_reply = LLM_REPLY
    result = invoke("evolve", "--resume", run, "--iterations", 2, "--api-base", stub_llm.url,  # a new port
                    "--max-cost", 7)
    assert result.exit_code == 0, result.output
    store = RunStore(run)
    assert (store.config["api_base"], store.config["max_cost"]) == (stub_llm.url, 7)
    assert store.candidate("c0e1").status == "scored"
    assert store.candidate("c0e1").fitness is not None
    assert stub_llm.requests and all(r["temperature"] == 0.3 for r in stub_llm.requests)  # the run's own
    prompt = stub_llm.requests[0]["messages"][-1]["content"]
    assert "A person edited rewards by hand" in prompt and "c0e1 (edited from c0" in prompt
    assert "10.0 * (next_state.position - state.position)" in prompt


@pytest.mark.slow
def test_a_rejected_edit_is_kept_as_a_draft_and_records_nothing(run, tmp_path):
    bad = "import os\n\ndef compute_reward(state, action, next_state):\n    return 0.0, {'x': 0.0}\n"
    (tmp_path / "bad.py").write_text(bad)
    before = [c.id for c in RunStore(run).candidates()]
    result = invoke("edit", run, "c0", "--file", tmp_path / "bad.py")
    assert result.exit_code == 1
    assert "import of 'os'" in result.output and "the edit was rejected" in result.output
    draft = run / "edits" / "c0e1.draft.py"
    assert draft.read_text() == bad and str(draft) in result.output.replace("\n", "")
    assert [c.id for c in RunStore(run).candidates()] == before
    # unchanged code and an unknown candidate are clear errors
    (tmp_path / "same.py").write_text(RunStore(run).candidate("c0").code)
    result = invoke("edit", run, "c0", "--file", tmp_path / "same.py")
    assert result.exit_code == 2 and "the same as c0's" in result.output
    result = invoke("edit", run, "c42", "--file", tmp_path / "bad.py")
    assert result.exit_code == 2 and "c42" in result.output


# pays the car for keeping still: the run's idle trained policies score below random flailing, so this
# reward ranks the recorded episodes against their fitness
STILL = "def compute_reward(state, action, next_state):\n    calm = -100.0 * abs(next_state.velocity)\n" \
        "    return calm, {'calm': calm}\n"


@pytest.mark.slow
def test_an_edit_is_screened_on_the_runs_episodes_before_it_can_cost_training(run, tmp_path):
    (tmp_path / "still.py").write_text(STILL)
    before = [c.id for c in RunStore(run).candidates()]
    result = invoke("edit", run, "c0", "--file", tmp_path / "still.py")
    assert result.exit_code == 1
    assert "REJECTED by screening (no training step spent)" in result.output and "Spearman" in result.output
    assert "--no-screen" in result.output and (run / "edits" / "c0e1.draft.py").read_text() == STILL
    assert [c.id for c in RunStore(run).candidates()] == before
    # a person may overrule screening (never the critic): the edit is recorded, unscreened
    result = invoke("edit", run, "c0", "--file", tmp_path / "still.py", "--no-screen")
    assert result.exit_code == 0, result.output
    edit = RunStore(run).candidate("c0e1")
    assert edit.status == "pending" and (edit.result is None or edit.result.screening is None)
    # an edit that passes carries its screening evidence, as a designed candidate does
    (tmp_path / "edit.py").write_text(FLAG_ONLY)
    assert invoke("edit", run, "c0", "--file", tmp_path / "edit.py").exit_code == 0
    assert RunStore(run).candidate("c0e2").result.screening.passed is True


@pytest.mark.slow
def test_edit_opens_the_editor(run, editor, monkeypatch):
    result = invoke("edit", run, "c1")
    assert result.exit_code == 0, result.output
    assert RunStore(run).candidate("c1e1").code == FLAG_ONLY
    # an editor that exits without saving records nothing
    monkeypatch.setenv("EDITOR", "true")
    result = invoke("edit", run, "c1")
    assert result.exit_code == 1 and "without saving" in result.output
    assert [c.id for c in RunStore(run).candidates() if c.parent == "c1"] == ["c1e1"]


@pytest.mark.slow
def test_interactive_takes_feedback_and_edits_between_generations_and_stops(tmp_path, monkeypatch, editor):
    monkeypatch.chdir(tmp_path)
    # after generation 0: feedback on c1, edit c0 in the editor, continue; after generation 1: stop
    answers = "f\nc1\ngets close but never commits\ne\nc0\nc\ns\n"
    result = invoke("evolve", "--task", TINY_TASK, "--iterations", 3, "--samples", 1, "--out", "run",
                    "--final-seeds", 0, "--interactive", input=answers)
    assert result.exit_code == 0, result.output
    assert "generation 0 done" in result.output and "generation 1 done" in result.output
    assert "generation 2 done" not in result.output
    store = RunStore("run")
    assert store.meta("status") == "stopped: stopped by the user"
    assert [f["text"] for f in store.feedback()] == ["gets close but never commits"]
    edit = store.candidate("c0e1")
    assert edit.origin == "human" and edit.generation == 1 and edit.status == "scored"
    assert max(c.generation for c in store.candidates()) == 1


@pytest.mark.slow
def test_resume_refuses_options_it_would_ignore(run):
    result = invoke("evolve", "--resume", run, "--samples", 8, "--halving-eta", 2)
    assert result.exit_code == 2
    assert "--halving-eta, --samples: fixed when the run started" in result.output
    result = invoke("evolve", "--resume", run, "--iterations", 0)
    assert result.exit_code == 2 and "can only be extended" in result.output
    assert RunStore(run).config["samples"] == 1  # nothing was changed


@pytest.mark.slow
def test_resume_of_an_offline_run_refuses_a_model(tmp_path, monkeypatch, stub_llm):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REWARDSMITH_MODEL", "openai/stub-coder")  # configured, but --designer offline wins
    monkeypatch.setenv("REWARDSMITH_API_BASE", stub_llm.url)
    result = invoke("evolve", "--task", TINY_TASK, "--iterations", 1, "--samples", 1, "--out", "run",
                    "--final-seeds", 0, "--timesteps", 256, "--designer", "offline")
    assert result.exit_code == 0, result.output
    assert stub_llm.requests == [] and RunStore("run").config["designer"] == "offline"
    result = invoke("evolve", "--resume", "run", "--iterations", 2, "--model", "openai/gpt-4o-mini")
    assert result.exit_code == 2 and "this run uses the offline designer" in result.output
