"""Records flow in memory; the store persists (issue 20), for the design and intake stages: a generation's
design context reads the archive once and hands it on to intake (the duplicate check, screening's recorded
episodes, the island a proposal joins, a proposal already recorded), which puts each candidate it admits
into it; so however many proposals a generation has, the archive is read once from its design context to
its last admission. A proposal still sees one admitted earlier in the same generation as a duplicate. A
person's edit, outside any generation, reads the archive once.

The critic is a stand-in that accepts and the sandboxed replay a fake (what the rewards pay on recorded
steps is written in their code), so nothing here runs reward code; the duplicate check and screening are
the real ones. Trainings are fake (conftest.ThreadExecutor)."""

import gzip
import json
import re
import threading
from collections import Counter
from dataclasses import replace

import pytest

from rewardsmith.analysis.reference import TRAJECTORIES, random_trajectories
from rewardsmith.archive.store import PENDING, SCORED, RunStore, write_atomic
from rewardsmith.design.base import Proposal
from rewardsmith.intake.admission import Intake
from rewardsmith.intake.critic import Verdict
from rewardsmith.loop import Evolution, EvolveConfig
from rewardsmith.task import load_task_file
from rewardsmith.training.replay import ReplayedEpisode
from conftest import TINY_TASK, ThreadExecutor, fake_seed_result

# a reward that pays ``SCALE`` times the car's position plus ``TILT`` times its velocity (the fake replay reads
# both from the code; ``NAME`` makes each proposal's code its own)
CODE = '''
NAME = "{name}"
SCALE = {scale}
TILT = {tilt}

def compute_reward(state, action, next_state):
    return SCALE * next_state.position + TILT * next_state.velocity, {{"position": next_state.position}}
'''


def _code(name, scale, tilt=0.0):
    return CODE.format(name=name, scale=scale, tilt=tilt)


def fake_replay(task, code, trajectories, limits=None):
    """What ``code`` pays on each recorded step, from the numbers written in it (no sandbox job)."""
    scale = float(re.search(r"SCALE = (\S+)", code).group(1)) if "SCALE" in code else 1.0
    tilt = float(re.search(r"TILT = (\S+)", code).group(1)) if "TILT" in code else 0.0
    out = []
    for t in trajectories:
        rewards = [scale * o[0] + tilt * o[1] for o in t.obs[1:]]
        out.append(ReplayedEpisode(rewards=rewards, components={"position": [o[0] for o in t.obs[1:]]}))
    return out


def train(task, code, seed, budget, on_progress=None, **options):
    """A fake training: fitness is the reward's SCALE (the baseline's 0.3)."""
    found = re.search(r"SCALE = (\S+)", code)
    return fake_seed_result(seed, float(found.group(1)) if found else 0.3, budget.timesteps)


class Accepting:
    """The critic without its sandboxed probe (it is not what is counted here)."""

    def check(self, code):
        return Verdict()


class Scripted:
    """Proposes ``proposals[generation]`` (a list of Proposals)."""

    name = "scripted"

    def __init__(self, proposals):
        self.proposals = proposals

    def propose(self, ctx):
        return [replace(p) for p in self.proposals[ctx.generation]]

    def repair(self, proposal, report):
        return None


class Reads:
    """The ``candidates()`` calls and the candidate rows decoded (``_row``: ``candidate``, ``candidates``,
    ``by_hash``, ``baseline`` go through it) while ``open`` is set."""

    def __init__(self, store):
        self.tables, self.rows, self.open, self.lock = 0, Counter(), False, threading.Lock()
        row, table = store._row, store.candidates

        def counted_row(r):
            candidate = row(r)
            if self.open:
                with self.lock:
                    self.rows[candidate.id] += 1
            return candidate

        def counted_table(*args, **kwargs):
            if self.open:
                with self.lock:
                    self.tables += 1
            return table(*args, **kwargs)

        store._row, store.candidates = counted_row, counted_table


@pytest.fixture(scope="module")
def random_episodes():
    """The run's random-policy episodes (screening's and the duplicate check's recorded episodes)."""
    task = load_task_file(TINY_TASK)
    return [t.to_json() for t in random_trajectories(task, 3, 0)]


def _store(tmp_path, config, random_episodes):
    task = load_task_file(TINY_TASK)
    store = RunStore.create(tmp_path / "run", config.to_dict(), task.path)
    write_atomic(store.root / TRAJECTORIES, gzip.compress(json.dumps(random_episodes).encode()))
    store.set_meta("random_fitness", 0.3)
    return task, store


def _config(**settings):
    task = load_task_file(TINY_TASK)
    return EvolveConfig(task=task.name, timesteps=256, workers=1, schedule="full", final_seeds=0, iterations=2,
                        islands=2, **settings)


def _generation(tmp_path, random_episodes, samples):
    """Runs generations 0 and 1 (``samples`` proposals in 1, the last a behavioural duplicate of the first: its
    rewards are the same on every recorded step, its code is not); gives the store and the reads counted from
    generation 1's design context (the end of generation 0) to the end of its design."""
    config = _config(samples=samples)
    task, store = _store(tmp_path, config, random_episodes)
    reads = Reads(store)
    run_counting_generation_1(store, task, config, scripted_generations(samples), ThreadExecutor(train), reads)
    return store, reads


def scripted_generations(samples) -> Scripted:
    """Generation 0's two proposals and generation 1's ``samples``, the last a behavioural duplicate of the
    first (its rewards are the same on every recorded step, its code is not)."""
    first = [Proposal(_code(f"g0 {i}", 1.0 + i, tilt=-0.5 * (i + 1)), "llm") for i in range(2)]
    later = [Proposal(_code(f"g1 {i}", 3.0 + i, tilt=0.5), "llm", parent="c1" if i % 2 else "c2")
             for i in range(samples - 1)]
    later.append(Proposal(_code("g1 again", 3.0, tilt=0.5).replace("SCALE * next_state.position",
                                                                   "next_state.position * SCALE"), "llm"))
    return Scripted({0: first, 1: later})


def run_counting_generation_1(store, task, config, designer, executor, reads) -> None:
    """Runs the evolution with ``reads.open`` set from generation 0's end (generation 1's design context) to
    the end of generation 1's design; the critic accepts and the duplicate check replays with fake_replay."""
    def window(kind, **data):
        if kind == "generation_done" and data["generation"] == 0:
            reads.open = True
        elif kind == "designed" and data["generation"] == 1:
            reads.open = False

    evolution = Evolution(store, task, config, designer, executor=executor, on_event=window)
    evolution.intake.critic = Accepting()
    evolution.intake.duplicates.sandboxed = fake_replay
    evolution.reference.spread = lambda: 0.0
    evolution.run()


@pytest.mark.parametrize("samples", [2, 6])
def test_a_generation_reads_the_archive_once_from_its_design_context_through_intake(
        tmp_path, random_episodes, samples):
    store, reads = _generation(tmp_path, random_episodes, samples)
    generation = store.candidates(generation=1)
    assert len(generation) == samples
    first, last = generation[0], generation[-1]
    # intake judged each against the archive as the generation holds it: the last proposal is a duplicate of
    # the first of its own generation (admitted moments before), the others were trained
    assert last.duplicate_of == first.id and last.steps_spent == 0
    assert {c.status for c in generation[:-1]} == {SCORED}
    # a proposal built on a parent joins an island that offered it; one without, dealt round-robin
    assert all(c.island is not None for c in generation)
    # screening judged each on the recorded episodes (the random policy's)
    assert all(c.result.screening is not None for c in generation[:-1])
    # once, however many proposals: the design context's read, handed on to intake
    assert reads.tables == 1, reads.tables
    assert reads.rows and max(reads.rows.values()) == 1, sorted(reads.rows.items())


def test_a_persons_edit_outside_a_generation_reads_the_archive_once(tmp_path, random_episodes):
    config = _config(samples=1)
    task, store = _store(tmp_path, config, random_episodes)
    base = store.add_candidate(0, _code("base", 1.0), "baseline", status=SCORED, island=0)
    store.update(base, fitness=0.3, timesteps=256, steps_spent=256)
    other = store.add_candidate(0, _code("other", 2.0), "llm", parent=base.id, status=SCORED, island=1)
    store.update(other, fitness=0.4, timesteps=256, steps_spent=256)
    intake = Intake(store, task, config, Accepting(), lambda: 0.3, None)
    intake.duplicates.sandboxed = fake_replay
    reads = Reads(store)
    reads.open = True
    admitted = intake.admit_edit(other.id, _code("edited", 5.0))
    reads.open = False
    assert admitted.candidate is not None and admitted.candidate.status == PENDING
    assert admitted.candidate.island == 1 and admitted.candidate.parent == other.id
    assert reads.tables == 1 and max(reads.rows.values()) == 1, (reads.tables, sorted(reads.rows.items()))
    # an edit whose rewards pay as another's do is that one's duplicate (kept as a draft), as before
    again = intake.admit_edit(base.id, _code("edited again", 5.0).replace("SCALE * next_state.position",
                                                                          "next_state.position * SCALE"))
    assert again.candidate is None and again.judgement.duplicate.of == admitted.candidate.id
