"""The stored JSON records' older shapes (release 0.1.0 and the development runs before this step),
rewritten once into today's by migration ``m008_data_shapes``, so the readers (``records/*.py``) know
only the current shape.

What an older release stored differently: keys today's writer always writes were left out (the readers
used to assume a value: a snapshot's ``elapsed`` 0, an episode's ``terminated`` false, a finding's
``brief`` "", an analysis's ``diagnosis`` null, a final entry's ``seeds`` 0, ...), and keys came in
another order (0.1.0 wrote a snapshot's "elapsed" last and an episode's "return" before its native
return). Each spec below lists a record's keys in today's order with the value an absent key gets
(``KEEP``: none; an optional key stays absent, a required one is left for the reader to name). Keys
today's records do not know are kept, after the known ones (the readers ignore them).

The run directory's JSON files (evaluation trajectories, the random policy's episodes) need nothing:
every key a trajectory may lack is optional in today's shape too (``obs`` before release 0.2, a replayed
reward before it was replayed). This module names keys, never today's records, so the migration
rewrites the same way whatever the records become.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

KEEP = object()  # no value for an absent key
Spec = tuple[tuple[str, Any], ...]  # (key, the value an absent key gets), in today's order

SNAPSHOT = (("step", KEEP), ("reward_per_step", KEEP), ("native_per_step", KEEP), ("components", KEEP),
            ("episodes", KEEP), ("elapsed", 0.0), ("fitness", None), ("episode_return", None),
            ("episode_length", None))
EPISODE = (("fitness", KEEP), ("length", KEEP), ("native_return", KEEP), ("terminated", False),
           ("truncated", False), ("return", KEEP))
TRAJECTORY = tuple((key, KEEP) for key in ("fields", "obs", "actions", "native_rewards", "terminated", "truncated",
                                           "max_steps", "action_low", "action_high", "rewards", "components",
                                           "fitness"))
SEED_RESULT: Spec = (("seed", KEEP), ("fitness", KEEP), ("episode_fitness", KEEP), ("timesteps", KEEP),
                     ("steps_per_second", 0.0), ("train_seconds", 0.0), ("snapshots", []), ("episodes", []),
                     ("trajectories", KEEP), ("stopped_early", None), ("checkpoint", KEEP), ("log_tail", KEEP),
                     ("trained_steps", None), ("worker", None), ("wall_seconds", None))
COMPONENT_TREND: Spec = (("series", []), ("final", KEEP))
CONFIRMATION = (("seed", KEEP), ("fitness", None), ("search_fitness", None), ("mean", None), ("against", KEEP),
                ("against_mean", KEEP), ("confirmed", KEEP))
FINDING: Spec = (("name", KEEP), ("message", KEEP), ("evidence", KEEP), ("brief", ""), ("subjects", []))
FINAL_ENTRY: Spec = (("id", KEEP), ("role", None), ("seeds", 0), ("failed", 0), ("per_seed", []), ("fitness_mean", None),
                     ("fitness_std", None), ("timesteps", None), ("search_fitness", KEEP), ("normalized", None))
FINAL_SUMMARY = (("seeds", KEEP), ("timesteps", None), ("entries", KEEP), ("best", None), ("normalization", None),
                 ("normalization_note", KEEP))


def _shaped(data, spec, **nested):
    """``data`` with ``spec``'s keys first, in its order, an absent one (or a null list) given its value;
    then the keys ``spec`` does not name; ``nested``: a key's value rewritten by a function."""
    if not isinstance(data, dict):
        return data  # the reader names what is wrong with it
    out = {}
    for key, default in spec:
        if key in data and not (data[key] is None and isinstance(default, list)):
            out[key] = data[key]
        elif default is not KEEP:
            out[key] = copy.deepcopy(default)
    for key, value in data.items():
        out.setdefault(key, value)
    for key, fix in nested.items():
        if out.get(key) is not None:
            out[key] = fix(out[key])
    return out


def _each(fix):
    return lambda values: [fix(v) for v in values] if isinstance(values, list) else values


def snapshot(data):
    return _shaped(data, SNAPSHOT)


def seed_result(data):
    return _shaped(data, SEED_RESULT, snapshots=_each(snapshot), episodes=_each(lambda e: _shaped(e, EPISODE)),
                   trajectories=_each(lambda t: _shaped(t, TRAJECTORY)))


def candidate_result(data):
    components = lambda table: {k: _shaped(v, COMPONENT_TREND) for k, v in table.items()} \
        if isinstance(table, dict) else table  # noqa: E731
    return _shaped(data, (), runs=_each(seed_result), components=components,
                   confirmation=lambda c: _shaped(c, CONFIRMATION))


def analysis(data):
    if not isinstance(data, dict):
        return data
    return _shaped({**data, "diagnosis": data.get("diagnosis")}, (), findings=_each(lambda f: _shaped(f, FINDING)))


def leg_outcome(data):
    return _shaped(data, (), snapshots=_each(snapshot))


def final_entry(data):
    shaped = _shaped(data, FINAL_ENTRY)
    if isinstance(shaped, dict) and shaped.get("id") != "sparse" and "search_fitness" not in shaped:
        # every entry but the sparse reward's has a search fitness (null when unknown), before "normalized"
        shaped = {**{k: v for k, v in shaped.items() if k != "normalized"}, "search_fitness": None,
                  **({"normalized": shaped["normalized"]} if "normalized" in shaped else {})}
    return shaped


def final_summary(data):
    return _shaped(data, FINAL_SUMMARY, entries=_each(final_entry))


def halving_decision(data):
    """A ``halving_decision`` event's data: the cut rule's (with scores) always names the random fitness."""
    if not isinstance(data, dict) or "scores" not in data or "random_fitness" in data:
        return data
    out = {}
    for key, value in data.items():
        out[key] = value
        if key == "noise":
            out["random_fitness"] = None
    out.setdefault("random_fitness", None)
    return out


def _rewrite(db: sqlite3.Connection, select: str, update: str, fix) -> None:
    """Runs ``fix`` over one JSON column of each row ``select`` gives as (key..., text); writes back the
    rows it changed with ``update`` (text, key...)."""
    for *key, text in db.execute(select).fetchall():
        if text is None:
            continue
        try:
            stored = json.loads(text)
        except json.JSONDecodeError:
            continue  # a damaged value stays for the reader to name
        shaped = fix(stored)
        if json.dumps(shaped) != json.dumps(stored):
            db.execute(update, (json.dumps(shaped), *key))


def migrate_shapes(db: sqlite3.Connection, root: Path) -> None:
    """Migration m008: every stored record in today's shape (see the module doc)."""
    _rewrite(db, "SELECT id, result FROM candidates", "UPDATE candidates SET result = ? WHERE id = ?",
             candidate_result)
    _rewrite(db, "SELECT id, analysis FROM candidates", "UPDATE candidates SET analysis = ? WHERE id = ?", analysis)
    _rewrite(db, "SELECT candidate, seed, rung, outcome FROM legs",
             "UPDATE legs SET outcome = ? WHERE candidate = ? AND seed = ? AND rung = ?", leg_outcome)
    _rewrite(db, "SELECT candidate, seed, rung, result FROM legs",
             "UPDATE legs SET result = ? WHERE candidate = ? AND seed = ? AND rung = ?", seed_result)
    _rewrite(db, "SELECT subject, seed, result FROM final", "UPDATE final SET result = ? WHERE subject = ? AND seed = ?",
             seed_result)
    _rewrite(db, "SELECT key, value FROM meta WHERE key = 'final'", "UPDATE meta SET value = ? WHERE key = ?",
             final_summary)
    _rewrite(db, "SELECT id, data FROM events WHERE kind = 'halving_decision'", "UPDATE events SET data = ? WHERE id = ?",
             halving_decision)
