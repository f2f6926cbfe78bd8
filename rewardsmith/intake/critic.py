"""The critic: rejects broken or unsafe reward code before any training runs.

Stage one is static (``static_findings``, static.py: parse, signature, imports, forbidden names and attributes,
module layout). Stage two is dynamic (``Critic.check``): the code is called on a few hundred
transitions from random-policy rollouts, in a sandboxed process (``rewardsmith.sandbox.probe`` is its side).
Every finding names the line where there is one, and reads like gymnasium's env checker: the actual
value, the expected one, the likely cause. The same text goes back to the LLM for repair.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ..analysis.components import DOMINANT_SHARE, dominant_component, magnitude_shares
from .. import untrusted
from ..errors import SandboxError
from ..host.launch import Limits, run_job
from ..sandbox.rewardcode import MAX_REWARD
from ..archive.records import ComponentStats, CriticVerdict, ProbeStats
from .static import Finding, refused_attribute, static_findings  # noqa: F401 - the critic's static stage

DEFAULT_TRANSITIONS = 300
DEFAULT_CALL_LIMIT_S = 1e-3


@dataclass
class Verdict:
    """The critic's answer for one piece of reward code (``stats``: what its probe measured, None when
    the code was rejected before the probe finished)."""

    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    stats: ProbeStats | None = None

    @property
    def accepted(self) -> bool:
        return not self.errors

    def report(self) -> str:
        """The full text: every reason, then every warning (what the LLM sees for a repair)."""
        lines = []
        if self.errors:
            lines.append(f"REJECTED ({len(self.errors)} problem{'s' * (len(self.errors) > 1)}):")
            lines += [f"- {f}" for f in self.errors]
        else:
            lines.append("ACCEPTED")
            if self.stats is not None and self.stats.calls:
                lines.append(
                    f"- called on {self.stats.calls} transitions, {self.stats.mean_call_ms:.3f} ms "
                    f"per call; total in [{self.stats.total_min:.4g}, {self.stats.total_max:.4g}]; "
                    f"components: {', '.join(self.stats.components) or '(none)'}"
                )
        if self.warnings:
            lines.append("Warnings:")
            lines += [f"- {f}" for f in self.warnings]
        return "\n".join(lines)

    def record(self) -> CriticVerdict:
        """What a candidate keeps of this verdict (``Candidate.verdict``)."""
        return CriticVerdict(errors=[str(f) for f in self.errors], warnings=[str(f) for f in self.warnings],
                             stats=self.stats)


# --------------------------------------------------------------------------- the critic (parent side)


def probe_job(code: str, transitions: dict) -> dict:
    """The sandboxed probe's job: call ``code`` on ``transitions`` (``Critic.probe_transitions``); the job
    needs no task (nothing of it is readable in the probe's sandbox)."""
    return {"kind": "check", "code": code, "transitions": transitions}


class Critic:
    """Checks reward code for one task: static rules, then a sandboxed dynamic probe."""

    def __init__(self, task, transitions: int = DEFAULT_TRANSITIONS,
                 call_limit_s: float = DEFAULT_CALL_LIMIT_S, limits: Limits | None = None, seed: int = 0):
        self.task = task
        self.transitions = transitions
        self.call_limit_s = call_limit_s
        self.limits = limits or Limits(wall_seconds=20.0, cpu_seconds=10.0, memory_mb=1536)
        self.seed = seed
        self._probe_transitions: dict | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_run(cls, task, config) -> "Critic":
        """A run's critic (``config``: its ``EvolveConfig``): its seed, and ``--critic-seconds`` of CPU time for
        the probe (twice that of wall time), so every way code enters the run (a designer's proposal, a
        person's edit) is probed alike."""
        seconds = config.critic_seconds
        return cls(task, seed=config.seed, limits=Limits(wall_seconds=2 * seconds, cpu_seconds=seconds, memory_mb=1536))

    def check(self, code: str) -> Verdict:
        """The verdict on ``code``; never raises for anything the code does."""
        verdict = Verdict(errors=static_findings(code, list(self.task.fields)))
        if verdict.errors:
            return verdict
        job = probe_job(code, self.probe_transitions())
        try:
            probe = self._checked(run_job(job, self.limits))
        except SandboxError as exc:
            rule = {"timeout": "time-limit", "cpu": "time-limit", "memory": "memory-limit",
                    "protocol": "protocol"}.get(exc.kind, "crash")
            if rule == "time-limit":
                verdict.errors.append(Finding(rule, self._out_of_time()))
            else:
                verdict.errors.append(Finding(rule, str(exc), _line_of(str(exc))))
            return verdict
        if "message" in probe:
            verdict.errors.append(Finding("runtime", probe["message"], _line_of(probe["message"])))
            return verdict
        self._judge(probe, verdict)
        return verdict

    def probe_transitions(self) -> dict:
        """The random-policy transitions every probe of this critic calls the reward on, rolled out here once
        (``sandbox.probe.random_transitions``: the task's environment, no candidate code) and encoded for the
        job, so each probe only loads and calls the reward."""
        with self._lock:
            if self._probe_transitions is None:
                from ..sandbox.probe import encode_transitions, random_transitions

                self._probe_transitions = encode_transitions(random_transitions(self.task, self.transitions, self.seed))
            return self._probe_transitions

    def _out_of_time(self) -> str:
        """One message for a probe that ran out of time, whichever limit the kernel or the child saw first
        (the CPU-time limit, or the wall-clock one on a loaded machine) and however long it had run: the
        reason goes into the model's repair and iteration prompts, and the same run must send the same
        prompts (the response cache replays by prompt)."""
        cpu, wall = self.limits.for_child()["cpu_seconds"], self.limits.wall_seconds
        return (f"the reward did not finish the critic's probe within its CPU-time limit of {cpu:g} s "
                f"({wall:g} s of wall-clock time); likely cause: an infinite loop or a reward far too slow to compute")

    def _checked(self, probe) -> dict:
        """The probe's report, every number checked here: ``{"message"}`` when the reward failed, else
        exactly one finite total, component value and timing per transition. The child's own claim
        of success counts for nothing (a child that says "ok" with NaN totals is a protocol error)."""
        probe = untrusted.mapping(probe, "the probe result")
        if probe.get("ok") is not True:
            return {"message": untrusted.text(probe.get("message"), "the probe's failure message")}
        n = self.transitions
        totals = untrusted.numbers(probe.get("totals"), "the probe's totals", n)
        times = [untrusted.number(t, "a call time", minimum=0) for t in untrusted.numbers(probe.get("times"), "the probe's call times", n)]
        components = untrusted.components(probe.get("components"), "the probe's components", n)
        if any(abs(v) > MAX_REWARD for values in (totals, *components.values()) for v in values):
            # the probe fails such a reward itself (rewardcode.as_real): one that got here tampered with it
            raise untrusted.violation("a reward of magnitude above the bound", f"at most {MAX_REWARD:g} per step")
        key_sets = probe.get("key_sets")
        if not isinstance(key_sets, list) or not key_sets or len(key_sets) > n or not all(
                isinstance(k, list) and all(isinstance(name, str) and name in components for name in k) for k in key_sets):
            raise untrusted.violation("malformed component name sets", "lists of the reported component names")
        return {"totals": totals, "times": times, "components": components, "key_sets": key_sets}

    def _judge(self, probe: dict, verdict: Verdict) -> None:
        totals = np.asarray(probe["totals"], dtype=float)
        times = np.asarray(probe["times"][1:] or probe["times"], dtype=float)  # first call warms up
        comps = {k: np.asarray(v, dtype=float) for k, v in probe["components"].items()}
        mean_call = float(times.mean())
        verdict.stats = ProbeStats(
            calls=len(totals), mean_call_ms=mean_call * 1e3,
            total_min=float(totals.min()), total_max=float(totals.max()),
            total_mean=float(totals.mean()), total_std=float(totals.std()),
            components={k: ComponentStats(mean=float(v.mean()), std=float(v.std()), min=float(v.min()),
                                          max=float(v.max())) for k, v in comps.items()})
        if mean_call > self.call_limit_s:
            verdict.errors.append(Finding(
                "slow", f"compute_reward took {mean_call * 1e3:.2f} ms of CPU per call on average; expected at "
                f"most {self.call_limit_s * 1e3:.2f} ms. Likely cause: loops over arrays (vectorise with "
                f"numpy) or work that does not depend on the state (move it to a module constant)."))
        if totals.std() < 1e-12 * max(1.0, abs(totals.mean())):
            verdict.warnings.append(Finding(
                "constant", f"the total reward was {totals[0]:.6g} on all {len(totals)} random transitions; "
                f"a constant reward gives the agent no signal. Likely cause: terms that cancel, or a "
                f"condition that random actions never meet.", severity="warning"))
        if self.task.termination == "success" and totals.min() > 0:
            # where the env ends an episode at the goal, a reward paid for every step is paid for not getting there
            verdict.warnings.append(Finding(
                "termination", f"the total reward was positive on all {len(totals)} random transitions "
                f"(min {totals.min():.3g}); this task's environment ends an episode when the goal is reached "
                f"(TERMINATION = 'success'), so every step the agent stays away from the goal earns it more. "
                f"Make the per-step reward negative (a time cost), or pay for progress towards the goal rather "
                f"than for being in the episode.", severity="warning"))
        shares = magnitude_shares(comps)
        name = dominant_component(shares)
        if name is not None:
            share = shares[name]
            assert share is not None  # dominant_component names only a component with a share
            verdict.warnings.append(Finding(
                "dominant", f"component {name!r} carries {100 * share:.1f}% of the reward "
                f"magnitude; expected no single term above {DOMINANT_SHARE:.0%}. The other terms barely "
                f"matter; rescale them or drop them.", severity="warning"))
        big = float(np.abs(totals).max())
        biggest_comp = max((float(np.abs(v).max()) for v in comps.values()), default=0.0)
        if max(big, biggest_comp) > 1e4:
            verdict.warnings.append(Finding(
                "magnitude", f"reward values reach {max(big, biggest_comp):.3g}; expected magnitudes "
                f"below 1e4. Large rewards destabilise PPO's value function; scale the terms down.",
                severity="warning"))
        if len(probe["key_sets"]) > 1:
            verdict.warnings.append(Finding(
                "components-vary", "compute_reward returned different component names on different "
                "calls; return every term on every call (0.0 when inactive) so analysis can follow it.",
                severity="warning"))


def _line_of(message: str) -> int | None:
    marker = "at line "
    if marker in message:
        digits = message.split(marker, 1)[1].split()[0].strip("(),:")
        if digits.isdigit():
            return int(digits)
    return None

