"""The Compare tab: human ratings against the model, rater agreement and screening, a report."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from mmmos_core import MMMOSError
from mmmos_core.studies.compare import (
    CompareReport,
    build_report,
    load_human_ratings,
    metrics_wide,
    predictions_from_file,
    predictions_from_model,
)

from .common import md, rounded, scratch_dir

PRED_RUN = "Run the current model on the clips"
PRED_UPLOAD = "Upload predictions (JSONL from `mmmos predict`)"
PRED_NONE = "No predictions: rater statistics only"


class CompareTab:
    """Mixin of `MMMOSApp`: this tab's handlers and layout."""

    def compare(self, ratings_file: str | None, predictions: str, predictions_file: str | None,
                audio_root: str, z_normalise: bool, n_boot: float, max_items: float,
                min_corr: float, max_gold_fail: float, progress=gr.Progress()):
        """Human ratings vs model: metrics with bootstrap CIs, rater agreement and screening, a report zip."""
        source = ratings_file or str(self.settings.ratings_path)
        if not ratings_file and not Path(source).exists():
            raise gr.Error("No ratings yet in this app's ratings file; upload a ratings file instead.",
                           print_exception=False)
        progress(0.05, desc="Reading ratings")
        try:
            human = load_human_ratings(source, audio_root=(audio_root or "").strip() or None,
                                       clip_path=self._clip_path, max_items=int(max_items or 0) or None)
            preds, notes = None, []
            if predictions == PRED_UPLOAD:
                if not predictions_file:
                    raise gr.Error("Upload a predictions JSONL, or choose another predictions source.",
                                   print_exception=False)
                preds, notes = predictions_from_file(predictions_file, human)
            elif predictions == PRED_RUN:
                model = self.require_model()
                preds, notes = predictions_from_model(
                    model, human, lambda k, n: progress((k, n), desc="Scoring clips with the model"))
            if preds is not None and not preds:
                notes.append("No clip has a prediction, so there are no model metrics.")
                preds = None
            progress(0.9, desc="Bootstrap confidence intervals")
            report = build_report(human, preds, z_normalise=bool(z_normalise), n_boot=int(n_boot or 0),
                                  min_corr=float(min_corr), max_gold_fail=float(max_gold_fail), notes=notes)
        except gr.Error:
            raise
        except MMMOSError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        if ratings_file:  # an upload's temp path means nothing to the user; its name does
            name = Path(ratings_file).name
            report.notes = [n.replace(str(ratings_file), name) for n in report.notes]
            report.settings["source"] = name
        archive = report.export(scratch_dir("report-", self.settings.upload_cache_max_age_s))
        return report.to_json(), str(archive), report

    def _clip_path(self, playlist: str, clip_id: str) -> str | None:
        try:
            clip = self.sessions.playlist(playlist).by_id.get(clip_id)
        except MMMOSError:
            return None
        return clip.path if clip else None

    @staticmethod
    def render_report(report: CompareReport | None):
        if report is None:
            return ("",) + (None,) * 7
        notes = "\n".join(f"- {md(n)}" for n in report.notes) or "&nbsp;"
        exclusion = rounded(report.exclusion)
        if exclusion is None:
            if report.settings.get("kind") == "means":
                why = "The file has mean ratings only: no rater statistics."
            elif not report.settings.get("flagged"):
                why = "No rater was flagged, so nothing changes."
            else:
                why = "Without predictions, see the notes for how clip means move."
            exclusion = pd.DataFrame({"effect of excluding flagged raters": [why]})
        return (notes, rounded(metrics_wide(report)), rounded(report.agreement), rounded(report.raters),
                exclusion, report.figures.get("scatter_utterance"), report.figures.get("scatter_system"),
                report.figures.get("raters"))

    def _compare_tab(self):
        default_pred = PRED_RUN if self.model is not None else PRED_UPLOAD
        gr.Markdown("Compare human ratings with the model: challenge metrics with bootstrap 95% confidence "
                    "intervals, rater agreement (Krippendorff's alpha, interval) and post-screening of raters.")
        with gr.Row(equal_height=False):
            with gr.Column():
                ratings = gr.File(label="Human ratings: this app's CSV, an Audiobox multi-rater JSONL, or a label "
                                  "manifest. Leave empty to use this app's own ratings.",
                                  file_types=[".csv", ".jsonl", ".json", ".tsv"], elem_id="cmp-ratings")
                audio_root = gr.Textbox(label="Audio folder (replaces '/your_path/' in Audiobox files, or the root "
                                        "of relative paths); needed only to run the model", elem_id="cmp-root")
            with gr.Column():
                pred_mode = gr.Radio([PRED_RUN, PRED_UPLOAD, PRED_NONE], value=default_pred, label="Predictions",
                                     elem_id="cmp-pred-mode")
                pred_file = gr.File(label="Predictions JSONL", file_types=[".jsonl", ".json", ".csv"],
                                    elem_id="cmp-preds")
        with gr.Accordion("Options", open=False):
            with gr.Row():
                z_norm = gr.Checkbox(label="Z-normalise each rater's ratings (per axis)", value=False)
                n_boot = gr.Slider(0, 2000, value=1000, step=100, label="Bootstrap resamples for 95% CIs (0 = none)",
                                   elem_id="cmp-nboot")
                max_items = gr.Number(0, precision=0, label="Analyse the first N clips only (0 = all)")
            with gr.Row():
                min_corr = gr.Slider(-1, 1, value=self.settings.listening.screen_min_corr, step=0.05,
                                     label="Flag raters whose correlation with the others is below")
                max_gold = gr.Slider(0, 1, value=self.settings.listening.screen_max_gold_fail, step=0.05,
                                     label="Flag raters failing more than this share of gold items")
        run = gr.Button("Compare", variant="primary", elem_id="cmp-btn")
        notes = gr.Markdown(elem_id="cmp-notes")
        gr.Markdown("### Model vs humans")
        metrics = gr.Dataframe(interactive=False, label="Metrics: value [95% CI]", elem_id="cmp-metrics", wrap=True)
        with gr.Tabs():
            with gr.Tab("Clips"):
                scatter = gr.Plot(show_label=False, elem_id="cmp-scatter")
            with gr.Tab("Systems"):
                scatter_sys = gr.Plot(show_label=False)
        gr.Markdown("### Raters")
        with gr.Row(equal_height=False):
            agreement = gr.Dataframe(interactive=False, label="Agreement: Krippendorff's alpha (interval), all "
                                     "raters and without flagged raters", elem_id="cmp-agreement")
            exclusion = gr.Dataframe(interactive=False, label="Effect of excluding flagged raters on model metrics")
        rater_plot = gr.Plot(show_label=False)
        raters = gr.Dataframe(interactive=False, label="Each rater vs the mean of the others", elem_id="cmp-raters")
        with gr.Row():
            report_file = gr.File(label="Report: CSV tables, HTML plots (PNG where kaleido works)", elem_id="cmp-zip")
        with gr.Accordion("Report JSON", open=False):
            report_json = gr.JSON()
        state = gr.State()
        run.click(self.compare, [ratings, pred_mode, pred_file, audio_root, z_norm, n_boot, max_items, min_corr,
                                 max_gold], [report_json, report_file, state], api_name="compare",
                  concurrency_id="model", concurrency_limit=self.settings.concurrency).success(
            self.render_report, [state], [notes, metrics, agreement, raters, exclusion, scatter, scatter_sys,
                                          rater_plot], api_visibility="private", concurrency_limit=None)
