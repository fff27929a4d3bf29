"""Human ratings vs model predictions: challenge metrics with CIs, rater quality, system comparisons.

Ratings are read by `human_ratings`, predictions are paired with clips by the one
rule in `mmmos_core.labels.match_ids`, the numbers are assembled here into a
`CompareReport` (see `report`) that draws and exports itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import soundfile as sf

from mmmos_core.axes import AXES, AXIS_NAMES
from mmmos_core.errors import AudioInputError, MMMOSError
from mmmos_core.labels import match_ids, read_predictions
from mmmos_core.training.metrics import METRICS, compute_metrics

from .agreement import agreement, screen_raters
from .human_ratings import (
    PSEUDO_RATER_NOTE,
    HumanItem,
    HumanRatings,
    StudyFilter,
    detect_system,
    load_human_ratings,
)
from .quality import QualitySettings, check_raters, flat_raters
from .report import CompareReport, figure_png
from .stats import MIN_N, TOO_FEW, column_means, group_means, metric_cis, pairwise_systems, too_few

MAX_PAIRWISE_SYSTEMS = 12  # 66 pairs per axis; beyond this, filter the systems you want to compare
CORRELATIONS = ("LCC", "SRCC", "KTAU")


def match_predictions(human: HumanRatings, predictions: Iterable[tuple[str, Mapping[str, float]]]
                      ) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Pair each prediction with a rated clip by `mmmos_core.labels.match_ids` (the rule
    `mmmos evaluate` uses too): exact id or path, else the longest unique path tail."""
    items = list(human.items.values())
    predictions = list(predictions)
    hits = match_ids([pid for pid, _ in predictions], [(i.id, i.path) for i in items])
    matched, unmatched = {}, []
    for (pid, scores), hit in zip(predictions, hits):
        if hit is None:
            unmatched.append(pid)
        else:
            matched[items[hit].id] = {a: float(scores[a]) for a in AXES}
    return matched, unmatched


def predictions_from_file(path: str | Path, human: HumanRatings) -> tuple[dict[str, dict[str, float]], list[str]]:
    rows = read_predictions(path)
    matched, unmatched = match_predictions(human, ((r.id, r.scores) for r in rows))
    notes = [f"Predictions: {len(matched)} of {len(human.table.items)} clips matched in {Path(path).name}."]
    if unmatched:
        notes.append(f"{len(unmatched)} prediction(s) match no rated clip, e.g. {Path(unmatched[0]).name!r}.")
    return matched, notes


def predictions_from_model(model, human: HumanRatings, progress: Callable[[int, int], None] | None = None
                           ) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Score the rated clips whose audio is on this machine; the rest are reported, not fatal."""
    todo = [item for item in human.items.values() if item.id in set(human.table.items)]
    have = [item for item in todo if item.path and Path(item.path).is_file()]
    missing = len(todo) - len(have)
    out, errors = {}, []
    for k, (item, result) in enumerate(zip(have, model.predict_many({"path": i.path} for i in have))):
        if isinstance(result, AudioInputError):
            errors.append(str(result))
        else:
            out[item.id] = dict(result.scores)
        if progress:
            progress(k + 1, len(have))
    notes = [f"Predictions: model {model.name!r} scored {len(out)} of {len(todo)} clips."]
    if missing:
        notes.append(f"{missing} clip(s) have no audio file on this machine (give the audio folder for "
                     "'/your_path/' paths), so they have no prediction.")
    if errors:
        notes.append(f"{len(errors)} clip(s) could not be scored, e.g. {errors[0]}")
    return out, notes


def clip_durations(human: HumanRatings) -> dict[str, float]:
    """Seconds per rated clip whose audio is on this machine (for the too-fast check)."""
    out = {}
    for item in human.items.values():
        if item.path and Path(item.path).is_file():
            try:
                out[item.id] = float(sf.info(item.path).duration)
            except RuntimeError:  # not decodable by libsndfile (e.g. mp3 on old builds): duration unknown
                continue
    return out


def _fmt_ci(value: float, lo: float | None, hi: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        return f"{value:.3f} [{lo:.2f}, {hi:.2f}]"
    return f"{value:.3f}"


def _level_rows(axis: str, level: str, pred: np.ndarray, gold: np.ndarray, n_boot: int, seed: int) -> list[dict]:
    """One row per metric; correlations under the minimum n say so instead of giving a number."""
    unit = "clips" if level == "utterance" else "systems"
    short = too_few(len(pred), unit)
    values = compute_metrics(pred, gold)
    cis = metric_cis(pred, gold, n_boot, seed)
    rows = []
    for m in METRICS:
        ci = cis[m] or [None, None]
        value, note = values[m], ""
        if m in CORRELATIONS and short:
            value, ci, note = float("nan"), [None, None], short
        rows.append({"axis": axis, "level": level, "metric": m, "value": value, "ci_low": ci[0], "ci_high": ci[1],
                     "n": len(pred), "note": note})
    return rows


def _stats_text(rows: list[dict]) -> str:
    by = {r["metric"]: r for r in rows}
    return "<br>".join(f"{m} " + (by[m]["note"] or _fmt_ci(by[m]["value"], by[m]["ci_low"], by[m]["ci_high"]))
                       for m in ("LCC", "SRCC", "MSE"))


def _screen(human: HumanRatings, table, quality: QualitySettings, notes: list[str]) -> pd.DataFrame:
    """One row per rater: agreement and gold (`screen_raters`), habits (`check_raters`), reasons."""
    if not human.has_raters:
        return pd.DataFrame()
    screens = screen_raters(table, human.gold, quality.min_corr, quality.max_gold_fail)
    if len(table.raters) < MIN_N["raters"]:
        notes.append(f"With {len(table.raters)} raters, 'the others' is too few people: screening by "
                     "disagreement is not meaningful and is left out.")
        for s in screens:
            s.reasons = [r for r in s.reasons if not r.startswith(("correlation", "no correlation"))]
    if human.events:
        found = check_raters(human.events, clip_durations(human), quality)
    else:
        found = flat_raters(table.values, table.raters, quality)
    rows = []
    for s in screens:
        f = found.get(s.rater)
        habits = f.reasons if f else []
        if any(r.startswith("straight-lining") for r in habits):  # says more than "no correlation"
            s.reasons = [r for r in s.reasons if not r.startswith("no correlation")]
        reasons = s.reasons + habits
        rows.append({"rater": s.rater, "items": s.n_items, **{f"r_{a}": s.corr[a] for a in AXES},
                     "mean_r": s.mean_corr, "gold_items": s.gold_items, "gold_failed": s.gold_failed,
                     "flat_sd": f.flat_sd if f else np.nan, "too_fast": f.too_fast if f else 0,
                     "repeats": f.repeats if f else 0, "repeat_diff": f.repeat_diff if f else np.nan,
                     "flagged": bool(reasons), "reasons": "; ".join(reasons)})
    return pd.DataFrame(rows)


def build_report(human: HumanRatings, predictions: Mapping[str, Mapping[str, float]] | None = None, *,
                 z_normalise: bool = False, n_boot: int = 1000, min_corr: float = 0.25,
                 max_gold_fail: float = 0.25, quality: QualitySettings | None = None, seed: int = 0,
                 notes: Iterable[str] = (), model: str = "", app_version: str = "") -> CompareReport:
    quality = quality or QualitySettings(min_corr=min_corr, max_gold_fail=max_gold_fail)
    notes = list(human.notes) + list(notes)
    table = human.table.z_normalised() if z_normalise and human.has_raters else human.table
    if z_normalise and human.has_raters:
        notes.append("Ratings are z-normalised per rater and axis, then mapped back onto the pooled mean and spread.")
    if human.kind == "means" and not predictions:
        raise MMMOSError("This file holds mean ratings only; add predictions to compare with.")

    raters_df = _screen(human, table, quality, notes)
    flagged = list(raters_df.loc[raters_df.flagged, "rater"]) if len(raters_df) else []
    kept = [r for r in table.raters if r not in set(flagged)]
    if flagged:
        notes.append(f"{len(flagged)} of {len(table.raters)} raters flagged (reasons in the raters table): "
                     f"{', '.join(flagged)}.")
    agreement_df = pd.DataFrame([vars(r) for r in agreement(table, kept)]) if human.has_raters else pd.DataFrame()

    ids = list(table.items)
    kept_table = table.subset(raters=kept) if flagged else table
    human_all = {a: column_means(table.values[a]) for a in AXES}
    human_kept = {a: column_means(kept_table.values[a]) for a in AXES}
    systems = [human.items[i].system if i in human.items else None for i in ids]
    items_df = pd.DataFrame({"item": ids, "system": systems,
                             "ratings": (~np.isnan(table.values[AXES[0]])).sum(axis=0),
                             **{f"human_{a}": human_all[a] for a in AXES}})
    if flagged:
        for a in AXES:
            items_df[f"human_kept_{a}"] = human_kept[a]

    metrics_rows, exclusion_rows, pairwise_rows, plot = [], [], [], {}
    with_sys = [k for k, s in enumerate(systems) if s]
    n_systems = len({systems[k] for k in with_sys})
    if with_sys and len(with_sys) < len(ids):
        notes.append(f"{len(ids) - len(with_sys)} clip(s) have no system id and are left out at the system level.")
    preds_mask = np.array([i in (predictions or {}) for i in ids])
    if predictions:
        for a in AXES:
            items_df[f"pred_{a}"] = [predictions[i][a] if i in predictions else np.nan for i in ids]
        sel = np.flatnonzero(preds_mask)
        sys_sel = [k for k in sel if systems[k]]
        stats_text, sys_text = {}, {}
        plot["utterance"] = {"pred": {}, "human": {}, "labels": [ids[k] for k in sel], "stats": stats_text}
        if len({systems[k] for k in sys_sel}) >= 2:
            names = sorted({systems[k] for k in sys_sel})
            plot["system"] = {"pred": {}, "human": {}, "labels": names, "stats": sys_text}
        for a in AXES:
            pred = np.array([predictions[ids[k]][a] for k in sel])
            levels = {"utterance": (pred, human_all[a][sel], human_kept[a][sel])}
            if "system" in plot:
                groups = [systems[k] for k in sys_sel]
                p_sys = group_means([predictions[ids[k]][a] for k in sys_sel], groups)[1]
                levels["system"] = (p_sys, group_means(human_all[a][sys_sel], groups)[1],
                                    group_means(human_kept[a][sys_sel], groups)[1])
            for level, (p, g, g_kept) in levels.items():
                rows = _level_rows(a, level, p, g, n_boot, seed)
                metrics_rows += rows
                (stats_text if level == "utterance" else sys_text)[a] = _stats_text(rows)
                plot[level]["pred"][a], plot[level]["human"][a] = p, g
                if flagged:
                    without = {r["metric"]: r for r in _level_rows(a, level, p, g_kept, 0, seed)}
                    for r in rows:
                        w = without[r["metric"]]["value"]
                        exclusion_rows.append({"axis": a, "level": level, "metric": r["metric"],
                                               "all_raters": r["value"], "without_flagged": w,
                                               "change": w - r["value"], "note": r["note"]})
    if flagged and len(agreement_df):
        for _, r in agreement_df.iterrows():
            exclusion_rows.append({"axis": r["axis"], "level": "raters", "metric": "alpha",
                                   "all_raters": r["alpha_all"], "without_flagged": r["alpha_kept"],
                                   "change": r["alpha_kept"] - r["alpha_all"], "note": ""})
    if flagged and not kept:
        notes.append("Every rater is flagged: the 'without flagged raters' numbers are empty. Check the reasons "
                     "in the raters table, or loosen the screening thresholds.")
    elif flagged and not predictions:
        shift = np.nanmean([np.nanmean(np.abs(human_kept[a] - human_all[a])) for a in AXES])
        notes.append(f"Excluding the flagged raters moves clip means by {shift:.2f} points on average.")

    if 2 <= n_systems <= MAX_PAIRWISE_SYSTEMS:
        for a in AXES:
            model_side = [predictions[ids[k]][a] if preds_mask[k] else np.nan for k in with_sys] \
                if predictions else None
            pairwise_rows += [dict(vars(r), verdict=r.verdict if n_boot else "not tested (bootstrap off)")
                              for r in pairwise_systems(a, [systems[k] for k in with_sys],
                                                        kept_table.values[a][:, with_sys], model_side,
                                                        n_boot=n_boot, seed=seed)]
        notes.append("System A vs B: bootstrap 95% CIs of the difference of means; p-values Holm-adjusted over "
                     "all pairs of an axis" + (", flagged raters excluded." if flagged else "."))
    elif n_systems > MAX_PAIRWISE_SYSTEMS:
        notes.append(f"{n_systems} systems: pairwise comparisons are shown for up to {MAX_PAIRWISE_SYSTEMS}; "
                     "filter the systems to compare.")
    if len(raters_df):
        plot["raters"] = {"raters": list(raters_df.rater), "mean_corr": list(raters_df.mean_r),
                          "flagged": list(raters_df.flagged), "threshold": quality.min_corr,
                          "reasons": list(raters_df.reasons)}
    n = {"clips": len(ids), "raters": len(table.raters), "systems": n_systems}
    settings = {"z_normalise": bool(z_normalise), "n_boot": int(n_boot), "seed": int(seed), **quality.to_json(),
                "source": human.source, "kind": human.kind, "filter": human.filter.to_json(),
                "filter_text": human.filter.describe(), "raters": len(table.raters), "flagged": flagged, "n": n,
                "model": model, "app_version": app_version, "min_n": dict(MIN_N)}
    return CompareReport(
        notes, pd.DataFrame(metrics_rows, columns=["axis", "level", "metric", "value", "ci_low", "ci_high", "n",
                                                   "note"]),
        agreement_df, raters_df,
        pd.DataFrame(exclusion_rows, columns=["axis", "level", "metric", "all_raters", "without_flagged", "change",
                                              "note"]),
        items_df, pd.DataFrame(pairwise_rows), settings, plot)


def metrics_wide(report: CompareReport) -> pd.DataFrame:
    """The metrics table as people read it: one row per axis and level, 'value [lo, hi]' per metric."""
    rows = []
    for (axis, level), group in report.metrics.groupby(["axis", "level"], sort=False):
        row = {"axis": f"{axis} ({AXIS_NAMES[axis]})", "level": "clips" if level == "utterance" else "systems",
               "n": int(group["n"].iloc[0])}
        for _, r in group.iterrows():
            row[r["metric"]] = r["note"] or _fmt_ci(r["value"], r["ci_low"], r["ci_high"])
        rows.append(row)
    return pd.DataFrame(rows, columns=["axis", "level", "n", *METRICS])


__all__ = ["MAX_PAIRWISE_SYSTEMS", "CompareReport", "HumanItem", "HumanRatings", "PSEUDO_RATER_NOTE", "StudyFilter", "TOO_FEW",
           "build_report", "clip_durations", "detect_system", "figure_png", "load_human_ratings",
           "match_predictions", "metrics_wide", "predictions_from_file", "predictions_from_model"]
