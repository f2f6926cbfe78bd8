"""The analyzer: each detector on synthetic rollouts built to trigger it and on ones that must not; the
JSON round trip; the reflection of a real short training; the LLM-role prompts and verdict parsing."""

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.analysis import analyzer
from rewardsmith.analysis.analyzer import (Analysis, analyze, analyzer_prompt, archive_entry, critic_prompt, parse_veto,
                                           render_reflection, summary_line)
from rewardsmith.errors import ConfigError, LLMError
from rewardsmith.archive.records import EpisodeSummary, Snapshot, Trajectory
from rewardsmith.task import BUILTIN_TASKS_DIR, Episode, load_task, load_task_file
from rewardsmith.training.trainer import Budget, Score, SeedResult, train

STEPS = 100  # synthetic episodes: 100 steps, which is also their time limit


@pytest.fixture(scope="module")
def task():
    return load_task("mountaincar-reach")


def task_declaring(tmp_path, termination):
    """A copy of mountain car whose file declares what an environment-ended episode means."""
    source = (BUILTIN_TASKS_DIR / "mountaincar_reach.py").read_text()
    source = "\n".join(ln for ln in source.splitlines() if not ln.startswith("TERMINATION"))
    path = tmp_path / f"mc_{termination}.py"
    path.write_text(source + f"\nTERMINATION = {termination!r}\n")
    return load_task_file(path)


def rollout(task, positions, actions, components=None, terminated=False, max_steps=STEPS, bounds=(-1.0, 1.0)):
    """(summary, trajectory) of a made-up mountain car episode, shaped like an evaluation child's output;
    fitness is the task's own."""
    positions = np.asarray(positions, dtype=float)
    n = len(positions) - 1
    velocities = np.diff(positions, prepend=positions[0])
    observations = np.stack([positions, velocities], axis=1)
    fields = {name: np.array([f.fn(None, o) for o in observations]) for name, f in task.fields.items()}
    actions = np.asarray(actions, dtype=float).reshape(n, -1)
    if components is None:
        components = {"progress": 10 * velocities[1:], "effort": -0.1 * np.sum(actions ** 2, axis=1)}
    components = {k: np.asarray(v, dtype=float) for k, v in components.items()}
    rewards = sum(components.values())
    episode = Episode(fields=fields, actions=actions, native_rewards=np.zeros(n), terminated=terminated,
                      truncated=not terminated, max_steps=max_steps, components=components, rewards=rewards)
    summary = EpisodeSummary(fitness=task.fitness(episode), length=n, reward_return=float(rewards.sum()),
                             native_return=0.0, terminated=terminated, truncated=not terminated)
    trajectory = Trajectory(fields={k: v.tolist() for k, v in fields.items()}, actions=actions.tolist(),
                            native_rewards=[0.0] * n, components={k: v.tolist() for k, v in components.items()},
                            rewards=rewards.tolist(), terminated=terminated, truncated=not terminated,
                            max_steps=max_steps)
    if bounds is not None:
        trajectory = replace(trajectory, action_low=[bounds[0]] * actions.shape[1],
                             action_high=[bounds[1]] * actions.shape[1])
    return summary, trajectory


def snapshots(components=None, fitness=None, returns=None, n=10):
    """Training snapshots; by default every component, the fitness and the return improve together."""
    components = components or {"progress": np.linspace(0.01, 0.08, n), "effort": np.linspace(-0.03, -0.018, n)}
    fitness = np.linspace(0.1, 0.7, n) if fitness is None else fitness
    returns = np.linspace(-5.0, 8.0, n) if returns is None else returns
    return [Snapshot(step=500 * (i + 1), reward_per_step=float(sum(v[i] for v in components.values())),
                     native_per_step=0.0, components={k: float(v[i]) for k, v in components.items()},
                     episodes=1 if fitness[i] is not None else 0, fitness=fitness[i], episode_return=returns[i],
                     episode_length=float(STEPS), elapsed=float(i)) for i in range(n)]


def score_of(rollouts, snaps=None, seed=0):
    """A one-seed Score; by default its snapshots have the rollouts' components, each rising."""
    if snaps is None:
        names = list(dict.fromkeys(n for _, t in rollouts for n in t.components))
        snaps = snapshots() if names == ["progress", "effort"] else \
            snapshots(components={n: np.linspace(1.0, 2.0, 10) for n in names})
    summaries = [s for s, _ in rollouts]
    fitness = [s.fitness for s in summaries]
    run = SeedResult(seed=seed, fitness=float(np.mean(fitness)), episode_fitness=fitness, timesteps=5000,
                     steps_per_second=1000.0, train_seconds=5.0, snapshots=snaps,
                     episodes=summaries, trajectories=[t for _, t in rollouts])
    return Score.of([run])


def swing(low=-0.5, high=0.3):
    return np.linspace(low, high, STEPS + 1)


def smooth_actions(amplitude=0.6, period=50):
    return amplitude * np.sin(2 * np.pi * np.arange(STEPS) / period)


def healthy(task, **kw):
    return rollout(task, swing(), smooth_actions(), **kw)


def found(task, rollouts, snaps=None, **kw):
    return {f.name: f for f in analyze(task, score_of(rollouts, snaps), **kw).findings}


# --------------------------------------------------------------------------- detectors


def test_a_healthy_policy_has_no_findings(task):
    analysis = analyze(task, score_of([healthy(task), healthy(task)]))
    assert analysis.findings == []
    assert summary_line(analysis) == "no failure mode found"


FLAT_FITNESS = snapshots(fitness=np.full(10, 0.05))  # training never improved the fitness


def test_standing_still_is_no_progress(task):
    still = rollout(task, -0.5 + 0.01 * np.sin(np.arange(STEPS + 1) / 5), np.zeros(STEPS))
    finding = found(task, [still, still], FLAT_FITNESS)["no_progress"]
    assert finding.evidence["position.displacement"] < analyzer.STILL_DISPLACEMENT
    assert finding.evidence["training_fitness_gain"] == 0
    assert "standing still" in finding.brief and finding.subjects == ["position"]
    assert "no_progress" not in found(task, [healthy(task)], FLAT_FITNESS)


def test_standing_still_while_fitness_improves_is_not_no_progress(task):
    # a balancing task: holding still is the goal, and training fitness rose to get there
    still = rollout(task, -0.5 + 0.01 * np.sin(np.arange(STEPS + 1) / 5), np.zeros(STEPS))
    assert "no_progress" not in found(task, [still], snapshots(fitness=np.linspace(0.1, 0.9, 10)))
    fitness = analyze(task, score_of([still])).fitness
    assert "no_progress" not in found(task, [still], random_fitness=fitness - 0.5)  # beats random actions


def test_fitness_near_zero_everywhere_is_no_progress(task):
    stuck_left = rollout(task, swing(-0.9, -0.6), smooth_actions())  # never above the valley bottom
    finding = found(task, [stuck_left, stuck_left], FLAT_FITNESS)["no_progress"]
    assert finding.evidence["max_abs_episode_fitness"] == 0 and "advice 1" in finding.message
    assert "no_progress" not in found(task, [stuck_left], snapshots(fitness=np.linspace(-0.5, -0.01, 10)))


def test_no_better_than_random_is_no_progress(task):
    rollouts = [healthy(task)]
    fitness = rollouts[0][0].fitness
    assert found(task, rollouts, random_fitness=fitness)["no_progress"].evidence["random_fitness"] == pytest.approx(fitness, rel=1e-3)
    assert "no_progress" not in found(task, rollouts, random_fitness=fitness - 0.5)


def test_episodes_the_environment_ends_early_are_flagged(task, tmp_path):
    falls = rollout(task, np.linspace(-0.5, -0.3, 21), smooth_actions()[:20], terminated=True)
    finding = found(task_declaring(tmp_path, "failure"), [falls, falls, healthy(task)])["early_termination"]
    assert finding.evidence["early_episodes"] == 2 and finding.evidence["mean_early_length"] == 20
    assert finding.brief == "falls early in 2/3 episodes"


def test_late_terminations_time_limits_and_goal_terminations_are_not_early(task, tmp_path):
    late = rollout(task, np.linspace(-0.5, -0.3, 91), smooth_actions()[:90], terminated=True)
    assert "early_termination" not in found(task_declaring(tmp_path, "failure"), [late, healthy(task)])
    goal = rollout(task, np.linspace(-0.5, 0.46, 21), smooth_actions()[:20], terminated=True)
    success = task_declaring(tmp_path, "success")
    assert analyze(success, score_of([goal])).termination == "success"
    assert "early_termination" not in found(success, [goal, goal])


def test_a_task_that_ends_on_success_gets_no_falling_advice(task, tmp_path):
    assert task.termination == "success"  # the shipped mountain car: the env ends an episode at the flag
    goal = rollout(task, np.linspace(-0.5, 0.46, 21), smooth_actions()[:20], terminated=True)
    for success in (task, task_declaring(tmp_path, "success")):
        text = render_reflection(success, "c1", analyze(success, score_of([goal, goal])))
        assert not re.search(r"fell|fall|unhealthy", text, re.IGNORECASE), text
        assert "reached the goal) 2" in text
    # the same episodes where the env ends an episode on failure: the falling advice is right there
    failure = task_declaring(tmp_path, "failure")
    text = render_reflection(failure, "c1", analyze(failure, score_of([goal, goal])))
    assert "fell or unhealthy) 2" in text and "falling must cost more" in text

def test_alternating_actions_are_jitter(task):
    jittery = rollout(task, swing(), 0.8 * (-1.0) ** np.arange(STEPS))
    finding = found(task, [jittery])["jitter"]
    assert finding.evidence["flip_rate"] == pytest.approx(1.0)
    assert finding.brief == "jitter 1.00"


def test_smooth_actions_and_noise_inside_the_deadband_are_not_jitter(task):
    assert "jitter" not in found(task, [healthy(task)])
    tiny = rollout(task, swing(), 0.01 * (-1.0) ** np.arange(STEPS))  # below ACTION_DEADBAND of the range
    assert "jitter" not in found(task, [tiny])


def test_actions_pinned_at_the_bounds_are_saturation(task):
    bang_bang = rollout(task, swing(), np.where(np.arange(STEPS) < 50, 1.0, -1.0))
    assert found(task, [bang_bang])["action_saturation"].evidence["saturation"] == pytest.approx(1.0)


def test_actions_inside_the_range_or_without_bounds_are_not_saturation(task):
    assert "action_saturation" not in found(task, [healthy(task)])
    unbounded = rollout(task, swing(), np.ones(STEPS), bounds=None)
    analysis = analyze(task, score_of([unbounded]))
    assert analysis.actions.saturation is None and analysis.finding("action_saturation") is None


def test_a_constant_training_series_is_a_flat_component(task):
    series = {"progress": np.linspace(0.01, 0.08, 10), "alive": np.full(10, 1.0), "bonus": np.zeros(10)}
    finding = found(task, [healthy(task)], snapshots(components=series))["flat_component"]
    assert finding.subjects == ["alive", "bonus"]
    assert finding.evidence["alive.relative_range"] == 0 and finding.evidence["alive.mean"] == 1
    assert finding.brief == "'alive', 'bonus' flat"


def test_a_changing_series_or_too_few_snapshots_is_not_flat(task):
    assert "flat_component" not in found(task, [healthy(task)])
    short = snapshots(components={"alive": np.full(2, 1.0)}, fitness=[0.1, 0.2], returns=[1.0, 2.0], n=2)
    assert "flat_component" not in found(task, [healthy(task)], short)


def test_a_component_with_most_of_the_magnitude_dominates(task):
    big = rollout(task, swing(), smooth_actions(), components={"big": np.full(STEPS, 100.0), "small": np.ones(STEPS)})
    finding = found(task, [big])["dominating_component"]
    assert finding.subjects == ["big"] and finding.evidence["share"] == pytest.approx(100 / 101, rel=1e-3)


def test_balanced_or_single_components_do_not_dominate(task):
    balanced = rollout(task, swing(), smooth_actions(), components={"a": np.full(STEPS, 60.0), "b": np.full(STEPS, -40.0)})
    assert "dominating_component" not in found(task, [balanced])
    single = rollout(task, swing(), smooth_actions(), components={"only": np.ones(STEPS)})
    assert "dominating_component" not in found(task, [single])


def test_return_rising_while_fitness_falls_is_reward_hacking(task):
    snaps = snapshots(fitness=np.linspace(0.5, 0.4, 10), returns=np.linspace(10.0, 100.0, 10))
    finding = found(task, [healthy(task)], snaps)["reward_hacking"]
    assert finding.evidence["return_rise"] > analyzer.HACK_RETURN_RISE
    assert finding.evidence["fitness_gain"] < 0


def test_return_and_fitness_rising_together_or_too_few_episodes_is_not_hacking(task):
    assert "reward_hacking" not in found(task, [healthy(task)])
    sparse = [None] * 7 + [0.4, 0.4, 0.4]  # only 3 snapshots saw a finished episode
    snaps = snapshots(fitness=sparse, returns=[None] * 7 + [10.0, 50.0, 100.0])
    assert "reward_hacking" not in found(task, [healthy(task)], snaps)


def test_high_reward_and_low_fitness_against_the_archive_is_reward_hacking(task):
    rich = rollout(task, swing(-0.5, -0.45), smooth_actions(), components={"paid": np.full(STEPS, 5.0)})
    archive = [{"id": f"c{i}", "fitness": 0.5 + 0.1 * i, "reward_per_step": 0.1 * i} for i in range(4)]
    finding = found(task, [rich], archive=archive)["reward_hacking"]
    assert finding.evidence == {"reward_rank": 1.0, "fitness_rank": 0.0, "archive": 4}
    assert "reward_hacking" not in found(task, [rich], archive=archive[:2])  # too small to compare
    good = analyze(task, score_of([healthy(task)]))
    poor = [{"id": f"c{i}", "fitness": 0.1 * i, "reward_per_step": 0.1 * i} for i in range(4)]
    assert good.finding("reward_hacking") is None
    assert "reward_hacking" not in found(task, [healthy(task)], archive=poor + [archive_entry("g0", good)])


def test_random_policy_fitness_is_the_tasks_own_fitness_of_random_actions(task):
    value = analyzer.random_policy_fitness(task, episodes=1)
    assert 0.0 <= value < 1.0  # random actions never reach the flag; the car wanders a little
    assert analyzer.random_policy_fitness(task, episodes=1) == value  # seeded


# --------------------------------------------------------------------------- the analysis itself


def test_components_fields_and_episodes_are_measured(task):
    # fitness grows with how far the car gets; so does the 'progress' sum; 'effort' is the same each time
    rollouts = [rollout(task, swing(-0.5, top), smooth_actions()) for top in (-0.2, 0.0, 0.2, 0.4)]
    analysis = analyze(task, score_of(rollouts))
    progress, effort = analysis.components["progress"], analysis.components["effort"]
    assert progress.fitness_corr == pytest.approx(1.0, abs=1e-3) and progress.sign == "+"
    assert effort.fitness_corr is None and effort.sign == "-"  # constant across episodes: undefined
    assert progress.share + effort.share == pytest.approx(1.0, abs=1e-3)
    assert progress.training.series == pytest.approx(list(np.linspace(0.01, 0.08, 10)), rel=1e-3)
    assert progress.training.min == 0.01 and progress.training.max == 0.08
    assert analysis.fields["position"].min == -0.5 and analysis.fields["position"].max == 0.4
    first = analysis.episodes[0]
    assert first.ended == "truncated" and first.length == STEPS
    assert first.fields["position"].displacement == pytest.approx(0.3)
    two = analyze(task, score_of(rollouts[:2]))
    assert two.components["progress"].fitness_corr is None  # fewer than MIN_CORR_EPISODES


def test_without_kept_trajectories_components_come_from_the_last_snapshot(task):
    score = score_of([healthy(task), healthy(task)])
    score.runs[0].trajectories = []
    analysis = analyze(task, score)
    progress = analysis.components["progress"]
    assert progress.source == "training" and progress.mean_per_step == 0.08 and progress.sign == "+"
    assert len(analysis.episodes) == 2 and analysis.fields == {} and analysis.actions.flip_rate is None
    assert "progress" in render_reflection(task, "c1", analysis)


def test_analysis_round_trips_through_strict_json(task):
    analysis = analyze(task, score_of([healthy(task), rollout(task, swing(), np.ones(STEPS), bounds=None)]))
    text = json.dumps(analysis.to_dict(), allow_nan=False)
    again = Analysis.from_dict(json.loads(text))
    assert again == analysis and again.to_dict() == analysis.to_dict()


def test_summary_line_joins_the_findings(task, tmp_path):
    falls = rollout(task, np.linspace(-0.5, -0.3, 21), 0.8 * (-1.0) ** np.arange(20), terminated=True)
    series = {"progress": np.linspace(0.01, 0.08, 10), "upright": np.full(10, 1.0)}
    jittery = rollout(task, swing(), 0.8 * (-1.0) ** np.arange(STEPS))
    ends_on_failure = task_declaring(tmp_path, "failure")  # the shipped mountain car ends on success
    line = summary_line(analyze(ends_on_failure, score_of([falls, jittery], snapshots(components=series))))
    assert "falls early in 1/2 episodes" in line and "'upright' flat" in line and "jitter" in line


# --------------------------------------------------------------------------- rendering and LLM roles


def test_reflection_names_every_component_with_its_series_and_findings(task):
    series = {"progress": np.linspace(0.01, 0.08, 10), "alive": np.full(10, 1.0)}
    analysis = analyze(task, score_of([healthy(task)], snapshots(components=series)))
    text = render_reflection(task, "g1-c2", analysis, code=task.baseline)
    assert len(text.encode()) <= analyzer.MAX_REFLECTION_BYTES
    assert "g1-c2" in text and "[0.01, 0.0178, 0.0256" in text and "[1 ×10]" in text
    assert "barely changed over training" in text and "alive.relative_range=0" in text
    assert "rewrite the entire reward" in text  # Eureka's advice travels with every reflection


def test_reflection_template_can_be_overridden_and_carries_a_diagnosis(task, tmp_path):
    analysis = analyze(task, score_of([healthy(task)]))
    analysis.diagnosis = "The car rocks but never commits. " * 40
    text = render_reflection(task, "c1", analysis)
    assert "Analyst's diagnosis: The car rocks" in text and text.rstrip().endswith("…")
    (tmp_path / "reflection.j2").write_text("{{ id }} scored {{ a.fitness|sig }}\n")
    assert render_reflection(task, "c1", analysis, prompts_dir=tmp_path) == f"c1 scored {analysis.fitness:.3g}\n"
    (tmp_path / "reflection.j2").write_text("{{ a.no_such_thing }}")
    with pytest.raises(ConfigError, match="reflection.j2"):
        render_reflection(task, "c1", analysis, prompts_dir=tmp_path)


def test_llm_prompts_carry_the_goal_the_code_and_the_analysis(task):
    analysis = analyze(task, score_of([healthy(task)]))
    system, user = analyzer_prompt(task, analysis, task.baseline)
    assert system["role"] == "system" and user["role"] == "user"
    assert task.goal in user["content"] and "energy_gain" in user["content"] and "Components (" in user["content"]
    assert task.fitness_doc not in user["content"]  # the ground truth stays hidden from the designer's side
    system, user = critic_prompt(task, task.baseline)
    assert "VERDICT: VETO" in system["content"] and "distance_to_flag" in user["content"]


@pytest.mark.parametrize("reply, veto, reason", [
    ("VERDICT: VETO\nThe flag bonus can never fire.", True, "The flag bonus can never fire."),
    ("VERDICT: ACCEPT", False, ""),
    ("**Verdict: accept** — looks aligned", False, "looks aligned"),
    ("Let me look.\nVERDICT: VETO - effort has the wrong sign\nand dominates", True, "effort has the wrong sign\nand dominates"),
])
def test_parse_veto_reads_the_verdict_line(reply, veto, reason):
    assert parse_veto(reply) == (veto, reason)


def test_parse_veto_without_a_verdict_is_an_error():
    with pytest.raises(LLMError, match="VERDICT"):
        parse_veto("This reward looks fine to me.")


# --------------------------------------------------------------------------- a real short training


@pytest.mark.slow
def test_reflection_of_a_real_training_has_every_component_and_series(task):
    score = train(task, task.baseline, [0], Budget(3000), keep_trajectories=2, eval_episodes=2)
    analysis = analyze(task, score)
    text = render_reflection(task, "g0-baseline", analysis, code=task.baseline)
    assert len(text.encode()) <= analyzer.MAX_REFLECTION_BYTES, text
    assert set(analysis.components) == {"energy_gain", "flag", "effort"}
    for name, component in analysis.components.items():
        line = next(ln for ln in text.splitlines() if ln.startswith(f"- {name}:"))
        assert analyzer._seq(component.training.series) in line
        assert len(component.training.series) >= 5
    assert "flag" in analysis.finding("flat_component").subjects  # 3,000 steps never reach the flag
    assert analysis.actions.saturation is not None  # the child reports the action bounds
    assert re.search(r"fitness \[[^\]]+\]; length", text)
