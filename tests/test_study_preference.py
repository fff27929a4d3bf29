"""A/B preference results: win rates with Wilson CIs and a Bradley–Terry scale, bad rows named by line."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from mmmos_core.errors import ManifestError
from mmmos_core.studies.preference import analyse_preferences, bradley_terry, read_preferences


def test_bradley_terry_recovers_known_odds():
    # A beats B 300 times to 100: odds 3, a log-strength gap of ln 3 (the prior is negligible here).
    gap = np.diff(bradley_terry(["A", "B"], np.array([[0, 300], [100, 0]])))[0]
    assert -gap == pytest.approx(math.log(3), abs=0.01)
    # Three systems in a clear order; a system that never won still gets a finite, lowest strength.
    s = bradley_terry(["A", "B", "C"], np.array([[0, 8, 9], [2, 0, 7], [0, 0, 0]], dtype=float))
    assert s[0] > s[1] > s[2] and np.isfinite(s).all() and s.sum() == pytest.approx(0.0, abs=1e-9)


def test_results_file_gives_win_rates_and_a_scale_beside_the_model(tmp_path):
    lines = ["rater,item,axis,system_a,system_b,choice,strength"]
    for r in range(6):
        lines.append(f"r{r},song1,PQ,new,old,{'A' if r < 5 else 'B'},clear")
        lines.append(f"r{r},song2,PQ,old,new,{'B' if r < 4 else 'none'},slight")
    (tmp_path / "ab.csv").write_text("\n".join(lines) + "\n")
    pairs, scale = analyse_preferences(read_preferences(tmp_path / "ab.csv"),
                                       {"new": {"PQ": 7.1}, "old": {"PQ": 5.2}})
    row = pairs.iloc[0]
    assert (row.system_a, row.system_b, row.a_wins, row.b_wins, row.no_preference) == ("new", "old", 9, 1, 2)
    expected = binomtest(9, 10).proportion_ci(0.95, method="wilson")
    assert row.win_rate_a == pytest.approx(0.9) and row.ci_low == pytest.approx(expected.low)
    by = scale.set_index("system")
    assert by.loc["new", "bradley_terry"] > by.loc["old", "bradley_terry"]
    assert by.loc["new", "model_mean"] == 7.1  # the model's view beside the listeners'


@pytest.mark.parametrize("row,problem", [
    ("r1,song,PQ,new,old,maybe,", "choice 'maybe' is not A, B or none"),
    ("r1,song,XX,new,old,A,", "axis 'XX'"),
    ("r1,song,PQ,new,new,A,", "A and B are the same system"),
    ("r1,song,PQ,new,old,A,huge", "strength 'huge'"),
    (",song,PQ,new,old,A,", "missing rater"),
])
def test_a_bad_row_is_named_by_file_and_line(tmp_path, row, problem):
    path = tmp_path / "ab.csv"
    path.write_text("rater,item,axis,system_a,system_b,choice,strength\nr0,song,PQ,new,old,A,\n" + row + "\n")
    with pytest.raises(ManifestError, match=f"ab.csv, line 3: {problem}"):
        read_preferences(path)
