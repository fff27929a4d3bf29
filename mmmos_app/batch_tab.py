"""The Batch tab: many uploads scored in one go, downloads in the CLI's formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from mmmos_core.batch import csv_columns, flatten_record, score_items
from mmmos_core.tables import csv_text
from mmmos_core.views import figures as views

from .common import api_record, scratch_dir

# Clips decoded and scored together: the encoders batch them, progress moves between chunks.
BATCH_CHUNK = 4
SORT_DESCENDING = "highest first"
SORT_ASCENDING = "lowest first"


class BatchTab:
    """Mixin of `MMMOSApp`: this tab's handlers and layout."""

    def predict_batch(self, files: list[str] | None, progress=gr.Progress()) -> list[dict[str, Any]]:
        """Score several clips: one record per file (as /predict), or ``{"file", "error"}`` for a file that
        could not be scored."""
        if not files:
            raise gr.Error("Upload one or more audio files first.", title="Nothing to score", print_exception=False)
        if len(files) > self.settings.max_batch:
            raise gr.Error(f"{len(files)} files is over the limit of {self.settings.max_batch} per batch "
                           "; split the upload.", title="Too many files", print_exception=False)
        model = self.require_model()
        # The upload's temporary path means nothing to the visitor: records and messages name
        # each file by its own name.
        items = [{"path": path, "name": Path(path).name} for path in files]
        records = []
        for k in range(0, len(items), BATCH_CHUNK):
            progress((k, len(items)), desc=f"Scoring {items[k]['name']}")
            records += score_items(model, items[k:k + BATCH_CHUNK], chunk=BATCH_CHUNK)
        failed = []
        for item, record in zip(items, records):
            if record.get("error"):
                record["error"] = record["error"].replace(item["path"], item["name"])
                failed.append(record["error"])
        for message in failed[:5]:
            gr.Warning(message, title="Skipped a file")
        if len(failed) > 5:
            gr.Warning(f"{len(failed) - 5} more files could not be scored; see the error column.",
                       title="Some files were skipped")
        return [api_record(r) for r in records]

    def render_batch(self, api_records: list[dict[str, Any]] | None):
        """The sortable table and the CSV/JSONL downloads, in the CLI's formats."""
        records = [{("path" if k == "file" else k): v for k, v in r.items()} for r in api_records or []]
        out = scratch_dir("batch-", self.settings.upload_cache_max_age_s)
        (out / "mmmos_scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        rows = [flatten_record(r) for r in records]
        (out / "mmmos_scores.csv").write_text(csv_text(rows, csv_columns(rows)), encoding="utf-8")
        table = pd.DataFrame(views.batch_rows(records), columns=views.BATCH_HEADERS)
        return (table, gr.DownloadButton(value=str(out / "mmmos_scores.csv"), visible=True),
                gr.DownloadButton(value=str(out / "mmmos_scores.jsonl"), visible=True))

    @staticmethod
    def sort_batch(table: pd.DataFrame | None, column: str | None, order: str):
        """The table sorted on one column; empty cells (failed files) last either way."""
        if table is None or len(table) == 0 or not column or column not in table.columns:
            return gr.skip()
        return table.sort_values(column, ascending=order == SORT_ASCENDING, na_position="last", kind="stable")

    def _batch_tab(self):
        gr.Markdown(f"Score up to {self.settings.max_batch} files at once (each at most "
                    f"{self.settings.max_upload_mb} MB). Sort the table with *Sort by* just above it; "
                    "a file that could not be scored keeps its row, with the reason in full in the last column.")
        with gr.Row():
            files = gr.File(file_count="multiple", file_types=["audio"], label="Audio files", elem_id="batch-files",
                            scale=3)
            with gr.Column(scale=1):
                run = gr.Button("Score all", variant="primary", elem_id="batch-btn")
                csv_dl = gr.DownloadButton("Download CSV", visible=False)
                jsonl_dl = gr.DownloadButton("Download JSONL", visible=False)
        with gr.Row(elem_id="batch-sort"):
            sort_by = gr.Dropdown(views.BATCH_HEADERS[:-1], value=None, label="Sort by", min_width=160)
            order = gr.Radio([SORT_DESCENDING, SORT_ASCENDING], value=SORT_DESCENDING, label="Order", min_width=200)
        # wrap: the error column shows the whole reason, not its first words
        table = gr.Dataframe(headers=views.BATCH_HEADERS, interactive=False, label="Scores, one row per clip",
                             elem_id="batch-table", show_search="search", wrap=True,
                             column_widths=["22%", "7%", "7%", "7%", "7%", "9%", "8%", "9%", "24%"])
        with gr.Accordion("JSON records", open=False):
            records = gr.JSON()
        run.click(self.predict_batch, [files], [records], api_name="predict_batch", concurrency_id="model",
                  concurrency_limit=self.settings.concurrency).success(
            self.render_batch, [records], [table, csv_dl, jsonl_dl], api_visibility="private", concurrency_limit=None)
        for trigger in (sort_by.change, order.change):
            trigger(self.sort_batch, [table, sort_by, order], [table], api_visibility="private",
                    concurrency_limit=None)


