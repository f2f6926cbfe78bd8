"""What the page shows, as JSON, read from the run store (the run may be written by another process).

Every string that came from reward code, a model or a person (code, component names, reasons,
analysis, reflection, feedback, preference reasons) goes through ``untrusted.printable`` here, so
control, bidirectional and zero-width characters arrive visible (``\\u202e``); the page then puts text
into the document only as text (``textContent``), never as markup.
"""

from __future__ import annotations

import io
import math
import os
import re
from pathlib import Path
from typing import cast

from ...archive.store import SCORED, TRAINING, Candidate, RunStore
from ...untrusted import printable

VIDEO_NAME = re.compile(r"gen(\d+)-(.+)\.(gif|mp4|webm)")
EVENTS_SHOWN = 40  # the latest events the page lists


def fingerprint(store: RunStore) -> tuple:
    """Changes whenever anything the page shows changes: events, candidates, preferences, feedback,
    the run's meta (status, final scoring), its videos, and the training logs of candidates in training
    (their progress)."""
    db = store.db
    parts = [db.execute("SELECT MAX(id) FROM events").fetchone()[0],
             *db.execute("SELECT COUNT(*), MAX(updated) FROM candidates").fetchone(),
             *db.execute("SELECT COUNT(*), MAX(id), COUNT(withdrawn) FROM preferences").fetchone(),
             db.execute("SELECT MAX(id) FROM feedback").fetchone()[0],
             hash(tuple(db.execute("SELECT key, value FROM meta ORDER BY key").fetchall())),
             tuple(sorted(os.listdir(store.root / "videos"))) if (store.root / "videos").is_dir() else ()]
    for (cid,) in db.execute("SELECT id FROM candidates WHERE status = ?", (TRAINING,)):
        log = store.root / "candidates" / f"{cid}.log"
        parts.append(log.stat().st_size if log.is_file() else 0)
    return tuple(parts)


def num(x) -> float | None:
    """A JSON-safe number (None for missing or not finite)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def text(x) -> str | None:
    return None if x is None else printable(x)


def videos(store: RunStore) -> dict[str, str]:
    """Each candidate's latest video file name in ``<run>/videos`` (by generation)."""
    folder = store.root / "videos"
    found: dict[str, tuple[int, str]] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            m = VIDEO_NAME.fullmatch(path.name)
            if m and (m.group(2) not in found or int(m.group(1)) > found[m.group(2)][0]):
                found[m.group(2)] = (int(m.group(1)), path.name)
    return {cid: name for cid, (_, name) in found.items()}


def progress(store: RunStore, c: Candidate, budget: int | None) -> dict | None:
    """How far a training candidate is: the last step its log reports ({"step", "fraction"})."""
    log = store.root / "candidates" / f"{c.id}.log"
    if c.status != TRAINING or not log.is_file():
        return None
    with open(log, "rb") as fh:
        fh.seek(max(0, log.stat().st_size - 4096))
        lines = fh.read().decode(errors="replace").splitlines()
    steps = [int(m.group(1)) for line in lines if (m := re.search(r"\bstep=(\d+)", line))]
    if not steps:
        return None
    return {"step": steps[-1], "fraction": min(1.0, steps[-1] / budget) if budget else None}


def _event_text(kind: str, data: dict) -> str:
    """An event of the run's log as one line for people."""
    if kind == "created":
        return "run created"
    if kind == "halving_decision":
        return f"halving decision at rung {data.get('rung', '?')}: kept {', '.join(map(str, data.get('kept') or [])) or '-'}"
    keys = [k for k in data if k not in ("config",)]
    return kind + (": " + ", ".join(f"{k}={data[k]}" for k in keys[:5]) if keys else "")


class _Reading:
    """The run store as of one reading: its candidates read once (the slow part on a large run: every
    record parsed) and shared by the rules asked about them (``selection.run_pick``,
    ``preferences.run_summary``); everything else is the store's."""

    def __init__(self, store: RunStore):
        self._store = store
        self._candidates = store.candidates()

    def __getattr__(self, name):
        return getattr(self._store, name)

    def candidates(self, generation: int | None = None, status=None) -> list[Candidate]:
        statuses = None if status is None else (status,) if isinstance(status, str) else tuple(status)
        return [c for c in self._candidates if (generation is None or c.generation == generation)
                and (statuses is None or c.status in statuses)]

    def baseline(self) -> Candidate | None:
        return RunStore.baseline(cast(RunStore, self))  # the store's rule, over this reading's candidates


def state(store: RunStore) -> dict:
    """The run at a glance: what the watch view shows."""
    from ..preferences import run_summary
    from ...archive.selection import best_so_far, contenders, evidence_of, run_pick

    store = cast(RunStore, _Reading(store))  # read as a RunStore by the rules it is passed to
    config = store.config
    candidates = store.candidates()
    final = store.final()
    pick = run_pick(store)  # the run's best, by the one rule
    baseline = store.baseline()
    budget = config.get("timesteps")
    vids = videos(store)
    rows = []
    for c in candidates:
        evidence = evidence_of(c, final)
        rows.append({"id": c.id, "generation": c.generation, "parent": c.parent, "origin": c.origin,
                     "status": c.status, "fitness": num(c.fitness),
                     "score": num(evidence.fitness) if evidence else None,
                     "evidence": evidence.evidence if evidence else None,
                     "reason": text(_first_reason(c.reason)), "progress": progress(store, c, budget),
                     "video": vids.get(c.id)})
    line = best_so_far([c for c in candidates if c.status == SCORED], contenders(config))
    events = store.db.execute("SELECT id, created, kind, data FROM events ORDER BY id DESC LIMIT ?",
                              (EVENTS_SHOWN,)).fetchall()
    import json

    return {
        "task": text(config.get("task")), "status": text(store.meta("status", "unknown")),
        "designer": text(config.get("designer")), "model": text(config.get("model")),
        "generation": max((c.generation for c in candidates), default=None),
        "random_fitness": num(store.meta("random_fitness")),
        "baseline": {"id": baseline.id, "fitness": num(baseline.fitness)} if baseline else None,
        "best": {"id": pick.id, "fitness": num(pick.fitness), "evidence": pick.evidence,
                 "describe": pick.describe()} if pick else None,
        "candidates": rows,
        "best_so_far": [{"generation": g, "id": p.id, "fitness": num(p.fitness)} for g, p in line if p is not None],
        "events": [{"id": r["id"], "created": r["created"], "kind": text(r["kind"]),
                    "text": text(_event_text(r["kind"], json.loads(r["data"] or "{}")))} for r in events],
        "preferences": _preferences_json(run_summary(store)),
        "feedback": [{"id": f["id"], "candidate": f["candidate"], "text": text(f["text"])} for f in store.feedback()],
        "waiting": _waiting(store.meta("waiting")),
    }


def _waiting(value) -> dict | None:
    """An --interactive run's pause (web.pause): {"generation", "since", "timeout"}, or None."""
    if not isinstance(value, dict) or not isinstance(value.get("generation"), int):
        return None
    return {"generation": value["generation"], "since": num(value.get("since")), "timeout": num(value.get("timeout"))}


def _preferences_json(summary) -> dict:
    out = summary.to_json()
    for conflict in out["conflicts"]:
        conflict["reason"] = text(conflict["reason"])
    return out


def _first_reason(reason: str | None) -> str | None:
    if not reason:
        return None
    lines = [ln for ln in reason.splitlines() if ln.strip() and not ln.startswith("REJECTED")]
    return (lines[0] if lines else reason.splitlines()[0])[:300]


def candidate(store: RunStore, cid: str) -> dict:
    """Everything about one candidate: what the candidate view shows."""
    from ...output.diff import code_diff
    from ...output.view import candidate_json

    c = store.candidate(cid)
    parent = store.candidate(c.parent) if c.parent else None
    analysis = c.analysis
    result = c.result
    components = {}
    if result is not None and result.components:
        components = {printable(name, one_line=True): {"series": [num(v) for v in trend.series],
                                                      "final": num(trend.final)}
                      for name, trend in result.components.items()}
    entry = candidate_json(c, store.config.get("timesteps"))
    screening = result.screening if result is not None else None
    return {
        "id": c.id, "generation": c.generation, "parent": c.parent, "origin": c.origin, "status": c.status,
        "fitness": num(c.fitness), "fitness_std": num(c.fitness_std), "timesteps": c.timesteps,
        "code": printable(c.code), "notes": text(c.notes), "reason": text(c.reason),
        "diff": [[kind, printable(line)] for kind, line in code_diff(parent.code, c.code, parent.id, c.id)]
        if parent else [],
        "verdict": {"errors": [printable(e) for e in c.verdict.errors],
                    "warnings": [printable(w) for w in c.verdict.warnings]} if c.verdict else None,
        "screening": _texts({k: v for k, v in screening.to_json().items() if k != "table"})
        if screening is not None else None,
        "rungs": [{"timesteps": r["timesteps"], "fitness": num(r["fitness"])} for r in entry["rungs"]],
        "halving": [_texts(d) for d in entry.get("halving", [])],
        "components": components,
        "findings": [{"name": text(f.name), "message": text(f.message)} for f in analysis.findings]
        if analysis else [],
        "diagnosis": text(analysis.diagnosis) if analysis else None,
        "reflection": text(c.reflection),
        "video": videos(store).get(c.id),
        "feedback": [{"id": f["id"], "text": text(f["text"])} for f in store.feedback() if f["candidate"] == c.id],
    }


def _texts(value):
    """A JSON value with every string made printable and every number JSON-safe."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return num(value) if isinstance(value, float) else value
    if isinstance(value, dict):
        return {printable(str(k)): _texts(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_texts(v) for v in value]
    return printable(str(value))


def population(store: RunStore) -> dict:
    """The population view: output/population.py's ``population_view`` (islands, cells, duplicates, the offline
    designer's operator statistics; its strings already printable) with every number JSON-safe; the
    candidates read once for the rules it asks (``_Reading``)."""
    from ...output.population import population_view

    return _texts(population_view(cast(RunStore, _Reading(store))))


def pair(store: RunStore, skip: frozenset | set = frozenset()) -> dict | None:
    """The next two candidates to compare: neighbours in the current ranking (preference score, then
    fitness) that have been compared least, among scored candidates with a video or a policy checkpoint to
    render one from on demand (``web/videos.py``), or all scored ones when fewer than two have either. A
    pair in ``skip`` (frozensets of two ids) is never chosen; where every neighbouring pair is skipped, the
    wider pool is tried. None when no pair qualifies. Fitness is left out: the page shows it only after the
    person answers."""
    from ..preferences import run_summary
    from .videos import checkpoint

    vids = videos(store)
    scored = store.candidates(status=SCORED)
    viewable = [c for c in scored if c.id in vids or checkpoint(store, c) is not None]
    pools = [viewable, scored] if len(viewable) >= 2 and len(viewable) < len(scored) else [scored]
    strengths = {s.id: s for s in run_summary(store).strengths}
    asked: dict[frozenset, int] = {}
    for p in store.preferences():
        key = frozenset((p["preferred"], p["other"]))
        asked[key] = asked.get(key, 0) + 1
    for pool in pools:
        order = sorted(pool, key=lambda c: (-(strengths[c.id].score if c.id in strengths else 0.0),
                                            -(c.fitness if c.fitness is not None else -math.inf), c.seq))
        neighbours = [(a, b) for a, b in zip(order, order[1:]) if frozenset((a.id, b.id)) not in skip]
        if not neighbours:
            continue
        uncertainty = {c.id: strengths[c.id].sd if c.id in strengths else math.inf for c in pool}
        a, b = min(neighbours, key=lambda ab: (asked.get(frozenset((ab[0].id, ab[1].id)), 0),
                                               -(uncertainty[ab[0].id] + uncertainty[ab[1].id])))
        return {"a": a.id, "b": b.id, "video_a": vids.get(a.id), "video_b": vids.get(b.id)}
    return None


def tiles(store: RunStore, k: int) -> list[dict]:
    """Up to ``k`` scored candidates with a video to show tiled (ICPL's view: pick the best and the worst),
    the latest generations first; fitness left out until the person answers."""
    vids = videos(store)
    shown = sorted((c for c in store.candidates(status=SCORED) if c.id in vids),
                   key=lambda c: (-c.generation, -c.seq))[:k]
    return [{"id": c.id, "generation": c.generation, "video": vids[c.id]} for c in shown]


MAX_CURVE_FRAMES = 4096   # rows of a video's component curves the page is sent
MAX_CURVES = 64           # components (as the reward process allows)


def curves(video: Path) -> dict | None:
    """The component curves written beside ``video`` (``gen<g>-<id>.json``, output/video.py), read as
    data: at most MAX_CURVES names made printable, one row per frame of finite numbers or null, the
    start's seeds; None where there are none (a video from before curves, or the replay failed)."""
    import json

    path = video.with_suffix(".json")
    real = path.resolve()
    if path.is_symlink() or real.parent != video.resolve().parent or not real.is_file() \
            or real.stat().st_size > 16 << 20:
        return None
    try:
        raw = json.loads(real.read_text())
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(raw, dict):
        return None
    names, rows, total = raw.get("names"), raw.get("rows"), raw.get("total")
    if not (isinstance(names, list) and len(names) <= MAX_CURVES
            and isinstance(rows, list) and 0 < len(rows) <= MAX_CURVE_FRAMES and isinstance(total, list)
            and len(total) == len(rows) and all(isinstance(r, list) and len(r) == len(names) for r in rows)):
        return None
    seed = lambda key: raw.get(key) if type(raw.get(key)) is int else None  # noqa: E731
    steps = raw.get("frame_steps")
    return {"names": [printable(str(n), one_line=True)[:80] for n in names],
            "rows": [[num(v) for v in r] for r in rows], "total": [num(v) for v in total],
            "frame_ms": num(raw.get("frame_ms")), "steps": seed("steps"),
            "frame_steps": [s if type(s) is int else None for s in steps] if isinstance(steps, list)
            and len(steps) == len(rows) else None,
            "start_seed": seed("start_seed"), "reset_seed": seed("reset_seed")}


def sprite(path: Path) -> tuple[bytes, dict]:
    """A video's frames as one PNG sprite sheet (a grid, ``cols`` wide) and its facts {"frames",
    "width", "height", "cols", "durations"} (milliseconds per frame): a <canvas> can show any frame of it,
    so the page can scrub and keep two videos on the same frame, which an animated GIF cannot."""
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        frames, durations = [], []
        for frame in ImageSequence.Iterator(image):
            frames.append(frame.convert("RGB"))
            durations.append(int(frame.info.get("duration") or 50))
    width, height = frames[0].size
    cols = min(len(frames), max(1, 4096 // width))
    rows = math.ceil(len(frames) / cols)
    sheet = Image.new("RGB", (cols * width, rows * height))
    for i, frame in enumerate(frames):
        sheet.paste(frame, ((i % cols) * width, (i // cols) * height))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue(), {"frames": len(frames), "width": width, "height": height, "cols": cols,
                               "durations": durations}
