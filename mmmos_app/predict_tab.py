"""The Predict tab: one clip in, the four-axis radar and the members' spread out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from mmmos_core import AXES, AXIS_DEFINITIONS, AXIS_NAMES
from mmmos_core.studies.playlists import AUDIO_EXTENSIONS
from mmmos_core.views import figures as views

from .common import api_record, esc

MEMBERS_LINES = "members as lines"
MEMBERS_BAND = "members as min–max band"
REFERENCE_TOGGLE = "Also score with Meta's Audiobox Aesthetics (reference, not part of the ensemble)"


class PredictTab:
    """Mixin of `MMMOSApp`: this tab's handlers and layout."""

    def predict(self, audio_path: str | None, with_reference: bool = False) -> dict[str, Any]:
        """Score one clip: the `mmmos predict` JSON record (scores, members, spread, model), with the
        clip's name under ``file`` instead of ``path``. ``with_reference``: add Audiobox Aesthetics'
        scores as ``reference`` (or ``reference_unavailable``: why not)."""
        if not audio_path:
            raise gr.Error("No clip given: upload a file or record one.", print_exception=False)
        record = api_record(self._score(self.require_model(), audio_path).to_record())
        if with_reference:
            reference = self.reference()
            if reference is None:
                record["reference_unavailable"] = self.reference_error
            else:
                record["reference"] = self._score(reference, audio_path).to_record()
        return record

    def predict_if_any(self, audio_path: str | None, with_reference: bool = False) -> dict[str, Any] | None:
        return self.predict(audio_path, with_reference) if audio_path else None

    @staticmethod
    def render_prediction(record: dict[str, Any] | None, mode: str):
        if not record:
            return None, None, None, ""
        title = f"{record['file']}  ·  model {record['model']}"
        radar = views.radar_figure(record, "band" if mode == MEMBERS_BAND else "lines", title=title)
        spread = views.spread_figure(record, title="Member spread per axis")
        table = pd.DataFrame(views.score_rows(record), columns=views.SCORE_HEADERS)
        return radar, spread, table, views.reference_markdown(record)

    def _predict_tab(self):
        model_events = dict(concurrency_id="model", concurrency_limit=self.settings.concurrency)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio clip",
                                 elem_id="clip-input")
                score = gr.Button("Score clip", variant="primary", elem_id="score-btn")
                with_reference = gr.Checkbox(label=REFERENCE_TOGGLE, value=False, elem_id="reference-toggle")
                examples = _example_files(self.settings.examples_dir)
                if examples:
                    gr.Examples([[str(p)] for p in examples], inputs=[audio], label="Example clips (click one)",
                                example_labels=[p.stem.replace("_", " ") for p in examples], examples_per_page=12)
                gr.HTML(_definitions_html())
            with gr.Column(scale=3):
                radar = gr.Plot(label="Scores on the 1–10 scale", elem_id="radar")
                mode = gr.Radio([MEMBERS_LINES, MEMBERS_BAND], value=MEMBERS_LINES, show_label=False,
                                container=False)
                reference_note = gr.Markdown(elem_id="reference-note")
        with gr.Row(equal_height=False):
            spread = gr.Plot(label="Ensemble members", elem_id="spread")
            table = gr.Dataframe(headers=views.SCORE_HEADERS, interactive=False, wrap=True, elem_id="scores-table",
                                 label="Numbers: ensemble mean and the spread of the members",
                                 column_widths=["10%", "42%", "12%", "12%", "12%", "12%"])
        with gr.Accordion("JSON record (as `mmmos predict` writes it, with the clip name as `file`)", open=False):
            record = gr.JSON(elem_id="record-json")
        outputs = [radar, spread, table, reference_note]
        score.click(self.predict, [audio, with_reference], [record], api_name="predict", **model_events).success(
            self.render_prediction, [record, mode], outputs, api_visibility="private", concurrency_limit=None)
        for trigger in (audio.change, with_reference.change):  # ticking the box rescores the clip shown
            trigger(self.predict_if_any, [audio, with_reference], [record], api_visibility="private",
                    **model_events).success(self.render_prediction, [record, mode], outputs,
                                            api_visibility="private", concurrency_limit=None)
        mode.change(self.render_prediction, [record, mode], outputs, api_visibility="private", concurrency_limit=None)


def _example_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)


def _definitions_html() -> str:
    rows = "".join(f"<tr><td><b>{a}</b></td><td><b>{AXIS_NAMES[a]}</b>: {esc(AXIS_DEFINITIONS[a])}</td></tr>"
                   for a in AXES)
    return f"<table class='mmmos-defs'>{rows}</table>"
