"""MUSHRA-style results: BS.1534 post-screening on the hidden reference, per-condition means with CIs."""

from __future__ import annotations

import pytest
from scipy import stats

from mmmos_core.errors import ManifestError
from mmmos_core.studies.mushra import condition_means, read_mushra


def write(tmp_path, rows):
    path = tmp_path / "mushra.csv"
    path.write_text("rater,item,axis,condition,score,role\n" + "\n".join(rows) + "\n")
    return path


def test_a_rater_missing_the_hidden_reference_too_often_is_excluded(tmp_path):
    rows = []
    for rater, ref in (("ann", 100), ("ben", 95), ("cat", 92), ("sloppy", 60)):
        for item in ("t1", "t2", "t3", "t4"):
            ref_score = ref if rater != "cat" or item != "t4" else 85  # cat misses once in 4: 25% > 15%
            rows += [f"{rater},{item},PQ,ref,{ref_score},reference", f"{rater},{item},PQ,anchor35,20,anchor",
                     f"{rater},{item},PQ,codecX,{70 if rater != 'sloppy' else 95},"]
    means, screening = condition_means(read_mushra(write(tmp_path, rows)))
    excluded = screening.set_index("rater")
    assert excluded.loc["sloppy", "excluded"] and "in 4 of 4 trials" in excluded.loc["sloppy", "reason"]
    assert excluded.loc["cat", "excluded"] and excluded.loc["cat", "reference_below_90"] == 1
    assert not excluded.loc["ann", "excluded"]
    codec = means.set_index("condition").loc["codecX"]
    assert codec["mean"] == 70 and codec["raters"] == 2  # sloppy's 95s are left out, so is cat
    ref = means.set_index("condition").loc["ref"]
    half = stats.t.ppf(0.975, 1) * stats.tstd([100, 95]) / 2 ** 0.5
    assert ref["role"] == "reference" and ref["ci_low"] == pytest.approx(97.5 - half)


@pytest.mark.parametrize("row,problem", [
    ("r1,t1,PQ,ref,101,reference", "score 101 is outside 0-100"),
    ("r1,t1,PQ,ref,high,reference", "score 'high' is not a number"),
    ("r1,t1,PQ,ref,90,hidden", "role 'hidden'"),
    ("r1,t1,PQ,,90,", "missing condition"),
])
def test_a_bad_row_is_named_by_file_and_line(tmp_path, row, problem):
    with pytest.raises(ManifestError, match=f"mushra.csv, line 3: {problem}"):
        read_mushra(write(tmp_path, ["r0,t1,PQ,ref,100,reference", row]))
