"""A scorer's card is seen (issue 20): `rewardsmith show DIR --candidate ID` lists every registered
scorer's card of the candidate as the run holds it, computed when shown from the facts the run stores once
(its row, the final scoring, the preferences), never stored again. A third party's scorer, installed through
the `rewardsmith.scorers` entry-point group, is listed as the built-ins are; its strings are printed escaped;
one that raises is one line and `show` goes on. On a copy of a recorded run (tests/data/run-offline); no
training."""

import shutil
import sqlite3
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from conftest import invoke
from population_run import HOSTILE
from rewardsmith.archive.selection import evidence_of
from rewardsmith.archive.store import RunStore
from rewardsmith.errors import ConfigError
from rewardsmith.scoring import base
from rewardsmith.scoring.fitness import SCORER as FITNESS

DATA = Path(__file__).parent / "data"
MODULE = "h8_third_party_scorer"
PLUGIN = '''
from rewardsmith.scoring.base import ScoreCard


class ThirdParty:
    name = "third_party"

    def __init__(self):
        self.make = lambda subject: ScoreCard(self.name, {"novelty": 0.123456, "steps": 3.0}, seeds=2,
                                              evidence="replay", artifacts={"novelty_plot.png": "..."})

    def score(self, subject):
        return self.make(subject)


SCORER = ThirdParty()
'''
MARKUP = "[bold red]MARKUP[/bold red]"


@pytest.fixture
def run(tmp_path):
    """A copy of the recorded offline run: c0..c4 scored, c1..c3 and the baseline in its final scoring."""
    root = tmp_path / "run-offline"
    shutil.copytree(DATA / "run-offline", root)
    return root


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A third party's scorer, installed as a package would install it: a module named by an entry point of
    the ``rewardsmith.scorers`` group (``base.entry_points``, the lookup the registry makes), loaded through
    the registry's own path; a fresh registry (and a fresh import) around it."""
    (tmp_path / f"{MODULE}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    point = EntryPoint(name="third_party", value=MODULE, group=base.ENTRY_POINT_GROUP)
    monkeypatch.setattr(base, "entry_points", lambda group: [point] if group == base.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(base, "_registry", {})
    scorer = base.scorers()["third_party"]
    assert type(scorer).__module__ == MODULE  # loaded through the entry point, not imported by the test
    yield scorer
    sys.modules.pop(MODULE, None)


def _scores(run, cid):
    """`show --candidate`'s "scores" block: its lines, as printed."""
    result = invoke("show", run, "--candidate", cid, terminal_width=300)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("scores "))
    block = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        block.append(line.strip())
    return block


def test_an_installed_scorers_card_is_shown_beside_the_ground_truths(run, plugin):
    block = _scores(run, "c1")
    assert block[0] == "fitness: fitness=0.00825 fitness_std=0.007231 budget_fraction=1 (2 seeds; final)"
    assert block[1] == "third_party: novelty=0.1235 steps=3 (2 seeds; replay)  artifacts: novelty_plot.png"
    assert len(block) == 2  # nobody compared anything: no preference card


def test_the_card_is_computed_when_shown_and_stored_nowhere(run, plugin):
    _scores(run, "c1")  # the first opening migrates the recorded copy to today's schema
    before = (run / "run.db").read_bytes()
    plugin.make = lambda subject: base.ScoreCard("third_party", {"novelty": 0.5})
    assert _scores(run, "c1")[1] == "third_party: novelty=0.5 (1 seed; search)"  # today's scorer, not a copy
    assert (run / "run.db").read_bytes() == before  # showing the cards wrote nothing
    db = sqlite3.connect(run / "run.db")
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in tables:  # no card, no scorer's metric in any table
        assert not any("novelty" in str(row) for row in db.execute(f"SELECT * FROM {table}")), table
    db.close()


def test_a_preference_recorded_with_prefer_makes_the_preference_card_appear(run):
    assert not any(line.startswith("preference:") for line in _scores(run, "c1"))
    assert invoke("prefer", run, "c1", "c2", "--reason", "it climbs").exit_code == 0
    liked, disliked = _scores(run, "c1"), _scores(run, "c2")
    assert liked[1] == "preference: preference=0.7408 preference_sd=0.9519 wins=1 comparisons=1 (0 seeds; preferences)"
    assert disliked[1].startswith("preference: preference=-0.7408 ")
    assert liked[0] == "fitness: fitness=0.00825 fitness_std=0.007231 budget_fraction=1 (2 seeds; final)"  # unchanged


def test_hostile_strings_of_a_card_are_printed_escaped(run, plugin):
    evil = " ".join(HOSTILE) + " " + MARKUP + " line\nbreak \x1b[2Jclear"
    plugin.make = lambda subject: base.ScoreCard(evil, {evil: 1.0, "ok": float("nan")}, seeds=1, evidence=evil,
                                                 artifacts={evil: "x", "plain.txt": "y"})
    result = invoke("show", run, "--candidate", "c1", terminal_width=2000)
    assert result.exit_code == 0
    out = result.output
    for raw in ("\u202e", "\u2066", "\u200b", "\x1b", "line\nbreak"):
        assert raw not in out
    for escaped in ("\\u202e", "\\u2066", "\\u200b", "\\x1b[2Jclear", "line\\x0abreak"):
        assert out.count(escaped) == 3  # the metric's name, the evidence, the artifact's name
    assert out.count(MARKUP) == 3  # printed as it is, never read as rich markup
    line = next(line for line in out.splitlines() if line.startswith("  third_party: "))
    assert "ok=nan" in line and "plain.txt" in line


def test_a_scorer_that_raises_is_one_line_and_show_goes_on(run, plugin):
    def boom(subject):
        raise RuntimeError("no replay for " + subject.id + "\n\u202eforged line")

    plugin.make = boom
    result = invoke("show", run, "--candidate", "c1", terminal_width=300)
    assert result.exit_code == 0
    failed = [line.strip() for line in result.output.splitlines() if "failed:" in line]
    assert failed == ["scorer third_party failed: RuntimeError: no replay for c1\\x0a\\u202eforged line"]
    assert "fitness: fitness=0.00825" in result.output  # the other cards are still shown
    assert "analysis and reflection" in result.output  # and the rest of show after the block


def test_the_ground_truth_of_a_held_candidate_is_its_most_evidence_by_the_runs_rule(run):
    store = RunStore(run)
    final = store.final()
    for cid, evidence, seeds in (("c1", "final", 2), ("c4", "search", 1)):
        c = store.candidate(cid)
        card = FITNESS.score(base.Subject.held(store, c))
        pick = evidence_of(c, final)
        assert (card.evidence, card.seeds) == (evidence, seeds) == (pick.evidence, pick.seeds)
        assert card.metrics["fitness"] == pick.fitness and card.metrics["budget_fraction"] == pick.budget_fraction
    assert card.metrics["fitness"] == store.candidate("c4").fitness  # c4 is in no final scoring: its search fitness
    assert FITNESS.score(base.Subject(id="x")) is None  # neither seeds nor a held candidate: nothing to say
    store.close()


def test_a_scorer_module_that_cannot_be_used_leaves_no_half_registry(monkeypatch, run):
    monkeypatch.setattr(base, "_registry", {})
    monkeypatch.setattr(base, "entry_points", lambda group: [EntryPoint("x", "no_such_h8_scorer", group)])
    with pytest.raises(ConfigError, match="no_such_h8_scorer"):
        base.scorers()
    assert base._registry == {}  # not the built-ins alone, passing for the whole registry
    result = invoke("show", run, "--candidate", "c1", terminal_width=300)
    assert result.exit_code == 0  # show names the broken module and goes on
    assert "scorers cannot be loaded: ConfigError: scorer module 'no_such_h8_scorer'" in result.output
