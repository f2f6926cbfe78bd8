"""The records that pass between stages: what the critic judged, what training reports, what evaluation
measured, what each successive-halving leg left and what halving decided (for a pool and for each
candidate), what screening judged, what the archive keeps of a scored candidate and how long it trained,
and what final scoring concluded.

Inside the program these are dataclasses read by attribute. They become JSON only at an edge: a
sandboxed child's output (checked field by field in ``trainer.py`` / ``untrusted.py`` before a record is
built), a Ray worker's reply, the run store's JSON columns and meta (a candidate's ``verdict``,
``result``, ``analysis`` and ``timings``, a halving leg's outcome and result, a final-scoring seed's
result, the meta ``final``) and the ``halving_decision`` event. ``to_json`` gives exactly the JSON the
release before these records wrote (same keys, same order), and ``from_json`` reads that one shape: older
shapes (release 0.1.0's key order, keys it left out) were rewritten once by migration m008
(``archive/old_shapes.py``); a stored value that lacks a field is a RunStoreError naming it. Where a
record repeats a fact another place of the store holds (a leg's result its outcome, a final seed's result
its row's columns, an analysis and a confirmation their candidate's score, the final summary the final
table, a candidate's seed results its legs: ``Leg.held``), the store keeps it once: ``stored_json``/
``result_json`` leave it out, ``from_stored``/``from_json`` fill it in from there (migrations m009_facts_once
and m010_runs_from_legs dropped the repeats from older runs). These
records import nothing of the rest of rewardsmith but ``errors``, so every stage (and the store) can use
them.


One module per stage's records (training, verdict, halving, kept, analysis, final) and one codec; all
are importable from here.
"""

from .training import Snapshot, EpisodeSummary, SeedResult, Trajectory  # noqa: F401
from .verdict import ComponentStats, ProbeStats, CriticVerdict  # noqa: F401
from .halving import Leg, RungDecision, HalvingDecision, HalvingRecord  # noqa: F401
from .kept import ComponentTrend, Confirmation, Timings, ScreeningRow, ScreeningRecord, CandidateResult  # noqa: F401
from .analysis import Finding, EvaluationMeans, ActionStats, TrainingCurves, FieldPath, EpisodeAnalysis, ComponentCurve, ComponentAnalysis, FieldSummary, Analysis  # noqa: F401
from .final import FinalEntry, FinalRun, FinalSummary  # noqa: F401
