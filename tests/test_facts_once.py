"""Each fact stored once (issue 20; migration m009_facts_once): a halving leg's evaluated fitness lives in its
``legs`` row's outcome, a final-scoring seed's in its ``final`` row's column, a candidate's score in its
row's columns, and every other place that used to repeat them (a leg's and a final seed's kept result, the
analysis, a confirmation's search fitness and mean, the final summary's search fitness) reads them from
there. Checked by scanning every table's columns and every JSON value of a run for the number.

Some places hold a *different* fact that can have the same value, and are named as such (OTHER_FACTS): one
evaluation episode's fitness (a leg's fitness is the mean over its episodes, the same number with one),
the training child's own episode fitness in a snapshot, a candidate's score column (the mean over its seeds
at its last rung: one seed's leg at that rung), what halving decided on at a rung (its record of the
decision, taken when it was made) and the event log (a history for people, never read back as a fact).
NOT_YET_ONCE names the repeats this step leaves (see the README's run store section)."""

import json
import re
import shutil
import sqlite3
import threading
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import TINY_TASK, ThreadExecutor, fake_seed_result
from rewardsmith.archive.migrations import MIGRATIONS
from rewardsmith.archive.records import CandidateResult, Timings
from rewardsmith.archive.store import RunStore
from rewardsmith.errors import RunStoreError

DATA = Path(__file__).parent / "data"
RUNS = ["run-0.1.0", "run-offline"]

HOMES = ("legs.outcome.fitness", "final.fitness")
OTHER_FACTS = (
    "*.episode_fitness[]", "*.episodes[].fitness",  # one evaluation episode's fitness
    "*.snapshots[].fitness",  # the training child's episodes (reflection shows them; selection never reads them)
    "candidates.fitness",  # a candidate's score: its seeds' mean at its last rung
    "candidates.result.halving.history.*",  # what halving decided on at that rung, when it decided
    "events.data*",  # the event log
)
# the repeats left (the README's run store section); a candidate's kept seed results are no longer one (m010:
# they are its legs merged, each keeping its seed and what its legs do not hold)
NOT_YET_ONCE: tuple[str, ...] = ()


def _matches(path: str, pattern: str) -> bool:
    """Whether ``path`` matches ``pattern``, where "*" stands for any text (and "[]" is literal)."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), path) is not None


def _walk(value, path, out):
    if isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{path}.{'*' if str(key).isdigit() else key}", out)
    elif isinstance(value, list):
        for item in value:
            _walk(item, f"{path}[]", out)
    elif isinstance(value, float):
        out[value].append(path)


def places(root) -> dict[float, list[str]]:
    """Every float stored in the run's database (columns, and JSON values recursively) -> where: "table.column"
    followed by the JSON path ("[]" for a list item, "*" for a rung or other numbered key), once per place."""
    out: dict[float, list[str]] = defaultdict(list)
    db = sqlite3.connect(root / "run.db")
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        for row in db.execute(f"SELECT * FROM {table}"):
            for column, value in zip(columns, row):
                where = f"{table}.{'value' if table == 'meta' else column}"
                if isinstance(value, float):
                    out[value].append(where)
                elif isinstance(value, str) and value[:1] in "[{":
                    try:
                        _walk(json.loads(value), where, out)
                    except json.JSONDecodeError:
                        pass
    db.close()
    return out


def _repeats(root) -> list[str]:
    """Each place outside HOMES and OTHER_FACTS (and NOT_YET_ONCE) holding a leg's or a final seed's fitness."""
    found = places(root)
    db = sqlite3.connect(root / "run.db")
    legs = [(f"leg {c} seed {s} rung {r}", json.loads(o)["fitness"])
            for c, s, r, o in db.execute("SELECT candidate, seed, rung, outcome FROM legs")]
    finals = [(f"final {s} seed {seed}", f) for s, seed, f in db.execute("SELECT subject, seed, fitness FROM final")]
    db.close()
    assert legs and finals  # the runs checked have both
    out = []
    for what, value in legs + finals:
        if value is None or float(value).is_integer():  # a round number identifies nothing
            continue
        homes = [p for p in found[value] if p in HOMES]
        assert homes, f"{what}: its fitness {value!r} is not in its home"
        out += [f"{what}: {value!r} also at {p}" for p in found[value]
                if p not in HOMES and not any(_matches(p, pattern) for pattern in OTHER_FACTS + NOT_YET_ONCE)]
    return out


def _leg_rows_hold_their_fitness_once(root):
    db = sqlite3.connect(root / "run.db")
    for c, s, r, outcome, result in db.execute("SELECT candidate, seed, rung, outcome, result FROM legs"):
        value, row = json.loads(outcome)["fitness"], defaultdict(list)
        _walk(json.loads(outcome), "outcome", row)
        if result:
            _walk(json.loads(result), "result", row)
        others = [p for p in row[value] if not any(_matches(p, pattern) for pattern in OTHER_FACTS)]
        assert others == ["outcome.fitness"], (c, s, r)
    db.close()


def _analysis_holds_no_score(root):
    db = sqlite3.connect(root / "run.db")
    rows = db.execute("SELECT id, fitness, fitness_std, analysis FROM candidates WHERE analysis IS NOT NULL").fetchall()
    assert rows
    for cid, fitness, std, text in rows:
        analysis = json.loads(text)
        assert not {"fitness", "fitness_std", "seeds", "timesteps"} & set(analysis), cid
        held = defaultdict(list)
        _walk(analysis, "analysis", held)
        for value in (fitness, float(f"{fitness:.4g}")):  # the column, and as the analyzer rounded it
            # one evaluation episode's fitness, the training episodes' (snapshots: the training child's) and the
            # numbers a finding was judged on (its evidence) are other facts
            assert [p for p in held.get(value, []) if not any(_matches(p, pattern) for pattern in (
                "*episodes[].fitness", "analysis.training.*", "analysis.findings[].evidence.*"))] == [], (cid, value)
    db.close()


OUTCOME_LACKS = ("seed", "episodes", "stopped_early", "worker")  # what a leg's outcome does not hold of its result


def _runs_hold_what_their_legs_do_not(root):
    """A candidate's stored seed results (m010) keep their seed and what no leg holds: nothing else where a leg
    up to its rung kept its result, and nothing its legs' outcomes hold where none did (raw JSON, by keys)."""
    db = sqlite3.connect(root / "run.db")
    legs = defaultdict(dict)
    for c, s, r, result in db.execute("SELECT candidate, seed, rung, result FROM legs"):
        legs[c, s][r] = result is not None
    checked = 0
    for cid, text in db.execute("SELECT id, result FROM candidates WHERE result IS NOT NULL"):
        result = json.loads(text)
        rung = (result.get("halving") or {}).get("rung", 0)
        for run in result.get("runs") or []:
            mine = legs[cid, run["seed"]]
            assert rung in mine, (cid, run["seed"], rung)  # every kept seed result of these runs has its leg
            kept = [r for r in mine if r <= rung and mine[r]]
            assert list(run) == ["seed"] if kept else set(run) <= set(OUTCOME_LACKS), (cid, list(run))
            checked += 1
    db.close()
    assert checked


def _final_fitness_stored_once(root):
    """Each final seed's fitness is in one row of the final table: a duplicate's row refers to its original's."""
    db = sqlite3.connect(root / "run.db")
    values = [f for (f,) in db.execute("SELECT fitness FROM final") if f is not None and not float(f).is_integer()]
    db.close()
    assert values and len(values) == len(set(values)), sorted(values)


def _timings_are_their_seed_results(root):
    """A candidate's timings are read from its seed results (m011): its column holds none where they give them."""
    store = RunStore(root)
    scored = [c for c in store.candidates() if c.result and c.result.runs]
    assert scored
    for c in scored:
        stored = store.db.execute("SELECT timings FROM candidates WHERE id = ?", (c.id,)).fetchone()[0]
        assert stored is None and c.timings == Timings.of(c.result.runs), c.id
    store.close()


@pytest.fixture
def recorded(tmp_path):
    def copy(name):
        shutil.copytree(DATA / name, tmp_path / name)  # never opened in place: opening migrates it
        return tmp_path / name
    return copy


@pytest.mark.parametrize("name", RUNS)
def test_a_recorded_run_opened_holds_each_fitness_once(recorded, name):
    root = recorded(name)
    RunStore(root).close()
    assert _repeats(root) == []
    _leg_rows_hold_their_fitness_once(root)
    _analysis_holds_no_score(root)
    _runs_hold_what_their_legs_do_not(root)
    _timings_are_their_seed_results(root)


@pytest.mark.parametrize("name", RUNS)
def test_what_a_recorded_run_holds_reads_back_the_same_after_m009(recorded, name, tmp_path):
    """The records a user's commands read are the ones they read before the step, field for field: the
    migration rebuilt from the pre-m009 rows and the store's readers after it agree."""
    root = recorded(name)
    store = RunStore(root)
    for c in store.candidates():
        if c.analysis is not None:
            assert (c.analysis.fitness, c.analysis.seeds, c.analysis.timesteps) == \
                (float(f"{c.fitness:.4g}"), c.seeds, c.timesteps)
        confirmation = c.result.confirmation if c.result else None
        if confirmation is not None:
            assert confirmation.search_fitness == c.fitness
            assert confirmation.mean == (None if confirmation.fitness is None
                                         else (c.fitness + confirmation.fitness) / 2)
        for seed in c.seeds or []:
            for leg in store.legs(c.id, seed).values():
                if leg.result is not None:
                    assert (leg.result.fitness, leg.result.timesteps, leg.result.snapshots) == \
                        (leg.fitness, leg.timesteps, leg.snapshots)
    for run in store.final_runs():
        if run.result is not None:
            assert (run.result.fitness, run.result.timesteps, run.result.trained_steps) == \
                (run.fitness, run.timesteps, run.steps_spent)
    final = store.final()
    assert final is not None
    assert all(e.search_fitness == store.candidate(e.id).fitness for e in final.entries if e.id != "sparse")


# ---------------------------------------------------------------------- a run made by today's code


CODE = "def compute_reward(state, action, next_state):\n    # {name}\n    return {n}.0, {{'zero': {n}.0}}\n"
FITNESS = {"a": 0.6180339, "b": 0.4142135, "c": 0.7320508, "base": 0.5772156}  # at the full budget, seed 0


class Trainer:
    """Fake training: the reward's fitness from its code's name, lower at lower rungs, another on each seed."""

    def __init__(self):
        self.lock, self.calls = threading.Lock(), []

    def __call__(self, task, code, seed, budget, on_progress=None, **options):
        name = next((n for n in FITNESS if f"# {n}\n" in code), "sparse")
        fitness = FITNESS.get(name, 0.1234567) * budget.timesteps / 1024 + seed * 0.0137
        start = options["checkpoint"]["timesteps"] if options.get("checkpoint") else 0
        with self.lock:
            self.calls.append((name, seed, budget.timesteps))
        return fake_seed_result(seed, fitness, budget.timesteps, start, checkpoint={"model": "policy"})


def _todays_run(root: Path) -> RunStore:
    """Two generations through the pool and the run's recorder (halving, the analyzer), confirmation of the
    second generation's better best, then the final scoring on two fresh seeds, where c3 is found a duplicate of
    c1 (intake/duplicates.py) and not trained: no real training."""
    from rewardsmith.analysis.recorder import RunRecorder
    from rewardsmith.loop import EvolveConfig
    from rewardsmith.task import load_task_file
    from rewardsmith.training.collect import Training
    from rewardsmith.training.confirmation import confirm
    from rewardsmith.training.final import FinalPlan, final_scoring
    from rewardsmith.training.pool import PoolTrainer
    from rewardsmith.training.schedule import CutRule
    from rewardsmith.training.trainer import Budget

    task = load_task_file(TINY_TASK)
    config = EvolveConfig(task=task.name, timesteps=1024, final_seeds=2, designer="offline")
    store = RunStore.create(root, config.__dict__, task.path)
    executor = ThreadExecutor(Trainer())
    budget = Budget(1024)
    training = Training(task, budget, executor)
    recorder = RunRecorder(store, task, config, budget, lambda: 0.01, None)
    store.add_candidate(0, CODE.format(name="base", n=0), "baseline")
    generations = {0: ["a", "b"], 1: ["c"]}
    for generation, names in generations.items():
        ids = [store.add_candidate(generation, CODE.format(name=n, n=len(n) + ord(n[0])), "offline").id
               for n in names]
        if generation == 0:
            ids.insert(0, "c0")
        cut = CutRule(3, random_fitness=0.0, floor=0.05)
        PoolTrainer(store, training, recorder, ids, [256, 1024], 3, [0], cut).run()
        confirm(store, task, config, budget, lambda: executor, generation, lambda *a, **k: None)
    from rewardsmith.intake.duplicates import Match

    with pytest.MonkeyPatch.context() as patch:  # the duplicate check replays rewards in sandboxes: 3 s, not the point
        patch.setattr("rewardsmith.training.final.shared_fitness",
                      lambda *args: {"c3": Match("c1", "duplicate of c1: the same rewards")})
        final_scoring(store, training, FinalPlan(0, 2, 2))
    executor.close()
    return store


@pytest.fixture(scope="module")
def todays_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("facts") / "run"
    _todays_run(root).close()
    return root


def test_a_run_made_by_todays_code_holds_each_fitness_once(todays_run):
    store = RunStore(todays_run)
    assert store.final() is not None and any(c.result and c.result.confirmation for c in store.candidates())
    assert any(leg.result is not None for c in store.candidates() for leg in store.legs(c.id, 0).values())
    store.close()
    assert _repeats(todays_run) == []
    _leg_rows_hold_their_fitness_once(todays_run)
    _analysis_holds_no_score(todays_run)
    _runs_hold_what_their_legs_do_not(todays_run)
    _timings_are_their_seed_results(todays_run)
    _final_fitness_stored_once(todays_run)
    final = json.loads(sqlite3.connect(todays_run / "run.db").execute(
        "SELECT value FROM meta WHERE key = 'final'").fetchone()[0])
    assert final["normalization"] is True  # the pair is the final table's baseline and sparse means (m012)
    db = sqlite3.connect(todays_run / "run.db")
    for seeds, result in db.execute("SELECT seeds, result FROM candidates WHERE status = 'scored'"):
        assert json.loads(result)["runs"] == [{"seed": s} for s in json.loads(seeds)]  # the legs hold the rest
    db.close()


def test_a_run_made_by_todays_code_reads_its_records_back_as_written(todays_run):
    store = RunStore(todays_run)
    for c in store.candidates():
        assert c.analysis is not None and c.analysis.fitness == float(f"{c.fitness:.4g}")
        assert c.analysis.seeds == c.seeds and c.analysis.timesteps == c.timesteps
        assert store.candidate(c.id) == c  # read twice, the same
    leg = store.legs("c1", 0)[1]
    assert leg.result is not None and leg.result.fitness == leg.fitness and leg.result.snapshots == leg.snapshots
    assert leg.result.trained_steps == leg.trained_steps and leg.result.wall_seconds == leg.wall_seconds
    for run in store.final_runs():
        if run.same_as is not None:  # a duplicate, not trained
            continue
        assert run.result is not None and run.result.fitness == run.fitness
        assert run.result.trained_steps == run.steps_spent and run.result.timesteps == run.timesteps


def test_a_candidate_updated_in_memory_is_the_one_read_back_its_records_reading_the_new_score(todays_run, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(todays_run, root)
    store = RunStore(root)
    held = next(c for c in store.candidates() if c.result and c.result.confirmation)
    updated = store.update(held, fitness=0.123456789, fitness_std=0.5)
    assert updated == store.candidate(held.id)
    assert (updated.analysis.fitness, updated.analysis.fitness_std) == (0.1235, 0.5)
    confirmation = updated.result.confirmation
    assert confirmation.search_fitness == 0.123456789 and confirmation.mean == (0.123456789 + confirmation.fitness) / 2
    assert store.update(updated, notes="kept") == store.candidate(held.id)


@pytest.mark.parametrize("name", RUNS)
def test_a_recorded_runs_kept_seed_results_read_back_the_same_after_m010(recorded, name, monkeypatch):
    """What m009 left of each candidate's seed results (the whole of each) is what the reader gives after m010
    fills them from the legs, field for field and in order."""
    import rewardsmith.archive.migrations as migrations

    root = recorded(name)
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:MIGRATIONS.index(("m010_runs_from_legs",
                                                                             migrations.runs_from_legs))])
        RunStore(root).close()
    db = sqlite3.connect(root / "run.db")
    before = {cid: json.loads(text)["runs"] for cid, text in db.execute("SELECT id, result FROM candidates")
              if text and "runs" in json.loads(text)}
    db.close()
    store = RunStore(root)
    assert store.migrations_applied[0] == "m010_runs_from_legs" and before
    for cid, runs in before.items():
        read = [r.to_json(leave_out=CandidateResult.STORED_RUN_FIELDS_LEFT_OUT)
                for r in store.candidate(cid).result.runs]
        assert json.dumps(read) == json.dumps(runs), cid
        assert read[0]["fitness"] == store.legs(cid, runs[0]["seed"])[store.candidate(cid).result.rung].fitness


def test_timings_the_seed_results_do_not_give_are_kept_as_given(todays_run, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(todays_run, root)
    store = RunStore(root)
    held = store.candidate("c1")
    other = Timings(wall_seconds=9.5, train_seconds=1.25, steps_per_second=3.0)
    assert store.update(held, timings=other).timings == other == store.candidate("c1").timings
    failed = store.update(store.add_candidate(1, "x = 1\n", "offline"), status="failed", timings=Timings(4.75))
    assert failed.timings == Timings(4.75) == store.candidate(failed.id).timings
    assert store.db.execute("SELECT timings FROM candidates WHERE id = ?", (failed.id,)).fetchone()[0] == \
        '{"wall_seconds": 4.75}'


def test_the_normalization_pair_is_read_from_the_final_table(todays_run):
    store = RunStore(todays_run)
    final = store.final()
    base, sparse = ([r.fitness for r in store.final_runs() if r.role == role] for role in ("baseline", "sparse"))
    assert final.normalization == {"baseline": sum(base) / 2, "sparse": sum(sparse) / 2} == final.means()
    assert final.entry("sparse").normalized == 0.0 and final.by_role("baseline").normalized == 1.0


def test_m012_stores_the_pair_the_final_table_gives_as_true_and_keeps_another(todays_run, tmp_path):
    for pair, kept in ((None, True), ({"baseline": 0.5, "sparse": 0.25}, False)):
        root = tmp_path / f"copy{kept}"
        shutil.copytree(todays_run, root)
        store = RunStore(root)
        means = store.final().means()
        stored = {**store.meta("final"), "normalization": pair or means}  # as the runs before m012 kept it
        store.set_meta("final", stored)
        store.db.execute("DELETE FROM migrations WHERE name = 'm012_normalization_from_final'")
        store.close()
        store = RunStore(root)
        assert store.migrations_applied == ["m012_normalization_from_final"]
        assert store.meta("final")["normalization"] == (True if kept else pair)
        assert store.final().normalization == (means if kept else pair)


def test_a_duplicates_final_seeds_refer_to_its_originals_and_read_back_its_fitness(todays_run):
    store = RunStore(todays_run)
    runs = {(r.subject, r.seed): r for r in store.final_runs()}
    assert store.final().duplicates == {"c3": "shares c1's fitness (duplicate of c1: the same rewards)"}
    for seed in (1, 2):
        copy, original = runs["c3", seed], runs["c1", seed]
        assert copy.same_as == "c1" and copy.steps_spent == 0 and copy.result is None
        assert (copy.fitness, copy.timesteps, copy.status) == (original.fitness, original.timesteps, "scored")
    assert store.final().entry("c3").per_seed == store.final().entry("c1").per_seed
    stored = store.db.execute("SELECT fitness, timesteps FROM final WHERE subject = 'c3'").fetchall()
    assert [tuple(row) for row in stored] == [(None, None)] * 2


def test_m013_makes_a_duplicates_copied_final_seeds_refer_to_its_originals(todays_run, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(todays_run, root)
    before = _dump(root)
    db = sqlite3.connect(root / "run.db")  # as runs before m013 kept them: the original's figures copied
    db.execute("UPDATE final SET (fitness, timesteps) = (SELECT o.fitness, o.timesteps FROM final o"
               " WHERE o.subject = final.same_as AND o.seed = final.seed) WHERE same_as IS NOT NULL")
    db.execute("ALTER TABLE final DROP COLUMN same_as")
    db.execute("DELETE FROM migrations WHERE name = 'm013_final_duplicates_refer'")
    db.commit()
    db.close()
    assert _dump(root) != before
    assert RunStore(root).migrations_applied == ["m013_final_duplicates_refer"]
    assert _dump(root) == before


def test_a_legs_trajectories_are_kept_apart_and_a_candidates_read_never_reads_them(recorded, monkeypatch):
    """m014: the trajectories a leg's result kept move to their own column; the leg reads them back, and reading
    candidates (their seed results filled from the legs' results) never touches them."""
    import rewardsmith.archive.migrations as migrations

    root = recorded("run-0.1.0")
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:[n for n, _ in MIGRATIONS].index(
            "m014_leg_trajectories_apart")])
        RunStore(root).close()
    db = sqlite3.connect(root / "run.db")
    before = {(c, s, r): json.loads(text)["trajectories"]
              for c, s, r, text in db.execute("SELECT candidate, seed, rung, result FROM legs WHERE result IS NOT NULL")}
    db.close()
    store = RunStore(root)
    assert "m014_leg_trajectories_apart" in store.migrations_applied and all(before.values())
    for (c, s, r), trajectories in before.items():
        result, kept = store.db.execute("SELECT result, trajectories FROM legs WHERE candidate = ? AND seed = ?"
                                        " AND rung = ?", (c, s, r)).fetchone()
        assert "trajectories" not in json.loads(result) and json.loads(kept) == trajectories
        assert [t.to_json() for t in store.legs(c, s)[r].result.trajectories] == trajectories
    read = []

    def authorize(action, table, column, *_):
        if action == sqlite3.SQLITE_READ:
            read.append((table, column))
        return sqlite3.SQLITE_OK

    store.db.set_authorizer(authorize)
    assert all(c.result.runs for c in store.candidates())
    store.db.set_authorizer(None)
    assert ("legs", "result") in read and ("legs", "trajectories") not in read


def test_a_kept_seed_result_without_its_leg_is_an_error_naming_it(todays_run, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(todays_run, root)
    store = RunStore(root)
    store.db.execute("DELETE FROM legs WHERE candidate = 'c1' AND seed = 0")
    with pytest.raises(RunStoreError, match=r"candidate c1 in .*seed 0 at rung 1 is neither stored nor in a stored "
                                            r"leg.*RunStore.save_leg"):
        store.candidate("c1")


# ---------------------------------------------------------------------- the migration, once


def _dump(root) -> list:
    db = sqlite3.connect(root / "run.db")
    tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
              if t != "migrations"]
    out = [(t, db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()) for t in tables]
    db.close()
    return out


def _apply(root, *steps):
    """Applies migration data steps to ``root``'s database again, as a run that already had them."""
    db = sqlite3.connect(root / "run.db")
    for step in steps:
        step(db, root)
    db.commit()
    db.close()


# each data step, the step it follows
STEPS = [("m009_facts_once", "m008_data_shapes", "facts_once"),
         ("m010_runs_from_legs", "m009_facts_once", "runs_from_legs"),
         ("m011_timings_from_runs", "m010_runs_from_legs", "timings_from_runs")]


@pytest.mark.parametrize("name, after, _", STEPS)
def test_each_step_follows_the_one_before(name, after, _):
    names = [n for n, _ in MIGRATIONS]
    assert names.index(name) == names.index(after) + 1


@pytest.mark.parametrize("name", RUNS)
@pytest.mark.parametrize("step, _, function", STEPS)
def test_a_step_applied_twice_changes_nothing_and_a_migrated_run_opens_unchanged(recorded, name, step, _, function):
    from rewardsmith.archive import migrations

    root = recorded(name)
    assert step in RunStore(root).migrations_applied
    once = _dump(root)
    _apply(root, getattr(migrations, function))
    assert _dump(root) == once
    assert RunStore(root).migrations_applied == []
    assert _dump(root) == once


def test_a_run_made_by_todays_code_is_left_as_it_is_by_m009_to_m012(todays_run, tmp_path):
    from rewardsmith.archive.migrations import facts_once, normalization_from_final, runs_from_legs, timings_from_runs
    # (m013 and m014 add a column each: their data steps are checked on older runs)

    root = tmp_path / "copy"
    shutil.copytree(todays_run, root)
    before = _dump(root)
    _apply(root, facts_once, runs_from_legs, timings_from_runs, normalization_from_final)
    assert _dump(root) == before
