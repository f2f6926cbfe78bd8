"""The random policy's reference is measured once per run (one episode count, one seed rule) and every
stage reads that one measurement: the analyzer's "no better than random" and halving's cut read its mean,
screening replays its episodes, halving's rung placement reads their spread. A run recorded before it was
shared, holding only the mean or only the episodes, keeps what it holds."""

import gzip
import json
import statistics
from types import SimpleNamespace

import pytest

from rewardsmith.analysis import reference
from rewardsmith.analysis.analyzer import random_policy_fitness
from rewardsmith.analysis.reference import RandomReference, random_trajectories
from rewardsmith.archive.store import RunStore
from rewardsmith.intake.screening import random_episodes, random_references
from rewardsmith.task import load_task


@pytest.fixture(scope="module")
def task():
    return load_task("cartpole-centered")  # random episodes end within a few dozen steps


@pytest.fixture
def store(tmp_path, task):
    return RunStore.create(tmp_path / "run", {"task": task.name, "seed": 3}, task.path)


def _no_rollout(*args, **kwargs):
    raise AssertionError("the random policy was rolled out again")


def test_one_measurement_gives_the_mean_the_spread_and_screenings_episodes(store, task):
    ref = RandomReference(store, task, seed=3)
    episodes = ref.episodes()
    fitness = [t.fitness for t in episodes]
    assert len(episodes) == reference.EPISODES and len(set(fitness)) > 1  # distinct episodes, each with its fitness
    assert ref.fitness() == statistics.fmean(fitness) == store.meta("random_fitness")
    assert ref.spread() == statistics.pstdev(fitness) > 0
    # screening replays exactly these episodes, and the analyzer's measure is the same rule
    assert [(r.source, r.fitness, r.trajectory) for r in random_references(store, task, seed=3)] == \
        [("random", t.fitness, t) for t in episodes]
    assert random_policy_fitness(task, seed=3) == ref.fitness()
    assert [r.fitness for r in random_episodes(task, seed=3)] == fitness
    # another seed, other episodes
    assert [t.fitness for t in random_trajectories(task, seed=4)] != fitness


def test_the_measurement_is_kept_and_never_repeated(store, task, monkeypatch):
    first = RandomReference(store, task, seed=3)
    value, episodes = first.fitness(), first.episodes()
    assert (store.root / reference.TRAJECTORIES).is_file()
    monkeypatch.setattr(reference, "random_trajectories", _no_rollout)
    again = RandomReference(RunStore(store.root), task, seed=3)  # as a resumed run opens it
    assert again.fitness() == value and again.episodes() == episodes and again.spread() == first.spread()
    assert [r.trajectory for r in random_references(store, task, seed=3)] == episodes


def test_an_old_run_with_only_the_mean_keeps_it_and_records_the_episodes_once(store, task):
    store.set_meta("random_fitness", 12.5)  # measured by the release before on other episodes
    ref = RandomReference(store, task, seed=3)
    assert ref.fitness() == 12.5
    assert len(ref.episodes()) == reference.EPISODES and ref.spread() > 0
    assert store.meta("random_fitness") == 12.5  # the resumed run does not move its reference


def test_an_old_run_with_only_the_episodes_takes_its_mean_from_them(store, task, monkeypatch):
    kept = random_trajectories(task, 3, seed=7)
    (store.root / "screening").mkdir()
    (store.root / reference.TRAJECTORIES).write_bytes(gzip.compress(json.dumps([t.to_json() for t in kept]).encode()))
    monkeypatch.setattr(reference, "random_trajectories", _no_rollout)
    ref = RandomReference(store, task, seed=3)
    assert ref.fitness() == statistics.fmean(t.fitness for t in kept) == store.meta("random_fitness")
    assert ref.episodes() == kept


def test_halving_places_rungs_by_the_references_mean_and_spread(store, task):
    from rewardsmith.training.generation import GenerationTrainer
    from rewardsmith.training.trainer import Budget

    asked = []

    class Reference:
        def fitness(self):
            asked.append("fitness")
            return 0.0

        def spread(self):
            asked.append("spread")
            return 1.0

    config = SimpleNamespace(halving_eta=3, halving_min_fraction=1 / 9, seed=3)
    trainer = GenerationTrainer(store, task, config, Budget(4096), recorder=None, reference=Reference(),
                                events=lambda kind, **data: None)
    trainer.place_rungs(0)
    assert sorted(asked) == ["fitness", "spread"]


def test_the_0_1_0_run_keeps_its_random_fitness_and_gains_episodes(tmp_path):
    import shutil
    from pathlib import Path

    from rewardsmith.task import load_task_file

    root = tmp_path / "run-0.1.0"
    shutil.copytree(Path(__file__).parent / "data" / "run-0.1.0", root)
    store = RunStore(root)
    kept = store.meta("random_fitness")
    ref = RandomReference(store, load_task_file(root / "task.py"), seed=store.config["seed"])
    assert ref.fitness() == kept == 0.37349299590612195  # measured by 0.1.0 on its own 3 episodes
    assert len(ref.episodes()) == reference.EPISODES and ref.spread() > 0
    assert (root / reference.TRAJECTORIES).is_file() and store.meta("random_fitness") == kept


def test_one_process_rolls_a_task_files_random_episodes_out_once_and_hands_out_copies(tmp_path, monkeypatch):
    """random_trajectories keeps its episodes per task file content, episode count and seed: a second run of the
    same task in one process reads them (as copies: changing one changes nothing kept); an edited task file, another
    count or seed rolls out anew."""
    path = tmp_path / "my_task.py"
    path.write_text(load_task("cartpole-centered").path.read_text())
    rolled = []
    original = reference._roll_out
    monkeypatch.setattr(reference, "_roll_out", lambda *a: rolled.append(a[1:]) or original(*a))
    first = random_trajectories(load_task(str(path)), 3, seed=5)
    first[0].actions.append("changed")
    again = random_trajectories(load_task(str(path)), 3, seed=5)
    assert rolled == [(3, 5)] and again == original(load_task(str(path)), 3, 5) and "changed" not in again[0].actions
    random_trajectories(load_task(str(path)), 3, seed=6)
    random_trajectories(load_task(str(path)), 2, seed=5)
    path.write_text(path.read_text() + "\n# edited\n")
    random_trajectories(load_task(str(path)), 3, seed=5)
    assert rolled == [(3, 5), (3, 6), (2, 5), (3, 5)]
