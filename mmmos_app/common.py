"""Small helpers every tab shares: escaping, the page's CSS, Gradio no-op outputs."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr
import pandas as pd

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
"""


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
