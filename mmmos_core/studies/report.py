"""A Compare report people can hand out: tables with readable names, a header, figures, a zip.

`CompareReport` holds numbers only. Figures are drawn on demand by the optional
views wing (`mmmos_core.views.study`), so the statistics import and run without
plotly; the HTML inlines plotly.js so it opens offline.
"""

from __future__ import annotations

import base64
import html
import json
import math
import shutil
import subprocess
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmmos_core.tables import csv_text

# Column names as people read them; CSV exports keep the short names scripts rely on.
READABLE = {
    "axis": "axis", "level": "level", "metric": "metric", "value": "value", "ci_low": "95% CI low",
    "ci_high": "95% CI high", "n": "n", "note": "note",
    "alpha_all": "alpha (all raters)", "alpha_kept": "alpha (without flagged)", "raters_all": "raters",
    "raters_kept": "raters kept", "items": "clips", "ratings": "ratings",
    "rater": "rater", "mean_r": "mean r with the others", "gold_items": "gold items", "gold_failed": "gold failed",
    "flat_sd": "largest SD over axes", "too_fast": "too-fast ratings", "repeats": "repeated clips",
    "repeat_diff": "repeat difference", "flagged": "flagged", "reasons": "why flagged",
    "all_raters": "all raters", "without_flagged": "without flagged raters", "change": "change",
    "source": "rated by", "system_a": "system A", "system_b": "system B", "difference": "A − B (points)",
    "p": "p (bootstrap)", "p_holm": "p (Holm-adjusted)", "unit": "resampled unit", "verdict": "verdict",
    "a_wins": "A preferred", "b_wins": "B preferred", "no_preference": "no preference",
    "win_rate_a": "A's win rate", "bradley_terry": "Bradley–Terry strength", "model_mean": "model mean (1–10)",
    "condition": "condition", "role": "role", "mean": "mean (0–100)", "raters": "raters",
    "reference_trials": "trials with hidden reference", "reference_below_90": "reference below 90",
    "excluded": "excluded", "reason": "why excluded",
    **{f"r_{a}": f"r {a}" for a in ("PQ", "PC", "CE", "CU")},
}


def readable(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={c: READABLE.get(c, c) for c in df.columns})


def _num(x: Any) -> Any:
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else round(float(x), 6)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def json_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _num(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


@dataclass
class CompareReport:
    notes: list[str]
    metrics: pd.DataFrame  # axis, level, metric, value, ci_low, ci_high, n, note
    agreement: pd.DataFrame  # axis, alpha (all raters), alpha (kept raters), counts
    raters: pd.DataFrame  # one row per rater: correlations, quality checks, flagged, reasons
    exclusion: pd.DataFrame  # every metric with all raters vs without the flagged ones
    items: pd.DataFrame  # one row per clip: system, human means, predictions
    pairwise: pd.DataFrame = field(default_factory=pd.DataFrame)  # system A vs B per axis, humans and model
    settings: dict[str, Any] = field(default_factory=dict)
    plot_data: dict[str, Any] = field(default_factory=dict)  # what the figures draw
    created_utc: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    _figures: dict[str, Any] | None = field(default=None, repr=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"metrics": self.metrics, "pairwise": self.pairwise, "agreement": self.agreement,
                "raters": self.raters, "exclusion": self.exclusion, "items": self.items}

    def figures(self) -> dict[str, Any]:
        """Plotly figures (needs the app extra); drawn once, on first use."""
        if self._figures is None:
            from mmmos_core.views.study import report_figures

            self._figures = report_figures(self)
        return self._figures

    def to_json(self) -> dict[str, Any]:
        return {"notes": list(self.notes), "settings": self.settings, "created_utc": self.created_utc,
                **{name: json_records(df) for name, df in self.tables().items() if name != "items"},
                "n_items": int(len(self.items))}

    def header(self) -> list[tuple[str, str]]:
        s = self.settings
        boot = f"{s.get('n_boot', 0)} resamples, percentile 95% CIs, seed {s.get('seed', 0)}" if s.get("n_boot") \
            else "off (no confidence intervals)"
        return [
            ("Date", self.created_utc), ("Model", s.get("model") or "none (rater statistics only)"),
            ("App version", s.get("app_version") or "n/a"), ("Ratings source", s.get("source", "")),
            ("Filters", s.get("filter_text", "all ratings")), ("Bootstrap", boot),
            ("Ratings z-normalised per rater", "yes" if s.get("z_normalise") else "no"),
            ("n", ", ".join(f"{v} {k}" for k, v in s.get("n", {}).items())),
            ("Raters flagged", ", ".join(s.get("flagged", [])) or "none"),
        ]

    def flag_rules(self) -> list[tuple[str, str]]:
        """The rater checks in words, with the thresholds this report used."""
        s = self.settings
        if "min_corr" not in s:
            return []
        return [
            ("gold items", f"more than {s['max_gold_fail']:.0%} of the rater's gold items outside their expected range"),
            ("agreement", f"mean Pearson r with the others below {s['min_corr']:.2f} on 5 or more shared clips "
                          f"(needs {s.get('min_n', {}).get('raters', 3)} or more raters)"),
            ("straight-lining", f"every axis' SD over the rater's ratings at most {s['max_flat_sd']:.2f}"),
            ("too fast", f"more than {s['max_fast_share']:.0%} of ratings given in under "
                         f"{s['min_time_fraction']:.0%} of the clip's duration"),
            ("inconsistent repeats", f"a clip rated twice differs by more than {s['max_repeat_diff']:.1f} points"),
        ]

    def html(self, images: dict[str, bytes] | None = None) -> str:
        """The report as one HTML file: interactive plots (plotly.js inlined, opens offline), or the
        given PNGs instead (``images``: figure name -> PNG), which is what the PDF prints."""
        parts = ["<!doctype html><html><head><meta charset='utf-8'><title>MMMOS listening study report</title>",
                 "<style>body{font-family:Helvetica,Arial,sans-serif;margin:2em;max-width:1100px}"
                 "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;"
                 "padding:3px 8px;text-align:right}th{background:#f3f4f6}.head td{text-align:left}</style>"
                 "</head><body>", "<h1>MMMOS: human ratings vs model</h1>", "<table class='head'>"]
        parts += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in self.header()]
        parts.append("</table>")
        parts += [f"<p>{html.escape(n)}</p>" for n in self.notes]
        if len(self.raters):
            parts.append("<h2>How raters are flagged</h2><table class='head'>")
            parts += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in self.flag_rules()]
            parts.append("</table>")
        first = True
        for name, fig in self.figures().items():
            if images is not None:
                if name in images:
                    data = base64.b64encode(images[name]).decode("ascii")
                    parts.append(f"<img alt='{html.escape(name)}' style='width:100%' src='data:image/png;base64,{data}'>")
                continue
            # plotly.js is inlined once so the file opens offline.
            parts.append(fig.to_html(full_html=False, include_plotlyjs=True if first else False))
            first = False
        for name, df in self.tables().items():
            if name != "items" and len(df):
                parts.append(f"<h2>{html.escape(name.capitalize())}</h2>"
                             + readable(df).to_html(index=False, na_rep="n/a", float_format="%.3f"))
        parts.append("</body></html>")
        return "\n".join(parts)

    def export(self, out_dir: str | Path) -> Path:
        """Tables as CSV (formula-safe), the HTML report, the JSON, PNGs where a renderer works; zipped."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        files: dict[str, bytes] = {}
        for name, df in self.tables().items():
            files[f"{name}.csv"] = csv_text(json_records(df), list(df.columns)).encode("utf-8")
        files["report.html"] = self.html().encode("utf-8")
        files["report.json"] = json.dumps(self.to_json(), indent=2).encode("utf-8")
        pngs = {name: png for name, fig in self.figures().items() if (png := figure_png(fig)) is not None}
        files.update({f"{name}.png": png for name, png in pngs.items()})
        pdf = html_to_pdf(self.html(images=pngs)) if len(pngs) == len(self.figures()) else None
        if pdf is not None:
            files["report.pdf"] = pdf
        else:
            files["README.txt"] = (b"PNG and PDF export need the 'kaleido' package and Chromium (apt-get install "
                                   b"chromium); they were not available, so the plots are in report.html only.\n")
        archive = out_dir / "mmmos_compare_report.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in files.items():
                z.writestr(name, data)
        return archive


_KALEIDO_SERVER = False


def figure_png(fig) -> bytes | None:
    """PNG bytes when kaleido can render here (it drives Chromium); None otherwise, never an error.
    One kaleido browser is kept running for the process: starting one per figure costs seconds."""
    global _KALEIDO_SERVER
    try:
        import kaleido
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "kopts ignored when using a server": expected
            if not _KALEIDO_SERVER:
                kaleido.start_sync_server(silence_warnings=True)
                _KALEIDO_SERVER = True
            return fig.to_image(format="png", width=1000, height=int(fig.layout.height or 600))
    except Exception:  # kaleido's failures (no Chrome, sandbox, timeouts) vary by version; all mean "no PNG"
        return None


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(page: str, timeout_s: float = 90.0) -> bytes | None:
    """Print an HTML page to PDF with headless Chromium; None when there is none or it fails."""
    browser = find_chromium()
    if browser is None:
        return None
    with tempfile.TemporaryDirectory(prefix="mmmos-pdf-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(page, encoding="utf-8")
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
               f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}", src.as_uri()]
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.read_bytes() if out.is_file() and out.stat().st_size else None
