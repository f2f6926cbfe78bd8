"""The scoring seam is where an evaluated candidate's fitness comes from: every registered scorer (the
built-ins joined the way a plugin joins, through the module names an entry point gives) judges the seeds'
results, the ground truth's card is the fitness stored (to the bit what the mean over seeds always was),
a person's Bradley–Terry preference score is a card beside it, and no other scorer can change the fitness."""

import statistics
from types import SimpleNamespace

import pytest

from rewardsmith.analysis.recorder import RunRecorder
from rewardsmith.archive.records import SeedResult
from rewardsmith.archive.store import RunStore
from rewardsmith.errors import ConfigError
from rewardsmith.scoring import base
from rewardsmith.task import load_task
from rewardsmith.training.trainer import Budget, Score

PLUGIN = '''
from rewardsmith.scoring.base import ScoreCard

class Rogue:
    name = "rogue"
    seen = []

    def score(self, subject):
        self.seen.append((subject.id, [p["preferred"] for p in subject.preferences]))
        return ScoreCard(self.name, {"fitness": 999.0, "novelty": 0.5}, evidence="plugin")

SCORER = Rogue()
'''


def _run(seed, episode_fitness):
    return SeedResult(seed=seed, fitness=statistics.fmean(episode_fitness), episode_fitness=list(episode_fitness),
                      timesteps=1000, steps_per_second=100.0, train_seconds=10.0, snapshots=[], episodes=[])


RUNS = [_run(0, [0.1, 0.2]), _run(1, [0.7, 0.35]), _run(2, [0.3, 0.3])]


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A third party's scorer installed through the entry-point group (a fresh registry around it)."""
    (tmp_path / "rogue_scorer_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(base, "entry_points", lambda group: [SimpleNamespace(value="rogue_scorer_plugin")]
                        if group == base.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(base, "_registry", {})
    return base.scorers()["rogue"]


def test_the_built_in_scorers_join_the_registry_as_plugins_do():
    assert list(base.scorers())[:2] == ["fitness", "preference"]
    assert [type(s).__module__ for s in base.scorers().values()][:2] == list(base.DEFAULT_SCORERS)


def test_the_ground_truth_card_is_the_mean_over_seeds_to_the_bit():
    score = Score.of(RUNS)
    values = [r.fitness for r in RUNS]
    card = score.cards["fitness"]
    assert (card.seeds, card.evidence) == (3, "evaluation")
    assert score.mean == card.metrics["fitness"] == statistics.fmean(values)
    assert score.std == card.metrics["fitness_std"] == statistics.pstdev(values)
    assert Score.of(RUNS[:1]).std == 0.0 and Score.of(RUNS[:1]).mean == RUNS[0].fitness
    assert "preference" not in score.cards  # nobody compared anything


def test_a_persons_preferences_give_a_card_beside_the_fitness_never_instead_of_it():
    prefs = [{"preferred": "c1", "other": "c2", "outcome": "better"},
             {"preferred": "c1", "other": "c3", "outcome": "better"},
             {"preferred": "c2", "other": "c3", "outcome": "unsure"}]
    liked, disliked = Score.of(RUNS, "c1", prefs), Score.of(RUNS, "c3", prefs)
    assert liked.cards["preference"].metrics["preference"] > 0 > disliked.cards["preference"].metrics["preference"]
    assert liked.cards["preference"].metrics["comparisons"] == 2.0
    assert liked.mean == disliked.mean == Score.of(RUNS).mean  # read-only: the fitness is the ground truth's
    assert "preference" not in Score.of(RUNS, "c9", prefs).cards  # never compared


def test_a_plugin_scorer_judges_every_evaluation_and_cannot_change_the_fitness(plugin):
    score = Score.of(RUNS, "c4")
    assert score.cards["rogue"].metrics == {"fitness": 999.0, "novelty": 0.5}
    assert score.mean == statistics.fmean(r.fitness for r in RUNS)
    assert plugin.seen[-1] == ("c4", [])


def test_the_recorder_stores_the_ground_truths_card_judged_with_the_candidates_id_and_preferences(
        tmp_path, plugin, monkeypatch):
    task = load_task("cartpole-centered")
    store = RunStore.create(tmp_path / "run", {"task": task.name}, task.path)
    a = store.add_candidate(0, "def compute_reward(s, a, n):\n    return 0.0, {}\n", "offline")
    b = store.add_candidate(0, "def compute_reward(s, a, n):\n    return 1.0, {}\n", "offline")
    store.add_preference(a.id, b.id)
    monkeypatch.setattr(RunRecorder, "_analyze", lambda self, candidate, score: (None, "reflection"))
    recorder = RunRecorder(store, task, SimpleNamespace(llm_analyzer=False, prompts=None), Budget(1000),
                           lambda: 0.0, lambda kind, **data: None)
    from rewardsmith.training.collect import save_leg

    for run in RUNS:  # what training stores before the recorder (a candidate's seed results are its legs merged)
        save_leg(store, a.id, run.seed, 0, run.timesteps, run)
    recorder.scored(store.candidate(a.id), Score.of(RUNS))
    stored = store.candidate(a.id)
    assert stored.fitness == statistics.fmean(r.fitness for r in RUNS)
    assert stored.fitness_std == statistics.pstdev(r.fitness for r in RUNS)
    assert plugin.seen[-1] == (a.id, [a.id])


def test_a_broken_scorer_module_is_named():
    base._registry.clear()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(base, "entry_points", lambda group: [SimpleNamespace(value="no_such_scorer_module")])
            with pytest.raises(ConfigError, match="no_such_scorer_module.*SCORER"):
                base.scorers()
    finally:
        base._registry.clear()
