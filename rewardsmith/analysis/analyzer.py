"""What a trained policy actually did, measured, and the reflection the designer reads next.

``analyze`` turns a ``Score`` into an ``Analysis``: evaluation episodes, reward components with their
series over training (Eureka's reward reflection), state fields, actions, and the failure modes the
detectors find, each with its numbers (Auto MC-Reward's trajectory analyzer, measured). ``render_reflection``
renders it (prompts/reflection.j2); ``analyzer_prompt``, ``critic_prompt`` and ``parse_veto`` serve the
optional LLM roles (``--llm-analyzer``, ``--llm-critic``).
"""

from __future__ import annotations

import ast
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from .components import dominant_component, magnitude_shares
from ..errors import ConfigError, LLMError
# Analysis and Finding live in archive/records/ (the store reads them); importable from here too
from ..archive.records import (ActionStats, Analysis, ComponentAnalysis, ComponentCurve,  # noqa: F401
                               EpisodeAnalysis, EpisodeSummary, EvaluationMeans, FieldPath, FieldSummary, Finding,
                               TrainingCurves, Trajectory)
from ..archive.records.analysis import figure
from ..task import Task
from ..training.trainer import Score

# ---- detector thresholds; a Finding's evidence holds the measured values, its message what they mean
POSITION_UNITS = frozenset({"m", "cm", "mm", "rad", "deg"})  # fitness fields in these units move with progress
STILL_DISPLACEMENT = 0.05    # every such field strays less than this (its unit) from its start: standing still
NEAR_ZERO_FITNESS = 0.01     # |fitness| at most this in every evaluation episode: fitness always near zero
RANDOM_MARGIN = 0.05         # fitness at most random + this × max(1, |random|): no better than random actions
EARLY_FRACTION = 0.5         # the environment ended the episode before this fraction of the time limit: early
JITTER_FLIP_RATE = 0.3       # action sign flips per step and dimension above this: jitter (uniform noise ≈ 0.5)
ACTION_DEADBAND = 0.05       # |action − centre| below this fraction of the half-range has no sign (cannot flip)
SATURATION_TOLERANCE = 0.01  # within this fraction of the range from a bound counts as at the bound
SATURATION_FRACTION = 0.7    # more than this fraction of action components at a bound: saturation
FLAT_RELATIVE_RANGE = 0.05   # a training series with (max − min) ≤ this × max |value|: flat, not being optimized
FLAT_MIN_SNAPSHOTS = 3       # fewer snapshots than this say nothing about flatness
HACK_RETURN_RISE = 0.25      # training return up by this (relative; first third vs. last third of snapshots) ...
HACK_FITNESS_GAIN = 0.05     # ... while training fitness gained at most this (relative): reward hacking
HACK_MIN_SNAPSHOTS = 4       # snapshots with finished episodes needed for a training trend
ARCHIVE_MIN = 3              # archive comparisons need at least this many other scored candidates
ARCHIVE_REWARD_RANK = 0.75   # reward per step above at least this fraction of the archive ...
ARCHIVE_FITNESS_RANK = 0.25  # ... with fitness above at most this fraction of it: reward hacking
MIN_CORR_EPISODES = 3        # a component's correlation with fitness needs this many evaluation episodes
MAX_REFLECTION_BYTES = 2048  # the reflection drops state lines (never components) until it fits
MAX_REFLECTION_FIELDS = 8


@dataclass
class DetectorContext:
    """What detectors may consult besides the analysis."""
    task: Task
    archive: list[dict]
    random_fitness: float | None = None


# --------------------------------------------------------------------------- measuring


def _r(x, digits: int = 4):
    """A JSON-safe float rounded to ``digits`` significant digits (None when missing or not finite): the
    analysis' one rounding rule (``records.analysis.figure``; the store rounds its score read back the same)."""
    return figure(x, digits)


def _mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _per_state(values) -> np.ndarray:
    """A field's rows as scalars: the value itself, or the norm of a vector field."""
    a = np.asarray(values, dtype=float)
    return a if a.ndim == 1 else np.linalg.norm(a.reshape(len(a), -1), axis=1)


def _displacement(values) -> float:
    """How far a field strays from its first value (vector fields: Euclidean distance)."""
    a = np.asarray(values, dtype=float).reshape(len(values), -1)
    return float(np.max(np.linalg.norm(a - a[0], axis=1)))


def _series(score: Score, get) -> list:
    """Per snapshot index, the mean over seeds of ``get(snapshot)`` (None where no seed has a value)."""
    n = max((len(r.snapshots) for r in score.runs), default=0)
    values = [[get(r.snapshots[i]) for r in score.runs if i < len(r.snapshots)] for i in range(n)]
    return [_r(_mean([v for v in vs if v is not None and math.isfinite(v)])) for vs in values]


def _corr(x, y):
    """Pearson correlation; None with fewer than MIN_CORR_EPISODES points or a constant side."""
    ok = len(x) >= MIN_CORR_EPISODES and np.std(x) > 1e-12 and np.std(y) > 1e-12
    return _r(np.corrcoef(x, y)[0, 1], 3) if ok else None


def _sign(values: np.ndarray) -> str:
    pos, neg = bool(np.any(values > 0)), bool(np.any(values < 0))
    return "±" if pos and neg else "+" if pos else "-" if neg else "0"


def termination_meaning(task: Task) -> str:
    """What the environment (not the time limit) ending an episode means: "failure" (fell, unhealthy; the
    default) or "success" where the task file declares ``TERMINATION = "success"`` (mountain car's flag)."""
    return task.termination


def _action_stats(trajectories: list[Trajectory]) -> ActionStats:
    """Sign flips per step, the fraction at the bounds, and the mean |action| as a fraction of the half-range."""
    flips = pairs = at_bound = bounded = 0
    magnitudes, dims = [], None
    for t in trajectories:
        a = np.asarray(t.actions, dtype=float)
        if not a.size:
            continue
        a = a.reshape(len(a), -1)
        dims = a.shape[1]
        low, high = (np.array([np.nan if v is None else v for v in getattr(t, key) or [None] * dims], dtype=float)
                     for key in ("action_low", "action_high"))
        finite = np.isfinite(low) & np.isfinite(high)  # unknown or unbounded: signs around 0, never saturated
        low, high = np.where(finite, low, -1.0), np.where(finite, high, 1.0)
        scaled = (a - (low + high) / 2) / ((high - low) / 2)
        signs = np.where(np.abs(scaled) > ACTION_DEADBAND, np.sign(scaled), 0.0)
        flips += int(np.sum(signs[1:] * signs[:-1] < 0))
        pairs += (len(a) - 1) * dims
        tol = SATURATION_TOLERANCE * (high - low)
        at_bound += int(((a <= low + tol) | (a >= high - tol))[:, finite].sum())
        bounded += int(a[:, finite].size)
        magnitudes.append(np.abs(scaled))
    return ActionStats(dims=dims, flip_rate=_r(flips / pairs) if pairs else None,
                       saturation=_r(at_bound / bounded) if bounded else None,
                       mean_abs=_r(np.mean(np.concatenate(magnitudes))) if magnitudes else None)


def _episode(seed: int, index: int, summary: EpisodeSummary, trajectory: Trajectory | None) -> EpisodeAnalysis:
    fields = {}
    for name, values in (trajectory.fields if trajectory is not None else {}).items():
        if len(values):
            x = _per_state(values)
            fields[name] = FieldPath(first=_r(x[0]), last=_r(x[-1]), min=_r(x.min()), max=_r(x.max()),
                                     mean=_r(x.mean()), displacement=_r(_displacement(values)))
    ended = "terminated" if summary.terminated else "truncated" if summary.truncated else "other"
    return EpisodeAnalysis(seed=seed, index=index, fitness=_r(summary.fitness), length=summary.length,
                           reward_return=_r(summary.reward_return), native_return=_r(summary.native_return),
                           ended=ended, fields=fields)


def _components(score: Score, kept: list[Trajectory], kept_fitness: list[float]) -> dict[str, ComponentAnalysis]:
    """Per component: its evaluation statistics (the last snapshot's without trajectories) and training series."""
    names = dict.fromkeys([n for r in score.runs for s in r.snapshots for n in s.components]
                          + [n for t in kept for n in t.components or {}])
    steps = sum(len(cast(list, t.rewards)) for t in kept)  # the trainer replayed the reward on each kept one
    entries: dict[str, dict[str, Any]] = {}
    per_step: dict[str, np.ndarray | list[float]] = {}
    for name in names:
        series = _series(score, lambda s, n=name: s.components.get(n))
        values = [v for v in series if v is not None]
        entry: dict[str, Any] = {"training": ComponentCurve(
            series=series, min=min(values, default=None), mean=_r(_mean(values)), max=max(values, default=None))}
        if steps:
            per_episode = [np.asarray((t.components or {}).get(name, []), dtype=float) for t in kept]
            per_step[name] = evaluated = np.concatenate(per_episode)
            entry.update(source="evaluation", mean_per_step=_r(evaluated.sum() / steps),
                         sign=_sign(evaluated), fitness_corr=_corr([e.sum() for e in per_episode], kept_fitness))
        else:
            last = values[-1] if values else 0.0
            per_step[name] = [last]
            entry.update(source="training", mean_per_step=last, sign=_sign(np.array([last])), fitness_corr=None)
        entries[name] = entry
    shares = magnitude_shares(per_step)
    return {name: ComponentAnalysis(**entry, share=_r(shares[name])) for name, entry in entries.items()}


def analyze(task: Task, score: Score, archive: list[dict] | None = None, *,
            random_fitness: float | None = None) -> Analysis:
    """The analysis of one scored candidate; ``archive``: other candidates' ``archive_entry`` dicts;
    ``random_fitness``: the task's fitness under random actions (``random_policy_fitness``) if known."""
    rollouts = [(run.seed, i, summary, run.trajectories[i] if i < len(run.trajectories) else None)
                for run in score.runs for i, summary in enumerate(run.episodes)]
    kept = [t for *_, t in rollouts if t is not None]
    summaries = [s for *_, s, _ in rollouts]
    limits = [s.length for s in summaries if s.truncated]  # a truncated episode ran to the limit
    max_steps = next((t.max_steps for t in kept if t.max_steps), None) \
        or task.max_episode_steps or max(limits, default=None)
    steps = sum(s.length for s in summaries)
    evaluation = EvaluationMeans(
        episodes=len(summaries), length=_r(_mean([s.length for s in summaries])),
        reward_return=_r(_mean([s.reward_return for s in summaries])),
        native_return=_r(_mean([s.native_return for s in summaries])),
        # the trainer replayed the reward on every evaluation episode, so each has its reward_return
        reward_per_step=_r(sum(cast(float, s.reward_return) for s in summaries) / steps) if steps else None)
    training = TrainingCurves(**{k: _series(score, lambda s, k=k: getattr(s, k)) for k in (
        "step", "fitness", "episode_return", "episode_length", "reward_per_step", "native_per_step")})
    fields = {}
    for name, spec in task.fields.items():
        rows = [t.fields[name] for t in kept if len(t.fields.get(name, []))]
        if rows:
            x = np.concatenate([_per_state(r) for r in rows])
            q = np.percentile(x, [0, 25, 50, 75, 100])
            fields[name] = FieldSummary(unit=spec.unit, kind="norm" if np.ndim(rows[0][0]) else "scalar",
                                        **{k: _r(v) for k, v in zip(("min", "q25", "median", "q75", "max"), q)},
                                        mean=_r(x.mean()))
    analysis = Analysis(
        fitness=_r(score.mean), fitness_std=_r(score.std), seeds=list(score.seeds), timesteps=score.timesteps,
        max_steps=max_steps, termination=termination_meaning(task), evaluation=evaluation,
        episodes=[_episode(*r) for r in rollouts],
        components=_components(score, kept, [s.fitness for *_, s, t in rollouts if t is not None]),
        fields=fields, actions=_action_stats(kept), training=training, findings=[])
    context = DetectorContext(task, list(archive or []), random_fitness)
    analysis.findings = [f for detect in DETECTORS if (f := detect(analysis, context)) is not None]
    return analysis


def archive_entry(candidate_id: str, analysis: Analysis) -> dict:
    """A scored candidate as ``analyze``'s ``archive`` wants it (reward per step: the last snapshot's)."""
    last = [v for v in analysis.training.reward_per_step if v is not None]
    return {"id": candidate_id, "fitness": analysis.fitness, "reward_per_step": last[-1] if last else None,
            "return": analysis.evaluation.reward_return}


def random_policy_fitness(task: Task, episodes: int | None = None, seed: int = 0) -> float:
    """The task's mean fitness under random actions, for ``analyze(random_fitness=...)``: the run's
    one measurement (``reference.random_trajectories``; a run keeps it in ``reference.RandomReference``)."""
    from .reference import EPISODES, random_trajectories

    # each random-policy episode is recorded with its fitness
    return statistics.fmean(cast(float, t.fitness) for t in random_trajectories(task, episodes or EPISODES, seed))


# --------------------------------------------------------------------------- detectors


def _trend(a: Analysis) -> tuple[float, float] | None:
    """Relative (return rise, fitness gain), first vs. last third of the snapshots with episodes, or None."""
    pairs = [(r, f) for r, f in zip(a.training.episode_return, a.training.fitness)
             if r is not None and f is not None]
    if len(pairs) < HACK_MIN_SNAPSHOTS:
        return None
    (r0, f0), (r1, f1) = zip(*pairs[:len(pairs) // 3]), zip(*pairs[-(len(pairs) // 3):])
    return _relative_change(_mean(r0), _mean(r1)), _relative_change(_mean(f0), _mean(f1))


def _relative_change(early: float, late: float) -> float:
    return (late - early) / max(abs(early), abs(late), 1e-9)


def detect_no_progress(a: Analysis, ctx: DetectorContext) -> Finding | None:
    """Standing still or fitness near zero, when fitness is no better than random's (if known) or did not
    improve in training (else): a balancing policy stands still too, but beats random and improves."""
    r, trend, evidence, reasons, briefs = ctx.random_fitness, _trend(a), {"fitness": a.fitness}, [], []
    if r is not None:
        if a.fitness > r + RANDOM_MARGIN * max(1.0, abs(r)):
            return None
        evidence["random_fitness"] = _r(r)
        reasons.append("fitness no better than with random actions")
        briefs.append("no better than random")
    elif trend is not None:
        if trend[1] > HACK_FITNESS_GAIN:
            return None
        evidence["training_fitness_gain"] = _r(trend[1])
    keys = [n for n in ctx.task.fitness_fields if ctx.task.fields[n].unit.strip().lower() in POSITION_UNITS]
    moved = {n: _mean([e.fields[n].displacement for e in a.episodes if n in e.fields]) for n in keys}
    moved = {n: d for n, d in moved.items() if d is not None}
    still = bool(moved) and all(d < STILL_DISPLACEMENT for d in moved.values())
    if still:
        reasons.append(f"{', '.join(moved)} barely left the start (standing still)")
        evidence.update({f"{n}.displacement": d for n, d in moved.items()})
        briefs.append("standing still")
    fitness = [e.fitness for e in a.episodes if e.fitness is not None]
    if fitness and all(abs(f) <= NEAR_ZERO_FITNESS for f in fitness):
        reasons.append("fitness near zero in every episode (advice 1)")
        evidence["max_abs_episode_fitness"] = _r(max(abs(f) for f in fitness))
        briefs.append("fitness ≈ 0")
    if not reasons:
        return None
    return Finding("no_progress", "No progress: " + "; ".join(reasons) + ".", evidence, ", ".join(briefs),
                   list(moved) if still else [])


def detect_early_termination(a: Analysis, ctx: DetectorContext) -> Finding | None:
    """Episodes the environment ended (fell, unhealthy) within the first part of the time limit."""
    if a.termination == "success" or not a.max_steps:
        return None
    early = [e for e in a.episodes if e.ended == "terminated" and e.length < EARLY_FRACTION * a.max_steps]
    if not early:
        return None
    n, length = len(a.episodes), _mean([e.length for e in early])
    evidence = {"early_episodes": len(early), "episodes": n, "mean_early_length": _r(length), "max_steps": a.max_steps}
    return Finding("early_termination", "Episodes end early (fell or unhealthy): falling must cost more than it "
                   "gains.", evidence, f"falls early in {len(early)}/{n} episodes")


def detect_jitter(a: Analysis, ctx: DetectorContext) -> Finding | None:
    """Actions that flip sign from one step to the next more often than JITTER_FLIP_RATE."""
    rate = a.actions.flip_rate
    if rate is not None and rate > JITTER_FLIP_RATE:
        return Finding("jitter", "Actions flip sign from step to step (jitter): penalize the change in action.",
                       {"flip_rate": rate}, f"jitter {rate:.2f}")
    return None


def detect_saturation(a: Analysis, ctx: DetectorContext) -> Finding | None:
    """Action components pinned at the bounds more often than SATURATION_FRACTION."""
    share = a.actions.saturation
    if share is not None and share > SATURATION_FRACTION:
        return Finding("action_saturation", "Actions sit at their bounds (bang-bang): if that hurts, penalize "
                       "effort.", {"saturation": share}, f"saturated {share:.0%}")
    return None


def detect_flat_component(a: Analysis, ctx: DetectorContext) -> Finding | None:
    """Components whose mean per step hardly changed over training (Eureka: not being optimized)."""
    flat, evidence = [], {}
    for name, c in a.components.items():
        values = [v for v in c.training.series if v is not None]
        peak = max((abs(v) for v in values), default=0.0)
        spread = (max(values) - min(values)) / peak if peak > 0 else 0.0
        if len(values) >= FLAT_MIN_SNAPSHOTS and spread <= FLAT_RELATIVE_RANGE:
            flat.append(name)
            evidence.update({f"{name}.relative_range": _r(spread), f"{name}.mean": c.training.mean})
    if not flat:
        return None
    quoted = ", ".join(f"'{n}'" for n in flat)
    return Finding("flat_component", f"{quoted} barely changed over training: not being optimized (advice 2).",
                   evidence, f"{quoted} flat", flat)


def detect_dominating_component(a: Analysis, ctx: DetectorContext) -> Finding | None:
    """A component carrying more than DOMINANT_SHARE of the reward's magnitude."""
    name = dominant_component({n: c.share for n, c in a.components.items()})
    if name is None:
        return None
    share = a.components[name].share
    assert share is not None  # dominant_component names only a component with a share
    return Finding("dominating_component", f"'{name}' dominates the reward's magnitude (advice 3).",
                   {"share": share}, f"'{name}' dominates ({share:.0%})", [name])


def detect_reward_hacking(a: Analysis, ctx: DetectorContext) -> Finding | None:
    """Training return rising while training fitness does not; or reward high, fitness low vs. the archive."""
    reasons: list[str] = []
    evidence: dict[str, float] = {}
    briefs: list[str] = []
    trend = _trend(a)
    if trend is not None and trend[0] >= HACK_RETURN_RISE and trend[1] <= HACK_FITNESS_GAIN:
        reasons.append("training return rose while training fitness did not")
        evidence.update(return_rise=_r(trend[0]), fitness_gain=_r(trend[1]))
        briefs.append(f"return {trend[0]:+.0%}, fitness {trend[1]:+.0%}")
    key = "reward_per_step" if any(e.get("reward_per_step") is not None for e in ctx.archive) else "return"
    others = [e for e in ctx.archive if e.get(key) is not None and e.get("fitness") is not None]
    mine = archive_entry("", a)[key]
    if len(others) >= ARCHIVE_MIN and mine is not None and a.fitness is not None:
        reward_rank = sum(e[key] < mine for e in others) / len(others)
        fitness_rank = sum(e["fitness"] < a.fitness for e in others) / len(others)
        if reward_rank >= ARCHIVE_REWARD_RANK and fitness_rank <= ARCHIVE_FITNESS_RANK:
            reasons.append(f"{key.replace('_', ' ')} above most of the archive's, fitness below most")
            evidence.update(reward_rank=_r(reward_rank), fitness_rank=_r(fitness_rank), archive=len(others))
            briefs.append("high reward, low fitness vs. archive")
    if not reasons:
        return None
    return Finding("reward_hacking", "Possible reward hacking: " + "; ".join(reasons) + " (advice 4).", evidence,
                   "reward hacking? (" + "; ".join(briefs) + ")")


DETECTORS = (detect_no_progress, detect_early_termination, detect_jitter, detect_saturation,
             detect_flat_component, detect_dominating_component, detect_reward_hacking)


def summary_line(analysis: Analysis) -> str:
    """One line for tables: the findings' briefs, e.g. "falls early in 3/5 episodes; jitter 0.42"."""
    return "; ".join(f.brief or f.name for f in analysis.findings) or "no failure mode found"


# --------------------------------------------------------------------------- rendering


def _sig(x, digits: int = 3) -> str:
    """A number as text with ``digits`` significant digits (no "-0"); None reads "n/a"."""
    if x is None or isinstance(x, (bool, int, np.integer)):
        return "n/a" if x is None else str(int(x))
    return f"{float(x) + 0.0:.{digits}g}"


def _seq(values) -> str:
    """A series as text; a constant one as "[value ×n]"."""
    text = ["-" if v is None else _sig(v) for v in values]
    return f"[{text[0]} ×{len(text)}]" if len(text) > 2 and len(set(text)) == 1 else "[" + ", ".join(text) + "]"


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.3g}%"


def _render(template_name: str, prompts_dir, **context):
    """A template (``prompts_dir``'s, else the shipped one) rendered, or as a module with ``module=True``."""
    import jinja2

    from ..templating import prompt_environment

    module = context.pop("module", False)
    try:
        env = prompt_environment(prompts_dir, (("sig", _sig), ("seq", _seq), ("pct", _pct)))
        template = env.get_template(template_name)
        return template.make_module(context) if module else template.render(**context)
    except jinja2.TemplateError as exc:
        raise ConfigError(f"prompt template {template_name}: {type(exc).__name__}: {exc}") from exc


def render_reflection(task: Task, candidate_id: str, analysis: Analysis, code: str | None = None,
                      prompts_dir: str | Path | None = None) -> str:
    """The reflection the designer reads (prompts/reflection.j2), within MAX_REFLECTION_BYTES where it can
    be: state lines go first. ``code`` only decides which state fields come first (those it reads)."""
    read = {n.attr for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Attribute)} if code else set()
    names = sorted(analysis.fields, key=lambda n: 0 if n in task.fitness_fields else 1 if n in read else 2)
    context = {"task": task, "id": candidate_id, "a": analysis}
    for limit in (MAX_REFLECTION_FIELDS, 4, 2, 1, 0):
        text = _render("reflection.j2", prompts_dir, **context, fields=names[:limit], diagnosis=None)
        if len(text.encode()) <= MAX_REFLECTION_BYTES:
            break
    if analysis.diagnosis:  # the template cuts it short; it does not count against the size limit
        text = _render("reflection.j2", prompts_dir, **context, fields=names[:limit], diagnosis=analysis.diagnosis)
    return text.strip() + "\n"


# --------------------------------------------------------------------------- optional LLM roles


def _messages(template_name: str, prompts_dir, **context) -> list[dict]:
    module = _render(template_name, prompts_dir, module=True, **context)
    return [{"role": "system", "content": str(module.system()).strip()},
            {"role": "user", "content": str(module.user()).strip()}]


def analyzer_prompt(task: Task, analysis: Analysis, code: str, prompts_dir=None) -> list[dict]:
    """Chat messages asking a model to diagnose the policy's behaviour (prompts/llm_analyzer.j2)."""
    reflection = render_reflection(task, "candidate", analysis, code, prompts_dir)
    return _messages("llm_analyzer.j2", prompts_dir, task=task, code=code.strip(), reflection=reflection)


def critic_prompt(task: Task, code: str, prompts_dir=None) -> list[dict]:
    """Chat messages asking a model to accept or veto a reward before training (prompts/llm_critic.j2)."""
    return _messages("llm_critic.j2", prompts_dir, task=task, code=code.strip())


_VERDICT = re.compile(r"^[\s*#>`_]*VERDICT\s*[:=-]\s*[*_`]*\s*(ACCEPT|VETO)\b[*_`]*\s*[:.,;—–-]?\s*(.*)$",
                      re.IGNORECASE)


def parse_veto(text: str) -> tuple[bool, str]:
    """(veto, reason) from a critic's reply: its first ``VERDICT: ACCEPT|VETO`` line, and as the reason
    the rest of that line and everything after it. No verdict line is an LLMError (not a guess)."""
    lines = (text or "").splitlines()
    for i, line in enumerate(lines):
        match = _VERDICT.match(line)
        if match:
            return match.group(1).upper() == "VETO", "\n".join([match.group(2).strip(), *lines[i + 1:]]).strip()
    raise LLMError("the critic's reply has no 'VERDICT: ACCEPT' or 'VERDICT: VETO' line; it began: "
                   f"{(text or '').strip()[:200]!r}")
