"""Small helpers every tab shares: escaping, the page's CSS, Gradio no-op outputs."""

from __future__ import annotations

import html
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from .presenter import CSS as PRESENTER_CSS

CSS = """
.mmmos-banner {background:#fff6e0;border-left:4px solid #e0a020;border-radius:6px;padding:8px 14px;margin:4px 0}
.mmmos-banner.error {background:#fdecea;border-left-color:#c0392b}
.mmmos-model {color:#555;font-size:0.95em}
.mmmos-defs, .mmmos-defs tr, .mmmos-defs td {border:none !important;background:transparent !important}
.mmmos-defs td {vertical-align:top;padding:3px 10px 3px 0;font-size:0.9em;color:#444}
#session-row {align-items:flex-end}
.mmmos-scale .wrap {flex-wrap:nowrap !important}
.mmmos-scale .wrap label {flex:1 1 0;justify-content:center;min-width:0}
footer {display:none !important}
.mmmos-ab-sentences {margin:4px 0 4px 1.2em}
.mmmos-context {display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:4px 10px;margin:6px 0}
.mmmos-context-cell {font-size:0.88em;border-top:2px solid #d9dde3;padding-top:2px}
.mmmos-context-cell span {color:#666}
.mmmos-clip {font-size:1.05em;margin:2px 0 6px;overflow-wrap:anywhere}
.mmmos-badges {display:flex;flex-direction:column;gap:4px;margin:4px 0}
.mmmos-badge {border-radius:6px;padding:5px 10px;font-size:0.92em;border-left:4px solid}
.mmmos-badge.warn {background:#fdecea;border-left-color:#c0392b}
.mmmos-badge.info {background:#eaf2fd;border-left-color:#2e86de}
.mmmos-agree, .mmmos-worst {margin:4px 0;font-size:0.95em}
.mmmos-worst {color:#8a2a1f}
.mmmos-peers {border:1px solid #d9dde3;border-radius:8px;padding:8px 12px;margin-top:6px}
.mmmos-peers-head {font-weight:600;margin-bottom:4px}
.mmmos-peer {margin:6px 0}
.mmmos-peer-title {font-weight:600;color:#2a9d5b}
.mmmos-peer-score {display:inline-block;margin-right:14px;white-space:nowrap}
.mmmos-peer-note, .mmmos-peer-none {color:#666;font-size:0.88em}
.mmmos-attribution td:nth-child(4) {white-space:nowrap}
.mmmos-attribution table {display:block;overflow-x:auto}
#batch-table td {white-space:normal !important;overflow-wrap:anywhere}
#radar, #timeline {min-height:0}
@media (max-width: 480px) {
  .gradio-container {padding-left:4px !important;padding-right:4px !important}
  .mmmos-defs td {font-size:0.85em}
}
""" + PRESENTER_CSS


def api_record(record: dict[str, Any]) -> dict[str, Any]:
    # gradio_client downloads any returned object with a string "path" as if it were a file.
    return {("file" if k == "path" else k): v for k, v in record.items()}


def rounded(df: pd.DataFrame | None) -> pd.DataFrame | None:
    if df is None or df.empty:
        return None
    return df.round(3)


def skip(n: int) -> tuple:
    return tuple(gr.skip() for _ in range(n))


def esc(text: str) -> str:
    return html.escape(text)


def md(text: str) -> str:
    return text.replace("*", r"\*").replace("_", r"\_")


def scratch_dir(prefix: str, max_age_s: float) -> Path:
    """A fresh folder for one answer's downloads (CSV, JSONL, report zip). Gradio copies what a
    handler returns into its own cache, which `delete_cache` sweeps; our folders would stay
    forever, so folders of this app older than ``max_age_s`` are removed first."""
    root = Path(tempfile.gettempdir()) / f"mmmos-app-{os.getpid()}"
    root.mkdir(exist_ok=True)
    cutoff = time.time() - max_age_s
    for old in root.iterdir():
        try:
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except FileNotFoundError:  # another visitor's sweep got there first
            pass
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))
