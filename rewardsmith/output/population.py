"""What the population looks like to a person (``show``, the report, the live page): each island (its
candidates with their cell, its best by evidence, the last migrant it received), the behaviour cells (their
descriptors, elite and its score), the duplicates (not trained) and near-duplicates (trained, flagged), and
what the offline designer has learned (per operator and parent's finding: children judged, children that
beat their parent; design/learning.py).

``population_view`` is the one reading all three share (the page's ``/api/population`` sends it as JSON):
every string in it that came from reward code, a model or a person (a cell's dominant component name, a
duplicate's reason) is already ``untrusted.printable``. ``population_json`` is ``show --population --json``:
the raw ``archive.population.summary`` with the same operators and duplicates."""

from __future__ import annotations

from ..archive.population import summary
from ..archive.store import RunStore
from ..untrusted import printable

NO_OPERATORS = "no offline-designer operators in this run"


def operator_rows(candidates) -> list[dict]:
    """What the offline designer learned, as ``show --population --json``'s ``operators``: per operator and
    the finding on the parent it was applied to, ``tries`` (children judged) and ``improved`` (children that
    beat their parent at a like budget; a duplicate counts as a try that did not), most tried first."""
    from ..design.learning import OperatorStats

    table = OperatorStats.from_archive(candidates).table()
    rows = [{"operator": op, "finding": finding, "tries": tries, "improved": wins}
            for (op, finding), (wins, tries) in table.items()]
    return sorted(rows, key=lambda r: (-r["tries"], r["operator"], r["finding"]))


def duplicates(store: RunStore, candidates) -> tuple[list[dict], list[dict]]:
    """(duplicates, near-duplicates) as recorded by intake/duplicates.py: a duplicate {"id", "of", "reason",
    "timesteps": 0} was not trained; a near-duplicate {"id", "of", "reason"} (its event) was trained, flagged.
    Reasons are raw text (``duplicate of c3: ...``)."""
    exact = [{"id": c.id, "of": c.duplicate_of, "reason": c.reason or "", "timesteps": c.timesteps or 0}
             for c in candidates if c.duplicate_of]
    near = [{"id": e.get("candidate"), "of": e.get("of"), "reason": str(e.get("reason") or "")}
            for e in store.events("near_duplicate") if isinstance(e.get("candidate"), str)]
    return exact, near


def migrations(store: RunStore) -> dict[int, dict]:
    """Per island, the last migrant it received: {"generation", "id"} (from each designed generation's
    recorded offers, meta ``population.g<generation>``)."""
    last: dict[int, dict] = {}
    for g in store.designed_generations():
        plan = store.meta(f"population.g{g}") or {}
        for k, cid in (plan.get("migrants") or {}).items():
            last[int(k)] = {"generation": g, "id": cid}
    return last


def population_json(store: RunStore) -> dict:
    """``show --population --json``: ``archive.population.summary`` with ``operators`` (``operator_rows``),
    ``duplicates`` and ``near_duplicates`` (``duplicates``) and each island's ``last_migrant``."""
    candidates = store.candidates()
    exact, near = duplicates(store, candidates)
    moved = migrations(store)
    doc = summary(store)
    return {**doc, "last_migrant": [moved.get(k) for k in range(max(1, doc["islands"]))],
            "operators": operator_rows(candidates), "duplicates": exact, "near_duplicates": near}


def _without_prefix(reason: str, of: str | None) -> str:
    """A duplicate's reason without its leading "duplicate of cX: " (the view says that itself)."""
    for head in (f"duplicate of {of}: ", f"near-duplicate of {of}: "):
        if reason.startswith(head):
            return reason[len(head):]
    return reason


def population_view(store: RunStore) -> dict:
    """The population ready to show: ``islands`` (per island its candidates, each with its cell number and
    whether it is the cell's elite), ``island_facts`` (per island its best by evidence and the last migrant it
    received), ``cells`` (number, label, descriptors, elite with its score, other members), the settings, the
    last generation's offers, ``duplicates``, ``near_duplicates`` and ``operators``; every string printable."""
    from ..archive.selection import evidence_of

    candidates = store.candidates()
    doc = summary(store)
    final = store.final()
    by_id = {c.id: c for c in candidates}

    def score(cid: str | None) -> dict | None:
        pick = evidence_of(by_id[cid], final) if cid in by_id else None
        return None if pick is None else {"id": cid, "fitness": pick.fitness, "evidence": pick.evidence,
                                          "describe": pick.describe()}

    numbers = {c["label"]: i + 1 for i, c in enumerate(doc["cells"])}
    cell_no = {m: i + 1 for i, c in enumerate(doc["cells"]) for m in c["members"]}
    islands: list[list[dict]] = [[] for _ in range(doc["islands"])]
    for entry in doc["candidates"]:
        if entry["island"] is not None:
            c = by_id[entry["id"]]
            islands[entry["island"] % doc["islands"]].append(
                {"id": c.id, "cell": cell_no.get(c.id), "elite": entry["elite"], "status": c.status,
                 "fitness": c.fitness, "duplicate_of": c.duplicate_of})
    moved = migrations(store)
    facts = [{"best": score(best), "last_migrant": moved.get(k)} for k, best in enumerate(doc["island_best"])]
    cells = [{"number": numbers[c["label"]], "label": printable(c["label"], one_line=True),
              "descriptors": {k: printable(v, one_line=True) for k, v in c["cell"].items()},
              "elite": c["elite"], "score": score(c["elite"]), "others": c["members"][1:]} for c in doc["cells"]]
    exact, near = duplicates(store, candidates)
    plan = doc["last_plan"] or {}
    return {"islands": islands, "island_facts": facts, "cells": cells, "count": doc["islands"],
            "migrate_every": doc["migrate_every"], "preference_weight": doc["preference_weight"],
            "offered": plan.get("islands") or [], "migrants": plan.get("migrants") or {},
            "borrowed": plan.get("borrowed") or [],
            "duplicates": [{**d, "reason": printable(_without_prefix(d["reason"], d["of"]), one_line=True)}
                           for d in exact],
            "near_duplicates": [{**d, "reason": printable(_without_prefix(d["reason"], d["of"]), one_line=True)}
                                for d in near],
            "operators": [{**r, "finding": printable(r["finding"], one_line=True)} for r in operator_rows(candidates)],
            "no_operators": NO_OPERATORS}


def duplicate_text(d: dict) -> str:
    """One duplicate for people: "c5 duplicate of c2 (its rewards equal c2's ...), 0 steps"."""
    return f"{d['id']} duplicate of {d['of']} ({d['reason']}), {d['timesteps']:,} steps"


def near_text(d: dict) -> str:
    """One near-duplicate: "c7 near-duplicate of c3 (...), trained"."""
    return f"{d['id']} near-duplicate of {d['of']} ({d['reason']}), trained"


def population_lines(store: RunStore) -> list[str]:
    """``show``'s population section: one line per island (its candidates with their cell, its best, its
    last migrant), one per cell (its label, elite and other members), what the islands offered the last
    generation, the duplicates and near-duplicates, and the offline designer's operator statistics."""
    view = population_view(store)
    exchange = f"the best of each exchanged every {view['migrate_every']} generations" if view["count"] > 1 \
        else "one population"
    weight = f"; preference weight {view['preference_weight']:g}" if view["preference_weight"] else ""
    islands = f"{view['count']} island{'s' * (view['count'] != 1)}"
    lines = [f"population: {islands} ({exchange}), {len(view['cells'])} behaviour cells{weight}"]
    for k, members in enumerate(view["islands"]):
        listed = ", ".join(m["id"] + (f" cell {m['cell']}" if m["cell"] else "") + (" (elite)" if m["elite"] else "")
                           for m in members if m["status"] == "scored")
        others = sum(m["status"] != "scored" for m in members)
        facts = view["island_facts"][k] if k < len(view["island_facts"]) else {}
        extra = []
        if facts.get("best"):
            extra.append(f"best {facts['best']['id']} {facts['best']['describe']}")
        if facts.get("last_migrant"):
            moved = facts["last_migrant"]
            extra.append(f"last migrant {moved['id']} in generation {moved['generation']}")
        lines.append(f"  island {k}: {listed or '-'}" + (f" (+{others} not scored)" if others else "")
                     + (f"; {'; '.join(extra)}" if extra else ""))
    for cell in view["cells"]:
        also = f", also {', '.join(cell['others'])}" if cell["others"] else ""
        lines.append(f"  cell {cell['number']} {cell['label']}: elite {cell['elite']}{also}")
    for k, ids in enumerate(view["offered"]):
        notes = []
        if str(k) in view["migrants"]:
            notes.append(f"{view['migrants'][str(k)]} migrated in")
        if k in view["borrowed"]:
            notes.append("borrowed the run's best")
        lines.append(f"  last generation, island {k} offered: {', '.join(ids) or '-'}"
                     + (f" ({'; '.join(notes)})" if notes else ""))
    if view["duplicates"] or view["near_duplicates"]:
        lines.append(f"duplicates: {len(view['duplicates'])} not trained, {len(view['near_duplicates'])} "
                     "near-duplicates trained and flagged")
        lines += [f"  {duplicate_text(d)}" for d in view["duplicates"]]
        lines += [f"  {near_text(d)}" for d in view["near_duplicates"]]
    lines += operator_lines(view["operators"])
    return lines


def operator_lines(rows: list[dict]) -> list[str]:
    """The offline designer's operator statistics as lines (or the one line saying there are none)."""
    if not rows:
        return [f"operators: {NO_OPERATORS}"]
    lines = ["operators (what the offline designer learned): children that beat their parent / children judged,"
             " by the parent's finding"]
    lines += [f"  {r['operator']:<15} after {r['finding']:<22} {r['improved']} / {r['tries']}" for r in rows]
    return lines
