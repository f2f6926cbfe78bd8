"""What a person sees of a run: live progress while it runs, and ``rewardsmith show`` afterwards."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..archive.store import Candidate, RunStore, budget_fraction
from ..design.base import designer_plugin
from ..untrusted import printable  # noqa: F401 - the one escaping of untrusted text, used here and by the CLI

_STYLE = {"scored": "green", "rejected": "red", "failed": "red", "training": "yellow", "pending": "cyan"}
# events shown as a line of their own (a note's is its message); the others update the table
_NOTES = {
    "note": lambda d: d["message"],
    "rungs": lambda d: f"generation {d['generation']}: {d['why']}",
    "executor": lambda d: f"training on {d['where']}",
    "max_cost": lambda d: f"stopping: {d['message']}",
    "near_duplicate": lambda d: f"{d['candidate']}: {d['reason']}",
    "observer_failed": lambda d: f"an observer of the run ({d['observer']}) failed on a {d['event']!r} event "
                                 f"({d['error']}); the run goes on without what it would have shown",
}


def fmt(x, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def fitness_text(c: Candidate) -> str:
    """A candidate's fitness, marked with the budget fraction when successive halving stopped it early
    (e.g. "0.53 @1/9"): such a fitness compares only with others measured at that rung."""
    from ..archive.store import full_budget

    if c.fitness is None or full_budget(c):
        return fmt(c.fitness)
    fraction = budget_fraction(c)
    inverse = round(1 / fraction) if fraction else 0
    return f"{fmt(c.fitness)} @{'1/' + str(inverse) if inverse and abs(1 / fraction - inverse) < 0.05 else f'{fraction:.0%}'}"


def analysis_summary(c: Candidate) -> str:
    """The analyzer's one-line summary of a scored candidate ("" when there is no analysis)."""
    if not c.analysis:
        return ""
    from ..analysis.analyzer import summary_line

    return summary_line(c.analysis)


def candidate_table(candidates: list[Candidate], best_id: str | None = None, progress: dict | None = None,
                    summaries: bool = True) -> Table:
    table = Table(expand=False, pad_edge=False)
    for column in ("id", "gen", "parent", "origin", "status", "fitness", "notes"):
        table.add_column(column, overflow="fold", max_width=70 if column == "notes" else None)
    for c in candidates:
        status = c.status
        if progress and c.id in progress and c.status == "training":
            status = f"training {progress[c.id]:.0%}"
        note = ""
        if c.status in ("rejected", "failed"):
            note = (c.reason or "").splitlines()[1 if (c.reason or "").startswith("REJECTED") else 0][:140] \
                if c.reason else ""
        elif summaries and c.analysis:
            note = analysis_summary(c)
        elif c.notes:
            note = c.notes
        mark = " ★" if c.id == best_id else ""
        table.add_row(f"{c.id}{mark}", str(c.generation), c.parent or "", c.origin,
                      Text(status, style=_STYLE.get(c.status, "")), fitness_text(c), Text(printable(note, one_line=True)))
    return table


class LiveView:
    """Turns loop events into a live rich table on a terminal, or plain log lines elsewhere."""

    def __init__(self, store: RunStore, console: Console | None = None, task_name: str = ""):
        self.store = store
        self.console = console or Console(stderr=True, highlight=False)
        self.task_name = task_name
        self.started = time.monotonic()
        self.progress: dict[str, float] = {}
        self.generation = 0
        self.lock = threading.Lock()
        self.live = Live(console=self.console, refresh_per_second=2, transient=False) \
            if self.console.is_terminal else None

    def __enter__(self):
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live:
            self.live.update(self.render())
            self.live.__exit__(*exc)

    def paused(self):
        """A context in which the live display is stopped (for prompts)."""
        from contextlib import contextmanager

        @contextmanager
        def pause():
            if self.live:
                self.live.stop()
            try:
                yield
            finally:
                if self.live:
                    self.live.start()

        return pause()

    def render(self):
        from ..archive.selection import run_pick

        candidates = self.store.candidates()
        best = run_pick(self.store)  # the same star as `show`
        totals = self.store.llm_totals()
        elapsed = time.monotonic() - self.started
        head = Text(
            f"{self.task_name}  generation {self.generation}{self._offers(self.generation)}  "
            f"best {best.describe() if best else '-'}"
            f"{f' ({best.id})' if best else ''}  LLM {totals['calls']} calls, "
            f"{totals['prompt_tokens'] + totals['completion_tokens']:,} tokens, ${totals['cost']:.4f}  "
            f"elapsed {elapsed:,.0f} s", style="bold")
        return Group(head, candidate_table(candidates[-30:], best.id if best else None, self.progress))

    def __call__(self, kind: str, **data) -> None:
        with self.lock:
            self._handle(kind, data)

    def _handle(self, kind, data):
        candidate = data.get("candidate")
        if kind == "progress":
            self.progress[candidate.id] = min(1.0, data["snapshot"].step / max(1, data["budget"]))
        elif kind == "designing":
            self.generation = data["generation"]
        if self.live:
            self.live.update(self.render())
            if kind in _NOTES:
                self.live.console.print(Text(printable(_NOTES[kind](data))))
            return
        line = self._line(kind, data, candidate)
        if line:
            self.console.print(Text(f"[{time.monotonic() - self.started:6.0f}s] {printable(line, one_line=True)}"),
                               soft_wrap=True)

    def _line(self, kind, data, c):
        if kind == "start":
            return f"run {data['run']} ({data['designer']} designer)"
        if kind == "designing":
            return f"generation {data['generation']}: asking the {self._designer()} for {data['samples']} rewards" \
                + self._offers(data["generation"])
        if kind == "candidate":
            if c.status == "rejected":
                first = (c.reason or "").splitlines()
                return f"{c.id} rejected: {first[1] if len(first) > 1 else (first[0] if first else '')}"
            island = f", island {c.island}" if c.island is not None else ""
            return f"{c.id} accepted ({c.origin}{', from ' + c.parent if c.parent else ''}{island}) {c.notes or ''}"
        if kind == "training":
            return f"{c.id} training"
        if kind == "scored":
            summary = analysis_summary(c)
            return f"{c.id} fitness {fitness_text(c)}  {summary}"
        if kind == "failed":
            return f"{c.id} failed: {(c.reason or '').splitlines()[0][:200]}"
        if kind == "generation_done":
            from ..archive.selection import run_pick

            best = run_pick(self.store)
            return f"generation {data['generation']} done; best so far {best.id} {best.describe()}" if best else \
                f"generation {data['generation']} done; nothing scored yet"
        if kind in _NOTES:
            return _NOTES[kind](data)
        return None

    def _offers(self, generation: int) -> str:
        """The parents each island offered the generation (archive/population/), e.g. " (island 0: c3, c1; …)"."""
        plan = self.store.meta(f"population.g{generation}") or {}
        islands = plan.get("islands") or []
        if not islands:
            return ""
        offered = "; ".join(f"{k}: {', '.join(ids) or '-'}" for k, ids in enumerate(islands))
        return f" (parents by island: {offered})"

    def _designer(self):
        name = self.store.config.get("designer")
        plugin = designer_plugin(name)
        return plugin.label if plugin else f"{name} designer"


def show_run(store: RunStore, console: Console) -> None:
    """``rewardsmith show DIR``: the run at a glance."""
    from ..archive.selection import run_pick

    config = store.config
    candidates = store.candidates()
    scored = [c for c in candidates if c.status == "scored"]
    best = run_pick(store)
    totals = store.llm_totals()
    console.print(f"[bold]{store.root}[/]  task {config['task']}  designer {config['designer']}"
                  f"{' (' + config['model'] + ')' if config.get('model') else ''}  status {store.meta('status')}")
    duplicates = sum(bool(c.duplicate_of) for c in candidates)
    console.print(f"{len(candidates)} candidates: {len(scored)} scored, "
                  f"{sum(c.status == 'rejected' for c in candidates)} rejected"
                  f"{f' ({duplicates} as duplicates, not trained)' if duplicates else ''}, "
                  f"{sum(c.status == 'failed' for c in candidates)} failed, "
                  f"{sum(c.status in ('pending', 'training') for c in candidates)} unfinished")
    console.print(candidate_table(candidates, best.id if best else None))
    if best:
        console.print(best_line(store, best), markup=False, highlight=False)
    from ..training.rung_seeds import rung_seeds_text

    extra = rung_seeds_text(store)  # second seeds at halving's cut-offs and their cost
    if extra:
        console.print(Text(extra))
    if totals["calls"]:
        console.print(f"LLM: {totals['calls']} calls ({totals['cached']} from cache), "
                      f"{totals['prompt_tokens']:,} prompt + {totals['completion_tokens']:,} completion tokens, "
                      f"${totals['cost']:.4f}")
    show_final(store, console)


def best_line(store: RunStore, best) -> str:
    """The "best: …" line of ``show`` and of evolve's summary: the run's best (``selection.run_pick``) with
    the score that makes it so, and the baseline's score of the same kind."""
    line = f"best: {best.id} fitness {best.describe()}"
    baseline = store.baseline()
    final = store.final()
    entry = final.by_role("baseline") if final is not None and best.evidence == "final" else None
    if entry is not None and entry.fitness_mean is not None:
        line += (f"   baseline (human reward, same fresh seeds): {fmt(entry.fitness_mean)} ± "
                 f"{fmt(entry.fitness_std, 2)}")
    elif baseline is not None and baseline.fitness is not None:
        line += f"   baseline (human reward, same budget): {fmt(baseline.fitness)}"
    if best.evidence == "final" and best.candidate.fitness is not None:
        line += f"\n  (its search fitness was {fitness_text(best.candidate)}; the best is named by the most evidence)"
    return line


def show_final(store: RunStore, console: Console) -> None:
    """The final multi-seed scoring (final.py), when the run has one."""
    final = store.final()
    if final is None:
        return
    from ..archive.selection import run_pick

    best = run_pick(store)
    norm = final.normalization
    base = final.by_role("baseline")
    head = f"[bold]final scoring[/]: {len(final.seeds)} fresh seeds × {final.timesteps or 0:,} steps; "
    if norm:
        head += "normalized = (fitness − sparse) / |baseline − sparse|"
    else:  # a ratio over noise means nothing: raw fitness beside the baseline's
        head += f"no normalized score: {final.normalization_note or 'baseline and sparse scored the same'}"
    console.print(head, markup=True, highlight=False)
    boundary = store.meta("final_boundary")
    if boundary and (boundary["trained"] or boundary["unaffordable"]):
        console.print(Text(boundary_text(boundary)))
    table = Table(expand=False, pad_edge=False)
    relative = "normalized" if norm else "− baseline"
    for column in ("reward", "role", "fitness (mean ± std)", relative, "search fitness", "seeds"):
        table.add_column(column)
    for e in final.entries:
        mark = " ★" if best is not None and e.id == best.id else ""
        mean = "-" if e.fitness_mean is None else f"{fmt(e.fitness_mean)} ± {fmt(e.fitness_std, 2)}"
        seeds = f"{e.seeds}" + (f" ({e.failed} failed)" if e.failed else "")
        if norm:
            versus = fmt(e.normalized, 3)
        elif base is not None and base.fitness_mean is not None and e.fitness_mean is not None:
            versus = f"{e.fitness_mean - base.fitness_mean:+.3g}"
        else:
            versus = "-"
        table.add_row(f"{e.id}{mark}", e.role or "", mean, versus, fmt(e.search_fitness), seeds)
    console.print(table)
    for subject, why in (final.duplicates or {}).items():  # final.shared_fitness: trained once, not twice
        console.print(Text(printable(f"{subject} not trained again: {why}")))


def boundary_text(boundary: dict) -> str:
    """What the extra seeds at the final top-k cut-off cost (final.boundary_seeds)."""
    saved = boundary["halving_saved"]
    text = (f"top-{boundary['top']} cut-off drawn on two-seed means: second seed (seed {boundary['seed']}) for "
            f"{', '.join(boundary['trained']) or 'nobody'}, within the noise of {boundary['last_in']}; "
            f"{boundary['steps']:,} env steps" + (f" of the {saved:,} halving saved" if saved else ""))
    if boundary["unaffordable"]:
        text += f"; not afforded: {', '.join(boundary['unaffordable'])}"
    return text


def show_json(store: RunStore) -> dict:
    """The contract's ``show --json`` document."""
    from ..archive.selection import run_pick

    config = store.config
    best = run_pick(store)
    budget = config.get("timesteps")
    final = store.final()
    return {
        "task": config["task"], "status": store.meta("status"), "random_fitness": store.meta("random_fitness"),
        "candidates": [candidate_json(c, budget) for c in store.candidates()],
        "best": best.to_json() if best else None,
        "prompt_best": best.id if best else None,  # the designer's "best so far" is the run's best
        "final": final.to_json() if final is not None else None,
        "final_boundary": store.meta("final_boundary"),  # final.boundary_seeds: extra seeds at the top-k cut-off
        # training/rung_seeds.py: second seeds at halving's cut-offs, one record per cut, with their cost
        "rung_seeds": [{k: v for k, v in e.items() if k not in ("created", "kind")}
                       for e in store.events("rung_seeds")],
    }


def candidate_json(c: Candidate, budget: int | None = None) -> dict:
    """One candidate's ``show --json`` entry: the contract's fields, plus its halving decisions and its
    confirmation seed when it has them."""
    result = c.result
    halving = result.halving if result else None
    rungs: list[dict[str, Any]]
    if halving:
        rungs = [{"timesteps": halving.rungs[r], "fitness": f} for r, f in sorted(halving.history.items())]
    elif c.status == "scored":
        rungs = [{"timesteps": c.timesteps, "fitness": c.fitness}]
    else:
        rungs = []
    trained = c.timesteps or 0
    if c.status == "scored":
        fraction = budget_fraction(c)
    else:  # rejected before training, or unfinished/failed: what it trained of the budget so far
        recorded = result.budget_fraction if result else None
        fraction = recorded if recorded is not None else \
            0.0 if not trained or not budget else min(1.0, trained / budget)
    entry = {**c.brief(), "origin": c.origin, "timesteps": trained, "budget_fraction": fraction, "rungs": rungs}
    if halving and halving.decisions:
        entry["halving"] = [d.to_json() for d in halving.decisions]
    if result and result.screening:
        entry["screening"] = result.screening.to_json()
    if result and result.confirmation:
        entry["confirmation"] = result.confirmation.to_json()
    if c.duplicate_of:  # intake/duplicates.py: not trained; ``reason`` says why
        entry["duplicate_of"] = c.duplicate_of
    return entry


def search_steps(store: RunStore, c: Candidate) -> tuple[int, int, int] | None:
    """The env steps ``c`` trained in the search: on its search seed and on a second seed at a halving
    cut-off (rung_seeds.py), read off its legs, and on a confirmation seed (confirmation.py, or the final
    top-k cut-off's), which keeps no leg: what its ``steps_spent`` counts beyond the legs (0 in a run made
    before those were counted); None when it has no leg."""
    from ..training.rung_seeds import RUNG_SEED_OFFSET

    seed = int(store.config.get("seed") or 0)
    own, extra = (sum(leg.trained_steps for leg in store.legs(c.id, s).values()) for s in (seed, seed + RUNG_SEED_OFFSET))
    confirming = max(0, (c.steps_spent or 0) - own - extra) if c.result and c.result.confirmation else 0
    return (own, extra, confirming) if own or extra else None


def show_candidate(store: RunStore, c: Candidate, console: Console) -> None:
    """``rewardsmith show DIR --candidate ID``: everything about one candidate."""
    from rich.syntax import Syntax

    console.print(f"[bold]{c.id}[/]  generation {c.generation}  origin {c.origin}"
                  f"{'  parent ' + c.parent if c.parent else ''}  status {c.status}  fitness {fmt(c.fitness)}"
                  f"{' ± ' + fmt(c.fitness_std, 2) if c.fitness_std else ''}")
    if c.notes:
        console.print(Text(f"notes: {printable(c.notes)}"))
    console.print(Syntax(c.code, "python", line_numbers=True))
    if c.duplicate_of:
        console.print(Text(f"duplicate of {c.duplicate_of}: not trained (0 RL steps)", style="yellow"))
    trained = search_steps(store, c)
    if trained:
        own, extra, confirming = trained
        parts = [f"{extra:,} on a second seed at halving cut-offs"] * bool(extra) + \
            [f"{confirming:,} on a confirmation seed"] * bool(confirming)
        console.print(f"env steps trained in the search: {own + extra + confirming:,}"
                      + (f" ({', '.join(parts)})" if parts else ""),
                      markup=False, highlight=False, soft_wrap=True)
    from .scores import show_scores

    show_scores(store, c, console)  # every registered scorer's card, computed now (scoring/)
    if c.reason:
        console.print("[red]reason:[/]")
        console.print(Text(printable(c.reason)))
    if c.verdict and c.verdict.warnings:
        console.print(Text("critic warnings:\n" + "\n".join(f"- {printable(w, one_line=True)}" for w in c.verdict.warnings)))
    if c.reflection:
        console.print("[bold]analysis and reflection[/] (what the designer sees):")
        console.print(Text(printable(c.reflection)))
    if c.analysis and c.analysis.diagnosis:
        console.print("[bold]LLM diagnosis[/]:")
        console.print(Text(printable(c.analysis.diagnosis)))
