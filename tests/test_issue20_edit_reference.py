"""A person's edit is screened against the run's one random reference, as a proposal is (issue 20: the
random policy's reference measured once and shared; one admission for every way code enters). The edit's
screening read the stored mean (meta ``random_fitness``) directly, so in a run that held the random episodes
but not yet their mean it judged "no better than random" against 0 instead of the run's random policy."""

from __future__ import annotations

import statistics

from rewardsmith.analysis.reference import RandomReference
from rewardsmith.archive.records import ScreeningRecord
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.intake import screening
from rewardsmith.people.human import add_edit
from rewardsmith.task import load_task


def test_an_edit_is_screened_against_the_runs_random_reference_measured_once(tmp_path, monkeypatch):
    task = load_task("cartpole-centered")  # random episodes end within a few dozen steps
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "offline", "seed": 3}, task.path)
    c = store.add_candidate(1, task.baseline, "offline")
    store.update(c.id, status=SCORED, fitness=0.1, seeds=[0])
    episodes = RandomReference(store, task, seed=3).episodes()  # the run holds the episodes, not their mean yet
    assert store.meta("random_fitness") is None
    expected = statistics.fmean(t.fitness for t in episodes)
    assert expected != 0.0  # else the old read (None: a margin around 0) could not be told apart

    judged_against = []

    def fake_screen(task, code, refs, random_fitness, limits=None, replay=None):
        judged_against.append(random_fitness)
        return screening.Verdict(ScreeningRecord(passed=True, episodes=len(refs), pairs=0))

    monkeypatch.setattr(screening, "screen", fake_screen)
    outcome = add_edit(store, task, c.id, task.baseline.replace("-0.05 * next_state", "-0.2 * next_state"))
    assert outcome.candidate is not None and outcome.screening is not None
    assert judged_against == [expected] == [RandomReference(RunStore(store.root), task, seed=3).fitness()]
    assert store.meta("random_fitness") == expected  # stored once, as a proposal's first use stores it
