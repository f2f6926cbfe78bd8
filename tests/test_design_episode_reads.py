"""Records flow in memory (issue 20), for the recorded episodes intake judges on: a generation's recorded
episodes (intake/screening.py ``references``: the random policy's, the baseline's kept evaluation episodes and
those of the scored candidates it picks) are read from the run's files once per design phase and handed on
with the archive the design context hands intake (archive/held.py ``Held``), so the duplicate check and
screening of N proposals read each kept trajectory file, and the random-policy episodes, at most once. No
candidate is scored while a generation is designed, so what they read cannot change within it; a scored
record put into the generation's records drops them. A person's edit, outside any generation, reads them
once per edit.

The critic is a stand-in that accepts and the sandboxed replay a fake (test_design_reads.py's), so nothing here
runs reward code; the duplicate check and screening are the real ones. Trainings are fake and keep two
evaluation episodes each (the tiny task's random-policy episodes, with the candidate's fitness)."""

import gzip
import json
import re
import threading
from collections import Counter
from dataclasses import replace

import pytest

from rewardsmith.analysis.reference import TRAJECTORIES, RandomReference, random_trajectories
from rewardsmith.archive.held import Held
from rewardsmith.archive.records import Trajectory
from rewardsmith.archive.store import PENDING, SCORED, RunStore, write_atomic
from rewardsmith.intake.admission import Intake
from rewardsmith.intake.screening import references
from rewardsmith.task import load_task_file
from conftest import TINY_TASK, ThreadExecutor, fake_seed_result
from test_design_reads import Accepting, _code, _config, fake_replay, run_counting_generation_1, scripted_generations

KEPT = 2  # evaluation episodes each fake training keeps


@pytest.fixture(scope="module")
def episodes():
    """The tiny task's random-policy episodes: the run's random reference, and what fake trainings keep."""
    task = load_task_file(TINY_TASK)
    return [t.to_json() for t in random_trajectories(task, 3, 0)]


def _trainer(episodes):
    kept = [Trajectory.from_json(t) for t in episodes[:KEPT]]

    def train(task, code, seed, budget, on_progress=None, **options):
        """A fake training at the reward's SCALE (the baseline's 0.3), keeping KEPT evaluation episodes."""
        found = re.search(r"SCALE = (\S+)", code)
        fitness = float(found.group(1)) if found else 0.3
        result = fake_seed_result(seed, fitness, budget.timesteps)
        result.episode_fitness = [fitness - 0.1 * i for i in range(KEPT)]
        result.trajectories = [replace(t, rewards=e.rewards, components=e.components)  # as the trainer replays
                               for t, e in zip(kept, fake_replay(task, code, kept))]
        return result

    return train


class Reads:
    """``store.trajectories`` calls by candidate id and loads of the random-policy episodes from the run's
    file (a ``RandomReference`` asked for episodes it does not hold yet) while ``open`` is set."""

    def __init__(self, store, monkeypatch):
        self.kept, self.random, self.open, self.lock = Counter(), 0, False, threading.Lock()
        kept, load = store.trajectories, RandomReference.episodes

        def counted_kept(cid):
            if self.open:
                with self.lock:
                    self.kept[cid] += 1
            return kept(cid)

        def counted_load(reference):
            if self.open and reference._episodes is None:
                with self.lock:
                    self.random += 1
            return load(reference)

        store.trajectories = counted_kept
        monkeypatch.setattr(RandomReference, "episodes", counted_load)


def _store(tmp_path, config, episodes):
    task = load_task_file(TINY_TASK)
    store = RunStore.create(tmp_path / "run", config.to_dict(), task.path)
    write_atomic(store.root / TRAJECTORIES, gzip.compress(json.dumps(episodes).encode()))
    store.set_meta("random_fitness", -0.5)
    return task, store


def _generation(tmp_path, monkeypatch, episodes, samples):
    """Runs generations 0 (two proposals) and 1 (``samples`` proposals, the last a behavioural duplicate of the
    first); gives the store and the reads counted from generation 1's design context to the end of its design."""
    config = _config(samples=samples)
    task, store = _store(tmp_path, config, episodes)
    reads = Reads(store, monkeypatch)
    run_counting_generation_1(store, task, config, scripted_generations(samples), ThreadExecutor(_trainer(episodes)),
                              reads)
    return store, reads


@pytest.mark.parametrize("samples", [2, 6])
def test_a_generation_reads_its_recorded_episodes_once_however_many_proposals(
        tmp_path, monkeypatch, episodes, samples):
    store, reads = _generation(tmp_path, monkeypatch, episodes, samples)
    generation = store.candidates(generation=1)
    assert len(generation) == samples
    # judged as before: the last proposal duplicates the first of its own generation; the others screened
    # on the random policy's episodes, the baseline's kept ones and those of generation 0's two candidates
    assert generation[-1].duplicate_of == generation[0].id
    assert all(c.result.screening.episodes == len(episodes) + 3 * KEPT for c in generation[:-1])
    # each kept trajectory file read once in the design phase (the baseline's, c1's, c2's), the random-policy
    # episodes loaded at most once: however many proposals
    assert set(reads.kept) == {"c0", "c1", "c2"}, reads.kept
    assert max(reads.kept.values()) == 1, reads.kept
    assert reads.random <= 1, reads.random


def test_a_persons_edit_reads_the_recorded_episodes_once_per_edit(tmp_path, monkeypatch, episodes):
    config = _config(samples=1)
    task, store = _store(tmp_path, config, episodes)
    kept = [Trajectory.from_json(t) for t in episodes[:KEPT]]
    base = store.add_candidate(0, _code("base", 0.3), "baseline", status=SCORED, island=0)
    store.update(base, fitness=0.3, timesteps=256, steps_spent=256)
    other = store.add_candidate(0, _code("other", 2.0), "llm", parent=base.id, status=SCORED, island=1)
    store.update(other, fitness=2.0, timesteps=256, steps_spent=256)
    for c in (base, other):
        store.write_trajectories(c.id, [replace(t, fitness=f) for t, f in zip(kept, (2.0, 0.3))])
    intake = Intake(store, task, config, Accepting(), lambda: -0.5, None)
    intake.duplicates.sandboxed = fake_replay
    reads = Reads(store, monkeypatch)
    reads.open = True
    for n, parent in enumerate((other.id, base.id)):
        admitted = intake.admit_edit(parent, _code(f"edit {n}", 5.0, tilt=1.0 + n))
        assert admitted.candidate is not None and admitted.candidate.status == PENDING
        assert admitted.candidate.result.screening.episodes == len(episodes) + 2 * KEPT
        assert reads.kept == Counter({"c0": n + 1, "c1": n + 1}), reads.kept  # once per edit
    assert reads.random <= 2


def test_a_scored_record_put_drops_the_recorded_episodes_it_may_change(tmp_path, episodes):
    from rewardsmith.intake.screening import recorded

    config = _config(samples=1)
    task, store = _store(tmp_path, config, episodes)
    kept = [Trajectory.from_json(t) for t in episodes[:KEPT]]
    base = store.add_candidate(0, _code("base", 0.3), "baseline", status=SCORED, island=0)
    base = store.update(base, fitness=0.3, timesteps=256, steps_spent=256)
    store.write_trajectories(base.id, kept)
    held = Held(store.candidates())
    before = recorded(store, task, 0, held)
    assert [r.source for r in before] == ["random"] * len(episodes) + [f"baseline {base.id}"] * KEPT
    # a proposal admitted in the design phase (pending) changes nothing they are read from: kept
    held.put(store.add_candidate(1, _code("new", 1.0), "llm", parent=base.id))
    assert held.episodes is not None
    # once trained and scored (training, after the design phase), its own kept episodes join them
    pending = held.all()[-1]
    store.write_trajectories(pending.id, kept)
    held.put(store.update(pending, status=SCORED, fitness=1.0, timesteps=256, steps_spent=256))
    after = recorded(store, task, 0, held)
    assert after == references(store, task, 0, held.all()) and len(after) == len(before) + KEPT
