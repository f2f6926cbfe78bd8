"""How a run spends its training compute: successive halving during the search, multi-seed re-scoring
at the end.

Successive halving (``--schedule halving``, the default): every candidate of a generation first trains
for a small fraction of the budget and is scored; the best ``1/eta`` continue, resuming from their
checkpoints (no restart, and the learning-rate schedule of the full run), until the survivors reach
the full budget. The rungs are geometric from the top: ``1, 1/eta, 1/eta², ...`` down to
``--halving-min-fraction``. The defaults (eta 3, min fraction 1/9) give rungs at 1/9, 1/3 and 1 of the
budget; of 8 candidates 3 reach 1/3 and 1 the full budget, which costs
(8·1/9 + 3·2/9 + 1·2/3) / 8 = 28 % of training them all fully (4 candidates: 39 %). A rung target is
rounded up to whole PPO rollouts. A candidate stopped at a lower rung is recorded as scored with that
rung's fitness, ``timesteps`` as trained, and ``result["budget_fraction"] < 1``; the archive compares
like with like, ranking by the budget reached first (``store.budget_fraction``).

``--schedule full`` trains every candidate to the full budget (Eureka's way): a single rung.

Resume: after every leg, the policy goes to ``checkpoints/<id>-seed<s>.json`` (what videos render
from) and the leg's outcome to ``checkpoints/<id>-seed<s>.rungs.json``, both atomically. The members
of a pool are recorded before it starts, so a resumed run replays the same promotions from the
recorded rung scores and trains only what had not finished.
"""

from __future__ import annotations

import math
import statistics
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass
from typing import Callable

from .errors import TrainingError
from .executor import Cancelled
from .store import FAILED, SCORED, TRAINING, RunStore, write_atomic
from .trainer import Budget, Score, SeedResult

SCHEDULES = ("halving", "full")


@dataclass(frozen=True)
class Halving:
    """Successive halving's shape: keep the best ``1/eta`` at each rung; the first rung trains
    ``min_fraction`` of the budget (rounded to a power of ``1/eta``)."""

    eta: int = 3
    min_fraction: float = 1 / 9

    def fractions(self) -> list[float]:
        """Rung fractions of the budget, smallest first, ending at 1."""
        out, f = [1.0], 1.0
        while f / self.eta >= self.min_fraction * (1 - 1e-9):
            f /= self.eta
            out.append(f)
        return out[::-1]

    def rungs(self, timesteps: int, granularity: int = 1) -> list[int]:
        """Rung targets in timesteps (whole rollouts of ``granularity`` steps), ending at ``timesteps``."""
        targets: list[int] = []
        for f in self.fractions()[:-1]:
            t = math.ceil(f * timesteps / granularity) * granularity
            if t < timesteps and (not targets or t > targets[-1]):
                targets.append(t)
        return targets + [timesteps]


def keep_count(n: int, eta: int) -> int:
    """How many of ``n`` candidates scored at a rung go on to the next one."""
    return max(1, math.ceil(n / eta))


def successive_halving(pool: list[str], n_rungs: int, eta: int, scores: dict[str, dict[int, float]],
                       train_rung: Callable[[int, list[str], Callable], None],
                       stop: Callable[[str, int], None]) -> None:
    """Runs successive halving over ``pool`` (ids, best first on ties).

    ``scores[id][rung]`` holds fitness already measured (a resumed run) and receives the new ones.
    ``train_rung(rung, ids, report)`` trains ``ids`` to ``rung`` and calls ``report(id, fitness)`` as
    each finishes (``fitness`` None: it failed and leaves the pool). ``stop(id, rung)`` is called once
    per candidate that does not fail, with the rung it ends at: right away at the top rung, after the
    ranking below it. A lone survivor goes straight to the top rung.
    """
    alive = list(pool)
    rung = 0 if len(alive) > 1 else n_rungs - 1
    while alive:
        top = rung == n_rungs - 1
        failed: set[str] = set()

        def report(cid: str, fitness: float | None, rung=rung, top=top, failed=failed) -> None:
            if fitness is None:
                failed.add(cid)
                return
            scores.setdefault(cid, {})[rung] = fitness
            if top:
                stop(cid, rung)

        need = [c for c in alive if rung not in scores.get(c, {})]
        if top:
            for cid in alive:  # already measured at the top rung (resumed run): recorded now
                if cid not in need:
                    stop(cid, rung)
        if need:
            train_rung(rung, need, report)
        if top:
            return
        alive = [c for c in alive if c not in failed]
        ranked = sorted(alive, key=lambda c: (-_comparable(scores[c][rung]), pool.index(c)))
        kept = ranked[:keep_count(len(ranked), eta)] if ranked else []
        for cid in ranked[len(kept):]:
            stop(cid, rung)
        alive = kept
        rung = rung + 1 if len(alive) > 1 else n_rungs - 1


def _comparable(fitness: float) -> float:
    return -math.inf if fitness is None or math.isnan(fitness) else fitness


# ---------------------------------------------------------------------- legs and their checkpoints


def _state_path(store: RunStore, cid: str, seed: int):
    path = store.checkpoint_path(cid, seed)
    return path.with_name(path.stem + ".rungs.json")


def leg_state(store: RunStore, cid: str, seed: int) -> dict:
    """What the finished legs of one candidate's seed left: ``{"rungs": {rung: outcome}, "last": result}``."""
    import json

    path = _state_path(store, cid, seed)
    if not path.is_file():
        return {"rungs": {}, "last": None}
    data = json.loads(path.read_text())
    data["rungs"] = {int(k): v for k, v in data["rungs"].items()}
    return data


def load_checkpoint(store: RunStore, cid: str, seed: int) -> dict | None:
    import json

    path = store.checkpoint_path(cid, seed)
    return json.loads(path.read_text()) if path.is_file() else None


def save_leg(store: RunStore, cid: str, seed: int, rung: int, target: int, result: SeedResult) -> None:
    """Keeps a finished leg: the policy first (the next leg resumes from it), then its outcome."""
    import json

    if result.checkpoint is not None:
        write_atomic(store.checkpoint_path(cid, seed), json.dumps(
            {**result.checkpoint, "timesteps": result.timesteps, "fitness": result.fitness, "rung": rung}))
    state = leg_state(store, cid, seed)
    state["rungs"][rung] = {
        "target": target, "timesteps": result.timesteps, "fitness": result.fitness,
        "trained_steps": result.trained_steps if result.trained_steps is not None else result.timesteps,
        "train_seconds": result.train_seconds, "wall_seconds": result.wall_seconds or 0.0,
        "evaluation_steps": sum(e.get("length", 0) for e in result.episodes), "snapshots": result.snapshots}
    last = asdict(result)
    last.pop("checkpoint", None)
    state["last"] = {**last, "rung": rung}
    write_atomic(_state_path(store, cid, seed), json.dumps(state))


def merged_result(store: RunStore, cid: str, seed: int, rung: int) -> SeedResult:
    """One seed's result at ``rung`` with every leg up to it folded in (snapshots, steps, seconds)."""
    state = leg_state(store, cid, seed)
    legs = [state["rungs"][r] for r in sorted(state["rungs"]) if r <= rung]
    last = {k: v for k, v in (state["last"] or {}).items() if k != "rung"}
    result = SeedResult(**last)
    result.snapshots = [s for leg in legs for s in leg["snapshots"]]
    result.trained_steps = sum(leg["trained_steps"] for leg in legs)
    result.train_seconds = sum(leg["train_seconds"] for leg in legs)
    result.wall_seconds = sum(leg["wall_seconds"] for leg in legs)
    result.steps_per_second = result.trained_steps / result.train_seconds if result.train_seconds else 0.0
    return result


# ---------------------------------------------------------------------- one pool of candidates


class PoolTrainer:
    """Trains one pool of candidates of a generation (halving, or a single full-budget rung) through
    the evolution's executor, checkpointing every leg and recording each candidate once."""

    def __init__(self, evolution, pool: list[str], rungs: list[int], eta: int, seeds: list[int]):
        self.evo = evolution
        self.store: RunStore = evolution.store
        self.pool, self.rungs, self.eta, self.seeds = pool, rungs, eta, seeds

    def run(self) -> None:
        scores: dict[str, dict[int, float]] = {}
        for cid in self.pool:
            candidate = self.store.candidate(cid)
            if candidate.status == SCORED:  # recorded before the run stopped: never trained again
                recorded = (candidate.result or {}).get("halving")
                scores[cid] = {int(r): f for r, f in recorded["history"].items()} if recorded else \
                    {len(self.rungs) - 1: candidate.fitness}
                continue
            per_seed = [leg_state(self.store, cid, s)["rungs"] for s in self.seeds]
            done = set.intersection(*(set(r) for r in per_seed))
            scores[cid] = {r: statistics.fmean(p[r]["fitness"] for p in per_seed) for r in done}
        successive_halving(self.pool, len(self.rungs), self.eta, scores, self._train_rung,
                           lambda cid, rung: self._stop(cid, rung, scores[cid]))

    def _train_rung(self, rung: int, ids: list[str], report) -> None:
        evo, target = self.evo, self.rungs[rung]
        budget = Budget(target, max_seconds=evo.budget.max_seconds, memory_mb=evo.budget.memory_mb)
        futures, waiting, fitness, errors = {}, {}, {}, {}
        for cid in ids:
            candidate = self.store.candidate(cid)
            if candidate.status == FAILED:  # a resumed run replays its failure without training it
                report(cid, None)
                continue
            self.store.update(cid, status=TRAINING)
            evo.on_event("training", candidate=candidate)
            fitness[cid], waiting[cid] = {}, 0
            for seed in self.seeds:
                done = leg_state(self.store, cid, seed)["rungs"].get(rung)
                if done is not None:  # this seed finished the rung before the run stopped
                    fitness[cid][seed] = done["fitness"]
                    continue
                future = evo.executor().submit(
                    evo.task, candidate.code, seed, budget, on_progress=evo.progress_reporter(candidate),
                    checkpoint=load_checkpoint(self.store, cid, seed), planned_total=evo.budget.timesteps,
                    return_checkpoint=True, keep_trajectories=evo.config.keep_trajectories,
                    eval_episodes=evo.config.eval_episodes)
                futures[future] = (cid, seed)
                waiting[cid] += 1
            if not waiting[cid]:
                report(cid, statistics.fmean(fitness[cid].values()))
        for future in as_completed(futures):
            cid, seed = futures[future]
            try:
                result = future.result()
            except Cancelled:
                raise
            except TrainingError as exc:
                self.store.append_log(cid, f"FAILED: {exc}")
                errors[cid] = exc
            else:
                save_leg(self.store, cid, seed, rung, target, result)
                fitness[cid][seed] = result.fitness
                if len(self.rungs) > 1:
                    self.store.append_log(cid, f"seed={seed} rung {rung + 1}/{len(self.rungs)} done: "
                                               f"{result.timesteps} steps, fitness {result.fitness:.4g}")
            waiting[cid] -= 1
            if waiting[cid] == 0:
                if cid in errors:
                    spent = sum(leg["trained_steps"] for s in self.seeds
                                for leg in leg_state(self.store, cid, s)["rungs"].values())
                    evo.record_failure(self.store.candidate(cid), errors[cid], steps_spent=spent)
                    report(cid, None)
                else:
                    report(cid, statistics.fmean(fitness[cid].values()))

    def _stop(self, cid: str, rung: int, history: dict[int, float]) -> None:
        candidate = self.store.candidate(cid)
        if candidate.status == SCORED:
            return  # recorded before the run stopped
        full = self.rungs[-1]
        fraction = self.rungs[rung] / full
        score = Score.of([merged_result(self.store, cid, s, rung) for s in self.seeds])
        halving = {"rung": rung, "rungs": self.rungs, "eta": self.eta,
                   "history": {str(r): f for r, f in sorted(history.items())},
                   "stopped_early": rung < len(self.rungs) - 1} if len(self.rungs) > 1 else None
        note = None
        if halving and halving["stopped_early"]:
            note = (f"stopped by successive halving at {_fraction(fraction)} of the budget "
                    f"({score.timesteps:,} of {full:,} steps); its fitness compares only with that rung's")
        self.evo.record_scored(candidate, score, budget_fraction=fraction, halving=halving, note=note)


def _fraction(f: float) -> str:
    inverse = 1 / f if f else 0
    return f"1/{round(inverse)}" if f < 1 and abs(inverse - round(inverse)) < 0.05 else f"{f:.0%}"


# ---------------------------------------------------------------------- final multi-seed scoring


def final_subjects(store: RunStore, top: int) -> list:
    """The candidates the final scoring re-trains: the top ``top`` non-baseline ones, those that went
    furthest in successive halving first, then by fitness."""
    from .store import budget_fraction

    scored = [c for c in store.candidates(status=SCORED) if c.origin != "baseline" and c.fitness is not None]
    scored.sort(key=lambda c: (-budget_fraction(c), -c.fitness, c.seq))  # the furthest in halving first
    return scored[:top]


def final_scoring(evolution) -> dict | None:
    """Re-trains the top candidates, the baseline and the task's sparse reward on fresh seeds at the
    full budget; records each seed as it finishes (a resumed run trains only missing ones) and gives
    the summary (also kept as meta ``final``)."""
    evo, store, config = evolution, evolution.store, evolution.config
    if config.final_seeds <= 0:
        return None
    seeds = [config.seed + 1 + i for i in range(config.final_seeds)]  # not the seed selection used
    subjects = [(c.id, "candidate", c.code) for c in final_subjects(store, config.final_top)]
    baseline = store.baseline()
    if baseline is not None:
        subjects.append((baseline.id, "baseline", baseline.code))
    if evo.task.sparse:
        subjects.append(("sparse", "sparse", evo.task.sparse))
    if not any(role == "candidate" for _, role, _ in subjects):
        return None
    done = {(r["subject"], r["seed"]) for r in store.final_runs()}
    todo = [(s, seed) for s in subjects for seed in seeds if (s[0], seed) not in done]
    evo.on_event("note", message=f"final scoring: {len(subjects)} rewards × {len(seeds)} seeds "
                                 f"({len(todo)} trainings to go) at {evo.budget.timesteps:,} steps")
    futures = {}
    for (subject, role, code), seed in todo:
        futures[evo.executor().submit(
            evo.task, code, seed, evo.budget, return_checkpoint=True,
            eval_episodes=config.eval_episodes)] = (subject, role, seed)
    for future in as_completed(futures):
        subject, role, seed = futures[future]
        try:
            result = future.result()
        except Cancelled:
            raise
        except TrainingError as exc:
            store.add_final_run(subject, role, seed, FAILED, reason=str(exc))
            evo.on_event("note", message=f"final scoring: {subject} seed {seed} failed: {exc}")
            continue
        if result.checkpoint is not None:
            import json

            write_atomic(store.checkpoint_path(subject, seed), json.dumps(
                {**result.checkpoint, "timesteps": result.timesteps, "fitness": result.fitness}))
        kept = asdict(result)
        for key in ("checkpoint", "trajectories", "log_tail"):
            kept.pop(key, None)
        store.add_final_run(subject, role, seed, SCORED, fitness=result.fitness, timesteps=result.timesteps,
                            steps_spent=result.trained_steps, result=kept)
        evo.on_event("note", message=f"final scoring: {subject} seed {seed} fitness {result.fitness:.4g}")
    summary = summarize_final(store.final_runs(), [s[0] for s in subjects], seeds, store)
    store.set_meta("final", summary)
    store.event("final_scored", {"best": summary["best"], "seeds": seeds})
    return summary


def summarize_final(rows: list[dict], subjects: list[str], seeds: list[int], store: RunStore) -> dict:
    """Mean ± std fitness per subject over the final seeds, and the human-normalized score
    (fitness − sparse) / |baseline − sparse|."""
    entries = []
    for subject in subjects:
        mine = [r for r in rows if r["subject"] == subject and r["seed"] in seeds]
        values = [r["fitness"] for r in mine if r["status"] == SCORED]
        entry = {"id": subject, "role": mine[0]["role"] if mine else None, "seeds": len(values),
                 "failed": sum(r["status"] == FAILED for r in mine), "per_seed": values,
                 "fitness_mean": statistics.fmean(values) if values else None,
                 "fitness_std": statistics.pstdev(values) if len(values) > 1 else 0.0 if values else None,
                 "timesteps": max((r["timesteps"] or 0 for r in mine), default=None)}
        if subject != "sparse":
            entry["search_fitness"] = store.candidate(subject).fitness
        entries.append(entry)
    by_role = {e["role"]: e for e in entries if e["role"] in ("baseline", "sparse")}
    base, sparse = by_role.get("baseline"), by_role.get("sparse")
    scale = None
    if base and sparse and base["fitness_mean"] is not None and sparse["fitness_mean"] is not None:
        scale = abs(base["fitness_mean"] - sparse["fitness_mean"]) or None
    for e in entries:
        e["normalized"] = (e["fitness_mean"] - sparse["fitness_mean"]) / scale \
            if scale and e["fitness_mean"] is not None else None
    offline = store.config.get("designer") == "offline"
    contenders = [e for e in entries if e["fitness_mean"] is not None
                  and (e["role"] == "candidate" or (offline and e["role"] == "baseline"))]
    best = max(contenders, key=lambda e: e["fitness_mean"], default=None)
    return {"seeds": seeds, "timesteps": entries[0]["timesteps"] if entries else None,
            "entries": entries, "best": best["id"] if best else None,
            "normalization": None if scale is None else
            {"baseline": base["fitness_mean"], "sparse": sparse["fitness_mean"]}}
