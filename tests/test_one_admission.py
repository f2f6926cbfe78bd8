"""One admission pipeline (issue 20): a designer's proposal and a person's edit enter the population through
the same function (intake/admission.Intake.enter), in the same order (critic, the run's LLM critic veto,
duplicates, screening), and reach the same verdict on the same code; an edit made in a run with --llm-critic
is vetoed as a proposal is, the model's reason shown to the person; and no module outside intake/ records
a candidate."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rewardsmith
from conftest import TINY_TASK, invoke
from rewardsmith.archive.store import REJECTED, SCORED, RunStore
from rewardsmith.design.base import Proposal
from rewardsmith.intake.admission import Intake
from rewardsmith.people.human import add_edit
from rewardsmith.task import load_task_file

IMPORTS_OS = "import os\n\ndef compute_reward(state, action, next_state):\n    return 0.0, {}\n"


def _run(root: Path, **settings):
    """A run of the tiny task whose baseline ``c0`` is scored; ``settings``: more of the run's settings."""
    task = load_task_file(TINY_TASK)
    store = RunStore.create(root, {"task": task.name, "designer": "offline", **settings}, task.path)
    c = store.add_candidate(0, task.baseline, "baseline")
    store.update(c.id, status=SCORED, fitness=0.1, seeds=[0])
    return store, task, c


class _NoRepair:
    def repair(self, proposal, reason):
        return None


@pytest.fixture
def entered(monkeypatch):
    """Every attempt that goes through Intake.enter: (origin, code, accepted, reason)."""
    seen = []
    real = Intake.enter

    def enter(self, attempt, generation, *args, **kwargs):
        admitted = real(self, attempt, generation, *args, **kwargs)
        seen.append((attempt.origin, attempt.code, admitted.judgement.accepted, admitted.judgement.reason))
        return admitted

    monkeypatch.setattr(Intake, "enter", enter)
    return seen


@pytest.mark.parametrize("kind", ["refused by the critic", pytest.param("sound", marks=pytest.mark.slow)])
def test_a_proposal_and_an_edit_of_the_same_code_go_through_one_function_to_one_verdict(tmp_path, entered, kind):
    from rewardsmith.config import EvolveConfig
    from rewardsmith.loop import Evolution

    task = load_task_file(TINY_TASK)
    code = IMPORTS_OS if kind == "refused by the critic" else task.baseline.replace("10.0 *", "20.0 *")
    # two runs alike, so that neither attempt is a duplicate of the other
    proposing, _, c = _run(tmp_path / "proposal")
    loop = Evolution(proposing, task, EvolveConfig(task=task.name, designer="offline"), _NoRepair())
    proposed = loop.intake.admit(Proposal(code, "offline", parent=c.id), 1, _NoRepair())
    editing, _, c = _run(tmp_path / "edit")
    edit = add_edit(editing, task, c.id, code)

    assert [(origin, seen) for origin, seen, *_ in entered] == [("offline", code), ("human", code)]
    (_, _, proposal_accepted, proposal_reason), (_, _, edit_accepted, edit_reason) = entered
    assert proposal_accepted == edit_accepted == (kind == "sound")
    assert proposal_reason == edit_reason == proposed.reason
    if kind == "sound":
        assert proposed.status == edit.candidate.status == "pending"
    else:
        assert "import" in proposed.reason and edit.report == proposed.reason
        assert proposed.status == REJECTED and edit.candidate is None and edit.draft.read_text() == code


@pytest.fixture(scope="module")
def litellm_imported():
    """litellm imported once for this module's tests (some seconds, whichever test asks first; any process
    that runs the LLM tests pays it once)."""
    from rewardsmith.design.llm import _litellm

    _litellm()


@pytest.fixture
def veto_run(tmp_path, monkeypatch, stub_llm, litellm_imported):  # noqa: F811 - the scripted model (conftest)
    """A run configured with the LLM critic (--llm-critic) on the scripted model, with a scratch LLM cache."""
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return _run(tmp_path / "run", llm_critic=True, model="openai/stub-critic", api_base=stub_llm.url)


def test_an_edit_in_a_run_with_the_llm_critic_is_vetoed_and_the_person_told_why(veto_run, stub_llm, tmp_path):
    store, task, c = veto_run
    edited = task.baseline.replace("10.0 *", "20.0 *")
    (tmp_path / "edit.py").write_text(edited)
    stub_llm.enqueue("VERDICT: VETO\nthe doubled progress term drowns out reaching the flag")
    result = invoke("edit", store.root, c.id, "--file", tmp_path / "edit.py", "--no-screen")
    assert result.exit_code == 1, result.output
    assert "vetoed by the LLM critic: the doubled progress term drowns out reaching the flag" in result.output
    assert "your code is kept in" in result.output
    assert (store.root / "edits" / f"{c.id}e1.draft.py").read_text() == edited
    assert [x.id for x in RunStore(store.root).candidates()] == [c.id]  # nothing recorded, nothing trained
    [asked] = stub_llm.requests
    assert "20.0 *" in asked["messages"][-1]["content"]  # the model judged the person's code
    [call] = RunStore(store.root).llm_calls()
    assert (call["purpose"], call["generation"]) == ("llm-critic", 0)  # recorded, as a proposal's veto is


def test_an_edit_made_on_the_page_is_vetoed_alike_and_the_page_shows_why(veto_run, stub_llm):
    import json

    from rewardsmith.people.web.server import PageServer
    from test_serve import request

    store, task, c = veto_run
    stub_llm.enqueue("VERDICT: VETO\nit pays for standing still")
    page = PageServer(store.root).start()
    try:
        response, body = request(page, "POST", "/api/edit", origin=f"http://127.0.0.1:{page.port}",
                                 body={"parent": c.id, "code": task.baseline.replace("10.0 *", "20.0 *"),
                                       "screen": False})
    finally:
        page.close()
    answer = json.loads(body)
    assert response.status == 200 and answer["accepted"] is False, body
    assert answer["report"] == "vetoed by the LLM critic: it pays for standing still"
    assert answer["draft"] == f"edits/{c.id}e1.draft.py" and len(stub_llm.requests) == 1


def test_an_edit_the_llm_critic_accepts_is_recorded(veto_run, stub_llm):
    store, task, c = veto_run
    stub_llm.enqueue("VERDICT: ACCEPT\nit still rewards progress toward the flag")
    outcome = add_edit(store, task, c.id, task.baseline.replace("10.0 *", "20.0 *"), screen=False)
    assert outcome.candidate is not None and outcome.veto is None and len(stub_llm.requests) == 1


def test_an_edit_is_not_admitted_unjudged_when_the_runs_critic_model_cannot_answer(veto_run, stub_llm):
    from rewardsmith.errors import LLMError

    store, task, c = veto_run
    edited = task.baseline.replace("10.0 *", "20.0 *")
    stub_llm.enqueue_error(400)
    with pytest.raises(LLMError, match="could not judge the edit") as raised:
        add_edit(store, task, c.id, edited, screen=False)
    assert str(store.root / "edits" / f"{c.id}e1.draft.py") in str(raised.value)
    assert (store.root / "edits" / f"{c.id}e1.draft.py").read_text() == edited
    assert [x.id for x in store.candidates()] == [c.id]


def test_an_edit_in_a_run_without_the_llm_critic_asks_no_model(tmp_path, stub_llm, monkeypatch):  # noqa: F811
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    store, task, c = _run(tmp_path / "run", model="openai/stub-designer", api_base=stub_llm.url)
    outcome = add_edit(store, task, c.id, task.baseline.replace("10.0 *", "20.0 *"), screen=False)
    assert outcome.candidate is not None and outcome.veto is None and stub_llm.requests == []


def _records_a_candidate(path: Path) -> list[int]:
    """Lines of ``path`` that call ``<anything>.add_candidate(...)``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr == "add_candidate"]


def test_only_intake_records_a_candidate():
    package = Path(rewardsmith.__file__).parent
    intake = package / "intake"
    callers = {str(path.relative_to(package.parent)): lines for path in sorted(package.rglob("*.py"))
               if intake not in path.parents and (lines := _records_a_candidate(path))}
    assert callers == {}, f"candidates recorded outside rewardsmith/intake/ (admission is the one way in): {callers}"
    assert _records_a_candidate(intake / "admission.py")  # the scan sees a call where there is one
