"""The run store: one directory per run, an SQLite database plus per-candidate files.

Layout of a run directory::

    config.json            the run's configuration (written once, atomically)
    task.py                a copy of the task file, so a run resumes even if the original moves
    run.db                 SQLite (WAL): candidates, generations, training pools and their legs,
                           final scoring, llm_calls, feedback, events; versioned (see MIGRATIONS)
    candidates/<id>.py     each candidate's reward code
    candidates/<id>.log    its training progress log
    candidates/<id>.traj.json.gz   evaluation trajectories (for analysis and reports)

Every state change is one committed transaction and every file is written to a temporary name and
renamed, so a ``kill -9`` at any moment leaves a consistent run that ``--resume`` can continue.

What a resumed run does is decided by explicit tables (``generations``: which generations were designed;
``training_pools``: which candidates train together and on which rungs; ``legs``: each finished halving
rung of each seed), never by the event log, which is a history for people. The database carries its
schema version as the list of migrations applied to it (``migrations``, as simonw/llm does): opening
an older run directory applies the missing ones, so a run written by any earlier release opens,
shows and resumes; one written by a newer release is refused with a clear error.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from ..errors import RunStoreError
from .candidates import (DONE, FAILED, PENDING, REJECTED, SCORED, TRAINING,  # noqa: F401
                         Candidate, TrainingPool, budget_fraction, code_hash, full_budget, gzip_json,
                         read_gzip_json, write_atomic)
from .migrations import MIGRATIONS, SCHEMA_VERSION, migrate  # noqa: F401
from .records import Analysis, CandidateResult, CriticVerdict, FinalRun, FinalSummary, Leg, Timings, Trajectory

PREFERENCE_OUTCOMES = ("better", "equal", "unsure")
JSON_COLUMNS = ("verdict", "seeds", "result", "analysis", "timings")
# the JSON columns that hold a record: each class has to_json() and from_json(data)
RECORD_COLUMNS: dict[str, Any] = {"verdict": CriticVerdict, "result": CandidateResult, "analysis": Analysis,
                                  "timings": Timings}
# the records that repeated the candidate's score: stored without it (stored_json), read with it (_decode)
SCORE_READERS = ("result", "analysis")
SCORE_COLUMNS = ("fitness", "fitness_std", "seeds", "timesteps")


# a candidate's row with its legs (seed, rung, outcome, result) as one JSON array: its kept seed results are
# filled from them (CandidateResult.from_stored) in the same read
CANDIDATE_ROWS = ("SELECT *, (SELECT json_group_array(json_array(seed, rung, outcome, result)) FROM legs"
                  " WHERE legs.candidate = candidates.id) AS legs FROM candidates")


# SQLite's column affinity, as ``candidates`` declares it: what a value written there reads back as
REAL_COLUMNS = ("fitness", "fitness_std", "created", "updated")
INTEGER_COLUMNS = ("seq", "generation", "timesteps", "steps_spent", "island")


def _as_stored(key: str, value):
    """``value`` as the candidates table gives it back (a column's affinity; NaN is stored as NULL)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):
        value = int(value)
    if key in REAL_COLUMNS and isinstance(value, (int, float)):
        return float(value)
    if key in INTEGER_COLUMNS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _encoded(key: str, value):
    """A JSON column's value as stored: a record by its stored form (without what other columns hold)."""
    if key in SCORE_READERS:
        return value.stored_json()
    return value.to_json() if key in RECORD_COLUMNS else value


class RunStore:
    """A run directory: open an existing one, or create it with ``RunStore.create``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not (self.root / "run.db").is_file():
            raise RunStoreError(f"{self.root} is not a rewardsmith run (no run.db in it)")
        self._lock = threading.RLock()
        self.db = sqlite3.connect(self.root / "run.db", check_same_thread=False, isolation_level=None,
                                  timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self.migrations_applied = migrate(self.db, self.root)

    @classmethod
    def create(cls, root: str | Path, config: dict, task_file: Path) -> "RunStore":
        root = Path(root)
        if (root / "run.db").exists():
            raise RunStoreError(f"{root} already holds a run; use --resume {root} to continue it")
        (root / "candidates").mkdir(parents=True, exist_ok=True)
        write_atomic(root / "task.py", Path(task_file).read_bytes())
        write_atomic(root / "config.json", json.dumps(config, indent=2))
        sqlite3.connect(root / "run.db").close()
        store = cls(root)
        store.set_meta("status", "created")
        store.event("created", {"config": config})
        return store

    # ------------------------------------------------------------------ meta, config, events

    @property
    def config(self) -> dict:
        try:
            return json.loads((self.root / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunStoreError(f"{self.root}/config.json is missing or damaged: {exc}") from exc

    def update_config(self, config: dict) -> None:
        """Rewrites config.json (resume extending a run); the change is logged as an event."""
        write_atomic(self.root / "config.json", json.dumps(config, indent=2))
        self.event("config", {"config": config})

    def set_meta(self, key: str, value) -> None:
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def meta(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def event(self, kind: str, data: dict | None = None) -> None:
        with self._lock:
            self.db.execute("INSERT INTO events(created, kind, data) VALUES (?, ?, ?)",
                            (time.time(), kind, json.dumps(data or {})))

    def events(self, kind: str | None = None) -> list[dict]:
        query = "SELECT * FROM events" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
        rows = self.db.execute(query, (kind,) if kind else ()).fetchall()
        return [{"created": r["created"], "kind": r["kind"], **json.loads(r["data"])} for r in rows]

    # ------------------------------------------------------------------ generations, pools, legs

    def mark_designed(self, generation: int, proposals: int, edits: list[str]) -> None:
        """Records that ``generation`` was designed (``edits``: the hand edits its prompt carried)."""
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO generations(generation, designed, proposals, edits)"
                            " VALUES (?,?,?,?)", (generation, time.time(), proposals, json.dumps(edits)))

    def designed(self, generation: int) -> bool:
        """Whether ``generation``'s design phase finished (a resumed run does not design it again)."""
        return self.db.execute("SELECT 1 FROM generations WHERE generation = ?", (generation,)).fetchone() \
            is not None

    def designed_generations(self) -> list[int]:
        return [g for (g,) in self.db.execute("SELECT generation FROM generations ORDER BY generation")]

    def edits_shown(self) -> set[str]:
        """Ids of hand edits some generation's prompt already carried."""
        return {cid for (edits,) in self.db.execute("SELECT edits FROM generations")
                for cid in json.loads(edits or "[]")}

    def add_training_pool(self, generation: int, members: list[str], rungs: list[int], eta: int,
                          schedule: str) -> "TrainingPool":
        """Records a pool of candidates that train together, before it starts (a resumed run replays it)."""
        with self._lock:
            cur = self.db.execute(
                "INSERT INTO training_pools(generation, members, rungs, eta, schedule, created) VALUES (?,?,?,?,?,?)",
                (generation, json.dumps(members), json.dumps(rungs), eta, schedule, time.time()))
        return TrainingPool(cast(int, cur.lastrowid), generation, list(members), list(rungs), eta, schedule)

    def training_pools(self, generation: int | None = None) -> list["TrainingPool"]:
        query = "SELECT * FROM training_pools" + (" WHERE generation = ?" if generation is not None else "")
        rows = self.db.execute(query + " ORDER BY id", (generation,) if generation is not None else ())
        return [TrainingPool(r["id"], r["generation"], json.loads(r["members"]), json.loads(r["rungs"]),
                             r["eta"], r["schedule"]) for r in rows]

    def save_leg(self, cid: str, seed: int, rung: int, leg: Leg) -> Leg:
        """Records one finished leg (one seed trained up to one halving rung): its outcome, and the
        seed's result at that rung; gives the leg as ``legs`` would read it back (built in memory)."""
        result, trajectories = leg.result_json(), leg.trajectories_json()
        outcome, kept = json.dumps(leg.to_json()), json.dumps(result) if result is not None else None
        recorded = json.dumps(trajectories) if trajectories is not None else None
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO legs(candidate, seed, rung, outcome, result, created, trajectories)"
                            " VALUES (?,?,?,?,?,?,?)", (cid, seed, rung, outcome, kept, time.time(), recorded))
        return Leg.from_json(json.loads(outcome), json.loads(kept) if kept else None,
                             json.loads(recorded) if recorded else None)

    def legs(self, cid: str, seed: int) -> dict[int, Leg]:
        """The finished legs of one candidate's seed, by rung."""
        rows = self.db.execute("SELECT rung, outcome, result, trajectories FROM legs WHERE candidate = ? AND seed = ?"
                               " ORDER BY rung", (cid, seed))
        legs = {}
        for r in rows:
            try:
                result, trajectories = (json.loads(r[k]) if r[k] else None for k in ("result", "trajectories"))
                legs[r["rung"]] = Leg.from_json(json.loads(r["outcome"]), result, trajectories)
            except RunStoreError as exc:
                raise RunStoreError(f"candidate {cid} seed {seed} rung {r['rung']} in {self.root}: {exc}") from None
        return legs

    # ------------------------------------------------------------------ candidates

    def new_id(self, parent: str | None = None, edit: bool = False) -> str:
        with self._lock:
            if edit and parent:
                taken = {r["id"] for r in self.db.execute("SELECT id FROM candidates WHERE id LIKE ?",
                                                         (f"{parent}e%",))}
                n = 1
                while f"{parent}e{n}" in taken:
                    n += 1
                return f"{parent}e{n}"
            row = self.db.execute("SELECT COALESCE(MAX(seq), -1) + 1 AS n FROM candidates").fetchone()
            return f"c{row['n']}"

    def add_candidate(self, generation: int, code: str, origin: str, parent: str | None = None,
                      status: str = PENDING, reason: str | None = None, verdict: CriticVerdict | None = None,
                      notes: str | None = None, candidate_id: str | None = None,
                      island: int | None = None) -> Candidate:
        """Records a new candidate (its code file first, then its row) and returns it as written (``island``:
        the population's island it joins, population.island_for)."""
        with self._lock:
            cid = candidate_id or self.new_id()
            seq = self.db.execute("SELECT COALESCE(MAX(seq), -1) + 1 AS n FROM candidates").fetchone()["n"]
            write_atomic(self.root / "candidates" / f"{cid}.py", code)
            now = time.time()
            row = {"id": cid, "seq": seq, "generation": generation, "parent": parent, "origin": origin,
                   "code": code, "code_hash": code_hash(code), "status": status, "reason": reason,
                   "verdict": json.dumps(verdict.to_json()) if verdict is not None else None, "notes": notes,
                   "created": now, "updated": now, "island": island}
            self.db.execute(f"INSERT INTO candidates({', '.join(row)}) VALUES ({','.join('?' * len(row))})",
                            tuple(row.values()))
        return Candidate(**{k: self._decode(cid, k, _as_stored(k, v)) for k, v in row.items()})

    def update(self, candidate: Candidate | str, **fields) -> Candidate:
        """Sets columns of one candidate in one transaction (records and the seeds list stored as JSON);
        gives the candidate as ``candidate(id)`` would read it back: built in memory from ``candidate``
        (the caller's current record) through the same codec, or read back when only an id is given."""
        cid = candidate if isinstance(candidate, str) else candidate.id
        for key, record in RECORD_COLUMNS.items():
            if fields.get(key) is not None and not isinstance(fields[key], record):
                raise TypeError(f"a candidate's {key} is a {record.__name__}, not a {type(fields[key]).__name__}")
        kept = dict(fields)
        if fields.get("timings") is not None:  # kept only where the seed results do not give them
            kept["timings"] = Timings.stored(fields["timings"], fields["result"] if "result" in fields else
                                             None if isinstance(candidate, str) else candidate.result)
        values = [json.dumps(_encoded(k, v)) if k in JSON_COLUMNS and v is not None else v for k, v in kept.items()]
        now = time.time()
        if fields:
            assignments = ", ".join(f"{k} = ?" for k in fields)
            with self._lock:
                cur = self.db.execute(f"UPDATE candidates SET {assignments}, updated = ? WHERE id = ?",
                                      (*values, now, cid))
                if cur.rowcount != 1:
                    raise RunStoreError(f"no candidate {cid!r} in {self.root}")
        if isinstance(candidate, str):
            return self.candidate(cid)
        if not fields:
            return candidate
        stored = {k: _as_stored(k, v) for k, v in zip(fields, values)}
        if fields.get("result") is not None:  # as read back: its seed results filled from the legs they merge
            stored["result"] = json.dumps(fields["result"].to_json())
        plain = {k: self._decode(cid, k, v) for k, v in stored.items() if k not in SCORE_READERS}
        columns = {**{k: getattr(candidate, k) for k in SCORE_COLUMNS}, **plain}
        if not set(SCORE_COLUMNS) & set(fields):  # the records held keep their score
            records = {k: self._decode(cid, k, v, columns) for k, v in stored.items() if k in SCORE_READERS}
        else:  # read back, every record that reads the score reads the new one
            held = {k: getattr(candidate, k) for k in SCORE_READERS}
            as_held = {k: None if v is None else json.dumps(v.to_json() if k == "result" else _encoded(k, v))
                       for k, v in held.items()}  # a result held has its seed results whole
            records = {k: self._decode(cid, k, stored[k] if k in stored else as_held[k], columns)
                       for k in SCORE_READERS}
        if "timings" in fields or "result" in fields:  # as given, else those its seed results give (as read back)
            plain["timings"] = Timings.read(fields.get("timings", candidate.timings),
                                            records.get("result", candidate.result))
        return replace(candidate, **plain, **records, updated=now)

    def candidate(self, cid: str) -> Candidate:
        row = self.db.execute(CANDIDATE_ROWS + " WHERE id = ?", (cid,)).fetchone()
        if row is None:
            ids = ", ".join(c.id for c in self.candidates()) or "(none)"
            raise RunStoreError(f"no candidate {cid!r} in {self.root}; candidates: {ids}")
        return self._row(row)

    def candidates(self, generation: int | None = None, status=None) -> list[Candidate]:
        query, args = CANDIDATE_ROWS, []
        clauses = []
        if generation is not None:
            clauses.append("generation = ?")
            args.append(generation)
        if status is not None:
            statuses = (status,) if isinstance(status, str) else tuple(status)
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            args += statuses
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        return [self._row(r) for r in self.db.execute(query + " ORDER BY seq", args)]

    def by_hash(self, digest: str) -> Candidate | None:
        row = self.db.execute(CANDIDATE_ROWS + " WHERE code_hash = ? ORDER BY seq LIMIT 1",
                              (digest,)).fetchone()
        return self._row(row) if row else None

    def best(self, exclude_origins: tuple[str, ...] = ()) -> Candidate | None:
        """The best scored candidate, ``exclude_origins`` left out (``selection.best_of``)."""
        from .selection import best_of

        return best_of(self.candidates(status=SCORED), exclude_origins)

    def best_of_run(self) -> Candidate | None:
        """The run's best (defined once, in ``selection.best_of_run``)."""
        from .selection import best_of_run

        return best_of_run(self)

    def baseline(self) -> Candidate | None:
        return next((c for c in self.candidates() if c.origin == "baseline"), None)

    def _row(self, row) -> Candidate:
        """A row of ``CANDIDATE_ROWS`` as a candidate (its kept seed results filled from its legs)."""
        data = dict(row)
        legs = Leg.held_by(json.loads(data.pop("legs", None) or "[]"))
        plain = {k: self._decode(data["id"], k, v) for k, v in data.items() if k not in SCORE_READERS}
        records = {k: self._decode(data["id"], k, data[k], plain, legs) for k in SCORE_READERS}
        return Candidate(**{**plain, "timings": Timings.read(plain["timings"], records["result"])}, **records)

    def _decode(self, cid: str, key: str, value, columns: dict | None = None, legs=None):
        """One stored column's value as a ``Candidate`` holds it (a JSON column decoded, a record built);
        ``columns``: the candidate's decoded score columns, for the records that read them (SCORE_READERS);
        ``legs``: what its legs hold (``Leg.held_by``), for its kept seed results."""
        if key not in JSON_COLUMNS or value is None:
            return value
        value = json.loads(value)
        if key in RECORD_COLUMNS:
            try:
                if key == "analysis":
                    return Analysis.from_stored(value, **{k: cast(dict, columns)[k] for k in SCORE_COLUMNS})
                if key == "result":
                    return CandidateResult.from_stored(value, cast(dict, columns)["fitness"], legs)
                return RECORD_COLUMNS[key].from_json(value)
            except RunStoreError as exc:
                raise RunStoreError(f"candidate {cid} in {self.root}: {exc}") from None
        return value

    # ------------------------------------------------------------------ per-candidate files

    def write_trajectories(self, cid: str, trajectories: list[Trajectory]) -> None:
        write_atomic(self.root / "candidates" / f"{cid}.traj.json.gz",
                     gzip_json([t.to_json() for t in trajectories]))

    def trajectories(self, cid: str) -> list[Trajectory]:
        """A candidate's kept evaluation trajectories (none when it kept none)."""
        path = self.root / "candidates" / f"{cid}.traj.json.gz"
        if not path.is_file():
            return []
        try:
            return [Trajectory.from_json(t) for t in read_gzip_json(path)]
        except RunStoreError as exc:
            raise RunStoreError(f"{path}: {exc}") from None

    def append_log(self, cid: str, line: str) -> None:
        with self._lock, open(self.root / "candidates" / f"{cid}.log", "a") as fh:
            fh.write(line.rstrip("\n") + "\n")

    def checkpoint_path(self, cid: str, seed: int) -> Path:
        return self.root / "checkpoints" / f"{cid}-seed{seed}.json"

    # ------------------------------------------------------------------ final multi-seed scoring

    def add_final_run(self, run: FinalRun) -> None:
        """Records one seed of the final scoring (its ``created`` is the time it is recorded)."""
        result = run.result_json()
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO final(subject, role, seed, status, fitness, timesteps, steps_spent,"
                " reason, result, created, same_as) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run.subject, run.role, run.seed, run.status, run.fitness, run.timesteps, run.steps_spent, run.reason,
                 json.dumps(result) if result is not None else None, time.time(), run.same_as))

    def set_final(self, summary: FinalSummary) -> None:
        """Keeps the final multi-seed scoring's summary (meta ``final``)."""
        self.set_meta("final", summary.stored_json())

    def final(self) -> FinalSummary | None:
        """The final multi-seed scoring's summary, or None when the run has none (yet)."""
        data = self.meta("final")
        if not data:
            return None
        fitness = dict(self.db.execute("SELECT id, fitness FROM candidates").fetchall())
        try:
            return FinalSummary.from_stored(data, self.final_runs(), fitness)
        except RunStoreError as exc:
            raise RunStoreError(f"{self.root}: {exc}") from None

    def final_runs(self) -> list[FinalRun]:
        """Every seed of the final scoring recorded so far, oldest first (a duplicate's: ``FinalRun.referred``)."""
        runs = []
        for r in self.db.execute("SELECT * FROM final ORDER BY created").fetchall():
            try:
                runs.append(FinalRun.from_json(dict(r, result=json.loads(r["result"]) if r["result"] else None)))
            except RunStoreError as exc:
                raise RunStoreError(f"final scoring of {r['subject']} seed {r['seed']} in {self.root}: {exc}") from None
        try:
            return FinalRun.referred(runs)
        except RunStoreError as exc:
            raise RunStoreError(f"{self.root}: {exc}") from None

    # ------------------------------------------------------------------ llm calls and feedback

    def record_llm_call(self, record: dict, generation: int | None = None) -> None:
        with self._lock:
            self.db.execute(
                "INSERT INTO llm_calls(created, generation, purpose, model, messages, response, prompt_tokens,"
                " completion_tokens, cost, latency_s, error, cached, sample_index, attempt)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (time.time(), generation, record.get("purpose"), record.get("model"),
                 json.dumps(record.get("messages")), record.get("response"), record.get("prompt_tokens"),
                 record.get("completion_tokens"), record.get("cost"), record.get("latency_s"),
                 record.get("error"), int(bool(record.get("cached"))), record.get("sample_index"),
                 record.get("attempt")))

    def llm_calls(self) -> list[dict]:
        rows = self.db.execute("SELECT * FROM llm_calls ORDER BY id").fetchall()
        return [dict(r, messages=json.loads(r["messages"] or "null")) for r in rows]

    def llm_totals(self) -> dict:
        row = self.db.execute(
            "SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens),0) AS prompt_tokens, "
            "COALESCE(SUM(completion_tokens),0) AS completion_tokens, "
            "COALESCE(SUM(CASE WHEN cached = 0 THEN cost END),0) AS cost, "
            "COALESCE(SUM(cached),0) AS cached FROM llm_calls").fetchone()
        return dict(row)

    def add_feedback(self, text: str, candidate: str | None = None) -> int:
        if candidate is not None:
            self.candidate(candidate)  # a clear error for an unknown id
        with self._lock:
            cur = self.db.execute("INSERT INTO feedback(created, candidate, text) VALUES (?, ?, ?)",
                                  (time.time(), candidate, text))
        return cast(int, cur.lastrowid)  # an INSERT's row id

    def feedback(self, unused_only: bool = False) -> list[dict]:
        query = "SELECT * FROM feedback" + (" WHERE used_in_generation IS NULL" if unused_only else "")
        return [dict(r) for r in self.db.execute(query + " ORDER BY id")]

    def mark_feedback_used(self, ids: list[int], generation: int) -> None:
        with self._lock:
            self.db.executemany("UPDATE feedback SET used_in_generation = ? WHERE id = ?",
                                [(generation, i) for i in ids])

    # ------------------------------------------------------------------ preferences (people comparing two)

    def add_preference(self, preferred: str, other: str, outcome: str = "better", reason: str | None = None,
                       source: str = "cli") -> int:
        """Records a person's judgement of two candidates: ``preferred`` better than ``other``
        (``outcome`` "better"), the two "equal", or "unsure"; gives its id."""
        if outcome not in PREFERENCE_OUTCOMES:
            raise RunStoreError(f"a preference's outcome is one of {', '.join(PREFERENCE_OUTCOMES)}, not {outcome!r}")
        if preferred == other:
            raise RunStoreError(f"a preference compares two different candidates; got {preferred!r} twice")
        for cid in (preferred, other):
            self.candidate(cid)  # a clear error for an unknown id
        with self._lock:
            cur = self.db.execute("INSERT INTO preferences(created, preferred, other, outcome, reason, source)"
                                  " VALUES (?,?,?,?,?,?)", (time.time(), preferred, other, outcome, reason, source))
        return cast(int, cur.lastrowid)  # an INSERT's row id

    def withdraw_preference(self, pid: int) -> bool:
        """Undoes a preference (kept, marked withdrawn); False when there is no such standing preference."""
        with self._lock:
            cur = self.db.execute("UPDATE preferences SET withdrawn = ? WHERE id = ? AND withdrawn IS NULL",
                                  (time.time(), pid))
        return cur.rowcount == 1

    def preferences(self, withdrawn: bool = False) -> list[dict]:
        """The recorded preferences, oldest first (the withdrawn ones too with ``withdrawn``)."""
        query = "SELECT * FROM preferences" + ("" if withdrawn else " WHERE withdrawn IS NULL")
        return [dict(r) for r in self.db.execute(query + " ORDER BY id")]

    def close(self) -> None:
        self.db.close()
