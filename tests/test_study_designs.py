"""Results files of other designs are recognised by their columns; anything else is named and refused."""

from __future__ import annotations

import pytest

from mmmos_core.errors import ManifestError
from mmmos_core.studies.designs import analyse_design, detect_design


def test_designs_are_recognised_by_their_columns(tmp_path):
    ab = tmp_path / "ab.jsonl"
    ab.write_text('{"rater": "r1", "item": "s", "axis": "CE", "system_a": "x", "system_b": "y", "choice": "B"}\n')
    mushra = tmp_path / "m.csv"
    mushra.write_text("rater,item,axis,condition,score\nr1,t1,PQ,c1,50\n")
    assert detect_design(ab) == "ab" and detect_design(mushra) == "mushra"
    result = analyse_design(ab)
    assert result.design == "ab" and result.tables["pairs"].iloc[0].b_wins == 1
    other = tmp_path / "labels.csv"
    other.write_text("path,PQ\na.wav,5\n")
    with pytest.raises(ManifestError, match="labels.csv: not A/B results"):
        detect_design(other)
