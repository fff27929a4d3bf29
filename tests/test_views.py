"""Figures show what they claim: the scores, every member, the 1-10 scale, PC as complexity."""

from __future__ import annotations

import numpy as np
import pytest

from mmmos_core.axes import AXES
from mmmos_core.model.results import Prediction
from mmmos_core.views.figures import (
    BATCH_HEADERS,
    SCORE_HEADERS,
    batch_rows,
    radar_figure,
    score_rows,
    spread_figure,
)


@pytest.fixture
def prediction() -> Prediction:
    scores = np.array([[6.0, 2.0, 5.0, 4.0], [7.0, 3.0, 6.5, 5.0], [6.5, 2.5, 5.5, 4.5]])
    return Prediction.from_member_scores("clip.wav", "test-model", ["a", "b", "c"], scores, 3.0, [], "demo")


def test_radar_shows_the_mean_and_every_member_on_the_1_to_10_scale(prediction):
    fig = radar_figure(prediction)
    mean = next(t for t in fig.data if t.name == "ensemble mean")
    assert list(mean.r) == pytest.approx([prediction[a] for a in AXES] + [prediction["PQ"]])  # closed loop
    members = [t for t in fig.data if t.legendgroup == "members"]
    assert len(members) == 3
    assert list(members[1].r[:4]) == pytest.approx([7.0, 3.0, 6.5, 5.0])
    assert tuple(fig.layout.polar.radialaxis.range) == (1.0, 10.0)
    labels = list(mean.theta)
    assert any("PC" in t and "more ≠ better" in t for t in labels)


def test_radar_band_spans_member_min_and_max(prediction):
    fig = radar_figure(prediction.to_record(), members="band")
    band = next(t for t in fig.data if t.name == "member min–max")
    r = list(band.r)
    assert r[:4] == pytest.approx([7.0, 3.0, 6.5, 5.0])  # outer ring: max
    assert sorted(r[5:9]) == pytest.approx(sorted([6.0, 2.0, 5.0, 4.0]))  # inner ring: min
    assert band.fill == "toself"


def test_spread_has_a_point_per_member_and_axis(prediction):
    fig = spread_figure(prediction)
    points = [t for t in fig.data if t.legendgroup == "members"]
    assert len(points) == 3 and all(len(t.y) == 4 for t in points)
    ranges = [t for t in fig.data if t.legendgroup == "range"]
    assert [tuple(t.y) for t in ranges] == [(6.0, 7.0), (2.0, 3.0), (5.0, 6.5), (4.0, 5.0)]
    assert "more ≠ better" in fig.layout.xaxis.ticktext[1]


def test_score_table_rows(prediction):
    rows = score_rows(prediction)
    assert len(rows) == 4 and len(rows[0]) == len(SCORE_HEADERS)
    assert rows[0][0] == "PQ" and rows[0][2] == pytest.approx(6.5) and rows[0][4] == 6.0 and rows[0][5] == 7.0
    assert "more ≠ better" in rows[1][1]


def test_batch_rows_keep_errors_visible(prediction):
    rows = batch_rows([prediction.to_record(), {"path": "bad.wav", "error": "cannot decode"}])
    assert len(rows[0]) == len(BATCH_HEADERS)
    assert rows[0][0] == "clip.wav" and rows[0][5] == pytest.approx(1.5)
    assert rows[1][0] == "bad.wav" and rows[1][-1] == "cannot decode" and rows[1][1] is None
