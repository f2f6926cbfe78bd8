"""The designer registry: the built-ins join it the way a third party's designer would."""

import sys
import types
from types import SimpleNamespace

from rewardsmith.design import base
from rewardsmith.design.base import DesignerPlugin, Proposal, default_designer, designer_plugin, designers
from rewardsmith.design.llm_designer import LLMDesigner
from rewardsmith.design.offline import OfflineDesigner


def test_the_built_in_designers_are_registered_with_what_the_rest_needs_to_know():
    assert list(designers()) == ["llm", "offline"]
    assert designer_plugin("llm").needs_model and not designer_plugin("llm").baseline_competes
    assert designer_plugin("offline").baseline_competes and not designer_plugin("offline").needs_model
    assert isinstance(designer_plugin("offline").make(None, None), OfflineDesigner)
    assert default_designer(has_model=True) == "llm" and default_designer(has_model=False) == "offline"
    assert designer_plugin("nobody") is None and LLMDesigner.name == "llm"


def test_a_designer_installed_through_the_entry_point_group_is_offered(monkeypatch):
    module = types.ModuleType("third_party_designer")

    class Constant:
        name = "constant"

        def propose(self, ctx):
            return [Proposal("def compute_reward(state, action, next_state):\n    return 0.0, {}\n", "constant")]

        def repair(self, proposal, report):
            return None

    module.DESIGNER = DesignerPlugin("constant", lambda config, client: Constant(), title="constant designer")
    monkeypatch.setitem(sys.modules, "third_party_designer", module)
    monkeypatch.setattr(base, "entry_points", lambda group: [SimpleNamespace(value="third_party_designer")]
                        if group == "rewardsmith.designers" else [])
    monkeypatch.setattr(base, "_registry", {})
    assert list(designers()) == ["llm", "offline", "constant"]
    assert designer_plugin("constant").make(None, None).propose(None)[0].origin == "constant"


def _candidate(cid, fitness=None, status="scored", origin="offline"):
    from rewardsmith.archive.candidates import Candidate

    return Candidate(id=cid, generation=0, parent=None, origin=origin, code="", code_hash=cid, status=status,
                     fitness=fitness)


def test_the_population_chooses_the_parents_a_designer_mutates():
    from rewardsmith.archive.population import parents

    base = _candidate("c0", 0.5, origin="baseline")
    low, high, mid = _candidate("c1", 0.1), _candidate("c2", 0.9), _candidate("c3", 0.6)
    failed = _candidate("c4", None, "failed")
    edit, unscored_edit = _candidate("c5e1", 0.2, origin="human"), _candidate("c6e1", None, "pending", "human")
    # a person's scored edit right after the best, so a few samples reach it (archive/population/islands.py)
    assert [c.id for c in parents([base, low, high, mid, failed], [edit, unscored_edit], base)] == ["c2", "c5e1", "c3"]
    assert parents([failed], [], base) == [base] and parents([], [], None) == []


def test_the_fitness_scorer_gives_the_evidence_the_best_is_named_by():
    from rewardsmith.archive.records import CandidateResult, Confirmation
    from rewardsmith.scoring.base import Subject, scorers

    fitness = scorers()["fitness"]
    searched = _candidate("c1", 0.4)
    card = fitness.score(Subject("c1", candidate=searched))
    assert card.metrics["fitness"] == 0.4 and card.seeds == 1 and card.evidence == "search"
    confirmed = _candidate("c2", 0.4)
    confirmed.result = CandidateResult(confirmation=Confirmation(seed=1000, fitness=0.6, search_fitness=0.4, mean=0.5))
    card = fitness.score(Subject("c2", candidate=confirmed))
    assert (card.metrics["fitness"], card.seeds, card.evidence) == (0.5, 2, "confirmed")
    assert fitness.score(Subject("c3", candidate=_candidate("c3", None, "failed"))) is None


def test_an_edited_prompt_template_is_read_anew_by_the_next_prompts(tmp_path):
    """Template environments are made once per prompts folder; a template file edited since is still re-read."""
    import os

    from rewardsmith.design.prompting import Prompts

    template = tmp_path / "system.j2"
    template.write_text("first version\n")
    assert Prompts(tmp_path).render("system.j2") == "first version\n"
    template.write_text("second version\n")
    later = os.stat(template).st_mtime + 5
    os.utime(template, (later, later))
    assert Prompts(tmp_path).render("system.j2") == "second version\n"
