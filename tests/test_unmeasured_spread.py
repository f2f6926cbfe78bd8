"""Halving's first look at the seed spread (training/schedule.py ``UNMEASURED_COST``): a cut's episode noise can be
far below the seed-to-seed spread (walker at its first rung: noise 0.071, spread 0.53), so while the spread at a
rung is unmeasured, the closest call gets its second seed whatever its gap when that pair is cheap beside what the
cut saves; the pair measures the spread for the rest. Fake trainings (test_rung_seeds.py's)."""

import pytest

from rewardsmith.training.schedule import UNMEASURED_SPREAD, near_misses
from test_rung_seeds import EXTRA, RUNGS, _pool


def test_the_closest_call_is_checked_whatever_its_gap_when_measuring_is_cheap():
    ranked = ["a", "b", "c", "d"]
    scores = {"a": 1.34, "b": 0.99, "c": 0.98, "d": 0.97}
    noise = {c: 0.05 for c in ranked}  # combined 0.071; b is 0.35 behind a: beyond 3 x that
    assert 0.35 > UNMEASURED_SPREAD * 0.0708
    assert near_misses(ranked, 1, scores, noise, None, {}) == []
    assert near_misses(ranked, 1, scores, noise, None, {}, measure=True) == ["b"]
    assert near_misses(ranked, 4, scores, noise, None, {}, measure=True) == []  # nobody stopped: nothing to check
    # a measured spread decides alone, as before
    assert near_misses(ranked, 1, scores, noise, 0.1, {}, measure=True) == []


def test_a_walker_like_first_cut_buys_the_pair_that_measures_the_spread_and_decides_on_the_means(tmp_path):
    # rung 0 on the search seed: a 1.34 clearly ahead of b, c, d by the episodes' noise (0.071), so the old rule
    # stopped all three on one seed. Now the closest call's pair is bought (a 1.0, b 1.5 on a second seed): it
    # measures a spread of 0.31, within which c and d are near misses too and get theirs (as on seed 0); decided
    # again on the means (a 1.17, b 1.245, c 0.98, d 0.97) with a's and b's seeds as their noise, nobody is clearly
    # behind: all four go on, where one seed had stopped three
    curves = {"a": {"0": [1.34, 1.0, 1.0], str(EXTRA): [1.0, 0, 0]}, "b": {"0": [0.99, 1.2, 1.2], str(EXTRA): [1.5, 0, 0]},
              "c": {"0": [0.98, 0, 0]}, "d": {"0": [0.97, 0, 0]}}
    store, ids, trainer, pool = _pool(tmp_path, curves, RUNGS)
    assert sorted(n for n, seed, target in trainer.calls if seed == EXTRA and target == 256) == ["a", "b", "c", "d"]
    [event] = [e for e in store.events("rung_seeds") if e["rung"] == 0]
    assert event["steps"] == 4 * 256 and event["saved"] == 3 * (2304 - 256)
    assert event["spread"] == pytest.approx(((0.34 ** 2 / 2 + 0.51 ** 2 / 2) / 4) ** 0.5)  # pooled over the four
    first = pool.decisions[0]
    assert first.scores[ids["b"]] == pytest.approx(1.245) and first.action == "promote"
    assert sorted(n for n, seed, target in trainer.calls if seed == 0 and target == 768) == ["a", "b", "c", "d"]
    assert "second seed" in first.reason


def test_no_pair_is_bought_for_a_far_call_when_it_would_cost_more_than_a_third_of_the_savings(tmp_path):
    # stopping three at 1024 of 1536 saves 1,536 steps; a pair at 1024 costs 2,048: the old rule alone (3 x noise)
    curves = {"a": {"0": [1.34, 1.34]}, "b": {"0": [0.99, 0.99]}, "c": {"0": [0.98, 0.98]}, "d": {"0": [0.97, 0.97]}}
    store, ids, trainer, pool = _pool(tmp_path, curves, [1024, 1536])
    assert all(seed == 0 for _, seed, _ in trainer.calls)
    assert store.events("rung_seeds") == []
    assert pool.decisions[0].kept == [ids["a"]]
