"""Plotly figures of one prediction: the radar, the spread of the members, the score table.

Study figures (human vs model, raters) live in `mmmos_core.views.study`.

Every figure takes plain records (a `Prediction` or its JSON record, arrays of
numbers), so the app, a notebook and the report exporter draw the same pictures.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from mmmos_core.axes import AXES, AXIS_NAMES, SCALE_MAX, SCALE_MIN
from mmmos_core.model.results import Prediction

MEAN_COLOR = "#1f4e9c"
REFERENCE_COLOR = "#2a9d5b"
MEMBER_COLOR = "rgba(230, 120, 30, 0.55)"
BAND_COLOR = "rgba(230, 120, 30, 0.22)"
FLAG_COLOR = "#c0392b"
OK_COLOR = "#2e86de"
FONT = dict(family="Inter, -apple-system, Segoe UI, Helvetica, Arial, sans-serif", size=13)


def axis_label(axis: str, short: bool = False) -> str:
    """PC says what it is on every chart: complexity, where more is not better."""
    name = AXIS_NAMES[axis]
    if axis == "PC":
        name += " (more ≠ better)"
    return axis if short else f"{axis} · {name}"


def _as_record(prediction: Prediction | Mapping[str, Any]) -> Mapping[str, Any]:
    return prediction.to_record() if isinstance(prediction, Prediction) else prediction


def _layout(fig: go.Figure, title: str | None, height: int) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0.01, xanchor="left") if title else None, height=height,
                      font=FONT, margin=dict(l=50, r=30, t=60 if title else 30, b=40),
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="white",
                      legend=dict(orientation="h", yanchor="top", y=-0.08, x=0.5, xanchor="center"))
    return fig


def radar_labels(values: Mapping[str, float] | None = None, second: Mapping[str, float] | None = None) -> list[str]:
    """The axis labels of a radar, carrying the values: next to the axis, never on the polygon, so
    low scores cannot pile up in the middle. Names are broken over lines so the side labels stay
    narrow on a phone."""
    labels = []
    for a in AXES:
        head = f"<b>{a}</b>"
        if values is not None and second is not None:
            head += f" <b>{values[a]:.1f}</b> | <b>{second[a]:.1f}</b>"
        elif values is not None:
            head += f" <b>{values[a]:.1f}</b>"
        name = AXIS_NAMES[a].replace(" ", "<br>")
        labels.append(head + "<br>" + name + ("<br><span style='font-size:10px'><i>more ≠ better</i></span>"
                                             if a == "PC" else ""))
    return labels


def _polar_layout(fig: go.Figure, title: str | None, height: int) -> go.Figure:
    fig.update_layout(polar=dict(
        radialaxis=dict(range=[SCALE_MIN, SCALE_MAX], tickvals=[2, 4, 6, 8, 10], angle=45, tickangle=45,
                        gridcolor="#d9dde3", tickfont=dict(size=10, color="#666")),
        angularaxis=dict(direction="clockwise", rotation=90, gridcolor="#d9dde3", tickfont=dict(size=12)),
        bgcolor="white"))
    _layout(fig, title, height)
    # Side margins in pixels hold the PC and CU labels at any width; the legend sits below the CE
    # label, centred (beside the chart it covered CE at 390 px).
    fig.update_layout(margin=dict(l=84, r=84, t=64 if title else 40, b=64),
                      legend=dict(orientation="h", yanchor="top", y=-0.16, x=0.5, xanchor="center"))
    return fig


def short_title(text: str, limit: int = 36) -> str:
    """A file name that fits a phone-width chart title: the middle gives way, the extension stays."""
    return text if len(text) <= limit else text[: limit // 2 - 1] + "…" + text[-(limit // 2 - 1):]


def radar_figure(prediction: Prediction | Mapping[str, Any], members: str = "lines",
                 title: str | None = None, height: int = 460,
                 member_names: Mapping[str, str] | None = None) -> go.Figure:
    """Ensemble mean on the 1-10 scale with the members as thin lines (``lines``) or their min-max
    band (``band``), so disagreement between members is visible at a glance. The values sit in
    the axis labels (`radar_labels`). ``member_names``: readable labels for the hover."""
    rec = _as_record(prediction)
    theta = radar_labels(rec)
    closed = theta + theta[:1]
    names = member_names or {}

    def loop(values: Sequence[float]) -> list[float]:
        return list(values) + [values[0]]

    fig = go.Figure()
    if members == "band":
        lo = [rec["spread"][a]["min"] for a in AXES]
        hi = [rec["spread"][a]["max"] for a in AXES]
        # Outer ring forward, inner ring backward: the fill is the ring between them.
        fig.add_trace(go.Scatterpolar(r=loop(hi) + loop(lo)[::-1], theta=closed + closed[::-1], fill="toself",
                                      fillcolor=BAND_COLOR, line=dict(color=MEMBER_COLOR, width=1),
                                      name="member min–max", hoverinfo="skip"))
    else:
        for k, m in enumerate(rec.get("members", [])):
            label = names.get(m["name"], m["name"])
            fig.add_trace(go.Scatterpolar(
                r=loop([m[a] for a in AXES]), theta=closed, mode="lines", name="members" if k == 0 else label,
                legendgroup="members", showlegend=k == 0, line=dict(color=MEMBER_COLOR, width=1.3),
                hovertemplate=f"{label}<br>%{{theta}}: %{{r:.2f}}<extra></extra>"))
    ref = rec.get("reference")
    if isinstance(ref, Mapping) and all(a in ref for a in AXES):
        # Dashed and drawn under the mean: a second opinion, not part of the ensemble.
        fig.add_trace(go.Scatterpolar(
            r=loop([ref[a] for a in AXES]), theta=closed, mode="lines+markers", name=f"{ref['model']} (reference)",
            line=dict(color=REFERENCE_COLOR, width=2, dash="dash"), marker=dict(size=6, color=REFERENCE_COLOR),
            hovertemplate=f"%{{theta}}: %{{r:.2f}}<extra>{ref['model']}</extra>"))
    fig.add_trace(go.Scatterpolar(
        r=loop([rec[a] for a in AXES]), theta=closed, mode="lines+markers", name="ensemble mean",
        line=dict(color=MEAN_COLOR, width=3), marker=dict(size=8, color=MEAN_COLOR),
        hovertemplate="%{theta}: %{r:.2f}<extra>mean</extra>"))
    return _polar_layout(fig, title, height)


def spread_figure(prediction: Prediction | Mapping[str, Any], title: str | None = None,
                  height: int = 360, member_names: Mapping[str, str] | None = None) -> go.Figure:
    """Per axis: every member as a point, the min-max range as a bar, the ensemble mean as a diamond."""
    rec = _as_record(prediction)
    names = member_names or {}
    members = rec.get("members", [])
    x = np.arange(len(AXES), dtype=float)
    fig = go.Figure()
    for i, a in enumerate(AXES):
        s = rec["spread"][a]
        fig.add_trace(go.Scatter(x=[x[i], x[i]], y=[s["min"], s["max"]], mode="lines", showlegend=i == 0,
                                 name="member min–max", legendgroup="range",
                                 line=dict(color="rgba(230, 120, 30, 0.35)", width=16), hoverinfo="skip"))
    rng = np.random.default_rng(0)  # fixed jitter: the same clip always draws the same picture
    for k, m in enumerate(members):
        fig.add_trace(go.Scatter(
            x=x + rng.uniform(-0.1, 0.1, len(AXES)), y=[m[a] for a in AXES], mode="markers",
            name="members" if k == 0 else names.get(m["name"], m["name"]), legendgroup="members",
            showlegend=k == 0, marker=dict(size=9, color=MEMBER_COLOR, line=dict(width=1, color="white")),
            hovertemplate=f"{names.get(m['name'], m['name'])}: %{{y:.2f}}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=x, y=[rec[a] for a in AXES], mode="markers+text", name="ensemble mean",
        marker=dict(symbol="diamond", size=13, color=MEAN_COLOR), text=[f"  {rec[a]:.1f}" for a in AXES],
        textposition="middle right", textfont=dict(color=MEAN_COLOR), hovertemplate="mean %{y:.2f}<extra></extra>"))
    fig.update_yaxes(range=[SCALE_MIN - 0.3, SCALE_MAX + 0.3], dtick=1, gridcolor="#eceff3", title="score (1–10)")
    fig.update_xaxes(tickvals=list(x), ticktext=[axis_label(a, short=True) if a != "PC" else "PC (more ≠ better)"
                                                 for a in AXES], range=[-0.5, len(AXES) - 0.5], showgrid=False)
    return _layout(fig, title, height)


def score_rows(prediction: Prediction | Mapping[str, Any]) -> list[list[Any]]:
    """The numbers table under the plots: one row per axis."""
    rec = _as_record(prediction)
    rows = []
    for a in AXES:
        s = rec["spread"][a]
        name = AXIS_NAMES[a] + (" (more ≠ better)" if a == "PC" else "")
        rows.append([a, name, round(rec[a], 2), round(s["std"], 2), round(s["min"], 2), round(s["max"], 2)])
    return rows


SCORE_HEADERS = ["axis", "name", "score", "members' std", "lowest member", "highest member"]


BATCH_HEADERS = ["file", *AXES, "members' widest gap", "duration (s)", "flags", "error"]


def batch_rows(records: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """One row per clip of a batch; the spread column is the widest member min-max gap over axes."""
    rows = []
    for rec in records:
        if rec.get("error"):
            rows.append([rec["path"], *[None] * len(AXES), None, None, "", rec["error"]])
            continue
        spread = max(rec["spread"][a]["max"] - rec["spread"][a]["min"] for a in AXES)
        rows.append([rec["path"], *[round(rec[a], 2) for a in AXES], round(spread, 2),
                     round(rec.get("duration_s", 0.0), 2), ", ".join(rec.get("flags", [])), ""])
    return rows
