"""The run store's schema and data, one numbered step at a time (as simonw/llm's migrations.py): a step
is never edited once released, only followed by new ones. Each is SQL or a function of (connection, run
directory) that rewrites old data in place, so readers know only the current shape."""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
import time
from dataclasses import replace
from pathlib import Path

from ..errors import RunStoreError
from .old_shapes import _rewrite, final_summary, migrate_shapes

INITIAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS candidates (
    id TEXT PRIMARY KEY, seq INTEGER, generation INTEGER NOT NULL, parent TEXT, origin TEXT NOT NULL,
    code TEXT NOT NULL, code_hash TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
    verdict TEXT, fitness REAL, fitness_std REAL, seeds TEXT, timesteps INTEGER, steps_spent INTEGER,
    result TEXT, analysis TEXT, reflection TEXT, notes TEXT,
    created REAL NOT NULL, updated REAL NOT NULL, timings TEXT
);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL, generation INTEGER, purpose TEXT, model TEXT,
    messages TEXT, response TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, cost REAL,
    latency_s REAL, error TEXT, cached INTEGER, sample_index INTEGER, attempt INTEGER
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL, candidate TEXT, text TEXT NOT NULL,
    used_in_generation INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL, kind TEXT, data TEXT
);
CREATE TABLE IF NOT EXISTS final (
    subject TEXT NOT NULL, role TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL,
    fitness REAL, timesteps INTEGER, steps_spent INTEGER, reason TEXT, result TEXT, created REAL,
    PRIMARY KEY (subject, seed)
);
"""

GENERATIONS_POOLS_LEGS = """
CREATE TABLE IF NOT EXISTS generations (
    generation INTEGER PRIMARY KEY, designed REAL NOT NULL, proposals INTEGER, edits TEXT
);
CREATE TABLE IF NOT EXISTS training_pools (
    id INTEGER PRIMARY KEY AUTOINCREMENT, generation INTEGER NOT NULL, members TEXT NOT NULL,
    rungs TEXT NOT NULL, eta INTEGER NOT NULL, schedule TEXT NOT NULL, created REAL
);
CREATE TABLE IF NOT EXISTS legs (
    candidate TEXT NOT NULL, seed INTEGER NOT NULL, rung INTEGER NOT NULL, outcome TEXT NOT NULL,
    result TEXT, created REAL, PRIMARY KEY (candidate, seed, rung)
);
"""


def _backfill_generations_pools_legs(db: sqlite3.Connection, root: Path) -> None:
    """Release 0.1.0 kept these facts in the event log and in ``checkpoints/*.rungs.json``."""
    for row in db.execute("SELECT created, data FROM events WHERE kind = 'designed' ORDER BY id").fetchall():
        data = json.loads(row[1])
        db.execute("INSERT OR IGNORE INTO generations(generation, designed, proposals, edits) VALUES (?,?,?,?)",
                   (data["generation"], row[0], data.get("proposals"), json.dumps(data.get("edits", []))))
    for row in db.execute("SELECT created, data FROM events WHERE kind = 'training_pool' ORDER BY id").fetchall():
        data = json.loads(row[1])
        db.execute("INSERT INTO training_pools(generation, members, rungs, eta, schedule, created)"
                   " VALUES (?,?,?,?,?,?)", (data["generation"], json.dumps(data["ids"]), json.dumps(data["rungs"]),
                                             data["eta"], data.get("schedule", "halving"), row[0]))
    for path in sorted((root / "checkpoints").glob("*-seed*.rungs.json")):
        cid, _, seed = path.name[:-len(".rungs.json")].rpartition("-seed")
        state = json.loads(path.read_text())
        last = state.get("last") or {}
        last_rung = last.pop("rung", None)
        for rung, outcome in state.get("rungs", {}).items():
            result = last if last_rung is not None and int(rung) == int(last_rung) else None
            db.execute("INSERT OR IGNORE INTO legs(candidate, seed, rung, outcome, result, created)"
                       " VALUES (?,?,?,?,?,?)", (cid, int(seed), int(rung), json.dumps(outcome),
                                                 json.dumps(result) if result else None, time.time()))


def _final_normalization_within_noise(db: sqlite3.Connection, root: Path) -> None:
    """Runs before this step kept a human-normalized score even where the baseline and the sparse reward
    were within their noise (it divided by noise); the final scoring's summary is re-judged by today's
    rule (selection.normalized), its best by selection.final_best. (The summary is read in today's
    shape, old_shapes.final_summary: today's reader knows only that one, m008 rewrites the rest.)"""
    from .records import FinalSummary
    from .selection import final_best, normalized

    row = db.execute("SELECT value FROM meta WHERE key = 'final'").fetchone()
    if row is None:
        return
    summary = FinalSummary.from_json(final_summary(json.loads(row[0])))
    entries, reference, note = normalized(summary.entries)
    config_path = root / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    summary = replace(summary, entries=entries, best=final_best(entries, config), normalization_note=note,
                      normalization=reference)
    db.execute("UPDATE meta SET value = ? WHERE key = 'final'", (json.dumps(summary.to_json()),))


# a person's judgement of two candidates (``rewardsmith prefer``, the page): ``preferred`` over ``other``,
# or the two ``equal``, or ``unsure`` (looked and could not tell); ``withdrawn`` is set by an undo
PREFERENCES = """
CREATE TABLE IF NOT EXISTS preferences (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, preferred TEXT NOT NULL, other TEXT NOT NULL,
    outcome TEXT NOT NULL, reason TEXT, source TEXT, withdrawn REAL
)
"""

# a candidate recorded as a duplicate of an archived one (intake/duplicates.py): that candidate's id
DUPLICATES = "ALTER TABLE candidates ADD COLUMN duplicate_of TEXT"

# the island of the population a candidate belongs to (archive/population/islands.py); runs before islands
# had one population, so every candidate they hold is on island 0
ISLANDS = """
ALTER TABLE candidates ADD COLUMN island INTEGER;
UPDATE candidates SET island = 0
"""


# m009: each fact stored once. Where a stored record repeated a fact another place holds, the repeat is
# dropped and the reader fills it from that place (named here by keys, never by today's records, so the
# step rewrites the same way whatever the records become):
LEG_RESULT_SHARED = ("fitness", "episode_fitness", "timesteps", "trained_steps", "train_seconds", "wall_seconds",
                     "snapshots")  # a leg's result: its outcome holds these
FINAL_RESULT_COLUMNS = ("fitness", "timesteps", "trained_steps")  # a final seed's result: its row's columns
ANALYSIS_SCORE = ("fitness", "fitness_std", "seeds", "timesteps")  # an analysis: its candidate's columns
CONFIRMATION_DERIVED = ("search_fitness", "mean")  # a confirmation: its candidate's fitness, and the mean of two
# a final summary's entry: the final table's rows and its candidate's fitness (its id and normalized score stay)
FINAL_ENTRY_ELSEWHERE = ("role", "seeds", "failed", "per_seed", "fitness_mean", "fitness_std", "timesteps",
                         "search_fitness")


def _without(data, keys):
    return {k: v for k, v in data.items() if k not in keys} if isinstance(data, dict) else data


def _leg_once(outcome: dict, result: dict) -> tuple[dict, dict]:
    """A leg's outcome (given its episodes' fitness where only its result had them: release 0.1.0) and its
    result without what the outcome holds."""
    if "episode_fitness" not in outcome and "episode_fitness" in result:
        at = list(outcome).index("fitness") + 1 if "fitness" in outcome else len(outcome)
        items = list(outcome.items())
        outcome = dict(items[:at] + [("episode_fitness", result["episode_fitness"])] + items[at:])
    return outcome, _without(result, LEG_RESULT_SHARED)


def _confirmation_once(result):
    if not isinstance(result, dict) or not isinstance(result.get("confirmation"), dict):
        return result
    return {**result, "confirmation": _without(result["confirmation"], CONFIRMATION_DERIVED)}


def _final_once(summary):
    if not isinstance(summary, dict) or not isinstance(summary.get("entries"), list):
        return summary
    return {**summary, "entries": [_without(e, FINAL_ENTRY_ELSEWHERE) for e in summary["entries"]]}


def facts_once(db: sqlite3.Connection, root: Path) -> None:
    """Migration m009: each repeated fact dropped from the stored record that repeated it (see above)."""
    rows = db.execute("SELECT candidate, seed, rung, outcome, result FROM legs WHERE result IS NOT NULL").fetchall()
    for cid, seed, rung, outcome, result in rows:
        try:
            shaped = _leg_once(json.loads(outcome), json.loads(result))
        except (ValueError, AttributeError, TypeError):  # JSONDecodeError is a ValueError
            continue  # a damaged leg stays for the reader to name
        if [json.dumps(x) for x in shaped] != [outcome, result]:
            db.execute("UPDATE legs SET outcome = ?, result = ? WHERE candidate = ? AND seed = ? AND rung = ?",
                       (*map(json.dumps, shaped), cid, seed, rung))
    _rewrite(db, "SELECT subject, seed, result FROM final",
             "UPDATE final SET result = ? WHERE subject = ? AND seed = ?", lambda r: _without(r, FINAL_RESULT_COLUMNS))
    _rewrite(db, "SELECT id, analysis FROM candidates", "UPDATE candidates SET analysis = ? WHERE id = ?",
             lambda a: _without(a, ANALYSIS_SCORE))
    _rewrite(db, "SELECT id, result FROM candidates", "UPDATE candidates SET result = ? WHERE id = ?",
             _confirmation_once)
    _rewrite(db, "SELECT key, value FROM meta WHERE key = 'final'", "UPDATE meta SET value = ? WHERE key = ?",
             _final_once)


# m010: a candidate's kept seed results are its legs merged (a seed's result at the rung it stopped at: the
# last leg's result up to that rung, snapshots, steps and seconds summed over the legs up to it; training's
# merged_result). Each kept seed result keeps its seed and only the fields its legs do not hold (or hold with
# another value): all of them where the seed has no leg at that rung. Named by keys, as m009's are.
RUN_LEFT_OUT = ("trajectories", "checkpoint", "log_tail")  # files hold them


def _merged_legs(legs: dict[int, tuple[dict, dict | None]], rung: int) -> dict:
    """What a seed's stored ``legs`` (rung -> (outcome, result)) hold of its result at ``rung``, by field."""
    if rung not in legs:
        return {}
    upto = [legs[r] for r in sorted(legs) if r <= rung]
    last = next(((o, r) for o, r in reversed(upto) if r is not None), None)
    if last is not None:
        held = {**_without(last[1], RUN_LEFT_OUT), **{k: last[0][k] for k in LEG_RESULT_SHARED if k in last[0]}}
    else:
        held = {k: legs[rung][0][k] for k in ("fitness", "timesteps", "episode_fitness") if k in legs[rung][0]}
    trained = sum(o.get("trained_steps", 0) for o, _ in upto)
    seconds = sum(o.get("train_seconds", 0.0) for o, _ in upto)
    return {**held, "snapshots": [s for o, _ in upto for s in o.get("snapshots", [])], "trained_steps": trained,
            "train_seconds": seconds, "wall_seconds": sum(o.get("wall_seconds", 0.0) for o, _ in upto),
            "steps_per_second": trained / seconds if seconds else 0.0}


def _stored_legs(db: sqlite3.Connection) -> dict[tuple[str, int], dict[int, tuple[dict, dict | None]]]:
    """Every stored leg's outcome and result, by (candidate, seed) and rung (a damaged one left out)."""
    legs: dict[tuple[str, int], dict[int, tuple[dict, dict | None]]] = {}
    for cid, seed, rung, outcome, result in db.execute("SELECT candidate, seed, rung, outcome, result FROM legs"):
        try:
            stored = json.loads(outcome), json.loads(result) if result else None
        except ValueError:
            continue  # a damaged leg stays for the reader to name
        if isinstance(stored[0], dict) and (stored[1] is None or isinstance(stored[1], dict)):
            legs.setdefault((cid, seed), {})[rung] = stored
    return legs


def _rung(result: dict) -> int:
    """The halving rung a stored candidate result's seed results were measured at (0 without halving)."""
    halving = result.get("halving")
    return halving.get("rung", 0) if isinstance(halving, dict) else 0


def runs_from_legs(db: sqlite3.Connection, root: Path) -> None:
    """Migration m010: each candidate's kept seed results without what its legs hold (see above)."""
    legs = _stored_legs(db)

    def once(cid: str, result):
        if not isinstance(result, dict) or not isinstance(result.get("runs"), list):
            return result
        rung = _rung(result)
        runs = []
        for run in result["runs"]:
            if not isinstance(run, dict) or "seed" not in run:
                runs.append(run)
                continue
            held = _merged_legs(legs.get((cid, run["seed"]), {}), rung)
            runs.append({"seed": run["seed"], **{k: v for k, v in run.items()
                                                 if k != "seed" and (k not in held or held[k] != v)}})
        return {**result, "runs": runs}

    for cid, text in db.execute("SELECT id, result FROM candidates WHERE result IS NOT NULL").fetchall():
        try:
            stored = json.loads(text)
        except ValueError:
            continue
        shaped = once(cid, stored)
        if json.dumps(shaped) != json.dumps(stored):
            db.execute("UPDATE candidates SET result = ? WHERE id = ?", (json.dumps(shaped), cid))


# m011: a candidate's timings are its seed results' (wall and training seconds summed, the mean speed:
# records.Timings.of); the column keeps only timings they do not give (a failed training's wall time).
def timings_from_runs(db: sqlite3.Connection, root: Path) -> None:
    """Migration m011: a candidate's timings dropped where its seed results (m010's shape) give them."""
    legs = _stored_legs(db)
    rows = db.execute("SELECT id, result, timings FROM candidates WHERE result IS NOT NULL AND timings IS NOT NULL")
    for cid, result, timings in rows.fetchall():
        try:
            result, timings = json.loads(result), json.loads(timings)
            runs = [{**_merged_legs(legs.get((cid, run["seed"]), {}), _rung(result)), **run} for run in result["runs"]]
            given = {"wall_seconds": sum(r.get("wall_seconds") or 0.0 for r in runs),
                     "train_seconds": sum(r["train_seconds"] for r in runs),
                     "steps_per_second": statistics.fmean(r["steps_per_second"] for r in runs)}
        except (ValueError, KeyError, TypeError, AttributeError, statistics.StatisticsError):
            continue  # no seed results, or damaged: the timings stay as they are
        if timings == given:
            db.execute("UPDATE candidates SET timings = NULL WHERE id = ?", (cid,))


# m012: the final summary's normalization pair is its baseline's and sparse reward's fitness means, which the
# final table's rows give (records.FinalSummary.means, FinalEntry.of); stored as true where they give it.
def normalization_from_final(db: sqlite3.Connection, root: Path) -> None:
    """Migration m012: meta final's normalization pair replaced by true where the final table gives it."""
    row = db.execute("SELECT value FROM meta WHERE key = 'final'").fetchone()
    if row is None:
        return
    try:
        summary = json.loads(row[0])
        pair, seeds = summary["normalization"], summary["seeds"]
        ids = [e["id"] for e in summary["entries"]]
    except (ValueError, KeyError, TypeError):
        return  # damaged: left for the reader to name
    if not isinstance(pair, dict):
        return
    rows = db.execute("SELECT subject, role, seed, status, fitness FROM final ORDER BY created").fetchall()
    means = {}
    for subject in ids:
        mine = [r for r in rows if r[0] == subject and r[2] in seeds]
        values = [r[4] for r in mine if r[3] == "scored"]
        if mine and mine[0][1] in ("baseline", "sparse") and mine[0][1] not in means:
            means[mine[0][1]] = statistics.fmean(values) if values else None
    if pair == {"baseline": means.get("baseline"), "sparse": means.get("sparse")}:
        db.execute("UPDATE meta SET value = ? WHERE key = 'final'", (json.dumps({**summary, "normalization": True}),))


# m013: a duplicate's final-scoring seed (intake/duplicates.py: not trained) refers to the row of the subject it
# shares its fitness with (``same_as``) instead of copying its fitness and steps (meta final's ``duplicates``
# names each duplicate with its reason, "shares <id>'s fitness (...)": training/final.py shared_reason).
SHARES = re.compile(r"shares (\S+)'s fitness \(")


def final_duplicates_refer(db: sqlite3.Connection, root: Path) -> None:
    """Migration m013: the ``same_as`` column, and each duplicate's copied figures replaced by it."""
    db.execute("ALTER TABLE final ADD COLUMN same_as TEXT")
    row = db.execute("SELECT value FROM meta WHERE key = 'final'").fetchone()
    try:
        duplicates = json.loads(row[0]).get("duplicates") or {} if row else {}
        shared = {subject: SHARES.match(why) for subject, why in duplicates.items()}
    except (ValueError, AttributeError, TypeError):
        return  # damaged: left for the reader to name
    rows = {(s, seed): (status, fitness, timesteps, reason) for s, seed, status, fitness, timesteps, reason in
            db.execute("SELECT subject, seed, status, fitness, timesteps, reason FROM final")}
    for subject, found in shared.items():
        if found is None:
            continue
        for (s, seed), (status, fitness, timesteps, reason) in rows.items():
            if s == subject and reason == duplicates[subject] and \
                    rows.get((found.group(1), seed), (None,) * 3)[:3] == (status, fitness, timesteps):
                db.execute("UPDATE final SET same_as = ?, fitness = NULL, timesteps = NULL"
                           " WHERE subject = ? AND seed = ?", (found.group(1), subject, seed))


# m014: a leg's evaluation trajectories leave its result for a column of their own (the last), so a candidate's
# read, which fills its seed results from its legs' results in the same query, never reads them.
def leg_trajectories_apart(db: sqlite3.Connection, root: Path) -> None:
    """Migration m014: ``legs.trajectories``, moved there out of each leg's stored result."""
    db.execute("ALTER TABLE legs ADD COLUMN trajectories TEXT")
    for cid, seed, rung, text in db.execute("SELECT candidate, seed, rung, result FROM legs"
                                            " WHERE result LIKE '%\"trajectories\"%'").fetchall():
        try:
            result = json.loads(text)
            trajectories = result.pop("trajectories")
        except (ValueError, AttributeError, KeyError):
            continue  # damaged, or only the word: left as it is
        db.execute("UPDATE legs SET result = ?, trajectories = ? WHERE candidate = ? AND seed = ? AND rung = ?",
                   (json.dumps(result), json.dumps(trajectories) if trajectories else None, cid, seed, rung))


# The run store's schema, one numbered step at a time; a step is never edited once released, only
# followed by new ones. Each is SQL or a function of (connection, run directory).
MIGRATIONS = (
    ("m001_initial", INITIAL_SCHEMA),
    ("m002_generations_pools_legs", GENERATIONS_POOLS_LEGS),
    ("m003_backfill_from_events", _backfill_generations_pools_legs),
    ("m004_final_normalization_within_noise", _final_normalization_within_noise),
    ("m005_preferences", PREFERENCES),
    ("m006_duplicates", DUPLICATES),
    ("m007_islands", ISLANDS),
    ("m008_data_shapes", migrate_shapes),  # every stored record in today's shape (old_shapes.py)
    ("m009_facts_once", facts_once),  # each fact stored once: a repeat dropped, read from its one home
    ("m010_runs_from_legs", runs_from_legs),  # a candidate's kept seed results: from its legs
    ("m011_timings_from_runs", timings_from_runs),  # a candidate's timings: from its seed results
    ("m012_normalization_from_final", normalization_from_final),  # the normalization pair: from the final table
    ("m013_final_duplicates_refer", final_duplicates_refer),  # a duplicate's final seeds: its original's rows
    ("m014_leg_trajectories_apart", leg_trajectories_apart),  # a leg's trajectories: a column of their own
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection, root: Path) -> list[str]:
    """Applies the migrations ``db`` has not had, each in its own transaction; gives their names.
    Raises RunStoreError for a database written by a newer rewardsmith."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied REAL)")
    done = {r[0] for r in db.execute("SELECT name FROM migrations")}
    known = {name for name, _ in MIGRATIONS}
    if done - known:
        raise RunStoreError(
            f"{root} was written by a newer rewardsmith (its database has migrations {sorted(done - known)} "
            f"that this release does not know); upgrade rewardsmith to open it")
    applied = []
    for name, step in MIGRATIONS:
        if name in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            if callable(step):
                step(db, root)
            else:
                for statement in filter(str.strip, step.split(";")):
                    db.execute(statement)
            db.execute("INSERT INTO migrations(name, applied) VALUES (?, ?)", (name, time.time()))
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        applied.append(name)
    return applied
