"""The run report: one self-contained HTML file (``rewardsmith report DIR`` → ``DIR/report.html``).

Everything it shows comes from the run store: fitness per generation, each scored candidate's reward
components over training, its code and the diff against its parent, the analysis and reflection, the
critic's rejections, LLM calls with tokens and cost, human feedback and the policy videos. Plots are
matplotlib PNGs and videos GIFs, both embedded as base64, styles are inline and there is no script,
so the file opens anywhere without a network. Code and model text are untrusted: the template
(rewardsmith/templates/report.html.j2) escapes everything it is given.
"""

from __future__ import annotations

import base64
import io
import json
import math
import time
from pathlib import Path

from .. import __version__
from ..archive.store import FAILED, REJECTED, SCORED, Candidate, RunStore, write_atomic
from ..templating import file_environment
from .diff import code_diff

ORIGIN_COLOURS = {"baseline": "#222222", "human": "#e07b00"}
DEFAULT_COLOUR = "#2f6db3"
VIDEO_TYPES = {".gif": "image/gif", ".mp4": "video/mp4", ".webm": "video/webm"}
MAX_VIDEO_BYTES = 20 * 1024 * 1024  # a bigger file is linked by name instead of embedded


def write_report(run_dir: str | Path) -> Path:
    """Writes ``<run_dir>/report.html`` and gives its path."""
    store = RunStore(run_dir)
    try:
        page = render_report(store)
    finally:
        store.close()
    path = Path(run_dir) / "report.html"
    write_atomic(path, page)
    return path


def _when(t) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def render_report(store: RunStore) -> str:
    """The report of ``store``'s run as an HTML string."""
    from ..archive.selection import baseline_competes, run_pick
    from ..design.base import designer_plugin
    from .population import population_view

    config = store.config
    candidates = store.candidates()
    by_id = {c.id: c for c in candidates}
    scored = [c for c in candidates if c.status == SCORED and c.fitness is not None]
    pick, baseline = run_pick(store), store.baseline()  # the same best as `show` and `export`
    best = pick.candidate if pick else None
    task_name, goal = _task_summary(store)
    env = file_environment(html=True, filters=(("num", fmt), ("when", _when)))
    return env.get_template("report.html.j2").render(
        version=__version__, generated=time.time(), run=str(store.root.resolve()), task=task_name, goal=goal,
        config=config, designer=designer_plugin(config.get("designer")), status=store.meta("status", "unknown"),
        best=best, pick=pick, versus=_versus(store, pick, baseline), baseline=baseline, counts=_counts(candidates),
        final=_final_scores(store, pick),
        preferences=_preferences(store),
        population=population_view(store),  # islands and behaviour cells (archive/population/)
        fitness_plot=fitness_plot(candidates, baseline, baseline_competes=baseline_competes(config)),
        table=[_row(c, best) for c in candidates],
        scored=[_candidate_view(c, by_id) for c in sorted(scored, key=lambda c: (c.generation, c.seq))],
        rejections=[_candidate_view(c, by_id, plot=False) for c in candidates if c.status in (REJECTED, FAILED)],
        llm=_llm_summary(store), feedback=store.feedback(),
        videos=_videos(store), video_notes=[e.get("reason", "") for e in store.events("video_unavailable")],
    )


# --------------------------------------------------------------------------- gathering


def fmt(x, digits: int = 4) -> str:
    """A number for people: ``digits`` significant digits, "-" when missing or not finite."""
    if isinstance(x, str):
        return x
    try:
        x = float(x)
    except (TypeError, ValueError):  # None, or a value the run does not have
        return "-"
    return f"{x:.{digits}g}" if math.isfinite(x) else "-"


def _preferences(store: RunStore) -> dict | None:
    """The preferences section (None where no one answered): each compared candidate's Bradley–Terry score
    beside its ground-truth fitness, Kendall's τ between the two rankings, and each conflict named, with
    the person's reason made printable (it is untrusted text)."""
    from ..people.preferences import run_summary
    from ..untrusted import printable

    summary = run_summary(store)
    if not summary.answers:
        return None
    return {"answers": summary.answers, "informative": summary.informative, "tau": summary.tau,
            "tau_over": summary.tau_over, "scores": summary.strengths,
            "conflicts": [{"text": c.describe(), "preferred": c.preferred, "other": c.other,
                           "reason": printable(c.reason, one_line=True) if c.reason else None}
                          for c in summary.conflicts]}


def _task_summary(store: RunStore) -> tuple[str, str]:
    """The task's name and goal from the run's copy of the task file (the config's name if it will not load)."""
    from ..errors import RewardsmithError
    from ..task import load_task_file

    name = store.config.get("task", "?")
    try:
        task = load_task_file(store.root / "task.py")
    except (RewardsmithError, OSError):
        return name, ""
    return task.name, task.goal


def _counts(candidates: list[Candidate]) -> dict:
    counts = {"total": len(candidates), "generations": len({c.generation for c in candidates})}
    for status in ("scored", "rejected", "failed", "pending", "training"):
        counts[status] = sum(c.status == status for c in candidates)
    return counts


FINAL_COLUMNS = ("id", "role", "fitness_mean", "fitness_std", "per_seed", "seeds", "failed", "search_fitness",
                 "normalized", "timesteps")


def _versus(store: RunStore, pick, baseline: Candidate | None) -> dict | None:
    """The baseline's score of the same kind as the best's ({"fitness", "fitness_std", "seeds", "kind"}):
    its final-scoring mean when the best is named by the final scoring, else its search fitness."""
    final = store.final()
    entry = final.by_role("baseline") if final is not None and pick is not None and pick.evidence == "final" else None
    if entry is not None and entry.fitness_mean is not None:
        return {"fitness": entry.fitness_mean, "fitness_std": entry.fitness_std, "seeds": entry.seeds,
                "kind": "final scoring on fresh seeds"}
    if baseline is not None and baseline.fitness is not None:
        return {"fitness": baseline.fitness, "fitness_std": baseline.fitness_std, "seeds": 1,
                "kind": "search: same budget and seed"}
    return None


def _final_scores(store: RunStore, pick=None) -> dict | None:
    """The final multi-seed scoring (``store.final()``, written by final.final_scoring) as a table:
    {"columns", "rows", "seeds", "timesteps", "best", "best_entry", "baseline_entry", "sparse_entry",
    "normalization", "normalization_note"} (the entries are ``records.FinalEntry``; ``best`` is the run's
    best, ``pick``, when the final scoring names it). Without a normalization (selection.normalization) the
    table shows each fitness minus the baseline's instead."""
    final = store.final()
    if final is None:
        return None
    entries = [e.to_json() for e in final.entries]  # the table shows every stored column
    base = final.by_role("baseline")
    if final.normalization is None:
        for e in entries:
            e.pop("normalized", None)
            e["minus_baseline"] = None if base is None or base.fitness_mean is None or e["fitness_mean"] is None \
                else e["fitness_mean"] - base.fitness_mean
    columns = [c for c in FINAL_COLUMNS if any(c in e for e in entries)]
    columns += [c for c in dict.fromkeys(k for e in entries for k in e) if c not in columns]
    best = pick.id if pick is not None and pick.evidence == "final" else final.best
    return {"columns": columns, "rows": [[_cell(e.get(c)) for c in columns] for e in entries],
            "seeds": final.seeds, "timesteps": final.timesteps, "best": best,
            "best_entry": final.entry(best) if best else None,
            "baseline_entry": base, "sparse_entry": final.by_role("sparse"),
            "normalization": final.normalization, "normalization_note": final.normalization_note,
            "duplicates": final.duplicates or {}}  # final.shared_fitness: not trained again


def _cell(value) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, (int, float)):
        return fmt(value)
    if isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
        return ", ".join(fmt(v, 3) for v in value)
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _row(c: Candidate, best: Candidate | None) -> dict:
    summary = ""
    if c.analysis:
        from .view import analysis_summary

        summary = analysis_summary(c)
    elif c.reason:
        summary = next((ln for ln in c.reason.splitlines() if ln.strip() and not ln.startswith("REJECTED")), "")
    return {"c": c, "best": best is not None and c.id == best.id, "summary": summary[:200]}


def _candidate_view(c: Candidate, by_id: dict, plot: bool = True) -> dict:
    parent = by_id.get(c.parent) if c.parent else None
    analysis = c.analysis
    return {
        "c": c, "parent": parent, "diff": code_diff(parent.code, c.code, parent.id, c.id) if parent else [],
        "plot": components_plot(c) if plot else None,
        "findings": analysis.findings if analysis else [], "diagnosis": analysis.diagnosis if analysis else None,
        "components": analysis.components if analysis else {}, "evaluation": analysis.evaluation if analysis else None,
        "warnings": c.verdict.warnings if c.verdict else [],
    }


def _llm_summary(store: RunStore) -> dict:
    rows = store.db.execute(
        "SELECT generation, COUNT(*) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, "
        "COALESCE(SUM(completion_tokens), 0) AS completion_tokens, SUM(cost) AS cost, "
        "COALESCE(SUM(cached), 0) AS cached, SUM(error IS NOT NULL AND error != '') AS errors, "
        "GROUP_CONCAT(DISTINCT purpose) AS purposes, GROUP_CONCAT(DISTINCT model) AS models, "
        "SUM(latency_s) AS latency FROM llm_calls GROUP BY generation ORDER BY generation").fetchall()
    errors = store.db.execute("SELECT generation, purpose, error FROM llm_calls WHERE error IS NOT NULL "
                              "AND error != '' ORDER BY id LIMIT 20").fetchall()
    return {"totals": store.llm_totals(), "per_generation": [dict(r) for r in rows],
            "errors": [dict(r) for r in errors]}


def _videos(store: RunStore) -> list[dict]:
    """Every video in ``<run>/videos``, embedded as a data URI, captioned from its ``video`` event."""
    folder = store.root / "videos"
    if not folder.is_dir():
        return []
    facts = {e.get("path"): e for e in store.events("video")}
    videos = []
    for path in sorted(folder.iterdir(), key=lambda p: _video_order(p.name)):
        mime = VIDEO_TYPES.get(path.suffix.lower())
        if mime is None:
            continue
        data = path.read_bytes()
        event = facts.get(str(path.relative_to(store.root)), {})
        videos.append({"name": path.name, "tag": "img" if mime.startswith("image/") else "video",
                       "uri": f"data:{mime};base64,{base64.b64encode(data).decode()}"
                       if len(data) <= MAX_VIDEO_BYTES else None,
                       "bytes": len(data), "event": event})
    return videos


def _video_order(name: str):
    head = name.split("-", 1)[0]
    return (int(head[3:]) if head.startswith("gen") and head[3:].isdigit() else 10**9, name)


# --------------------------------------------------------------------------- plots


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _figure(width: float, height: float):
    # a bare Figure (no pyplot): no global state, no window, and PNGs come from the Agg renderer
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def fitness_plot(candidates: list[Candidate], baseline: Candidate | None, baseline_competes: bool = True) -> str | None:
    """Fitness per generation (a PNG data URI): every scored candidate a dot, the best-so-far line
    (``selection.best_so_far``: the run's best as it stood after each generation, so a fitness measured
    at a lower halving rung never tops one measured on the full budget), the baseline as a dashed
    reference, and candidates that produced no policy as crosses along the bottom."""
    scored = [c for c in candidates if c.status == SCORED and c.fitness is not None and math.isfinite(c.fitness)]
    if not scored:
        return None
    fig = _figure(9.0, 3.6)
    ax = fig.add_subplot()
    generations = sorted({c.generation for c in candidates})
    by_gen: dict[int, list[Candidate]] = {}
    for c in scored:
        by_gen.setdefault(c.generation, []).append(c)
    for origin, label in (("designer", "candidate"), ("human", "human edit"), ("baseline", "baseline")):
        group = [c for c in scored if (c.origin if c.origin in ("human", "baseline") else "designer") == origin]
        if not group:
            continue
        xs = [c.generation + _jitter(c, by_gen[c.generation]) for c in group]
        ax.scatter(xs, [c.fitness for c in group], s=42 if origin == "baseline" else 26,
                   marker="*" if origin == "baseline" else "o", label=label, zorder=3,
                   color=ORIGIN_COLOURS.get(origin, DEFAULT_COLOUR), alpha=0.85)
    finite = best_so_far_line(scored, baseline_competes)
    if finite:
        ax.step([g for g, _ in finite], [b for _, b in finite], where="post", color="#1a9850", lw=2,
                label="best so far", zorder=2)
    if baseline is not None and baseline.fitness is not None and math.isfinite(baseline.fitness):
        ax.axhline(baseline.fitness, color="#555555", ls="--", lw=1, label=f"baseline {fmt(baseline.fitness)}")
    lost = [c for c in candidates if c.status in (REJECTED, FAILED)]
    if lost:
        xs = [c.generation + _jitter(c, [d for d in lost if d.generation == c.generation]) for c in lost]
        ax.scatter(xs, [0.02] * len(xs), transform=ax.get_xaxis_transform(), marker="x", color="#d73027",
                   s=22, label="rejected / failed", zorder=3)
    ax.set_xticks(generations)
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return _png(fig)


def best_so_far_line(candidates: list[Candidate], baseline_competes: bool = True) -> list[tuple[float, float]]:
    """The fitness plot's "best so far" steps as (generation, fitness): the run's best as it stood after
    each generation (``selection.best_so_far``, so a fitness measured at a lower halving rung never tops
    one measured on the full budget), drawn on to the right edge of the last generation's dots. The
    baseline competes only where the run's best may be it (offline designer)."""
    from ..archive.selection import best_so_far

    line = best_so_far(candidates, exclude_origins=() if baseline_competes else ("baseline",))
    points = [(float(g), b.fitness) for g, b in line if b is not None and math.isfinite(b.fitness)]
    return points + [(points[-1][0] + 0.3, points[-1][1])] if points else []


def _jitter(c: Candidate, group: list[Candidate]) -> float:
    """Spreads a generation's dots a little so equal fitnesses stay visible."""
    if len(group) < 2:
        return 0.0
    i = next((k for k, d in enumerate(group) if d.id == c.id), 0)
    return 0.25 * (i / (len(group) - 1) - 0.5)


def components_plot(c: Candidate) -> str | None:
    """A scored candidate's training curves (a PNG data URI): each reward component's mean per step;
    beside it the total and native reward per step, and (right axis) the fitness of finished training
    episodes per seed and the evaluation fitness."""
    runs = (c.result.runs if c.result else None) or []
    components = (c.result.components if c.result else None) or {}
    if not any(r.snapshots for r in runs):
        return None
    steps = [s.step for s in max((r.snapshots for r in runs), key=len)]
    fig = _figure(9.5, 2.8)
    left, right = fig.subplots(1, 2)
    for name, entry in components.items():
        series = [math.nan if v is None else v for v in entry.series]
        n = min(len(series), len(steps))
        left.plot(steps[:n], series[:n], marker=".", label=name)
    if components:
        left.legend(fontsize=7, frameon=False)
    left.set_title("reward components (mean per step)", fontsize=9)
    fitness_axis = right.twinx()
    for run in runs:
        snaps = run.snapshots
        label = f" (seed {run.seed})" if len(runs) > 1 else ""
        for key, style, name in (("reward_per_step", "-", "reward"), ("native_per_step", ":", "native reward")):
            right.plot([s.step for s in snaps], [_nan(getattr(s, key)) for s in snaps], ls=style, color="#2f6db3",
                       label=f"{name}/step{label}")
        done = [s for s in snaps if s.fitness is not None]
        if done:
            fitness_axis.plot([s.step for s in done], [s.fitness for s in done], "o-", ms=3,
                              color="#1a9850", label=f"episode fitness{label}")
    if c.fitness is not None and math.isfinite(c.fitness):
        fitness_axis.axhline(c.fitness, color="#1a9850", ls="--", lw=1, label=f"evaluation {fmt(c.fitness)}")
    fitness_axis.set_ylabel("fitness", fontsize=8, color="#1a9850")
    fitness_axis.tick_params(labelsize=7)
    handles = [h for ax in (right, fitness_axis) for h in ax.get_legend_handles_labels()[0]]
    right.legend(handles, [h.get_label() for h in handles], fontsize=7, frameon=False)
    right.set_title("training: reward per step, fitness", fontsize=9)
    for ax in (left, right):
        ax.set_xlabel("timestep", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    return _png(fig)


def _nan(x) -> float:
    return math.nan if x is None else float(x)
