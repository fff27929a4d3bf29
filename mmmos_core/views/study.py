"""Plotly figures of listening studies: human vs model scatters, raters, pairwise system differences.

The statistics (`mmmos_core.studies`) never import this module: a report's numbers
exist without plotly; these functions only draw them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mmmos_core.axes import AXES, SCALE_MAX, SCALE_MIN

from .figures import FLAG_COLOR, OK_COLOR, _layout, axis_label

NA_COLOR = "#b8bec7"


def _range(*arrays: np.ndarray) -> list[float]:
    values = np.concatenate([np.asarray(a, dtype=float) for a in arrays if len(a)]) if arrays else np.array([])
    values = values[np.isfinite(values)]
    lo = min(SCALE_MIN, float(values.min())) if values.size else SCALE_MIN
    hi = max(SCALE_MAX, float(values.max())) if values.size else SCALE_MAX
    return [lo - 0.3, hi + 0.3]


def scatter_grid(pred: Mapping[str, Sequence[float]], human: Mapping[str, Sequence[float]],
                 labels: Sequence[str], title: str, stats: Mapping[str, str] | None = None,
                 height: int = 720) -> go.Figure:
    """Predicted vs human per axis (2 x 2), with the identity line: on it, the model agrees exactly."""
    fig = make_subplots(rows=2, cols=2, subplot_titles=[axis_label(a) for a in AXES],
                        horizontal_spacing=0.1, vertical_spacing=0.14)
    for k, a in enumerate(AXES):
        row, col = k // 2 + 1, k % 2 + 1
        p = np.asarray(pred[a], dtype=float)
        h = np.asarray(human[a], dtype=float)
        lim = _range(p, h)
        fig.add_trace(go.Scatter(x=lim, y=lim, mode="lines", line=dict(color="#999", dash="dash", width=1),
                                 name="identity (pred = human)", showlegend=k == 0, hoverinfo="skip"), row, col)
        fig.add_trace(go.Scatter(x=h, y=p, mode="markers", name=a, showlegend=False, text=list(labels),
                                 marker=dict(size=7 if len(p) < 200 else 4, color=OK_COLOR, opacity=0.7),
                                 hovertemplate="%{text}<br>human %{x:.2f}<br>pred %{y:.2f}<extra></extra>"),
                      row, col)
        fig.update_xaxes(range=lim, title_text="human mean (1–10)", row=row, col=col, gridcolor="#eceff3")
        fig.update_yaxes(range=lim, title_text="predicted (1–10)", row=row, col=col, gridcolor="#eceff3")
        if stats and stats.get(a):
            xref = "x domain" if k == 0 else f"x{k + 1} domain"
            yref = "y domain" if k == 0 else f"y{k + 1} domain"
            fig.add_annotation(text=stats[a], xref=xref, yref=yref, x=0.02, y=0.98, showarrow=False,
                               align="left", xanchor="left", yanchor="top", font=dict(size=11),
                               bgcolor="rgba(255,255,255,0.8)")
    return _layout(fig, title, height)


def rater_figure(raters: Sequence[str], mean_corr: Sequence[float], flagged: Sequence[bool],
                 threshold: float, title: str = "Each rater vs the mean of the others",
                 reasons: Sequence[str] | None = None) -> go.Figure:
    """One bar per rater. A rater with no correlation (one score throughout) keeps a grey
    stub labelled 'n/a' instead of vanishing; the threshold is named in the legend, not on
    top of the bars."""
    finite = [c is not None and np.isfinite(c) for c in mean_corr]
    values = [float(c) if ok else 0.03 for c, ok in zip(mean_corr, finite)]
    colors = [(FLAG_COLOR if f else OK_COLOR) if ok else NA_COLOR for f, ok in zip(flagged, finite)]
    hover = [r or "not flagged" for r in (reasons or [""] * len(raters))]
    fig = go.Figure(go.Bar(
        x=list(raters), y=values, marker=dict(color=colors, line=dict(color=[FLAG_COLOR if f else "rgba(0,0,0,0)"
                                                                          for f in flagged], width=2)),
        text=[f"{v:.2f}" if ok else "n/a" for v, ok in zip(values, finite)], textposition="outside",
        customdata=hover, name="mean Pearson r", showlegend=False,
        hovertemplate="%{x}: %{text}<br>%{customdata}<extra></extra>"))
    fig.add_hline(y=threshold, line=dict(color=FLAG_COLOR, dash="dot"))
    # Named in the legend (above the plot), not written across the bars.
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=FLAG_COLOR, dash="dot"),
                             name=f"screening threshold r = {threshold:.2f}"))
    fig.update_yaxes(range=[min(-0.1, min(values, default=0) - 0.05), 1.1],
                     title="mean Pearson r with the others", gridcolor="#eceff3")
    fig.update_xaxes(title="rater", type="category")
    _layout(fig, title, 380)
    fig.update_layout(margin=dict(l=80, r=30, t=70, b=50),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1.0, xanchor="right"))
    return fig


def pairwise_figure(rows: Sequence[Mapping[str, Any]], axis: str) -> go.Figure:
    """Differences A − B with their CIs for one axis, humans and model side by side."""
    fig = go.Figure()
    for source, color in (("humans", OK_COLOR), ("model", "#e67e22")):
        sel = [r for r in rows if r["axis"] == axis and r["source"] == source]
        if not sel:
            continue
        fig.add_trace(go.Scatter(
            x=[r["difference"] for r in sel], y=[f"{r['system_a']} − {r['system_b']}" for r in sel],
            mode="markers", name=source, marker=dict(color=color, size=9),
            error_x=dict(type="data", symmetric=False,
                         array=[r["ci_high"] - r["difference"] if np.isfinite(r["ci_high"]) else 0 for r in sel],
                         arrayminus=[r["difference"] - r["ci_low"] if np.isfinite(r["ci_low"]) else 0 for r in sel]),
            hovertemplate="%{y}: %{x:.2f}<extra>" + source + "</extra>"))
    fig.add_vline(x=0, line=dict(color="#999", dash="dash"))
    fig.update_xaxes(title=f"difference of means, {axis_label(axis)} (points on 1–10)", gridcolor="#eceff3")
    fig.update_yaxes(title="system pair", type="category")
    return _layout(fig, f"Is system A better than B? {axis_label(axis)}", 120 + 40 * max(1, len(rows) // 2))


def report_figures(report) -> dict[str, go.Figure]:
    """Every figure of a `CompareReport`, from the numbers it holds (``plot_data``)."""
    data = report.plot_data
    figs: dict[str, go.Figure] = {}
    for level, title in (("utterance", "Clips"), ("system", "Systems")):
        d = data.get(level)
        if d:
            figs[f"scatter_{level}"] = scatter_grid(d["pred"], d["human"], d["labels"],
                                                    f"{title}: predicted vs human mean (n = {len(d['labels'])})",
                                                    d.get("stats"))
    r = data.get("raters")
    if r:
        figs["raters"] = rater_figure(r["raters"], r["mean_corr"], r["flagged"], r["threshold"],
                                      reasons=r.get("reasons"))
    rows = report.pairwise.to_dict(orient="records") if len(report.pairwise) else []
    for axis in AXES:
        if any(row["axis"] == axis for row in rows):
            figs[f"pairwise_{axis}"] = pairwise_figure(rows, axis)
    return figs


def empty_figure(message: str, height: int = 260) -> go.Figure:
    """A plot area that says what to do next instead of staying blank."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color="#555"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, None, height)


def design_figure(design: str, table) -> go.Figure:
    """A/B: each system's Bradley–Terry strength per axis, the model's mean score beside it.
    MUSHRA: each condition's mean 0–100 score with its 95% CI, per axis."""
    rows = table.to_dict(orient="records") if len(table) else []
    if not rows:
        return empty_figure("Nothing to plot.")
    axes = [a for a in AXES if any(r["axis"] == a for r in rows)]
    fig = make_subplots(rows=1, cols=len(axes), subplot_titles=[axis_label(a) for a in axes],
                        specs=[[{"secondary_y": design == "ab"}] * len(axes)])
    for k, a in enumerate(axes):
        sel = [r for r in rows if r["axis"] == a]
        if design == "ab":
            fig.add_trace(go.Bar(x=[r["system"] for r in sel], y=[r["bradley_terry"] for r in sel], name="listeners",
                                 marker_color=OK_COLOR, showlegend=k == 0), 1, k + 1, secondary_y=False)
            model = [r["model_mean"] for r in sel]
            if any(np.isfinite(m) for m in model):
                fig.add_trace(go.Scatter(x=[r["system"] for r in sel], y=model, mode="markers", name="model mean",
                                         marker=dict(symbol="diamond", size=11, color="#e67e22"),
                                         showlegend=k == 0), 1, k + 1, secondary_y=True)
                fig.update_yaxes(title_text="model mean (1–10)", secondary_y=True, row=1, col=k + 1)
            fig.update_yaxes(title_text="Bradley–Terry log-strength", secondary_y=False, row=1, col=k + 1)
        else:
            fig.add_trace(go.Scatter(
                x=[r["condition"] for r in sel], y=[r["mean"] for r in sel], mode="markers", name="mean, 95% CI",
                marker=dict(size=10, color=OK_COLOR), showlegend=k == 0,
                error_y=dict(type="data", symmetric=False,
                             array=[r["ci_high"] - r["mean"] if np.isfinite(r["ci_high"]) else 0 for r in sel],
                             arrayminus=[r["mean"] - r["ci_low"] if np.isfinite(r["ci_low"]) else 0 for r in sel])),
                1, k + 1)
            fig.update_yaxes(range=[0, 100], title_text="score (0–100)", row=1, col=k + 1)
        fig.update_xaxes(title_text="system" if design == "ab" else "condition", type="category", row=1, col=k + 1)
    title = "A/B: listeners' scale and the model" if design == "ab" else "MUSHRA: mean score per condition"
    _layout(fig, title, 440)
    fig.update_layout(margin=dict(l=80, r=80, t=90, b=50),
                      legend=dict(orientation="h", yanchor="bottom", y=1.08, x=1.0, xanchor="right"))
    return fig


def simulation_figure(summary) -> go.Figure:
    """Ratings needed to bring every clip's 95% CI within each target width: random vs adaptive order,
    medians over runs with the interquartile range."""
    rows = summary.to_dict(orient="records") if len(summary) else []
    if not rows:
        return empty_figure("Nothing to plot.")
    fig = go.Figure()
    for order, color in (("random", "#7f8c8d"), ("adaptive", OK_COLOR)):
        q = [tuple(float(v) for v in r[f"{order}_iqr"].split("–")) for r in rows]
        med = [r[f"{order}_median"] for r in rows]
        fig.add_trace(go.Scatter(
            x=[r["target_width"] for r in rows], y=med, mode="lines+markers", name=f"{order} order",
            line=dict(color=color), error_y=dict(type="data", symmetric=False, array=[hi - m for (_, hi), m in
                                                                                        zip(q, med)],
                                                 arrayminus=[m - lo for (lo, _), m in zip(q, med)])))
    fig.add_hline(y=rows[0]["pooled_ratings"], line_dash="dot", line_color="#999",
                  annotation_text="every pooled rating", annotation_position="top left")
    fig.update_xaxes(title_text="target width of each clip's 95% CI (points, mean over axes)", autorange="reversed")
    fig.update_yaxes(title_text="ratings needed (median, IQR)", rangemode="tozero")
    _layout(fig, "Adaptive order: ratings needed for a target CI width (simulation)", 440)
    fig.update_layout(margin=dict(l=70, r=30, t=90, b=60),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=1.0, xanchor="right"))
    return fig
