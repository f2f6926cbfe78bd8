"""The run's one event sink (archive/events.py) and records in memory: one emit reaches the store and the
terminal view, an observer that raises does not stop the run, the store gives back what it wrote, and a
generation's pool reads each member and each of its legs once."""

import io
import json
import math
import re
import threading
from collections import Counter

import pytest
from rich.console import Console

from rewardsmith.archive.events import Events
from rewardsmith.archive.records import CandidateResult
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.design.offline import OfflineDesigner
from rewardsmith.loop import Evolution, EvolveConfig
from rewardsmith.output.view import LiveView
from rewardsmith.task import load_task_file
from rewardsmith.training.rung_seeds import RUNG_SEED_OFFSET
from conftest import TINY_TASK, ThreadExecutor, fake_seed_result


def _store(tmp_path, config=None):
    task = load_task_file(TINY_TASK)
    return RunStore.create(tmp_path / "run", config or {"task": task.name, "designer": "offline"}, task.path), task


def _view(store):
    out = io.StringIO()
    return LiveView(store, console=Console(file=out, width=200, force_terminal=False)), out


def test_one_emit_reaches_the_store_and_the_terminal_view(tmp_path):
    store, _ = _store(tmp_path)
    events = Events(store)
    view, out = _view(store)
    events.subscribe(view)
    events.emit("rungs", generation=1, rungs=[256, 2304], why="placed by the baseline's curve")
    events.emit("generation_done", generation=1, best=None)  # the candidate object is the observers'
    events.emit("designing", generation=2, samples=4)  # observers only: not persisted
    stored = [{k: v for k, v in e.items() if k != "created"} for e in store.events() if e["kind"] != "created"]
    assert stored == [{"kind": "rungs", "generation": 1, "rungs": [256, 2304], "why": "placed by the baseline's curve"},
                      {"kind": "generation_done", "generation": 1}]
    lines = out.getvalue().splitlines()
    assert sum("generation 1: placed by the baseline's curve" in line for line in lines) == 1
    assert sum("generation 1 done" in line for line in lines) == 1
    assert any("generation 2: asking the" in line for line in lines)


def test_the_executor_event_keeps_its_stored_shape(tmp_path):
    store, _ = _store(tmp_path)
    view, out = _view(store)
    Events.of(store, view).emit("executor", executor="local", where="2 local processes")
    assert [(e["kind"], e["where"]) for e in store.events("executor")] == [("local", "2 local processes")]
    assert "training on 2 local processes" in out.getvalue()


def test_an_observer_that_raises_is_reported_once_and_the_others_still_hear_everything(tmp_path):
    store, _ = _store(tmp_path)
    events = Events(store)
    heard = []

    def broken(kind, **data):
        raise ValueError("cannot draw")

    events.subscribe(broken)
    events.subscribe(lambda kind, **data: heard.append(kind))
    for generation in range(3):
        events.emit("generation_done", generation=generation)
    # its failure is told before the event goes on to the later subscribers
    assert heard == ["observer_failed", "generation_done", "generation_done", "generation_done"]
    assert events.failures(broken) == 4  # three events and the report of its own failure
    [failure] = store.events("observer_failed")
    assert "broken" in failure["observer"] and failure["error"] == "ValueError: cannot draw"
    assert failure["event"] == "generation_done"
    assert [e["generation"] for e in store.events("generation_done")] == [0, 1, 2]


def test_the_store_failing_to_keep_an_event_stops_the_run(tmp_path):
    store, _ = _store(tmp_path)
    with pytest.raises(TypeError, match="not JSON serializable"):
        Events(store).emit("designed", generation=0, proposals=object(), edits=[])


def test_evolution_subscribes_on_event_to_its_one_sink(tmp_path):
    store, task = _store(tmp_path)
    heard = []
    evolution = Evolution(store, task, EvolveConfig(task=task.name), OfflineDesigner(),
                          on_event=lambda kind, **data: heard.append((kind, data)))
    evolution.trainer.events.emit("max_cost", message="over $1")
    evolution.intake.emit("note", message="hello")
    assert heard == [("max_cost", {"message": "over $1"}), ("note", {"message": "hello"})]
    assert [e["message"] for e in store.events("max_cost")] == ["over $1"]


def test_update_and_add_candidate_give_what_the_store_reads_back(tmp_path):
    store, _ = _store(tmp_path)
    added = store.add_candidate(0, "def compute_reward(s, a, n):\n    return 0.0, {}\n", "offline", island=0)
    assert added == store.candidate(added.id)
    updated = store.update(added, status=SCORED, fitness=2, fitness_std=float("nan"), timesteps=1024.0,
                           steps_spent=True, seeds=[0, 1], notes="n",
                           result=CandidateResult(budget_fraction=1 / 3))
    assert updated == store.candidate(added.id)
    assert isinstance(updated.fitness, float) and updated.fitness_std is None and updated.timesteps == 1024
    assert store.update(added.id, notes="by id") == store.candidate(added.id)


# ---------------------------------------------------------------------- one generation, its store reads counted

CODE = '''
def compute_reward(state, action, next_state):
    # fitness by seed: {curves}
    return 0.0, {{"zero": 0.0}}
'''


class Trainer:
    """Stands in for a training: the fitness of a seed at each rung is written in the reward code."""

    def __init__(self, rungs):
        self.rungs, self.calls, self.lock, self.trained = rungs, [], threading.Lock(), Counter()

    def __call__(self, task, code, seed, budget, on_progress=None, **options):
        curves = json.loads(re.search(r"# fitness by seed: (\{.*\})", code).group(1))
        with self.lock:
            self.calls.append((curves["name"], seed, budget.timesteps))
        fitness = curves.get(str(seed), curves["0"])[self.rungs.index(budget.timesteps)]
        start = options["checkpoint"]["timesteps"] if options.get("checkpoint") else 0
        with self.lock:
            self.trained[curves["name"]] += budget.timesteps - start
        return fake_seed_result(seed, fitness, budget.timesteps, start,
                                checkpoint={"model": f"policy at {budget.timesteps}"}
                                if options.get("return_checkpoint") else None)


FakeExecutor = ThreadExecutor


def _counting(store, name, counter, key):
    real = getattr(store, name)

    def counted(*args, **kwargs):
        counter[key(*args, **kwargs)] += 1
        return real(*args, **kwargs)

    setattr(store, name, counted)


def _generation(tmp_path, on_event=None):
    """One generation of four candidates, halving on rungs of 256, 768 and 2,304 steps with fake trainings:
    a close call at the first cut-off (b kept, c stopped within the noise) gives both a second seed there.
    Gives the store, the ids by name, the trainer and the store reads counted (legs by candidate and seed,
    candidate by id)."""
    task = load_task_file(TINY_TASK)
    config = EvolveConfig(task=task.name, timesteps=2304, workers=2, halving_eta=3, halving_min_fraction=1 / 9,
                          final_seeds=0, no_screen=True)
    store, _ = _store(tmp_path, config.to_dict())
    store.set_meta("random_fitness", 0.0)
    extra = str(config.seed + RUNG_SEED_OFFSET)
    curves = {"a": {"0": [1.0, 1.0, 1.0]}, "b": {"0": [0.9, 0.1, 0.1], extra: [0.5, 0, 0]},
              "c": {"0": [0.8, 0.9, 0.9], extra: [1.0, 0, 0]}, "d": {"0": [0.2, 0, 0]}}
    ids = {name: store.add_candidate(0, CODE.format(curves=json.dumps({"name": name, **by_seed})), "llm").id
           for name, by_seed in curves.items()}
    legs, candidate = Counter(), Counter()
    _counting(store, "legs", legs, lambda cid, seed: (cid, seed))
    _counting(store, "candidate", candidate, lambda cid: cid)
    trainer = Trainer([256, 768, 2304])
    evolution = Evolution(store, task, config, OfflineDesigner(), executor=FakeExecutor(trainer), on_event=on_event)
    evolution.trainer.place_rungs = lambda generation: [256, 768, 2304]
    try:
        evolution.train_generation(0)
    finally:
        evolution.close()
    return store, ids, trainer, legs, candidate


def test_a_generation_reads_each_member_and_each_of_its_legs_once(tmp_path):
    heard = []
    store, ids, trainer, legs, candidate = _generation(tmp_path, lambda kind, **data: heard.append(kind))
    extra = RUNG_SEED_OFFSET
    at_first_cut = sorted((name, target) for name, seed, target in trainer.calls if seed == extra and target == 256)
    assert at_first_cut == [("b", 256), ("c", 256)]
    assert all(c.status == SCORED for c in store.candidates())
    assert max(legs.values()) == 1 and set(legs) >= {(cid, 0) for cid in ids.values()}
    assert not candidate  # the members come with the generation's records, read once at its start
    # (each row at most once a generation: tests/test_generation_reads.py)
    # each happening once: to the store and to the observer alike
    assert heard.count("scored") == 4 and heard.count("training") >= 4
    for kind in ("halving_decision", "rung_seeds"):
        assert heard.count(kind) == len(store.events(kind)) >= 1
    assert not math.isnan(store.candidate(ids["a"]).fitness)


def test_a_second_seed_at_a_cut_off_counts_in_the_candidates_steps_and_show_says_so(tmp_path):
    from conftest import invoke

    store, ids, trainer, _, _ = _generation(tmp_path)
    steps = {name: store.candidate(cid).steps_spent for name, cid in ids.items()}
    assert steps == dict(trainer.trained)  # every env step its trainings took, the second seeds' included
    assert steps["c"] == 2304 + 256 + 768 and steps["d"] == 256  # c: a second seed at both cut-offs
    shown = invoke("show", store.root, "--candidate", ids["c"])
    assert shown.exit_code == 0, shown.output
    assert "env steps trained in the search: 3,328 (1,024 on a second seed at halving cut-offs)" in shown.output


def test_a_view_that_raises_does_not_stop_a_generation(tmp_path):
    def broken_view(kind, **data):
        raise RuntimeError("the terminal went away")

    store, ids, _, _, _ = _generation(tmp_path, broken_view)
    assert all(c.status == SCORED for c in store.candidates())
    [failure] = store.events("observer_failed")
    assert failure["error"] == "RuntimeError: the terminal went away" and "broken_view" in failure["observer"]
