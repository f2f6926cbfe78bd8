"""Records flow in memory; the store persists (issue 20): a whole generation (design → intake → pools →
second seeds at a cut-off → confirmation → recorder → videos), with fake trainings, counted in candidate
rows read from the store. The design context reads the archive at the generation's start (allowed); after
it no stage reads a candidate's row a second time, and nothing reads the whole table per scored candidate.
A generation interrupted after its design resumes with its candidates read once, at its start.

Intake's own duplicate check (intake/duplicates.py compares a proposal with the archive) is switched off
here: it is the archive as intake reads it to judge, not a hand-off between stages."""

import json
import re
import threading
from collections import Counter

import pytest

from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.design.base import Proposal
from rewardsmith.intake.critic import Verdict
from rewardsmith.loop import Evolution, EvolveConfig
from rewardsmith.task import load_task_file
from rewardsmith.training import schedule
from rewardsmith.training.final import CONFIRM_SEED_OFFSET
from rewardsmith.training.rung_seeds import RUNG_SEED_OFFSET
from conftest import TINY_TASK, ThreadExecutor, fake_seed_result

RUNGS = [256, 768, 2304]
CODE = '''
def compute_reward(state, action, next_state):
    # fitness by seed: {curves}
    return 0.0, {{"zero": 0.0}}
'''
EXTRA = str(RUNG_SEED_OFFSET)
CONFIRM = str(CONFIRM_SEED_OFFSET)
PROPOSALS = {  # generation -> name -> fitness by seed at each rung
    0: {"x": {"0": [0.6, 0.6, 0.6]}, "y": {"0": [0.1, 0.1, 0.1]}},
    1: {"a": {"0": [1.0, 1.0, 1.0]}, "b": {"0": [0.9, 0.1, 0.1], EXTRA: [0.5, 0, 0]},
        "c": {"0": [0.8, 0.9, 0.9], EXTRA: [1.0, 0, 0]}, "d": {"0": [0.2, 0, 0]}},
    2: {"f": {"0": [0.4, 0.4, 0.4]}},
}


def _code(name, by_seed):
    return CODE.format(curves=json.dumps({"name": name, **by_seed}))


class Scripted:
    """A designer that proposes the generation's rewards of PROPOSALS, and may be told it must not be asked."""

    name = "scripted"

    def __init__(self, asked=True, meanwhile=None):
        self.asked, self.meanwhile = asked, meanwhile  # meanwhile(ctx): what happens while it designs

    def propose(self, ctx):
        assert self.asked, f"generation {ctx.generation} was designed again"
        if self.meanwhile is not None:
            self.meanwhile(ctx)
        return [Proposal(_code(name, by_seed), "llm") for name, by_seed in PROPOSALS[ctx.generation].items()]

    def repair(self, proposal, report):
        return None


class Accepting:
    """The critic, accepting every proposal without its sandboxed probe (what it reads is not counted here)."""

    def check(self, code):
        return Verdict()


class NoDuplicates:
    def examine(self, code, screening, held):
        return None


def train(task, code, seed, budget, on_progress=None, **options):
    """A fake training: the fitness of a seed at each rung is written in the reward code (the baseline: 0.3)."""
    found = re.search(r"# fitness by seed: (\{.*\})", code)
    curves = json.loads(found.group(1)) if found else None
    fitness = curves.get(str(seed), curves["0"])[RUNGS.index(budget.timesteps)] if curves else 0.3
    start = options["checkpoint"]["timesteps"] if options.get("checkpoint") else 0
    return fake_seed_result(seed, fitness, budget.timesteps, start,
                            checkpoint={"model": "fake"} if options.get("return_checkpoint") else None)


class Reads:
    """The candidate rows a store decodes (``_row``: ``candidate``, ``candidates``, ``by_hash``, ``baseline``
    all go through it) and the ``candidates()`` calls, in the window the run's events open and close."""

    def __init__(self, store, opens, closes):
        self.rows, self.tables, self.open, self.scored = Counter(), Counter(), None, []
        self.opens, self.closes, self.lock = opens, closes, threading.Lock()
        row, table = store._row, store.candidates

        def counted_row(r):
            candidate = row(r)
            if self.open is not None:
                with self.lock:
                    self.rows[self.open, candidate.id] += 1
            return candidate

        def counted_table(*args, **kwargs):
            if self.open is not None:
                with self.lock:
                    self.tables[self.open] += 1
            return table(*args, **kwargs)

        store._row, store.candidates = counted_row, counted_table

    def __call__(self, kind, **data):
        if kind == "scored":
            self.scored.append(data["candidate"].id)
        if kind == self.opens:
            self.open = data["generation"]
        elif kind == self.closes and self.open is not None:
            self.open = None  # the generation's best for this event is already chosen

    def most(self, generation) -> int:
        return max((n for (g, _), n in self.rows.items() if g == generation), default=0)


def _run(tmp_path, designer, config, reads_from="designing", interrupt=None, evolutions=None):
    task = load_task_file(TINY_TASK)
    root = tmp_path / "run"
    store = RunStore(root) if root.exists() else RunStore.create(root, config.to_dict(), task.path)
    store.set_meta("random_fitness", 0.0)
    reads = Reads(store, reads_from, "generation_done")
    evolution = Evolution(store, task, config, designer, executor=ThreadExecutor(train), on_event=reads)
    evolution.intake.critic, evolution.intake.duplicates = Accepting(), NoDuplicates()
    evolution.reference.spread = lambda: 0.0
    if evolutions is not None:
        evolutions.append(evolution)
    if interrupt is not None:
        real = evolution.trainer.train

        def interrupted(generation, *args, **kwargs):
            if generation == interrupt:
                raise KeyboardInterrupt
            return real(generation, *args, **kwargs)

        evolution.trainer.train = interrupted
    evolution.run()
    return store, reads


@pytest.fixture
def fixed_rungs(monkeypatch):
    """Rungs at 256, 768 and 2,304 steps whatever the baseline's curve (schedule.place_rungs still asked)."""
    monkeypatch.setattr(schedule, "place_rungs", lambda *args, **kwargs: (list(RUNGS), "fixed for the test"))


def _config(iterations=2):
    task = load_task_file(TINY_TASK)
    return EvolveConfig(task=task.name, timesteps=RUNGS[-1], workers=2, halving_eta=3,
                        halving_min_fraction=1 / 9, final_seeds=0, no_screen=True, iterations=iterations)


def _names(store):
    return {json.loads(re.search(r"# fitness by seed: (\{.*\})", c.code).group(1))["name"]: c
            for c in store.candidates() if c.origin != "baseline"}


def test_a_designed_generation_reads_no_candidate_row_twice_after_its_design_context(tmp_path, fixed_rungs):
    store, reads = _run(tmp_path, Scripted(), _config())
    by_name = _names(store)
    assert {n: c.status for n, c in by_name.items()} == {n: SCORED for n in "xyabcd"}
    # every stage ran: halving stopped some, a second seed at the first cut-off, the confirmation seeds
    assert by_name["d"].result.halving.stopped_early
    assert any(e["trained"] for e in store.events("rung_seeds"))
    assert by_name["a"].result.confirmation is not None and by_name["x"].result.confirmation is not None
    assert store.meta("confirmations")["1"]["challenger"] == by_name["a"].id
    for generation in (0, 1):
        assert reads.most(generation) <= 1, sorted(reads.rows.items())
        assert reads.tables[generation] <= 1, reads.tables  # never the whole table per scored candidate
    # the analysis compared each with the candidates scored before it, as when it read the store
    assert by_name["d"].analysis is not None


def test_a_generation_interrupted_after_its_design_resumes_with_its_candidates_read_once(tmp_path, fixed_rungs):
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, Scripted(), _config(), interrupt=1)
    store = RunStore(tmp_path / "run")
    assert store.designed(1) and {c.status for c in store.candidates(generation=1)} == {"pending"}
    store.close()
    store, reads = _run(tmp_path, Scripted(asked=False), _config(), reads_from="generation_done")
    by_name = _names(store)
    assert {n: c.status for n, c in by_name.items()} == {n: SCORED for n in "xyabcd"}
    # from generation 0's end to generation 1's: its candidates (and the archive) read once, at its start
    assert 0 < reads.most(0) <= 1, sorted(reads.rows.items())
    assert {cid for (g, cid) in reads.rows if g == 0} >= {by_name[n].id for n in "abcd"}


def _edit(evolution, ctx, told):
    """Records a person's edit in the generation being designed, as people/human.add_edit does, and tells
    the run's sink where ``told`` (the page of ``evolve --serve``; ``rewardsmith edit`` in another shell does not)."""
    parent = next(c for c in ctx.archive if c.origin != "baseline")
    edit = evolution.store.add_candidate(ctx.generation, _code("e", {"0": [0.7, 0.7, 0.7]}), "human",
                                         parent=parent.id, candidate_id=f"{parent.id}e1", island=parent.island)
    if told:
        evolution.events.emit("edit", candidate=edit.id, parent=parent.id, screened=False)
    return edit.id


def test_a_persons_edit_told_while_a_generation_is_designed_trains_in_that_generation(tmp_path, fixed_rungs):
    """The page's edit reaches the run's sink (``edit``) and is recorded in the generation being designed
    (people/human.py next_generation), after its design context was read: it trains with it, read once."""
    evolutions, edits = [], {}

    def page_edit(ctx):
        if ctx.generation == 1:  # what people/human.add_edit records and tells for an edit on the page
            edits["e"] = _edit(evolutions[0], ctx, told=True)

    store, reads = _run(tmp_path, Scripted(meanwhile=page_edit), _config(), evolutions=evolutions)
    edit = store.candidate(edits["e"])
    assert edit.status == SCORED and edit.generation == 1
    assert any(edit.id in pool.members for pool in store.training_pools(1))
    assert reads.rows[1, edit.id] == 1 and reads.most(1) <= 1, sorted(reads.rows.items())


def test_an_edit_recorded_unheard_while_a_generation_is_designed_trains_in_its_own_before_the_next(
        tmp_path, fixed_rungs):
    evolutions, edits = [], {}

    def shell_edit(ctx):
        if ctx.generation == 1:
            edits["e"] = _edit(evolutions[0], ctx, told=False)

    store, reads = _run(tmp_path, Scripted(meanwhile=shell_edit), _config(iterations=3), evolutions=evolutions)
    edit, f = store.candidate(edits["e"]), _names(store)["f"]
    assert edit.status == SCORED == f.status
    assert any(edit.id in pool.members for pool in store.training_pools(1))  # in its own generation's pool
    assert reads.scored.index(edit.id) < reads.scored.index(f.id)  # before generation 2's own candidates
    assert reads.rows[2, edit.id] == 0 and reads.most(2) <= 1  # held since generation 2's design context
