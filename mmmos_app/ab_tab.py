"""The A/B tab: two clips (before/after, two takes, two systems), one picture, one sentence per axis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from mmmos_core.ab import compare_records
from mmmos_core.model.results import error_record
from mmmos_core.views.ab import ab_radar, difference_figure

from .common import esc
from .presenter import toolbar


class ABTab:
    """Mixin of `MMMOSApp`: this tab's handlers and layout (uses `PredictTab.decode`/`score_audio`)."""

    def _ab_side(self, path: str | None, tag: str) -> dict[str, Any]:
        if not path:
            return error_record(f"clip {tag}", "no clip given")
        try:
            return self.score_audio(self.decode(path))
        except gr.Error as exc:  # one bad clip must not hide the other's result
            return {"file": Path(path).name, "error": exc.message}

    def compare_clips(self, path_a: str | None, path_b: str | None) -> dict[str, Any]:
        """Score clips A and B and compare them: ``{"a": record, "b": record, "comparison": ...}``;
        a clip that cannot be scored has ``error`` naming it and the problem, and ``comparison`` is null."""
        self.require_model()
        if not path_a and not path_b:
            raise gr.Error("Give two clips, A and B.", title="Nothing to compare", print_exception=False)
        a, b = self._ab_side(path_a, "A"), self._ab_side(path_b, "B")
        comparison = None if a.get("error") or b.get("error") else compare_records(a, b).to_record()
        return {"a": a, "b": b, "comparison": comparison}

    @staticmethod
    def render_ab(result: dict[str, Any] | None):
        if not result:
            return "", None, None
        a, b, comparison = result["a"], result["b"], result["comparison"]
        notes = [f"<div class='mmmos-badge warn'><b>Clip {tag} not scored</b> {esc(r['error'])}</div>"
                 for tag, r in (("A", a), ("B", b)) if r.get("error")]
        if comparison is None:
            return "".join(notes), None, None
        sentences = "".join(f"<li>{esc(s)}</li>" for s in comparison["sentences"])
        html = (f"<div class='mmmos-clip'><b>A</b> {esc(a['file'])} · <b>B</b> {esc(b['file'])}</div>"
                f"<ul class='mmmos-ab-sentences'>{sentences}</ul>"
                "<div class='mmmos-peer-note'>Intervals: the members' paired differences and, for long clips, "
                "how much the score varies between windows (see docs/app.md).</div>")
        return html, ab_radar(a, b), difference_figure(compare_records(a, b))

    def _ab_tab(self):
        gr.Markdown("Two clips, one picture: before and after processing, two takes, two systems.")
        with gr.Row(equal_height=False):
            clip_a = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Clip A", elem_id="ab-a",
                              min_width=280)
            clip_b = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Clip B", elem_id="ab-b",
                              min_width=280)
        run = gr.Button("Compare A and B", variant="primary", elem_id="ab-btn")
        toolbar([("A/B radar", "ab-radar", "mmmos-ab-radar"), ("Difference", "ab-diff", "mmmos-ab-difference")],
                "ab-tools")
        summary = gr.HTML(elem_id="ab-summary")
        with gr.Row(equal_height=False):
            radar = gr.Plot(label="A and B on the 1–10 scale", elem_id="ab-radar", min_width=300)
            diff = gr.Plot(label="B − A per axis", elem_id="ab-diff", min_width=300)
        with gr.Accordion("JSON (both records and the comparison)", open=False):
            result = gr.JSON(elem_id="ab-json")
        run.click(self.compare_clips, [clip_a, clip_b], [result], api_name="compare_clips", concurrency_id="model",
                  concurrency_limit=self.settings.concurrency).success(
            self.render_ab, [result], [summary, radar, diff], api_visibility="private", concurrency_limit=None)
