"""Rater statistics: Krippendorff's alpha, each rater against the others, screening, z-normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from mmmos_core.axes import AXES
from mmmos_core.studies.agreement import (
    RatingTable,
    agreement,
    krippendorff_alpha_interval,
    rater_vs_others,
    screen_raters,
)

NA = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 observers x 12 units
# example with missing values; the paper works it by hand to alpha_interval = 0.849.
KRIPPENDORFF_EXAMPLE = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NA, NA, NA],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NA, 3],
    [NA, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NA],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NA],
])


def test_alpha_matches_the_hand_worked_example():
    assert krippendorff_alpha_interval(KRIPPENDORFF_EXAMPLE) == pytest.approx(0.849, abs=5e-4)


def test_alpha_matches_the_krippendorff_package_on_sparse_ratings():
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(1)
    for _ in range(5):
        truth = rng.uniform(1, 10, 40)
        m = np.clip(np.round(truth + rng.normal(0, 1.5, (6, 40))), 1, 10)
        m[rng.random(m.shape) < 0.35] = np.nan
        expected = krippendorff.alpha(reliability_data=m, level_of_measurement="interval")
        assert krippendorff_alpha_interval(m) == pytest.approx(expected, rel=1e-9)


def test_alpha_edge_cases():
    assert krippendorff_alpha_interval(np.array([[3, 5, 8], [3, 5, 8]], dtype=float)) == pytest.approx(1.0)
    assert np.isnan(krippendorff_alpha_interval(np.array([[4, 4], [4, 4]], dtype=float)))  # no variation at all
    assert np.isnan(krippendorff_alpha_interval(np.array([[1, NA], [NA, 2]])))  # nothing pairable


def table_from(matrix_by_rater: dict[str, list[float]]) -> RatingTable:
    records = []
    for rater, values in matrix_by_rater.items():
        for i, v in enumerate(values):
            if v is not None:
                records.append((rater, f"item{i}", {a: v for a in AXES}))
    return RatingTable.from_long(records)


def test_from_long_builds_a_sparse_matrix_and_averages_repeats():
    t = RatingTable.from_long([("a", "x", {a: 2 for a in AXES}), ("a", "x", {a: 4 for a in AXES}),
                               ("b", "y", {a: 7 for a in AXES})])
    assert t.raters == ["a", "b"] and t.items == ["x", "y"]
    v = t.values["PQ"]
    assert v[0, 0] == 3 and np.isnan(v[0, 1]) and np.isnan(v[1, 0]) and v[1, 1] == 7
    assert t.n_ratings() == 2


def _panel(rng, n_items=30, offsets=(0, 0, 0, 0), noisy=None):
    truth = rng.uniform(2, 9, n_items)
    raters = {f"r{k}": list(np.clip(truth + off + rng.normal(0, 0.5, n_items), 1, 10)) for k, off in enumerate(offsets)}
    if noisy:
        raters[noisy] = list(rng.uniform(1, 10, n_items))
    return raters


def test_a_random_rater_is_flagged_and_excluding_them_raises_alpha():
    rng = np.random.default_rng(0)
    t = table_from(_panel(rng, noisy="clicker"))
    corr = dict(zip(t.raters, (c for c, _ in rater_vs_others(t, "PQ"))))
    assert corr["clicker"] < 0.5 < min(c for r, c in corr.items() if r != "clicker")
    screens = {s.rater: s for s in screen_raters(t, min_corr=0.5)}
    assert screens["clicker"].flagged and "correlation" in screens["clicker"].reasons[0]
    assert not any(s.flagged for r, s in screens.items() if r != "clicker")
    rows = agreement(t, [r for r in t.raters if r != "clicker"])
    assert all(row.alpha_kept > row.alpha_all for row in rows)
    assert rows[0].raters_all == 5 and rows[0].raters_kept == 4 and rows[0].items == 30


def test_gold_failures_flag_a_rater():
    rng = np.random.default_rng(0)
    t = table_from(_panel(rng))
    screens = {s.rater: s for s in screen_raters(t, gold={"r1": (4, 2), "r2": (4, 1)}, max_gold_fail=0.25)}
    assert screens["r1"].flagged and "2 of 4 gold" in screens["r1"].reasons[0]
    assert not screens["r2"].flagged  # 1 of 4 is not more than 25%


def test_too_few_shared_items_do_not_flag():
    t = table_from({"a": [1, 5, 9], "b": [9, 5, 1], "c": [1, 5, 9]})
    assert not any(s.flagged for s in screen_raters(t, min_corr=0.9))


def test_z_normalisation_removes_a_raters_offset_and_keeps_the_scale():
    rng = np.random.default_rng(3)
    t = table_from(_panel(rng, offsets=(0, 0, 2.0, -1.0)))
    z = t.z_normalised()
    v = z.values["CE"]
    pooled = np.nanmean(t.values["CE"])
    assert np.nanmean(v, axis=1) == pytest.approx([pooled] * 4)
    before = np.ptp(np.nanmean(t.values["CE"], axis=1))
    after = np.ptp(np.nanmean(v, axis=1))
    assert before > 2.5 and after < 1e-9
    # Offsets are disagreement that alpha counts; normalising them away raises it.
    assert krippendorff_alpha_interval(v) > krippendorff_alpha_interval(t.values["CE"])


def test_z_normalisation_keeps_a_constant_rater_finite():
    t = table_from({"a": [5, 5, 5, 5], "b": [1, 4, 6, 9]})
    assert np.all(np.isfinite(t.z_normalised().values["PQ"]))
