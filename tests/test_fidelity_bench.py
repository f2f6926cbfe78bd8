"""benchmarks/fidelity.py: a run for one pool keeps the other pools' figures in the output file (no training)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import fidelity  # noqa: E402


def test_a_run_for_one_pool_keeps_the_other_pools_rows(tmp_path):
    out = tmp_path / "fidelity.json"
    assert fidelity.write_rows(out, [{"task": "halfcheetah-forward", "regret": 23.5}]) == 0
    assert fidelity.write_rows(out, [{"task": "hopper-forward", "regret": 1.0}]) == 1
    assert fidelity.write_rows(out, [{"task": "hopper-forward", "regret": 0.5}]) == 1  # its own row is replaced
    rows = json.loads(out.read_text())
    assert rows == [{"task": "halfcheetah-forward", "regret": 23.5}, {"task": "hopper-forward", "regret": 0.5}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fidelity.json"]
