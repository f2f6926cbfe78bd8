"""The records passed between stages: JSON only at the edges, the stored format unchanged, old rows
still read, and a child that sends a malformed record refused with the field named."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from rewardsmith.intake.critic import Critic
from rewardsmith.errors import RunStoreError, SandboxError
from rewardsmith.archive.records import (ActionStats, Analysis, CandidateResult, ComponentAnalysis, ComponentCurve,
                                         ComponentStats, ComponentTrend, Confirmation, CriticVerdict, EpisodeAnalysis,
                                         EpisodeSummary, EvaluationMeans, FieldPath, FieldSummary, FinalEntry, FinalRun,
                                         FinalSummary, HalvingDecision, HalvingRecord, Leg, ProbeStats, RungDecision,
                                         ScreeningRecord, ScreeningRow, SeedResult, Snapshot, Timings, TrainingCurves,
                                         Trajectory)
from rewardsmith.archive.store import SCORED, RunStore
from rewardsmith.task import load_task
from rewardsmith.training.trainer import _episode_summary, _snapshot, _trajectory

from conftest import opened_copy

RUN_0_1_0 = Path(__file__).parent / "data" / "run-0.1.0"  # written by release 0.1.0; only ever copied

# Rows exactly as the release before these records wrote them (a real run's, shortened): the records
# must write the same bytes back.
SNAPSHOT = ('{"step": 1020, "reward_per_step": -0.05342799791142881, "native_per_step": -0.0534279980079869, '
            '"components": {"energy_gain": 0.0, "effort": -0.05342799791142881}, "episodes": 1, '
            '"elapsed": 6.9457102830000395, "fitness": 0.5498530317013411, "episode_return": -52.85383104626224, '
            '"episode_length": 999.0}')
EPISODE = ('{"fitness": 0.02386899749028316, "length": 999, "native_return": -0.02662454157990453, '
           '"terminated": false, "truncated": true, "return": -0.0266245403999}')
RUN = ('{"seed": 0, "fitness": 0.02386899749028316, "episode_fitness": [0.02386899749028316], "timesteps": 1024, '
       '"steps_per_second": 812.5, "train_seconds": 1.26, "snapshots": [' + SNAPSHOT + '], "episodes": [' + EPISODE
       + '], "stopped_early": null, "trained_steps": 1024, "worker": null, "wall_seconds": 9.5}')
# screening's evidence when it judged (the table cut to two rows), when the reward failed on a recorded
# episode, and when the episodes had fewer than two distinct fitnesses
SCREENING = ('{"passed": true, "episodes": 18, "pairs": 79, "agreement": 0.266, "pairs_vs_random": 0, '
             '"agreement_vs_random": null, "spearman": -0.65, "margin": 0.05, "table": [{"source": "random", '
             '"fitness": 0.5146, "steps": 999, "return": -64.9292}, {"source": "c1", "fitness": 0.4323, "steps": 999, '
             '"return": -65.385}]}')
SCREENING_FAILED_ON_AN_EPISODE = '{"passed": false, "episodes": 18}'
SCREENING_NOTHING_TO_RANK = '{"passed": true, "episodes": 3, "pairs": 0}'
# a candidate's halving as this release writes it, and as 0.1.0 did (no noise, no decisions)
HALVING = ('{"rung": 1, "rungs": [256, 768, 2304], "eta": 3, "history": {"0": 0.5, "1": 0.1}, '
           '"noise": {"0": 0.05, "1": 0.05}, "decisions": [{"rung": 0, "timesteps": 256, "action": "promote", '
           '"kept": true, "reason": "nobody is clearly behind the best 2 (by more than their noises combined): '
           'everyone goes on"}, {"rung": 1, "timesteps": 768, "action": "cut", "kept": false, "reason": "kept 2 of 5: '
           'each one stopped is clearly behind each of the best 2"}], "stopped_early": true}')
# a pool's halving decisions as the halving_decision event stores them (after its "pool"): the cut rule's
# cut and promotion (a real run's), and a textbook cut's (no scores)
DECISION_CUT = ('{"rung": 0, "scores": {"c6": 1.8152, "c7": 1.7944, "c5": 0.022335, "c8": 0.022335}, "noise": '
                '{"c6": 0.05, "c7": 0.051744, "c5": 0.05, "c8": 0.05}, "random_fitness": 0.3759895796852965, '
                '"action": "cut", "kept": ["c6", "c7"], "gap": 1.772065, "needed": 0.071954, "reason": "kept 2 of 4: '
                'each one stopped is clearly behind each of the best 2; closest: c7 1.794 vs c5 0.02234, a gap of '
                '1.77 > noise 0.072", "timesteps": 12288}')
DECISION_PROMOTE = ('{"rung": 1, "scores": {"c7": 1.8484, "c6": 1.8292}, "noise": {"c7": 0.05, "c6": 0.05}, '
                    '"random_fitness": 0.3759895796852965, "action": "promote", "reason": "nobody is clearly behind '
                    'the best 1 (by more than their noises combined): everyone goes on", "timesteps": 36864}')
DECISION_TEXTBOOK = '{"rung": 0, "action": "cut", "kept": ["c1", "c2"], "reason": "kept the best 2", "timesteps": 256}'
HALVING_0_1_0 = ('{"rung": 2, "rungs": [256, 768, 2048], "eta": 3, "history": {"0": 0.023838124434972564, '
                 '"2": 0.023838824021447585}, "stopped_early": false}')
# a leg's stored outcome (its result is a column of its own), and one 0.1.0's rungs files left (no
# evaluation episodes' fitness)
LEG = ('{"target": 4096, "timesteps": 8192, "fitness": 0.06631935120857871, "episode_fitness": [0.02731908423384442, '
       '0.07493439973015148], "trained_steps": 8192, "train_seconds": 6.682461659000182, "wall_seconds": '
       '15.618254998000339, "evaluation_steps": 4995, "snapshots": [' + SNAPSHOT + ']}')
LEG_0_1_0 = ('{"target": 256, "timesteps": 512, "fitness": 0.023838124434972564, "trained_steps": 512, '
             '"train_seconds": 1.5, "wall_seconds": 7.25, "evaluation_steps": 999, "snapshots": []}')
SCORED_RESULT = ('{"runs": [' + RUN + '], "components": {"energy_gain": {"series": [0.0, 0.0], "final": 0.0}, '
                 '"effort": {"series": [-0.06, NaN], "final": NaN}}, "screening": ' + SCREENING + ', '
                 '"budget_fraction": 1.0, "halving": ' + HALVING + ', '
                 '"confirmation": {"seed": 1000, "fitness": 0.09, "search_fitness": 0.02, "mean": 0.055, '
                 '"against": "c0", "against_mean": 0.05, "confirmed": true}}')
# an evaluation trajectory as the archive keeps it (the replayed reward and the fitness added), one
# recorded before release 0.2 (no obs, another key order) and a random-policy episode of screening
TRAJECTORY = ('{"fields": {"position": [-0.5, -0.45, -0.4]}, "obs": [[-0.5, 0.0], [-0.45, 0.05], [-0.4, 0.05]], '
              '"actions": [[0.3], [-1.0]], "native_rewards": [-0.009, -0.1], "terminated": false, "truncated": true, '
              '"max_steps": null, "action_low": [-1.0], "action_high": [1.0], "rewards": [0.5, 0.5], '
              '"components": {"progress": [0.5, 0.5]}, "fitness": 0.05}')
TRAJECTORY_0_1_0 = ('{"fields": {"position": [-0.5, -0.45, -0.4]}, "actions": [[0.3], [-1.0]], '
                    '"native_rewards": [-0.009, -0.1], "components": {"progress": [0.5, 0.5]}, "rewards": [0.5, 0.5], '
                    '"terminated": false, "truncated": true, "max_steps": 999, "action_low": [-1.0], '
                    '"action_high": [1.0]}')
RANDOM_EPISODE = ('{"fields": {"position": [-0.5, -0.45, -0.4]}, "obs": [[-0.5, 0.0], [-0.45, 0.05], [-0.4, 0.05]], '
                  '"actions": [[0.3], [-1.0]], "fitness": 0.4}')
SCREENED_OUT = '{"budget_fraction": 0.0, "screening": {"passed": false, "episodes": 9, "pairs": 28}}'
# the critic's verdict on an accepted reward (a real run's c5, one component left out) and on one it
# rejected before its probe ran (no stats: stored as an empty object)
VERDICT = ('{"errors": [], "warnings": ["[dominant] component \'effort\' carries 100.0% of the reward magnitude; '
           'expected no single term above 90%. The other terms barely matter; rescale them or drop them."], '
           '"stats": {"calls": 300, "mean_call_ms": 0.022302287666556928, "total_min": -0.19975953102111818, '
           '"total_max": -5.908428413192724e-10, "total_mean": -0.07213120311478757, "total_std": 0.06250275986258465, '
           '"components": {"flag": {"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}, "effort": {"mean": '
           '-0.07213120311478757, "std": 0.06250275986258465, "min": -0.19975953102111818, "max": '
           '-5.908428413192724e-10}}}}')
VERDICT_REJECTED = ('{"errors": ["[import] line 1: import of \'os\' is not allowed; only numpy and math may be '
                    'imported."], "warnings": [], "stats": {}}')
# a scored candidate's timings, and a failed training's in runs before 0.1.0 (its wall time only)
TIMINGS = ('{"wall_seconds": 15.618254998000339, "train_seconds": 6.682461659000182, '
           '"steps_per_second": 1225.8955483817429}')
TIMINGS_WALL_ONLY = '{"wall_seconds": 4.745028623000053}'
# an analysis's evaluation means, action statistics and training series (a real run's, shortened)
EVALUATION = '{"episodes": 5, "length": 84.8, "return": 38.16, "native_return": -83.8, "reward_per_step": 0.45}'
ACTIONS = '{"dims": 1, "flip_rate": 0.0, "saturation": null, "mean_abs": 1.17}'
TRAINING = ('{"step": [2048, 4096], "fitness": [null, 0.5], "episode_return": [null, -52.8], "episode_length": '
            '[null, 999.0], "reward_per_step": [-0.06, -0.05], "native_per_step": [-0.06, -0.05]}')
# an analysis's evaluation episode (two of its fields), component (its series cut to three snapshots) and
# state field, as a real run stored them
EPISODE_ANALYSIS = ('{"seed": 0, "index": 0, "fitness": 1.84, "length": 80, "return": 40.38, "native_return": -79.0, '
                    '"ended": "terminated", "fields": {"theta1": {"first": 0.003338, "last": 3.0, "min": -2.893, '
                    '"max": 3.0, "mean": -0.2665, "displacement": 2.997}, "tip_height": {"first": -2.0, "last": 1.038, '
                    '"min": -2.0, "max": 1.038, "mean": -1.113, "displacement": 3.038}}}')
COMPONENT_ANALYSIS = ('{"training": {"series": [0.02437, 0.1185, null], "min": 0.02437, "mean": 0.2372, '
                      '"max": 0.3465}, "source": "evaluation", "mean_per_step": 0.393, "sign": "\\u00b1", '
                      '"fitness_corr": -0.919, "share": 0.9459}')
FIELD_SUMMARY = ('{"unit": "rad", "kind": "scalar", "min": -3.128, "q25": -0.8822, "median": -0.01825, "q75": 0.6291, '
                 '"max": 3.045, "mean": -0.1536}')
FINAL = ('{"seeds": [1], "timesteps": 1024, "entries": [{"id": "c4", "role": "candidate", "seeds": 1, "failed": 0, '
         '"per_seed": [0.0057], "fitness_mean": 0.0057, "fitness_std": 0.0, "timesteps": 1024, '
         '"search_fitness": 0.0238, "normalized": -1.77}, {"id": "sparse", "role": "sparse", "seeds": 1, '
         '"failed": 0, "per_seed": [0.0285], "fitness_mean": 0.0285, "fitness_std": 0.0, "timesteps": 1024, '
         '"normalized": 0.0}], "best": "c4", "normalization": {"baseline": 0.0157, "sparse": 0.0285}}')


@pytest.mark.parametrize("record, text", [
    (Snapshot, SNAPSHOT), (EpisodeSummary, EPISODE), (CandidateResult, SCORED_RESULT),
    (CandidateResult, SCREENED_OUT), (FinalSummary, FINAL), (Trajectory, TRAJECTORY), (Trajectory, RANDOM_EPISODE),
    (ScreeningRecord, SCREENING), (ScreeningRecord, SCREENING_FAILED_ON_AN_EPISODE),
    (ScreeningRecord, SCREENING_NOTHING_TO_RANK), (HalvingRecord, HALVING), (HalvingRecord, HALVING_0_1_0),
    (Leg, LEG), (Leg, LEG_0_1_0), (CriticVerdict, VERDICT), (CriticVerdict, VERDICT_REJECTED),
    (Timings, TIMINGS), (Timings, TIMINGS_WALL_ONLY), (HalvingDecision, DECISION_CUT),
    (HalvingDecision, DECISION_PROMOTE), (HalvingDecision, DECISION_TEXTBOOK), (EvaluationMeans, EVALUATION),
    (ActionStats, ACTIONS), (TrainingCurves, TRAINING), (EpisodeAnalysis, EPISODE_ANALYSIS),
    (ComponentAnalysis, COMPONENT_ANALYSIS), (FieldSummary, FIELD_SUMMARY)])
def test_a_stored_row_reads_as_a_record_and_writes_back_the_same_bytes(record, text):
    value = record.from_json(json.loads(text))
    assert isinstance(value, record)
    assert json.dumps(value.to_json()) == text
    again = record.from_json(json.loads(json.dumps(value.to_json())))
    assert json.dumps(again.to_json()) == text  # (NaN != NaN, so compare the JSON rather than the records)


def test_records_are_read_by_attribute():
    result = CandidateResult.from_json(json.loads(SCORED_RESULT))
    run = result.runs[0]
    assert run.snapshots[0].step == 1020 and run.snapshots[0].components["effort"] < 0
    assert run.episodes[0].reward_return == pytest.approx(-0.0266245403999) and run.episodes[0].truncated
    assert result.components["energy_gain"] == ComponentTrend(series=[0.0, 0.0], final=0.0)
    assert result.confirmation == Confirmation(seed=1000, fitness=0.09, search_fitness=0.02, mean=0.055,
                                               against="c0", against_mean=0.05, confirmed=True)
    assert result.budget_fraction == 1.0 and result.screening.passed is True
    assert result.screening.agreement_vs_random is None and result.screening.table[0] == ScreeningRow(
        source="random", fitness=0.5146, steps=999, reward_return=-64.9292)
    halving = result.halving
    assert halving.history == {0: 0.5, 1: 0.1} and halving.noise[1] == 0.05 and halving.stopped_early
    assert [d.kept for d in halving.decisions] == [True, False] and halving.decisions[1].action == "cut"
    old = HalvingRecord.from_json(json.loads(HALVING_0_1_0))
    assert old.noise is None and old.decisions is None and sorted(old.history) == [0, 2]
    unjudged = ScreeningRecord.from_json(json.loads(SCREENING_FAILED_ON_AN_EPISODE))
    assert unjudged.pairs is None and unjudged.table is None and not unjudged.passed
    cut = HalvingDecision.from_json(json.loads(DECISION_CUT))
    promote = HalvingDecision.from_json(json.loads(DECISION_PROMOTE))
    assert cut.kept == ["c6", "c7"] and cut.gap == 1.772065 and cut.scores["c5"] == 0.022335 and cut.timesteps == 12288
    # as the candidates keep them: c5 was stopped at the cut, and is not among the next rung's ranked
    assert cut.for_candidate(0) == RungDecision(rung=0, timesteps=12288, action="cut", kept=False, reason=cut.reason)
    assert cut.for_candidate(2).kept and promote.for_candidate(1).kept and promote.for_candidate(1).action == "promote"
    assert cut.concerns("c5") and not promote.concerns("c5") and promote.concerns("c7")
    textbook = HalvingDecision.from_json(json.loads(DECISION_TEXTBOOK))
    assert textbook.scores is None and textbook.concerns("c9") and textbook.needed is None
    episode = EpisodeAnalysis.from_json(json.loads(EPISODE_ANALYSIS))
    assert episode.reward_return == 40.38 and episode.ended == "terminated" and episode.fields["theta1"] == FieldPath(
        first=0.003338, last=3.0, min=-2.893, max=3.0, mean=-0.2665, displacement=2.997)
    component = ComponentAnalysis.from_json(json.loads(COMPONENT_ANALYSIS))
    assert component.training == ComponentCurve(series=[0.02437, 0.1185, None], min=0.02437, mean=0.2372, max=0.3465)
    assert component.sign == "±" and component.share == 0.9459
    assert FieldSummary.from_json(json.loads(FIELD_SUMMARY)).q75 == 0.6291
    verdict = CriticVerdict.from_json(json.loads(VERDICT))
    assert verdict.errors == [] and verdict.warnings[0].startswith("[dominant] component 'effort'")
    assert verdict.stats.calls == 300 and verdict.stats.components["flag"] == ComponentStats(0.0, 0.0, 0.0, 0.0)
    assert CriticVerdict.from_json(json.loads(VERDICT_REJECTED)).stats is None
    final = FinalSummary.from_json(json.loads(FINAL))
    assert final.entry("c4").fitness_mean == 0.0057 and final.by_role("sparse").search_fitness is None
    assert final.entry("c9") is None
    # what the archive does not keep of a run (files hold them) never enters the row
    full = SeedResult.from_json(json.loads(RUN))
    assert json.dumps(full.to_json(leave_out=("trajectories", "checkpoint", "log_tail"))) == RUN
    full.trajectories = [Trajectory({"position": [0.0, 0.1]}, [[0.0]])]
    full.log_tail, full.checkpoint = "log", {"model": "x"}
    assert "trajectories" not in CandidateResult(runs=[full]).to_json()["runs"][0]
    assert full.to_json()["checkpoint"] == {"model": "x"}  # a leg keeps what it is told to


def test_a_candidate_round_trips_through_the_store_as_records(tmp_path):
    task = load_task("mountaincar-reach")
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "offline"}, task.path)
    c = store.add_candidate(0, task.baseline, "baseline")
    result = CandidateResult.from_json(json.loads(SCORED_RESULT))
    # a candidate's seed results are its legs merged (m010): its leg is stored first, as training stores it
    from rewardsmith.training.collect import merged_result, save_leg

    save_leg(store, c.id, 0, result.rung, 1024, result.runs[0])
    result = replace(result, runs=[merged_result(store, c.id, 0, result.rung)])
    store.update(c.id, status=SCORED, fitness=0.02, result=result, timings=Timings.from_json(json.loads(TIMINGS)))
    raw, timings = store.db.execute("SELECT result, timings FROM candidates WHERE id = ?", (c.id,)).fetchone()
    # stored once (m009): the confirmation's search fitness is the fitness column, its mean follows from the two;
    # (m010) of a seed's result its seed, its leg holding the rest
    assert raw == SCORED_RESULT.replace('"search_fitness": 0.02, "mean": 0.055, ', '').replace(RUN, '{"seed": 0}')
    assert timings == TIMINGS
    assert store.candidate(c.id).timings == Timings(15.618254998000339, 6.682461659000182, 1225.8955483817429)
    with pytest.raises(TypeError, match="Timings, not a dict"):
        store.update(c.id, timings={"wall_seconds": 1.0})
    loaded = store.candidate(c.id).result
    assert loaded.runs == result.runs and loaded.confirmation == result.confirmation
    with pytest.raises(TypeError, match="CandidateResult, not a dict"):
        store.update(c.id, result={"runs": []})  # a dict shaped by whoever wrote it is not stored
    store.set_final(FinalSummary.from_json(json.loads(FINAL)))
    # of each entry the store keeps its id and normalized score; its figures are the final table's (m009)
    final = json.loads(FINAL)
    assert json.loads(store.db.execute("SELECT value FROM meta WHERE key = 'final'").fetchone()[0]) == {
        **final, "entries": [{"id": e["id"], "normalized": e["normalized"]} for e in final["entries"]]}
    assert store.final().best == "c4"


def test_the_critics_verdict_round_trips_through_the_store_as_a_record(tmp_path):
    task = load_task("mountaincar-reach")
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "offline"}, task.path)
    verdict = Critic(task, transitions=20).check(task.baseline)
    assert verdict.accepted and isinstance(verdict.stats, ProbeStats) and verdict.stats.calls == 20
    c = store.add_candidate(0, task.baseline, "baseline", verdict=verdict.record())
    raw = store.db.execute("SELECT verdict FROM candidates WHERE id = ?", (c.id,)).fetchone()[0]
    assert json.loads(raw)["stats"]["calls"] == 20 and list(json.loads(raw)) == ["errors", "warnings", "stats"]
    loaded = store.candidate(c.id).verdict
    assert loaded == verdict.record() and set(loaded.stats.components) == set(verdict.stats.components)
    rejected = Critic(task, transitions=20).check("import os\n" + task.baseline)
    r = store.add_candidate(0, "import os\n" + task.baseline, "llm", status="rejected", verdict=rejected.record())
    assert store.db.execute("SELECT verdict FROM candidates WHERE id = ?", (r.id,)).fetchone()[0] == json.dumps(
        {"errors": [str(f) for f in rejected.errors], "warnings": [], "stats": {}})
    stored = store.candidate(r.id).verdict
    assert stored.stats is None and stored.errors[0].startswith("[import]")
    with pytest.raises(TypeError, match="CriticVerdict, not a dict"):
        store.update(c.id, verdict={"errors": []})


def test_a_leg_round_trips_through_the_store_as_a_record(tmp_path):
    task = load_task("mountaincar-reach")
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "offline"}, task.path)
    c = store.add_candidate(0, task.baseline, "baseline")
    result = SeedResult.from_json(json.loads(RUN))
    result.checkpoint, result.log_tail = {"model": "policy"}, "trained"
    leg = Leg.from_json(json.loads(LEG), json.loads(RUN))
    store.save_leg(c.id, 0, 1, replace(leg, result=result))
    outcome, stored = store.db.execute("SELECT outcome, result FROM legs WHERE candidate = ?", (c.id,)).fetchone()
    assert outcome == LEG
    assert "checkpoint" not in json.loads(stored) and json.loads(stored)["log_tail"] == "trained"  # its file has it
    loaded = store.legs(c.id, 0)
    assert list(loaded) == [1] and isinstance(loaded[1], Leg) and loaded[1].result.checkpoint is None
    assert loaded[1].snapshots == leg.snapshots and loaded[1].episode_fitness == leg.episode_fitness
    assert loaded[1].result.episodes == result.episodes and loaded[1].evaluation_steps == 4995
    store.save_leg(c.id, 0, 0, Leg.from_json(json.loads(LEG_0_1_0)))
    assert store.legs(c.id, 0)[0].result is None and store.legs(c.id, 0)[0].episode_fitness is None


def test_a_final_scoring_seed_round_trips_through_the_store_as_a_record(tmp_path):
    task = load_task("mountaincar-reach")
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "offline"}, task.path)
    result = SeedResult.from_json(json.loads(RUN))
    result.trajectories, result.log_tail = [Trajectory({"position": [0.0]}, [])], "trained"
    store.add_final_run(FinalRun("c4", "candidate", 1, "scored", fitness=0.5, timesteps=1024, steps_spent=1024,
                                 result=result))
    store.add_final_run(FinalRun("sparse", "sparse", 1, "failed", reason="out of memory"))
    stored = json.loads(store.db.execute("SELECT result FROM final WHERE subject = 'c4'").fetchone()[0])
    # files keep the rest, the row's columns its fitness, steps and steps trained (m009: stored once)
    assert stored == {k: v for k, v in json.loads(RUN).items() if k not in ("fitness", "timesteps", "trained_steps")}
    scored, failed = store.final_runs()
    assert isinstance(scored, FinalRun) and scored.result.episodes == result.episodes and scored.created > 0
    assert (scored.subject, scored.seed, scored.fitness, scored.steps_spent) == ("c4", 1, 0.5, 1024)
    assert failed.result is None and failed.fitness is None and failed.reason == "out of memory"
    store.db.execute("UPDATE final SET result = ? WHERE subject = 'c4'", (json.dumps({"seed": 1}),))
    with pytest.raises(RunStoreError, match=r"final scoring of c4 seed 1 .*training result has no 'episode_fitness'"):
        store.final_runs()


def test_a_damaged_stored_row_is_an_error_naming_the_candidate_and_the_field(tmp_path):
    task = load_task("mountaincar-reach")
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "offline"}, task.path)
    c = store.add_candidate(0, task.baseline, "baseline")
    damaged = json.loads(SCORED_RESULT)
    del damaged["runs"][0]["snapshots"][0]["native_per_step"]
    store.db.execute("UPDATE candidates SET result = ? WHERE id = ?", (json.dumps(damaged), c.id))
    with pytest.raises(RunStoreError, match=r"candidate c0 .*training snapshot has no 'native_per_step'"):
        store.candidate(c.id)
    store.db.execute("UPDATE candidates SET result = NULL, timings = ? WHERE id = ?",
                     (json.dumps({"train_seconds": 1.0}), c.id))
    with pytest.raises(RunStoreError, match=r"candidate c0 .*timings has no 'wall_seconds'"):
        store.candidate(c.id)
    store.set_meta("final", {"seeds": [1], "timesteps": 10})
    with pytest.raises(RunStoreError, match="final scoring.*no 'entries'"):
        store.final()


@pytest.mark.parametrize("damage, named", [
    (lambda r: r["halving"].pop("eta"), r"candidate c0 .*halving record has no 'eta'"),
    (lambda r: r["halving"]["decisions"][1].pop("reason"), r"candidate c0 .*halving decision has no 'reason'"),
    (lambda r: r["screening"].pop("margin"), r"candidate c0 .*screening verdict has no 'margin'"),
    (lambda r: r["screening"]["table"][0].pop("return"), r"candidate c0 .*screening table row has no 'return'"),
    (lambda r: r.update(screening=[True]), r"candidate c0 .*screening verdict is stored as a list"),
])
def test_a_damaged_halving_or_screening_record_is_an_error_naming_the_candidate_and_the_field(tmp_path, damage,
                                                                                           named):
    store = _stored_damaged(tmp_path, "result", SCORED_RESULT, damage)
    with pytest.raises(RunStoreError, match=named):
        store.candidate("c0")


def _stored_damaged(tmp_path, column: str, text: str, damage) -> RunStore:
    """A run whose baseline c0 has ``text`` (a stored JSON value), changed by ``damage``, in ``column``."""
    task = load_task("mountaincar-reach")
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "offline"}, task.path)
    c = store.add_candidate(0, task.baseline, "baseline")
    damaged = json.loads(text)
    damage(damaged)
    store.db.execute(f"UPDATE candidates SET {column} = ? WHERE id = ?", (json.dumps(damaged), c.id))
    return store


@pytest.mark.parametrize("damage, named", [
    (lambda v: v.pop("warnings"), r"candidate c0 .*critic verdict has no 'warnings'"),
    (lambda v: v["stats"].pop("total_std"), r"candidate c0 .*critic probe has no 'total_std'"),
    (lambda v: v["stats"]["components"]["effort"].pop("max"),
     r"candidate c0 .*critic component statistic has no 'max'"),
])
def test_a_damaged_critic_verdict_is_an_error_naming_the_candidate_and_the_field(tmp_path, damage, named):
    store = _stored_damaged(tmp_path, "verdict", VERDICT, damage)
    with pytest.raises(RunStoreError, match=named):
        store.candidate("c0")


@pytest.mark.parametrize("damage, named", [
    (lambda a: a["evaluation"].pop("return"), r"candidate c0 .*analysis's evaluation has no 'return'"),
    (lambda a: a["actions"].pop("flip_rate"), r"candidate c0 .*analysis's action statistics has no 'flip_rate'"),
    (lambda a: a["training"].pop("fitness"), r"candidate c0 .*analysis's training series has no 'fitness'"),
    (lambda a: a["episodes"][0].pop("ended"), r"candidate c0 .*analysis's episode has no 'ended'"),
    (lambda a: next(iter(a["episodes"][0]["fields"].values())).pop("displacement"),
     r"candidate c0 .*episode's field summary has no 'displacement'"),
    (lambda a: next(iter(a["components"].values())).pop("share"),
     r"candidate c0 .*analysis's component has no 'share'"),
    (lambda a: next(iter(a["components"].values()))["training"].pop("series"),
     r"candidate c0 .*analysis's component series has no 'series'"),
    (lambda a: next(iter(a["fields"].values())).pop("q25"), r"candidate c0 .*analysis's field summary has no 'q25'"),
])
def test_a_damaged_analysis_is_an_error_naming_the_candidate_and_the_field(tmp_path, damage, named):
    store = RunStore(opened_copy("run-0.1.0", tmp_path / "old-run"))
    damaged = json.loads(store.db.execute("SELECT analysis FROM candidates WHERE id = 'c0'").fetchone()[0])
    damage(damaged)
    store.db.execute("UPDATE candidates SET analysis = ? WHERE id = 'c0'", (json.dumps(damaged),))
    with pytest.raises(RunStoreError, match=named):
        store.candidate("c0")


def test_a_damaged_halving_decision_event_is_an_error_naming_the_field():
    damaged = json.loads(DECISION_CUT)
    del damaged["noise"]
    with pytest.raises(RunStoreError, match="pool halving decision has no 'noise'"):
        HalvingDecision.from_json(damaged)
    with pytest.raises(RunStoreError, match="pool halving decision has no 'reason'"):
        HalvingDecision.from_json({"rung": 0, "action": "cut"})


def test_a_damaged_leg_is_an_error_naming_the_candidate_seed_rung_and_field(tmp_path):
    task = load_task("mountaincar-reach")
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "offline"}, task.path)
    c = store.add_candidate(0, task.baseline, "baseline")
    outcome = json.loads(LEG)
    del outcome["trained_steps"]
    store.db.execute("INSERT INTO legs(candidate, seed, rung, outcome, result, created) VALUES (?,?,?,?,?,?)",
                     (c.id, 2, 1, json.dumps(outcome), RUN, 0.0))
    with pytest.raises(RunStoreError, match=r"candidate c0 seed 2 rung 1 .*halving leg has no 'trained_steps'"):
        store.legs(c.id, 2)
    store.db.execute("UPDATE legs SET outcome = ?, result = ?", (LEG, json.dumps({"fitness": 0.1})))
    with pytest.raises(RunStoreError, match=r"candidate c0 seed 2 rung 1 .*training result has no 'seed'"):
        store.legs(c.id, 2)


def test_a_0_1_0_run_reads_as_records(tmp_path):
    root = tmp_path / "old-run"
    shutil.copytree(RUN_0_1_0, root)  # never opened in place: opening migrates the database
    store = RunStore(root)
    for c in store.candidates(status=SCORED):
        assert isinstance(c.result, CandidateResult) and isinstance(c.analysis, Analysis)
        run = c.result.runs[0]
        assert run.snapshots and all(isinstance(s, Snapshot) for s in run.snapshots)
        # 0.1.0 wrote an episode's "return" before its native return: still read by name
        assert all(isinstance(e, EpisodeSummary) and e.reward_return is not None for e in run.episodes)
        assert set(c.result.components) == set(run.snapshots[-1].components)
        kept = store.trajectories(c.id)
        assert kept and all(isinstance(t, Trajectory) and t.obs is None and t.rewards for t in kept)
        # its halving records and legs (migrated from its rungs files) read as records and write back as stored
        raw = json.loads(store.db.execute("SELECT result FROM candidates WHERE id = ?", (c.id,)).fetchone()[0])
        if c.result.halving is not None:
            assert c.result.halving.decisions is None and c.result.halving.to_json() == raw["halving"]
        legs = store.legs(c.id, 0)
        # no evaluation episodes' fitness, but where the leg kept its result (m009 moved them to the outcome)
        assert legs and all(isinstance(leg, Leg) and leg.episode_fitness == (
            None if leg.result is None else leg.result.episode_fitness) for leg in legs.values())
        assert legs[max(legs)].result is not None  # 0.1.0 kept the result of the last leg only
        # (the same values; 0.1.0 wrote a snapshot's "elapsed" and an episode's "return" in other places)
        for rung, outcome, result in store.db.execute("SELECT rung, outcome, result FROM legs WHERE candidate = ?",
                                                      (c.id,)):
            assert legs[rung].to_json() == json.loads(outcome)
            assert legs[rung].result_json() == (json.loads(result) if result else None)
    assert any(c.result.halving for c in store.candidates(status=SCORED))
    # the critic's verdict, the timings and the analysis, as 0.1.0 wrote them, read back as records and the
    # same bytes
    for c in store.candidates():
        analysis = store.db.execute("SELECT analysis FROM candidates WHERE id = ?", (c.id,)).fetchone()[0]
        assert isinstance(c.analysis.evaluation, EvaluationMeans) and c.analysis.evaluation.episodes >= 1
        assert isinstance(c.analysis.actions, ActionStats) and c.analysis.actions.dims == 1
        assert isinstance(c.analysis.training, TrainingCurves) and c.analysis.training.step
        assert c.analysis.episodes and all(isinstance(e, EpisodeAnalysis) and e.fields for e in c.analysis.episodes)
        assert all(isinstance(x, ComponentAnalysis) for x in c.analysis.components.values())
        assert c.analysis.fields and all(isinstance(x, FieldSummary) for x in c.analysis.fields.values())
        assert json.dumps(c.analysis.stored_json()) == analysis  # its score is the candidate's columns (m009)
        raw = store.db.execute("SELECT verdict FROM candidates WHERE id = ?", (c.id,)).fetchone()[0]
        assert isinstance(c.verdict, CriticVerdict) and isinstance(c.verdict.stats, ProbeStats)
        assert json.dumps(c.verdict.to_json()) == raw
        timings = store.db.execute("SELECT timings FROM candidates WHERE id = ?", (c.id,)).fetchone()[0]
        assert isinstance(c.timings, Timings) and c.timings.train_seconds > 0
        assert timings is None and c.timings == Timings.of(c.result.runs)  # its seed results give them (m011)
    runs = store.final_runs()
    assert runs and all(isinstance(r, FinalRun) for r in runs)
    for r, (stored,) in zip(runs, store.db.execute("SELECT result FROM final ORDER BY created")):
        assert r.result_json() == (json.loads(stored) if stored else None)
    final = store.final()
    assert isinstance(final, FinalSummary) and all(isinstance(e, FinalEntry) for e in final.entries)
    assert final.best in {e.id for e in final.entries}
    assert final.stored_json() == store.meta("final")


def _child_snapshot(**changes):
    snap = json.loads(SNAPSHOT)
    snap.update(changes)
    return {k: v for k, v in snap.items() if v != "missing"}


def test_a_checked_child_snapshot_becomes_a_record():
    snap = _snapshot(_child_snapshot(fitness=None))
    assert snap == Snapshot(step=1020, reward_per_step=-0.05342799791142881, native_per_step=-0.0534279980079869,
                            components={"energy_gain": 0.0, "effort": -0.05342799791142881}, episodes=1,
                            elapsed=6.9457102830000395, fitness=None, episode_return=-52.85383104626224,
                            episode_length=999.0)


@pytest.mark.parametrize("changes, named", [
    ({"elapsed": "missing"}, "'elapsed' of a training snapshot"),
    ({"step": -1}, "'step' of a training snapshot"),
    ({"reward_per_step": float("nan")}, "'reward_per_step' of a training snapshot"),
    ({"fitness": "high"}, "'fitness' of a training snapshot"),
    ({"components": [1.0]}, "'components' of a training snapshot"),
    ({"components": {"bad name!": 1.0}}, "component name 'bad name!'"),
])
def test_a_malformed_child_snapshot_is_refused_naming_the_field(changes, named):
    with pytest.raises(SandboxError, match="sandboxed process sent") as caught:
        _snapshot(_child_snapshot(**changes))
    assert named in str(caught.value) and caught.value.kind == "protocol"


@pytest.mark.parametrize("changes, named", [
    ({"native_return": "missing"}, "'native_return' of evaluation episode 2"),
    ({"length": 9.5}, "'length' of evaluation episode 2"),
    ({"fitness": float("inf")}, "'fitness' of evaluation episode 2"),
])
def test_a_malformed_evaluation_episode_is_refused_naming_the_field(changes, named):
    episode = {**json.loads(EPISODE), **changes}
    episode = {k: v for k, v in episode.items() if v != "missing"}
    with pytest.raises(SandboxError) as caught:
        _episode_summary(episode, "evaluation episode 2")
    assert named in str(caught.value)
    summary = _episode_summary(json.loads(EPISODE), "evaluation episode 2")
    assert summary.reward_return is None  # the candidate's return comes later, from the replay


def test_an_old_trajectory_reads_by_name_and_a_stored_one_without_actions_is_named():
    old = Trajectory.from_json(json.loads(TRAJECTORY_0_1_0))
    assert old.obs is None and old.steps == 2 and old.max_steps == 999 and old.components["progress"] == [0.5, 0.5]
    assert old.fitness is None  # 0.1.0 kept no fitness with its trajectories: screening does not use them
    with pytest.raises(RunStoreError, match="stored trajectory has no 'actions'"):
        Trajectory.from_json({"fields": {}})


def _child_trajectory(**changes):
    data = {k: v for k, v in json.loads(TRAJECTORY).items() if k not in ("rewards", "components", "fitness")}
    data.update(changes)
    return {k: v for k, v in data.items() if v != "missing"}


def test_a_checked_evaluation_trajectory_becomes_a_record():
    t = _trajectory(_child_trajectory(), "evaluation trajectory 1")
    assert t == Trajectory(fields={"position": [-0.5, -0.45, -0.4]}, obs=[[-0.5, 0.0], [-0.45, 0.05], [-0.4, 0.05]],
                           actions=[[0.3], [-1.0]], native_rewards=[-0.009, -0.1], terminated=False,
                           truncated=True, max_steps=None, action_low=[-1.0], action_high=[1.0])
    unbounded = _trajectory(_child_trajectory(action_low="missing", action_high="missing"), "evaluation trajectory 1")
    assert unbounded.action_low is None and "action_low" not in unbounded.to_json()  # a discrete action space


@pytest.mark.parametrize("changes, named", [
    ({"actions": "missing"}, "'actions' of evaluation trajectory 1"),
    ({"obs": [[0.0]]}, "rows of another length in evaluation trajectory 1"),
    ({"native_rewards": [0.0, float("nan")]}, "'native_rewards' of evaluation trajectory 1"),
    ({"max_steps": -5}, "'max_steps' of evaluation trajectory 1"),
    ({"action_low": ["low"]}, "'action_low' of evaluation trajectory 1"),
    ({"fields": [1, 2]}, "'fields' of evaluation trajectory 1"),
])
def test_a_malformed_evaluation_trajectory_is_refused_naming_the_field(changes, named):
    with pytest.raises(SandboxError) as caught:
        _trajectory(_child_trajectory(**changes), "evaluation trajectory 1")
    assert named in str(caught.value)
