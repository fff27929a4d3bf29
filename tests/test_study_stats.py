"""Study statistics a stakeholder relies on: minimum n, tie-exact system ranks, Holm, A vs B."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from mmmos_core.axes import AXES
from mmmos_core.studies.agreement import RatingTable
from mmmos_core.studies.compare import TOO_FEW, HumanItem, HumanRatings, build_report, metrics_wide
from mmmos_core.studies.stats import MIN_N, exact_mean, holm, pairwise_systems
from mmmos_core.training.metrics import system_means


def test_compare_statistics_import_without_plotly():
    code = "import sys; sys.modules['plotly'] = None; import mmmos_core.studies.compare"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_holm_matches_the_hand_worked_example():
    # m = 4. Sorted: 0.005*4 = 0.02; 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> raised to 0.06 (monotone).
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, float("nan"), 0.6]) == pytest.approx([1.0, float("nan"), 1.0], nan_ok=True)


def human_from(ratings: dict[str, dict[str, list[int]]], systems: dict[str, str]) -> HumanRatings:
    """ratings: rater -> clip -> one score per clip used on every axis."""
    records = [(r, clip, {a: s for a in AXES}) for r, clips in ratings.items() for clip, s in clips.items()]
    items = {c: HumanItem(c, None, systems[c]) for c in systems}
    return HumanRatings(RatingTable.from_long(records), items, "constructed.csv", "app")


def test_system_srcc_and_ktau_are_tie_exact_like_scipy_on_exact_means():
    # S1 and S2 have the same exact mean prediction, summed in different orders; so do S3 and S4.
    preds_by_system = {"S1": [0.1, 0.2, 0.3], "S2": [0.3, 0.2, 0.1], "S3": [0.7, 0.1, 0.2],
                       "S4": [0.2, 0.7, 0.1], "S5": [0.9, 0.8, 0.6]}
    systems = {f"{s}-{k}": s for s in preds_by_system for k in range(3)}
    rng = np.random.default_rng(3)
    ratings = {r: {c: int(rng.integers(1, 11)) for c in systems} for r in ("a", "b", "c")}
    human = human_from(ratings, systems)
    preds = {c: {a: preds_by_system[s][int(c[-1])] for a in AXES} for c, s in systems.items()}
    clips = list(systems)
    naive = system_means(np.array([preds[c]["PQ"] for c in clips]), [systems[c] for c in clips])[1]
    assert naive[0] != naive[1] or naive[2] != naive[3]  # plain float sums break the real ties

    report = build_report(human, preds, n_boot=0)
    names = sorted(preds_by_system)
    exact_pred = [float(sum(map(Fraction, preds_by_system[s])) / 3) for s in names]
    exact_human = [float(sum(Fraction(ratings[r][c]) for r in ratings for c in clips if systems[c] == s) / 9)
                   for s in names]
    m = report.metrics
    for metric, fn in (("SRCC", stats.spearmanr), ("KTAU", stats.kendalltau)):
        got = m[(m.axis == "PQ") & (m.level == "system") & (m.metric == metric)]["value"].iloc[0]
        assert got == fn(exact_pred, exact_human)[0]  # exactly, not approximately


def test_correlations_under_the_minimum_n_say_too_few():
    systems = {f"c{k}": f"S{k % 3}" for k in range(MIN_N["clips"] - 1)}
    rng = np.random.default_rng(0)
    human = human_from({r: {c: int(rng.integers(1, 11)) for c in systems} for r in "abc"}, systems)
    preds = {c: {a: float(rng.uniform(1, 10)) for a in AXES} for c in systems}
    report = build_report(human, preds, n_boot=200)
    corr = report.metrics[report.metrics.metric.isin(["LCC", "SRCC", "KTAU"])]
    assert corr["value"].isna().all() and corr["ci_low"].isna().all()
    assert corr["note"].str.startswith(TOO_FEW).all()
    wide = metrics_wide(report)
    for metric in ("LCC", "SRCC", "KTAU"):  # a note, never a number with a degenerate interval
        assert wide[metric].str.startswith("too few to estimate (").all()
    mse = report.metrics[report.metrics.metric == "MSE"]
    assert mse["value"].notna().all()  # an error, unlike a correlation, exists for any n


def test_pairwise_comparisons_find_the_better_system_and_adjust_for_multiplicity():
    rng = np.random.default_rng(1)
    clips = [f"{s}-{k}" for s in "ABC" for k in range(6)]
    level = {"A": 8.0, "B": 4.0, "C": 4.0}
    b = np.clip(np.round(4 + rng.normal(0, 0.8, (8, 6))), 1, 9)
    # C is B moved one point up for half the raters and one down for the others: no difference overall.
    c = b + np.where(np.arange(8) % 2 == 0, 1, -1)[:, None]
    a = np.clip(np.round(8 + rng.normal(0, 0.8, (8, 6))), 1, 10)
    matrix = np.hstack([a, b, c])
    model = np.array([level[c[0]] + rng.normal(0, 0.2) for c in clips])
    rows = pairwise_systems("PQ", [c[0] for c in clips], matrix, model, n_boot=1000, seed=0)
    human = {(r.system_a, r.system_b): r for r in rows if r.source == "humans"}
    assert {r.source for r in rows} == {"humans", "model"} and len(rows) == 6
    ab, bc = human[("A", "B")], human[("B", "C")]
    assert ab.unit == "raters (paired)" and ab.n == 8
    assert ab.ci_low > 0 and ab.verdict == "A higher"
    assert bc.verdict == "no clear difference"
    assert all(r.p_holm >= r.p for r in rows)
    assert human[("A", "C")].difference == pytest.approx(exact_mean(matrix[:, :6].ravel())
                                                         - exact_mean(matrix[:, 12:].ravel()))
    again = pairwise_systems("PQ", [c[0] for c in clips], matrix, model, n_boot=1000, seed=0)
    assert [r.ci_low for r in again] == [r.ci_low for r in rows]  # same seed, same report


def test_column_means_are_exact_for_whole_and_fractional_ratings():
    from mmmos_core.studies.stats import column_means

    whole = np.array([[1, 2, np.nan], [2, 2, 7], [4, np.nan, np.nan]], dtype=float)
    assert column_means(whole)[:2].tolist() == [float(Fraction(7, 3)), 2.0] and column_means(whole)[2] == 7.0
    frac = np.array([[0.1, 0.3], [0.2, 0.2], [0.3, 0.1]])
    means = column_means(frac)
    assert means[0] == means[1] == exact_mean([0.1, 0.2, 0.3])  # the order of summation does not matter
    assert np.isnan(column_means(np.full((2, 1), np.nan)))[0]


def test_metric_cis_by_scipy_bootstrap_bracket_the_values_and_skip_degenerate_resamples():
    from mmmos_core.studies.stats import metric_cis
    from mmmos_core.training.metrics import compute_metrics

    rng = np.random.default_rng(5)
    gold = rng.uniform(1, 10, 60)
    pred = gold + rng.normal(0, 1.0, 60)
    values, cis = compute_metrics(pred, gold), metric_cis(pred, gold, n_boot=500, seed=1)
    for m in ("MSE", "LCC", "SRCC", "KTAU"):
        assert cis[m][0] <= values[m] <= cis[m][1]
    assert cis == metric_cis(pred, gold, n_boot=500, seed=1)  # seeded: the same report twice
    # Three values, two of them equal: many resamples are constant and have no correlation.
    tiny = metric_cis([1.0, 1.0, 2.0], [3.0, 3.0, 5.0], n_boot=200)
    assert all(np.isfinite(tiny["LCC"])) and metric_cis([1.0], [2.0])["LCC"] is None
