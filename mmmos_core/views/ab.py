"""The A/B picture: two clips' radars overlaid in two colours, and the per-axis difference with
its interval (`mmmos_core.ab`)."""

from __future__ import annotations

from typing import Any, Mapping

import plotly.graph_objects as go

from mmmos_core.ab import ABComparison
from mmmos_core.axes import AXES

from .figures import FONT, _polar_layout, radar_labels, short_title

A_COLOR = "#1f4e9c"
B_COLOR = "#d9822b"


def ab_radar(a: Mapping[str, Any], b: Mapping[str, Any], height: int = 460) -> go.Figure:
    """Both ensemble means on one radar; the labels carry 'A | B'."""
    theta = radar_labels(a, b)
    closed = theta + theta[:1]
    fig = go.Figure()
    for rec, color, tag in ((a, A_COLOR, "A"), (b, B_COLOR, "B")):
        name = f"{tag}: {short_title(str(rec.get('file') or rec.get('path')), 28)}"
        fig.add_trace(go.Scatterpolar(r=[rec[x] for x in AXES] + [rec[AXES[0]]], theta=closed,
                                      mode="lines+markers", name=name, line=dict(color=color, width=3),
                                      marker=dict(size=8, color=color),
                                      hovertemplate=f"{tag} %{{theta}}: %{{r:.2f}}<extra></extra>"))
    return _polar_layout(fig, None, height)


def difference_figure(comparison: ABComparison, height: int = 280) -> go.Figure:
    """B − A per axis as a point with its interval; the zero line is 'no difference'."""
    fig = go.Figure()
    axes = [d.axis for d in comparison.axes][::-1]
    diffs = {d.axis: d for d in comparison.axes}
    fig.add_vline(x=0, line=dict(color="#999", dash="dash"))
    fig.add_trace(go.Scatter(
        x=[diffs[a].difference for a in axes], y=axes, mode="markers",
        marker=dict(size=11, color=[B_COLOR if diffs[a].difference > 0 else A_COLOR for a in axes]),
        error_x=dict(type="data", symmetric=False, array=[diffs[a].high - diffs[a].difference for a in axes],
                     arrayminus=[diffs[a].difference - diffs[a].low for a in axes], thickness=2, width=6),
        hovertemplate="%{y}: B − A = %{x:+.2f}<extra></extra>", showlegend=False))
    span = max(1.0, max(max(abs(d.low), abs(d.high)) for d in comparison.axes) + 0.2)
    fig.update_xaxes(range=[-span, span], title="B − A, with 95% interval",
                     gridcolor="#eceff3", zeroline=False)
    fig.update_layout(height=height, font=FONT, paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="white",
                      margin=dict(l=40, r=15, t=20, b=50))
    fig.update_yaxes(range=[-0.6, len(axes) - 0.4])  # room above the top axis: PQ was cut at the edge
    return fig
