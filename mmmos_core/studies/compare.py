"""Human ratings vs model predictions: challenge metrics with CIs, scatters, rater statistics.

Human ratings come from
- this app's ratings CSV (one row per rating, real rater ids, gold items flagged),
- the Audiobox multi-rater JSONL (10 ratings per axis per clip, no rater ids: rating
  position i is treated as pseudo-rater i, which mixes real people, so per-"rater"
  numbers are for orientation only),
- any label manifest `mmmos_core.manifests.read_labels` reads (means only: no rater
  statistics).
Predictions come from a `mmmos predict` JSONL or from running a model on the clips.
"""

from __future__ import annotations

import html
import json
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from mmmos_core.axes import AXES, AXIS_NAMES
from mmmos_core.errors import AudioInputError, ManifestError, MMMOSError
from mmmos_core.labels import TRACK2_SYSTEM_REGEX, read_labels, read_predictions
from mmmos_core.tables import safe_cell
from mmmos_core.training.metrics import METRICS, metric_table
from mmmos_core.views.figures import rater_figure, scatter_grid

from .agreement import RatingTable, agreement, screen_raters
from .ratings import is_ratings_csv, parse_ratings_csv

MIN_SYSTEMS = 3  # fewer systems than this make system-level correlations meaningless
PSEUDO_RATER_NOTE = ("This file has no rater ids: rating position i of each clip is treated as pseudo-rater i. "
                     "A position mixes different people across clips, so per-rater numbers and screening are "
                     "for orientation only; Krippendorff's alpha does not depend on the labelling.")


@dataclass
class HumanItem:
    id: str
    path: str | None = None
    system: str | None = None


@dataclass
class HumanRatings:
    table: RatingTable  # gold/attention items excluded: they test raters, not the model
    items: dict[str, HumanItem]
    source: str
    kind: str  # "app" | "multi-rater" | "means"
    notes: list[str] = field(default_factory=list)
    gold: dict[str, tuple[int, int]] = field(default_factory=dict)  # rater -> (gold rated, gold failed)

    @property
    def has_raters(self) -> bool:
        return self.kind != "means" and len(self.table.raters) >= 2


def detect_system(item_id: str, path: str | None) -> str | None:
    """System ids the public files encode: track-2 ids, and the generator folder of PAM clips."""
    if item_id.startswith("audiomos2025-track2-sys"):
        m = re.search(TRACK2_SYSTEM_REGEX, item_id)
        if m:
            return m.group(1)
    for text in (item_id, path or ""):
        if "/PAM/" in text:
            return PurePosixPath(text).parent.name
    return None


def _from_app_csv(raw: bytes, source: str, clip_path: Callable[[str, str], str | None] | None) -> HumanRatings:
    parsed = parse_ratings_csv(raw, source)
    if not parsed.rows:
        raise ManifestError(f"{source}: no ratings yet")
    playlists = {r["playlist"] for r in parsed.rows}
    records, items, gold = [], {}, {}
    for r in parsed.rows:
        item = r["clip_id"] if len(playlists) == 1 else f"{r['playlist']}/{r['clip_id']}"
        if r["gold"] == "1":
            n, failed = gold.get(r["rater_id"], (0, 0))
            gold[r["rater_id"]] = (n + 1, failed + (r["gold_pass"] == "0"))
            continue
        records.append((r["rater_id"], item, r.scores))
        if item not in items:
            path = clip_path(r["playlist"], r["clip_id"]) if clip_path else None
            items[item] = HumanItem(item, path, r["system_id"] or None)
    notes = []
    if parsed.malformed:
        shown = ", ".join(map(str, parsed.malformed[:5])) + (", ..." if len(parsed.malformed) > 5 else "")
        notes.append(f"{len(parsed.malformed)} malformed row(s) skipped (lines {shown}), e.g. a rating cut short "
                     "by a crash.")
    n_gold = sum(n for n, _ in gold.values())
    if n_gold:
        notes.append(f"{n_gold} gold/attention rating(s) are used to screen raters and left out of the statistics.")
    if not records:
        raise ManifestError(f"{source}: only gold/attention ratings, nothing to analyse")
    return HumanRatings(RatingTable.from_long(records), items, source, "app", notes, gold)


def _from_labels(path: Path, audio_root: str | None) -> HumanRatings:
    labels = read_labels(path, root=audio_root)
    records, items, notes = [], {}, list(labels.notes)
    multi = all(row.ratings for row in labels.rows)
    short = 0
    for row in labels.rows:
        system = row.system or detect_system(row.id, row.path)
        items[row.id] = HumanItem(row.id, row.path, system)
        if multi:
            n = min(len(row.ratings[a]) for a in AXES)
            short += any(len(row.ratings[a]) != n for a in AXES)
            for i in range(n):
                records.append((f"pos{i + 1:02d}", row.id, {a: row.ratings[a][i] for a in AXES}))
        else:
            records.append(("mean", row.id, row.labels))
    if multi:
        notes.insert(0, PSEUDO_RATER_NOTE)
        if short:
            notes.append(f"{short} clip(s) have a different number of ratings per axis; the extra ones are ignored.")
    else:
        notes.insert(0, "This file holds mean ratings only: no rater statistics.")
    return HumanRatings(RatingTable.from_long(records), items, str(path), "multi-rater" if multi else "means", notes)


def load_human_ratings(path: str | Path, *, audio_root: str | None = None,
                       clip_path: Callable[[str, str], str | None] | None = None,
                       max_items: int | None = None) -> HumanRatings:
    """Read any supported human-ratings file; ``max_items`` keeps the first n clips (quick looks)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: file not found")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    human = _from_app_csv(raw, str(path), clip_path) if is_ratings_csv(raw[:4096]) else _from_labels(path, audio_root)
    if max_items is not None and len(human.table.items) > max_items:
        keep = human.table.items[:max_items]
        human.table = human.table.subset(items=keep)
        human.items = {k: human.items[k] for k in keep}
        human.notes.append(f"Only the first {max_items} clips are analysed.")
    return human


def _path_keys(text: str) -> list[tuple[str, ...]]:
    parts = tuple(p for p in PurePosixPath(text.replace("\\", "/")).parts if p not in ("/", ""))
    keys = []
    for k in range(len(parts), 0, -1):
        tail = parts[-k:]
        keys.append(tail)
        stem = tail[-1].rsplit(".", 1)[0]
        if stem != tail[-1]:
            keys.append(tail[:-1] + (stem,))
    return keys


def match_predictions(human: HumanRatings, predictions: Iterable[tuple[str, Mapping[str, float]]]
                      ) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Pair each prediction with a clip: exact id or path, else the longest path tail that names
    exactly one clip (``/your_path/EARS/p001/x.wav`` matches ``/home/me/EARS/p001/x.wav``)."""
    index: dict[tuple[str, ...], set[str]] = {}
    exact: dict[str, str] = {}
    for item in human.items.values():
        for text in {item.id, item.path} - {None}:
            exact[text] = item.id
            for key in _path_keys(text):
                index.setdefault(key, set()).add(item.id)
    matched, unmatched = {}, []
    for pid, scores in predictions:
        item = exact.get(pid)
        if item is None:
            for key in _path_keys(pid):
                hits = index.get(key, set())
                if len(hits) == 1:
                    item = next(iter(hits))
                    break
                if len(hits) > 1:
                    continue
        if item is None or item in matched:
            unmatched.append(pid)
        else:
            matched[item] = {a: float(scores[a]) for a in AXES}
    return matched, unmatched


def predictions_from_file(path: str | Path, human: HumanRatings) -> tuple[dict[str, dict[str, float]], list[str]]:
    rows = read_predictions(path)
    matched, unmatched = match_predictions(human, ((r.id, r.scores) for r in rows))
    notes = [f"Predictions: {len(matched)} of {len(human.table.items)} clips matched in {Path(path).name}."]
    if unmatched:
        notes.append(f"{len(unmatched)} prediction(s) match no rated clip, e.g. {unmatched[0]!r}.")
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


def _num(x: Any) -> Any:
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else round(float(x), 6)
    if isinstance(x, np.integer):
        return int(x)
    return x


def _fmt_ci(cell: Mapping[str, Any]) -> str:
    v, ci = cell["value"], cell["ci"]
    if v is None or not np.isfinite(v):
        return "n/a"
    if ci and all(c is not None and np.isfinite(c) for c in ci):
        return f"{v:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"
    return f"{v:.3f}"


@dataclass
class CompareReport:
    notes: list[str]
    metrics: pd.DataFrame  # axis, level, metric, value, ci_low, ci_high, n
    agreement: pd.DataFrame  # axis, alpha (all raters), alpha (kept raters), counts
    raters: pd.DataFrame  # one row per rater: correlations, gold, flagged, reasons
    exclusion: pd.DataFrame  # model-vs-human metrics with all raters vs without the flagged ones
    items: pd.DataFrame  # one row per clip: system, human means, predictions
    figures: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"metrics": self.metrics, "agreement": self.agreement, "raters": self.raters,
                "exclusion": self.exclusion, "items": self.items}

    def to_json(self) -> dict[str, Any]:
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: _num(v) for k, v in row.items()} for row in df.to_dict(orient="records")]

        return {"notes": list(self.notes), "settings": self.settings,
                **{name: records(df) for name, df in self.tables().items() if name != "items"},
                "n_items": int(len(self.items))}

    def export(self, out_dir: str | Path) -> Path:
        """Tables as CSV, all figures in one self-contained HTML (plus PNGs where kaleido works), zipped."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        files: dict[str, bytes] = {}
        for name, df in self.tables().items():
            safe = df.copy()
            for col in safe.columns:
                if not pd.api.types.is_numeric_dtype(safe[col]):  # pandas 3 text is "str", not object
                    safe[col] = safe[col].map(lambda v: safe_cell(v) if isinstance(v, str) else v)
            files[f"{name}.csv"] = safe.to_csv(index=False).encode("utf-8")
        files["report.html"] = self.html().encode("utf-8")
        files["report.json"] = json.dumps(self.to_json(), indent=2).encode("utf-8")
        png_notes = []
        for name, fig in self.figures.items():
            png = figure_png(fig)
            if png is None:
                png_notes.append(name)
            else:
                files[f"{name}.png"] = png
        if png_notes:
            files["README.txt"] = (b"PNG export needs the optional 'kaleido' package and a browser it can drive; "
                                   b"it was not available, so the plots are in report.html only.\n")
        archive = out_dir / "mmmos_compare_report.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in files.items():
                z.writestr(name, data)
        return archive

    def html(self) -> str:
        parts = ["<!doctype html><html><head><meta charset='utf-8'><title>MMMOS compare report</title>",
                 "<style>body{font-family:Helvetica,Arial,sans-serif;margin:2em;max-width:1100px}"
                 "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;"
                 "padding:3px 8px;text-align:right}th{background:#f3f4f6}</style></head><body>",
                 "<h1>MMMOS: human ratings vs model</h1>"]
        parts += [f"<p>{html.escape(n)}</p>" for n in self.notes]
        first = True
        for name, fig in self.figures.items():
            # plotly.js is inlined once so the file opens offline.
            parts.append(fig.to_html(full_html=False, include_plotlyjs=True if first else False))
            first = False
        for name, df in self.tables().items():
            if name != "items" and len(df):
                parts.append(f"<h2>{name}</h2>" + df.to_html(index=False, na_rep="n/a", float_format="%.3f"))
        parts.append("</body></html>")
        return "\n".join(parts)


def figure_png(fig) -> bytes | None:
    """PNG bytes when kaleido can render here (it needs a browser); None otherwise, never an error."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return None
    try:
        return fig.to_image(format="png", width=1000, height=int(fig.layout.height or 600))
    except Exception:  # kaleido's failures (no Chrome, sandbox, timeouts) vary by version; all mean "no PNG"
        return None


def build_report(human: HumanRatings, predictions: Mapping[str, Mapping[str, float]] | None = None, *,
                 z_normalise: bool = False, n_boot: int = 1000, min_corr: float = 0.25,
                 max_gold_fail: float = 0.25, seed: int = 0, notes: Iterable[str] = ()) -> CompareReport:
    notes = list(human.notes) + list(notes)
    table = human.table.z_normalised() if z_normalise and human.has_raters else human.table
    if z_normalise and human.has_raters:
        notes.append("Ratings are z-normalised per rater and axis, then mapped back onto the pooled mean and spread.")

    screens = screen_raters(table, human.gold, min_corr, max_gold_fail) if human.has_raters else []
    if screens and len(table.raters) < 3:
        notes.append("With two raters, 'the others' is one person: screening by disagreement is not meaningful.")
        for s in screens:
            s.reasons = [r for r in s.reasons if not r.startswith("correlation")]
            s.flagged = bool(s.reasons)
    flagged = [s.rater for s in screens if s.flagged]
    kept = [r for r in table.raters if r not in set(flagged)]
    if flagged:
        notes.append(f"{len(flagged)} of {len(table.raters)} raters flagged by post-screening: {', '.join(flagged)}.")

    agreement_df = pd.DataFrame([vars(r) for r in agreement(table, kept)]) if human.has_raters else \
        pd.DataFrame(columns=["axis", "alpha_all", "alpha_kept", "raters_all", "raters_kept", "items", "ratings"])
    raters_df = pd.DataFrame([{
        "rater": s.rater, "items": s.n_items, **{f"r_{a}": s.corr[a] for a in AXES}, "mean_r": s.mean_corr,
        "gold_items": s.gold_items, "gold_failed": s.gold_failed, "flagged": s.flagged, "reasons": "; ".join(s.reasons),
    } for s in screens])

    ids = list(table.items)
    human_all = {a: table.item_means(a) for a in AXES}
    kept_table = table.subset(raters=kept) if flagged else table
    human_kept = {a: kept_table.item_means(a) for a in AXES}
    systems = [human.items[i].system if i in human.items else None for i in ids]
    items_df = pd.DataFrame({"item": ids, "system": systems,
                             "ratings": (~np.isnan(table.values[AXES[0]])).sum(axis=0),
                             **{f"human_{a}": human_all[a] for a in AXES}})
    if flagged:
        for a in AXES:
            items_df[f"human_kept_{a}"] = human_kept[a]

    metrics_rows, exclusion_rows, figures = [], [], {}
    if predictions:
        mask = np.array([i in predictions for i in ids])
        for a in AXES:
            items_df[f"pred_{a}"] = [predictions[i][a] if i in predictions else np.nan for i in ids]
        sel = [i for i, m in zip(ids, mask) if m]
        pred = {a: np.array([predictions[i][a] for i in sel]) for a in AXES}
        gold = {a: human_all[a][mask] for a in AXES}
        sys_sel = [s for s, m in zip(systems, mask) if m]
        use_systems = all(sys_sel) and len(set(sys_sel)) >= MIN_SYSTEMS
        if not use_systems:
            notes.append("System-level metrics need a system id for every clip and at least "
                         f"{MIN_SYSTEMS} systems; {'none given' if not any(sys_sel) else 'not enough'} here.")
        stats_text, sys_stats_text = {}, {}
        for a in AXES:
            tab = metric_table(pred[a], gold[a], sys_sel if use_systems else None, n_boot=n_boot, seed=seed)
            for level, cells in tab.items():
                n = len(sel) if level == "utterance" else len(set(sys_sel))
                for m in METRICS:
                    ci = cells[m]["ci"] or [None, None]
                    metrics_rows.append({"axis": a, "level": level, "metric": m, "value": cells[m]["value"],
                                         "ci_low": ci[0], "ci_high": ci[1], "n": n})
            stats_text[a] = "<br>".join(f"{m} {_fmt_ci(tab['utterance'][m])}" for m in ("LCC", "SRCC", "MSE"))
            if use_systems:
                sys_stats_text[a] = "<br>".join(f"{m} {_fmt_ci(tab['system'][m])}" for m in ("LCC", "SRCC", "MSE"))
            if flagged:
                all_t = metric_table(pred[a], gold[a], n_boot=0)["utterance"]
                kept_t = metric_table(pred[a], human_kept[a][mask], n_boot=0)["utterance"]
                for m in METRICS:
                    exclusion_rows.append({"axis": a, "metric": m, "all_raters": all_t[m]["value"],
                                           "without_flagged": kept_t[m]["value"],
                                           "change": kept_t[m]["value"] - all_t[m]["value"]})
        figures["scatter_utterance"] = scatter_grid(pred, gold, sel, f"Clips: predicted vs human mean (n = {len(sel)})",
                                                    stats_text)
        if use_systems:
            names = sorted(set(sys_sel))
            idx = np.array([names.index(s) for s in sys_sel])
            sp = {a: np.array([pred[a][idx == k].mean() for k in range(len(names))]) for a in AXES}
            sg = {a: np.array([gold[a][idx == k].mean() for k in range(len(names))]) for a in AXES}
            figures["scatter_system"] = scatter_grid(sp, sg, names, f"Systems: predicted vs human mean "
                                                     f"(n = {len(names)})", sys_stats_text)
    elif human.kind == "means":
        raise MMMOSError("This file holds mean ratings only; add predictions to compare with.")
    if screens:
        figures["raters"] = rater_figure([s.rater for s in screens], [s.mean_corr for s in screens],
                                         [s.flagged for s in screens], min_corr)
    if flagged and not predictions:
        shift = np.nanmean([np.nanmean(np.abs(human_kept[a] - human_all[a])) for a in AXES])
        notes.append(f"Excluding the flagged raters moves clip means by {shift:.2f} points on average.")
    metrics_df = pd.DataFrame(metrics_rows, columns=["axis", "level", "metric", "value", "ci_low", "ci_high", "n"])
    exclusion_df = pd.DataFrame(exclusion_rows, columns=["axis", "metric", "all_raters", "without_flagged", "change"])
    settings = {"z_normalise": bool(z_normalise), "n_boot": int(n_boot), "min_corr": min_corr,
                "max_gold_fail": max_gold_fail, "source": human.source, "kind": human.kind,
                "raters": len(table.raters), "flagged": flagged}
    return CompareReport(notes, metrics_df, agreement_df, raters_df, exclusion_df, items_df, figures, settings)


def metrics_wide(report: CompareReport) -> pd.DataFrame:
    """The metrics table as people read it: one row per axis and level, 'value [lo, hi]' per metric."""
    rows = []
    for (axis, level), group in report.metrics.groupby(["axis", "level"], sort=False):
        row = {"axis": f"{axis} ({AXIS_NAMES[axis]})", "level": level, "n": int(group["n"].iloc[0])}
        for _, r in group.iterrows():
            row[r["metric"]] = _fmt_ci({"value": r["value"], "ci": [r["ci_low"], r["ci_high"]]
                                        if r["ci_low"] is not None and not pd.isna(r["ci_low"]) else None})
        rows.append(row)
    return pd.DataFrame(rows, columns=["axis", "level", "n", *METRICS])


__all__ = ["CompareReport", "HumanItem", "HumanRatings", "PSEUDO_RATER_NOTE", "build_report", "detect_system",
           "figure_png", "load_human_ratings", "match_predictions", "metrics_wide", "predictions_from_file",
           "predictions_from_model"]
