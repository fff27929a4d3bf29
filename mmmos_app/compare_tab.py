"""The Compare tab: human ratings against the model, rater quality, system comparisons, a report."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from mmmos_core import MMMOSError
from mmmos_core.studies.compare import (
    MAX_PAIRWISE_SYSTEMS,
    CompareReport,
    StudyFilter,
    build_report,
    load_human_ratings,
    metrics_wide,
    predictions_from_file,
    predictions_from_model,
)
from mmmos_core.studies.adaptive_sim import SimulationSettings, parse_targets, simulate_file
from mmmos_core.studies.designs import analyse_design
from mmmos_core.studies.quality import QualitySettings
from mmmos_core.studies.report import json_records, readable
from mmmos_core.studies.stats import MIN_N
from mmmos_core.views.study import design_figure, empty_figure, simulation_figure

from .common import md, rounded, scratch_dir

PRED_RUN = "Run the current model on the clips"
PRED_UPLOAD = "Upload predictions (JSONL from `mmmos predict`)"
PRED_NONE = "No predictions: rater statistics only"
BEFORE_RUN = "Choose the ratings (or keep this app's own) and press Compare."
SIMULATION_COLUMNS = {
    "target_width": "target CI width", "random_median": "random: ratings (median)", "random_iqr": "random: IQR",
    "adaptive_median": "adaptive: ratings (median)", "adaptive_iqr": "adaptive: IQR",
    "saved_median": "saved (median)", "saved_share": "saved share", "runs_adaptive_fewer": "runs adaptive needed fewer",
    "runs": "runs", "pooled_ratings": "ratings on offer"}
MAX_SIMULATION_RUNS = 200  # a page visitor must not be able to hold a worker for minutes


def _note(text: str) -> pd.DataFrame:
    """A one-cell table that says what to do next, instead of placeholder headers."""
    return pd.DataFrame({"": [text]})


def _scrub(text: str, uploads: dict[str, str]) -> str:
    """Upload temp paths mean nothing to the user (and reveal the server's layout): keep the file name."""
    for path, name in uploads.items():
        text = text.replace(path, name)
        if name == Path(path).name:  # an upload: its temp folder is unique, safe to drop wherever it appears
            text = text.replace(str(Path(path).parent) + "/", "")
    return text


class CompareTab:
    """Mixin of `MMMOSApp`: this tab's handlers and layout."""

    def compare(self, ratings_file: str | None, predictions: str, predictions_file: str | None,
                audio_root: str, z_normalise: bool, n_boot: float, max_items: float,
                min_corr: float, max_gold_fail: float, playlists: list[str] | str | None = None,
                raters: list[str] | str | None = None, systems: list[str] | str | None = None,
                progress=gr.Progress()):
        """Human ratings vs model: metrics with bootstrap CIs, rater quality, system A vs B, a report zip.

        playlists / raters / systems narrow the ratings (empty = all); the choice is kept in the report."""
        source = ratings_file or str(self.settings.ratings_path)
        if not ratings_file and not Path(source).exists():
            raise gr.Error("No ratings yet in this app's ratings file: run a listening test first, or upload a "
                           "ratings file.", print_exception=False)
        uploads = {p: Path(p).name for p in (ratings_file, predictions_file) if p}
        if not ratings_file:
            uploads[source] = "this app's ratings file"
        keep = StudyFilter.parse(playlists or (), raters or (), systems or ())
        progress(0.05, desc="Reading ratings")
        try:
            human = load_human_ratings(source, audio_root=(audio_root or "").strip() or None,
                                       clip_path=self._clip_path, max_items=int(max_items or 0) or None, keep=keep)
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
            progress(0.8, desc="Bootstrap confidence intervals")
            quality = QualitySettings(min_corr=float(min_corr), max_gold_fail=float(max_gold_fail))
            report = build_report(human, preds, z_normalise=bool(z_normalise), n_boot=int(n_boot or 0),
                                  quality=quality, notes=notes, app_version=self._app_version(),
                                  model=self.model_name if predictions == PRED_RUN else
                                  (f"predictions file {Path(predictions_file).name}" if preds else ""))
        except gr.Error:
            raise
        except MMMOSError as exc:
            raise gr.Error(_scrub(str(exc), uploads), print_exception=False) from None
        report.notes = [_scrub(n, uploads) for n in report.notes]
        report.settings["source"] = _scrub(report.settings["source"], uploads)
        report.settings["available"] = human.available
        archive = report.export(scratch_dir("report-", self.settings.upload_cache_max_age_s))
        return report.to_json(), str(archive), report

    @staticmethod
    def _app_version() -> str:
        from mmmos_core import __version__

        return __version__

    def _clip_path(self, playlist: str, clip_id: str) -> str | None:
        try:
            clip = self.sessions.playlist(playlist).by_id.get(clip_id)
        except MMMOSError:
            return None
        return clip.path if clip else None

    @staticmethod
    def render_report(report: CompareReport | None):
        if report is None:
            return CompareTab.empty_outputs()
        notes = "\n".join(f"- {md(n)}" for n in report.notes) or "&nbsp;"
        figs = report.figures()
        has_preds = len(report.metrics) > 0
        metrics = rounded(metrics_wide(report)) if has_preds else _note(
            "No predictions: choose 'Run the current model' or upload a predictions JSONL to see model metrics.")
        pairwise = report.pairwise
        if len(pairwise):
            pairwise = readable(pairwise[["axis", "source", "system_a", "system_b", "difference", "ci_low", "ci_high",
                                          "p_holm", "verdict", "n", "unit"]].round(3))
        else:
            n_sys = report.settings.get("n", {}).get("systems", 0)
            pairwise = _note(f"{n_sys} systems: pick up to {MAX_PAIRWISE_SYSTEMS} in the Systems filter to compare "
                             "them pair by pair." if n_sys > MAX_PAIRWISE_SYSTEMS else
                             "Pairwise comparisons need a system id per clip and 2 or more systems.")
        if report.settings.get("kind") == "means":
            agreement = raters = _note("The file has mean ratings only: no rater statistics.")
        else:
            agreement = readable(rounded(report.agreement)) if len(report.agreement) else _note(
                f"Agreement needs 2 or more raters; {MIN_N['raters']} or more to screen raters by agreement.")
            raters = readable(rounded(report.raters)) if len(report.raters) else _note("No rater ids in this file.")
        if len(report.exclusion):
            exclusion = readable(rounded(report.exclusion))
        elif report.settings.get("kind") == "means":
            exclusion = _note("The file has mean ratings only: no raters to exclude.")
        elif not report.settings.get("flagged"):
            exclusion = _note("No rater was flagged, so nothing changes.")
        else:
            exclusion = _note("Without predictions, see the notes for how clip means move.")
        sys_fig = figs.get("scatter_system") or empty_figure(
            "No system-level plot: it needs predictions and a system id for clips of 2 or more systems.")
        return (notes, metrics, pairwise, agreement, raters, exclusion,
                figs.get("scatter_utterance") or empty_figure("No predictions to plot against the humans."),
                sys_fig, figs.get("raters") or empty_figure("No per-rater statistics for this file."),
                figs.get("pairwise_PQ") or empty_figure("No system comparisons to plot."))

    @staticmethod
    def empty_outputs() -> tuple:
        return ("",) + (_note(BEFORE_RUN),) * 5 + (empty_figure(BEFORE_RUN),) * 4

    def _compare_tab(self):
        default_pred = PRED_RUN if self.model is not None else PRED_UPLOAD
        gr.Markdown("Compare human ratings with the model: challenge metrics with bootstrap 95% confidence "
                    "intervals, rater agreement (Krippendorff's alpha, interval), rater quality checks, and "
                    "'is system A better than B?' per axis with Holm-adjusted p-values. "
                    f"Correlations need at least {MIN_N['clips']} clips or {MIN_N['systems']} systems.")
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
        with gr.Row():
            filters = [gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True, label=label,
                                   info="empty = all", elem_id=f"cmp-filter-{key}")
                       for key, label in (("playlists", "Playlists"), ("raters", "Raters"), ("systems", "Systems"))]
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
        self._progress_panel()
        run = gr.Button("Compare", variant="primary", elem_id="cmp-btn")
        first = self.empty_outputs()
        notes = gr.Markdown(elem_id="cmp-notes")
        gr.Markdown("### Model vs humans")
        metrics = gr.Dataframe(first[1], interactive=False, label="Metrics: value [95% CI]", elem_id="cmp-metrics",
                               wrap=True)
        with gr.Tabs():
            with gr.Tab("Clips"):
                scatter = gr.Plot(first[6], show_label=False, elem_id="cmp-scatter")
            with gr.Tab("Systems"):
                scatter_sys = gr.Plot(first[7], show_label=False, elem_id="cmp-scatter-sys")
        gr.Markdown("### Is system A better than B?")
        pairwise = gr.Dataframe(first[2], interactive=False, wrap=True, elem_id="cmp-pairwise",
                                label="Difference of means A − B with 95% CI, Holm-adjusted p, humans and model")
        pairwise_plot = gr.Plot(first[9], show_label=False, elem_id="cmp-pairwise-plot")
        gr.Markdown("### Raters")
        with gr.Row(equal_height=False):
            agreement = gr.Dataframe(first[3], interactive=False, label="Agreement: Krippendorff's alpha (interval), "
                                     "all raters and without flagged raters", elem_id="cmp-agreement")
            exclusion = gr.Dataframe(first[5], interactive=False, label="Effect of excluding flagged raters",
                                     elem_id="cmp-exclusion")
        rater_plot = gr.Plot(first[8], show_label=False, elem_id="cmp-rater-plot")
        raters = gr.Dataframe(first[4], interactive=False, wrap=True, elem_id="cmp-raters",
                              label="Each rater: agreement with the others, quality checks, and why flagged")
        with gr.Row():
            report_file = gr.File(label="Report: HTML with header and plots, CSV tables, JSON (PNG where kaleido "
                                  "works)", elem_id="cmp-zip")
        with gr.Accordion("Report JSON", open=False):
            report_json = gr.JSON()
        self._designs_panel()
        state = gr.State()
        run.click(self.compare, [ratings, pred_mode, pred_file, audio_root, z_norm, n_boot, max_items, min_corr,
                                 max_gold, *filters], [report_json, report_file, state], api_name="compare",
                  concurrency_id="model", concurrency_limit=self.settings.concurrency).success(
            self.render_report, [state], [notes, metrics, pairwise, agreement, raters, exclusion, scatter,
                                          scatter_sys, rater_plot, pairwise_plot],
            api_visibility="private", concurrency_limit=None).success(
            self.filter_choices, [state, *filters], filters, api_visibility="private", concurrency_limit=None)

    def analyse_design(self, results_file: str | None, predictions_file: str | None = None, design: str = "auto"):
        """A/B preference or MUSHRA-style results: their tables (and the model per system, where given).
        No results file: the A/B or MUSHRA answers in this app's own ratings file (``design``: ab, mushra
        or auto, which takes the one the file holds)."""
        source = results_file or str(self.settings.ratings_path)
        if not results_file and not Path(source).exists():
            raise gr.Error("Upload an A/B or MUSHRA results file (CSV or JSONL), or run an A/B or MUSHRA "
                           "playlist in the Listening tab first.", print_exception=False)
        uploads = {p: Path(p).name for p in (results_file, predictions_file) if p}
        if not results_file:
            uploads[source] = "this app's ratings file"
        try:
            results = analyse_design(source, predictions_file, None if design in (None, "", "auto") else design)
        except MMMOSError as exc:
            raise gr.Error(_scrub(str(exc), uploads), print_exception=False) from None
        first, second = list(results.tables.values())
        notes = "\n".join(f"- {md(n)}" for n in results.notes)
        plotted = second if results.design == "ab" else first
        return ({"design": results.design, "notes": results.notes,
                 **{k: json_records(v) for k, v in results.tables.items()}},
                notes, readable(first.round(3)), readable(second.round(3)), design_figure(results.design, plotted))

    def _designs_panel(self):
        with gr.Accordion("A/B preference and MUSHRA-style results", open=False):
            gr.Markdown("Upload the results of an A/B test (`rater, item, axis, system_a, system_b, choice[, "
                        "strength]`) or a MUSHRA-style test (`rater, item, axis, condition, score[, role]`); "
                        "docs/app.md shows both formats. Leave it empty to analyse the A/B or MUSHRA playlists "
                        "run in this app's Listening tab. Optionally a predictions JSONL with a `system` field puts "
                        "the model's mean score beside the A/B scale.")
            with gr.Row():
                results = gr.File(label="Results file (empty = this app's own A/B or MUSHRA answers)",
                                  file_types=[".csv", ".tsv", ".jsonl", ".json"], elem_id="design-results")
                design = gr.Radio([("Whichever the file holds", "auto"), ("A/B", "ab"), ("MUSHRA", "mushra")],
                                  value="auto", label="Design", elem_id="design-kind")
                preds = gr.File(label="Predictions with systems (optional)", file_types=[".jsonl", ".json", ".csv"],
                                elem_id="design-preds")
            run = gr.Button("Analyse results", elem_id="design-btn")
            notes = gr.Markdown(elem_id="design-notes")
            first = gr.Dataframe(_note("A/B: win rates per pair. MUSHRA: means per condition."), interactive=False,
                                 wrap=True, elem_id="design-first")
            second = gr.Dataframe(_note("A/B: Bradley–Terry scale beside the model. MUSHRA: rater post-screening."),
                                  interactive=False, wrap=True, elem_id="design-second")
            plot = gr.Plot(empty_figure("Upload results and press Analyse results."), show_label=False,
                           elem_id="design-plot")
            out = gr.JSON(visible=False)
        run.click(self.analyse_design, [results, preds, design], [out, notes, first, second, plot],
                  api_name="analyse_design", concurrency_limit=None)
        self._simulation_panel()

    def simulate_adaptive(self, labels_file: str | None, items: float = 50, raters: float = 10,
                          session_clips: float = 10, targets: str = "3, 2.5, 2, 1.5", runs: float = 20,
                          seed: float = 0):
        """How many ratings the adaptive order saves to reach target CI widths, on a multi-rater label file
        (a simulation whose priority stands in for the model terms; docs/app.md says what it shows)."""
        if not labels_file:
            raise gr.Error("Upload a label file with individual ratings per axis (e.g. an Audiobox Aesthetics "
                           "JSONL).", print_exception=False)
        uploads = {labels_file: Path(labels_file).name}
        try:
            settings = SimulationSettings(int(items), int(raters), int(session_clips), parse_targets(targets),
                                          min(int(runs), MAX_SIMULATION_RUNS), int(seed))
            result = simulate_file(labels_file, settings)
        except MMMOSError as exc:
            raise gr.Error(_scrub(str(exc), uploads), print_exception=False) from None
        notes = [_scrub(n, uploads) for n in result.notes] + [
            "Ratings given until every clip's 95% CI (mean over axes) is within the target or its pooled ratings "
            "are used up; median over runs with the interquartile range, both orders on the same subsample.",
            "The adaptive priority here is the clip's current CI half-width (the humans' uncertainty): the model "
            "terms of the real rule need the audio, which a label file does not have. This shows what ordering by "
            "uncertainty saves when that uncertainty is known, not how well the model's spread predicts it."]
        table = result.summary.round(3).rename(columns=SIMULATION_COLUMNS)
        return ({"summary": json_records(result.summary), "notes": notes}, "\n".join(f"- {md(n)}" for n in notes),
                table, simulation_figure(result.summary))

    def _simulation_panel(self):
        with gr.Accordion("Adaptive order: how many ratings it saves (simulation on multi-rater data)", open=False):
            gr.Markdown("Replays a listening test on a label file with every rater's score (the Audiobox "
                        "Aesthetics files have 10 per clip): random order against the adaptive order, counting the "
                        "ratings needed until every clip's 95% CI is narrower than a target. The same seed gives "
                        "the same table. docs/app.md explains what the simulation does and does not show.")
            with gr.Row():
                labels = gr.File(label="Multi-rater label file (JSONL/CSV with a list of ratings per axis)",
                                 file_types=[".jsonl", ".json", ".csv", ".tsv"], elem_id="sim-labels")
                with gr.Column():
                    with gr.Row():
                        items = gr.Number(50, precision=0, label="Clips (subsampled)", elem_id="sim-items")
                        raters = gr.Number(10, precision=0, label="Raters per clip (subsampled)", elem_id="sim-raters")
                        session = gr.Number(10, precision=0, label="Clips per rater session", elem_id="sim-session")
                    with gr.Row():
                        targets = gr.Textbox("3, 2.5, 2, 1.5", label="Target CI widths (points)",
                                             elem_id="sim-targets")
                        runs = gr.Number(20, precision=0, label=f"Runs (up to {MAX_SIMULATION_RUNS})",
                                         elem_id="sim-runs")
                        seed = gr.Number(0, precision=0, label="Seed", elem_id="sim-seed")
            run = gr.Button("Simulate", elem_id="sim-btn")
            notes = gr.Markdown(elem_id="sim-notes")
            table = gr.Dataframe(_note("Ratings needed per target width: random vs adaptive, and ratings saved."),
                                 interactive=False, wrap=True, elem_id="sim-table")
            plot = gr.Plot(empty_figure("Upload a multi-rater label file and press Simulate."), show_label=False,
                           elem_id="sim-plot")
            out = gr.JSON(visible=False)
        run.click(self.simulate_adaptive, [labels, items, raters, session, targets, runs, seed],
                  [out, notes, table, plot], api_name="simulate_adaptive", concurrency_limit=1)

    @staticmethod
    def filter_choices(report: CompareReport | None, *chosen):
        """After a run, offer what the file holds, keeping the current choice."""
        available = (report.settings.get("available") if report else None) or {}
        return tuple(gr.update(choices=sorted(set(available.get(key, [])) | set(value or [])))
                     for key, value in zip(("playlists", "raters", "systems"), chosen))
