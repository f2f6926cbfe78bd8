"""What the population looks like to a person (``show``, the report, the live view): each candidate's island
and behaviour cell, the elite of each cell, and what each island offered the last generation designed.
A cell's label holds a component name (reward code's text), so every label is ``untrusted.printable``."""

from __future__ import annotations

from ..archive.population import summary
from ..archive.store import RunStore
from ..untrusted import printable


def population_view(store: RunStore) -> dict:
    """The population ready to show: ``islands`` (per island its candidates, each with its cell number and
    whether it is the cell's elite), ``cells`` (number, label, elite, members), the settings and the last
    generation's offers; every label already printable."""
    doc = summary(store)
    numbers = {c["label"]: i + 1 for i, c in enumerate(doc["cells"])}
    cell_no = {m: i + 1 for i, c in enumerate(doc["cells"]) for m in c["members"]}
    by_id = {c.id: c for c in store.candidates()}
    islands: list[list[dict]] = [[] for _ in range(doc["islands"])]
    for entry in doc["candidates"]:
        if entry["island"] is not None:
            c = by_id[entry["id"]]
            islands[entry["island"] % doc["islands"]].append(
                {"id": c.id, "cell": cell_no.get(c.id), "elite": entry["elite"], "status": c.status,
                 "fitness": c.fitness})
    cells = [{"number": numbers[c["label"]], "label": printable(c["label"], one_line=True), "elite": c["elite"],
              "others": c["members"][1:]} for c in doc["cells"]]
    plan = doc["last_plan"] or {}
    return {"islands": islands, "cells": cells, "count": doc["islands"], "migrate_every": doc["migrate_every"],
            "preference_weight": doc["preference_weight"], "offered": plan.get("islands") or [],
            "migrants": plan.get("migrants") or {}, "borrowed": plan.get("borrowed") or []}


def population_lines(store: RunStore) -> list[str]:
    """``show``'s population section: one line per island (its candidates with their cell), one per cell
    (its label, elite and other members) and what the islands offered the last generation."""
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
        lines.append(f"  island {k}: {listed or '-'}" + (f" (+{others} not scored)" if others else ""))
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
    return lines
