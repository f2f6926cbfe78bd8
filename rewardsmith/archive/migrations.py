"""The run store's schema and data, one numbered step at a time (as simonw/llm's migrations.py): a step
is never edited once released, only followed by new ones. Each is SQL or a function of (connection, run
directory) that rewrites old data in place, so readers know only the current shape."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from ..errors import RunStoreError
from .old_shapes import final_summary, migrate_shapes

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
