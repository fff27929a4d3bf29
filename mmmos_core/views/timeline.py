"""The timeline figure of a long clip: the four axes' scores per window, the clip's own score
marked, the worst stretch highlighted. Reads a record with ``windows``
(`mmmos predict --timeline`), so the app and the JSONL draw the same numbers."""

from __future__ import annotations

from typing import Any, Mapping

import plotly.graph_objects as go

from mmmos_core.axes import AXES, SCALE_MAX, SCALE_MIN
from mmmos_core.model.timeline import clock, worst_stretch

from .figures import FONT

AXIS_COLORS = {"PQ": "#1f4e9c", "PC": "#8e6bbf", "CE": "#2a9d5b", "CU": "#d9822b"}
WORST_COLOR = "rgba(192, 57, 43, 0.13)"
NOTABLE_DROP = 0.5  # points below the clip's own score; smaller dips are noise, not a "worst stretch"


def timeline_figure(record: Mapping[str, Any], height: int = 300) -> go.Figure | None:
    """Scores per window as steps over time; None for a clip that fits in one window."""
    windows = record.get("windows") or []
    if len(windows) < 2:
        return None
    fig = go.Figure()
    worst = notable_stretch(record)
    if worst is not None:
        fig.add_vrect(x0=worst.start, x1=worst.end, fillcolor=WORST_COLOR, line_width=0, layer="below")
    for a in AXES:
        # Each window's score drawn at its middle; customdata carries the start the click seeks to.
        fig.add_trace(go.Scatter(
            x=[(w["start"] + w["end"]) / 2 for w in windows], y=[w[a] for w in windows], mode="lines+markers",
            name=a, line=dict(color=AXIS_COLORS[a], width=2), marker=dict(size=7),
            customdata=[[w["start"], w["end"], w["spread"][a]] for w in windows],
            hovertemplate=(f"{a} %{{y:.2f}} ± %{{customdata[2]:.2f}}<br>"
                           "%{customdata[0]:.0f}–%{customdata[1]:.0f} s · click to play<extra></extra>")))
        fig.add_hline(y=record[a], line=dict(color=AXIS_COLORS[a], width=1, dash="dot"))
    ticks = _ticks(windows[-1]["end"])
    fig.update_xaxes(range=[0, windows[-1]["end"]], tickvals=ticks, ticktext=[clock(t) for t in ticks],
                     title="time · dotted: whole clip", gridcolor="#eceff3")
    fig.update_yaxes(range=[SCALE_MIN - 0.2, SCALE_MAX + 0.2], dtick=2, gridcolor="#eceff3", title="score")
    fig.update_layout(height=height, font=FONT, paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="white",
                      margin=dict(l=45, r=15, t=40, b=45), hovermode="closest",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0.0, xanchor="left"))
    return fig


def _ticks(end: float) -> list[float]:
    for step in (10, 30, 60, 120, 300, 600, 1800):
        if end / step <= 8:
            return [float(t) for t in range(0, int(end) + 1, step)]
    return [0.0, end]


def notable_stretch(record: Mapping[str, Any]):
    """The worst stretch when it dips at least `NOTABLE_DROP` below the clip's score, else None."""
    worst = worst_stretch(record)
    return worst if worst is not None and worst.overall - worst.score >= NOTABLE_DROP else None


def timeline_sentence(record: Mapping[str, Any]) -> str:
    """'PQ drops from 6.8 to 3.1 at 2:40–2:50'; for a steady long clip, that it holds steady;
    '' when there is no timeline."""
    worst = notable_stretch(record)
    if worst is not None:
        return worst.sentence()
    if len(record.get("windows") or []) > 1:
        return f"no stretch falls more than {NOTABLE_DROP:.1f} below the clip's score on PQ, CE or CU"
    return ""
