"""Study figures say what they show: identity lines, every rater (even one with no correlation), pairs."""

from __future__ import annotations

import numpy as np
import pytest

from mmmos_core.axes import AXES
from mmmos_core.views.study import pairwise_figure, rater_figure, scatter_grid


def test_scatter_grid_has_identity_lines_stats_and_axis_units():
    rng = np.random.default_rng(0)
    human = {a: rng.uniform(1, 10, 20) for a in AXES}
    pred = {a: human[a] + rng.normal(0, 0.5, 20) for a in AXES}
    fig = scatter_grid(pred, human, [f"c{i}" for i in range(20)], "title", {a: f"LCC {a}" for a in AXES})
    identity = [t for t in fig.data if t.name == "identity (pred = human)"]
    assert len(identity) == 4 and all(list(t.x) == list(t.y) for t in identity)
    points = [t for t in fig.data if t.mode == "markers"]
    assert len(points) == 4 and list(points[0].x) == pytest.approx(human["PQ"])
    assert {a.text for a in fig.layout.annotations} >= {f"LCC {a}" for a in AXES}
    assert "1–10" in fig.layout.xaxis.title.text and "1–10" in fig.layout.yaxis.title.text


def test_a_rater_without_correlation_keeps_a_labelled_bar_and_the_threshold_is_in_the_legend():
    fig = rater_figure(["a", "b"], [0.8, float("nan")], [False, True], 0.25,
                       reasons=["", "straight-lining: the same score on every clip"])
    bars = fig.data[0]
    assert bars.y[1] > 0 and list(bars.text) == ["0.80", "n/a"]  # visible, and says why there is no number
    assert "straight-lining" in bars.customdata[1]
    assert bars.marker.line.color[1] != bars.marker.line.color[0]  # flagged rater outlined
    assert [sh.y0 for sh in fig.layout.shapes] == [0.25]
    assert "0.25" in fig.data[1].name and fig.layout.legend.y >= 1.0  # named above the plot, not on the bars
    assert not fig.layout.annotations


def test_pairwise_figure_shows_humans_and_model_with_cis():
    rows = [{"axis": "PQ", "source": s, "system_a": "A", "system_b": "B", "difference": d, "ci_low": d - 0.5,
             "ci_high": d + 0.5} for s, d in (("humans", 1.0), ("model", 0.4))]
    fig = pairwise_figure(rows, "PQ")
    assert [t.name for t in fig.data] == ["humans", "model"]
    assert list(fig.data[0].error_x.array) == pytest.approx([0.5]) and list(fig.data[1].x) == [0.4]


def test_design_figures_put_the_model_beside_the_listeners_and_show_cis():
    import pandas as pd

    from mmmos_core.views.study import design_figure

    scale = pd.DataFrame([{"axis": "PQ", "system": s, "bradley_terry": b, "model_mean": m}
                          for s, b, m in (("new", 0.8, 7.0), ("old", -0.8, 4.0))])
    fig = design_figure("ab", scale)
    assert [t.name for t in fig.data] == ["listeners", "model mean"] and list(fig.data[1].y) == [7.0, 4.0]
    means = pd.DataFrame([{"axis": "PQ", "condition": "codec", "mean": 60.0, "ci_low": 55.0, "ci_high": 65.0}])
    fig = design_figure("mushra", means)
    assert list(fig.data[0].error_y.array) == [5.0] and fig.layout.yaxis.range == (0, 100)
