"""MMMOS web app: score clips, run listening tests, compare humans with the model.

A thin Gradio shell over `mmmos_core`: every number, file and figure comes from the
library; this file only lays out components and turns library errors into messages.
Run with ``make run`` (or ``python app.py``); settings come from the environment,
see `mmmos_core.settings` and docs/app.md.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from mmmos_core import AXES, AXIS_DEFINITIONS, AXIS_NAMES, AudioInputError, MMMOSError, __version__, load_model
from mmmos_core import views
from mmmos_core.batch_io import csv_columns, flatten_record
from mmmos_core.compare import (CompareReport, build_report, load_human_ratings, metrics_wide, predictions_from_file,
                                predictions_from_model)
from mmmos_core.hub import ASSETS
from mmmos_core.listening import AUDIO_EXTENSIONS, EXAMPLES_DIR, ListeningError, SessionManager, random_rater_id
from mmmos_core.ratings import RatingsStore, RatingsStoreError, sanitize_cell
from mmmos_core.reference import LICENSE as REFERENCE_LICENSE, NAME as REFERENCE_NAME, load_reference
from mmmos_core.results import error_record
from mmmos_core.settings import AppSettings

PRED_RUN = "Run the current model on the clips"
PRED_UPLOAD = "Upload predictions (JSONL from `mmmos predict`)"
PRED_NONE = "No predictions: rater statistics only"
MEMBERS_LINES = "members as lines"
MEMBERS_BAND = "members as min–max band"
REFERENCE_TOGGLE = "Also score with Meta's Audiobox Aesthetics (reference, not part of the ensemble)"

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


class MMMOSApp:
    """State shared by all visitors: the model, the ratings store and the open listening sessions."""

    def __init__(self, settings: AppSettings, model=None):
        self.settings = settings
        self.model, self.model_error = model, ""
        if self.model is None:
            try:
                self.model = load_model(settings.model)
            except MMMOSError as exc:  # the listening test and uploaded comparisons still work
                self.model_error = str(exc)
        self.store = RatingsStore(settings.ratings_path)
        cfg = settings.listening
        self.sessions = SessionManager(self.store, cfg.playlists, model_id=self.model_name, app_version=__version__,
                                       require_play=cfg.require_play, max_comment_chars=cfg.max_comment_chars)
        # The optional reference peer loads on first use: most visits never ask for it, and it
        # needs an extra package and a 380 MB checkpoint that may not be there.
        self._reference, self.reference_error = None, ""
        self._reference_lock = threading.Lock()

    # ---- model ------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return self.model.name if self.model is not None else ""

    def require_model(self):
        if self.model is None:
            raise gr.Error(f"No model is loaded: {self.model_error}", print_exception=False)
        return self.model

    def banner(self) -> str:
        if self.model is None:
            return (f"<div class='mmmos-banner error'><b>No model loaded.</b> {_esc(self.model_error)}<br>"
                    "The listening test and comparisons with uploaded predictions still work.</div>")
        members = len(self.model.member_names)
        text = (f"<div class='mmmos-model'>Scores by model <b><code>{_esc(self.model.name)}</code></b> "
                f"({members} ensemble members) · MMMOS {__version__}</div>")
        if self.model.config.note:
            text += (f"<div class='mmmos-banner'><b>Offline demo model.</b> {_esc(self.model.config.note)}</div>")
        return text

    def _score(self, model, path: str):
        name = Path(path).name
        try:
            return model.predict(path, name=name)
        except AudioInputError as exc:
            problem = exc.problem.replace(str(path), name)  # the upload's temp path means nothing to the user
            raise gr.Error(f"{name}: {problem}", title="Cannot score this file", print_exception=False) from None
        except MMMOSError as exc:
            raise gr.Error(f"{name}: {exc}", print_exception=False) from None
        except Exception as exc:  # a decoder or model failure on odd input must not take the app down
            raise gr.Error(f"{name}: could not be scored ({type(exc).__name__}: {exc})") from None

    def reference(self):
        """The reference peer (Audiobox Aesthetics), or None with ``reference_error`` saying why."""
        with self._reference_lock:
            if self._reference is None and not self.reference_error:
                try:
                    self._reference = load_reference("audiobox", self.settings.reference_path)
                except MMMOSError as exc:  # a missing extra is a note in the UI, not an error
                    self.reference_error = str(exc)
            return self._reference

    # ---- predict ----------------------------------------------------------------------
    def predict(self, audio_path: str | None, with_reference: bool = False) -> dict[str, Any]:
        """Score one clip: the `mmmos predict` JSON record (scores, members, spread, model), with the
        clip's name under ``file`` instead of ``path``. ``with_reference``: add Audiobox Aesthetics'
        scores as ``reference`` (or ``reference_unavailable``: why not)."""
        if not audio_path:
            raise gr.Error("No clip given: upload a file or record one.", print_exception=False)
        record = _api_record(self._score(self.require_model(), audio_path).to_record())
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

    def predict_batch(self, files: list[str] | None, progress=gr.Progress()) -> list[dict[str, Any]]:
        """Score several clips: one record per file (as /predict), or ``{"file", "error"}`` for a file that
        could not be scored."""
        if not files:
            raise gr.Error("Upload one or more audio files first.", print_exception=False)
        if len(files) > self.settings.max_batch:
            raise gr.Error(f"{len(files)} files is over the limit of {self.settings.max_batch} per batch "
                           "(MMMOS_MAX_BATCH); split the upload.", print_exception=False)
        model = self.require_model()
        records, failed = [], []
        for k, path in enumerate(files):
            name = Path(path).name
            progress((k, len(files)), desc=f"Scoring {name}")
            try:
                records.append(self._score(model, path).to_record())
            except gr.Error as exc:
                records.append(error_record(name, exc.message.split(": ", 1)[-1]))
                failed.append(exc.message)
        for message in failed[:5]:
            gr.Warning(message, title="Skipped a file")
        if len(failed) > 5:
            gr.Warning(f"{len(failed) - 5} more files could not be scored; see the error column.")
        return [_api_record(r) for r in records]

    @staticmethod
    def render_batch(api_records: list[dict[str, Any]] | None):
        """The sortable table and the CSV/JSONL downloads, in the CLI's formats."""
        records = [{("path" if k == "file" else k): v for k, v in r.items()} for r in api_records or []]
        out = Path(tempfile.mkdtemp(prefix="mmmos-batch-"))
        (out / "mmmos_scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        (out / "mmmos_scores.csv").write_text(_records_csv(records), encoding="utf-8")
        table = pd.DataFrame(views.batch_rows(records), columns=views.BATCH_HEADERS)
        return (table, gr.DownloadButton(value=str(out / "mmmos_scores.csv"), visible=True),
                gr.DownloadButton(value=str(out / "mmmos_scores.jsonl"), visible=True))

    # ---- listening test ---------------------------------------------------------------
    def api_start_session(self, rater_id: str, playlist: str = "") -> dict:
        """Start or resume a rating session; returns the session id and the next clip to rate."""
        try:
            return self.sessions.start(rater_id, playlist or None).status()
        except MMMOSError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def api_rate(self, session_id: str, clip_id: str, pq: int, pc: int, ce: int, cu: int,
                 comment: str = "") -> dict:
        """Store one rating (appended to the ratings CSV at once); returns it and the session's next clip."""
        try:
            row, session = self.sessions.rate(session_id, clip_id, {"PQ": pq, "PC": pc, "CE": ce, "CU": cu},
                                              comment)
        except MMMOSError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return {"saved": dict(zip(("timestamp_utc", "clip_id", *AXES), (row.timestamp_utc, row.clip_id,
                                                                        *(row.scores[a] for a in AXES)))),
                **session.status()}

    def ui_start(self, consent: bool, rater_id: str, playlist: str):
        if not consent:
            gr.Warning("Please tick the consent box to start.")
            return _skip(10) + ("Please tick the consent box above to start.",)
        try:
            session = self.sessions.start(rater_id, playlist)
        except MMMOSError as exc:
            gr.Warning(str(exc))
            return _skip(10) + (f"⚠️ {_esc(str(exc))}",)
        welcome = f"Rater **{session.rater_id}** · playlist **{_md(session.playlist.name)}**. "
        if session.resumed:
            welcome += f"Welcome back: {session.resumed} of {session.total} clips were already rated and are skipped. "
        welcome += "Note your rater id to resume later."
        return self._clip_outputs(session, status=welcome)

    def _clip_outputs(self, session, saved: str = "", status: str | None = None) -> tuple:
        """Values for [session, clip id, panel, position, audio, PQ, PC, CE, CU, comment, status]."""
        clip = session.current
        if clip is None:
            done = (f"✅ {saved}All {session.total} clips of **{_md(session.playlist.name)}** are rated. Thank you! "
                    "You can close this page.")
            return (session.id, "", gr.update(visible=False), "", None, *[None] * 4, "",
                    (status + "\n\n" if status else "") + done)
        position = f"{saved}**Clip {len(session.done) + 1} of {session.total}**"
        if self.settings.listening.require_play:
            position += " · play the clip, then rate all four scales"
        return (session.id, clip.id, gr.update(visible=True), position,
                gr.update(value=clip.path, label=f"Clip {len(session.done) + 1}"), *[None] * 4, "",
                gr.skip() if status is None else status)

    def ui_rate(self, session_id: str, clip_id: str, pq, pc, ce, cu, comment: str):
        try:
            _, session = self.sessions.rate(session_id, clip_id, {"PQ": pq, "PC": pc, "CE": ce, "CU": cu}, comment,
                                            client_reports_play=True)
        except RatingsStoreError as exc:  # the rater must know it was not saved; inputs stay filled
            raise gr.Error(f"Your rating was NOT saved. {exc}", title="Rating not saved") from None
        except MMMOSError as exc:
            gr.Warning(str(exc))
            return _skip(11)
        return self._clip_outputs(session, saved="Saved. ")

    def ui_played(self, session_id: str, clip_id: str) -> None:
        if session_id and clip_id:
            try:
                self.sessions.mark_played(session_id, clip_id)
            except ListeningError:
                pass  # the session is gone; submitting will say so

    # ---- compare ----------------------------------------------------------------------
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
        archive = report.export(tempfile.mkdtemp(prefix="mmmos-report-"))
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
        notes = "\n".join(f"- {_md(n)}" for n in report.notes) or "&nbsp;"
        exclusion = _round(report.exclusion)
        if exclusion is None:
            if report.settings.get("kind") == "means":
                why = "The file has mean ratings only: no rater statistics."
            elif not report.settings.get("flagged"):
                why = "No rater was flagged, so nothing changes."
            else:
                why = "Without predictions, see the notes for how clip means move."
            exclusion = pd.DataFrame({"effect of excluding flagged raters": [why]})
        return (notes, _round(metrics_wide(report)), _round(report.agreement), _round(report.raters),
                exclusion, report.figures.get("scatter_utterance"), report.figures.get("scatter_system"),
                report.figures.get("raters"))

    # ---- layout -----------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        cfg = self.settings.listening
        with gr.Blocks(title="MMMOS · audio quality on four axes") as demo:
            gr.Markdown("# MMMOS · audio quality on four axes\nProduction Quality, Production Complexity, "
                        "Content Enjoyment and Content Usefulness, each on a 1–10 scale, for speech, music and sound.")
            gr.HTML(self.banner())
            with gr.Tabs():
                with gr.Tab("Predict", id="predict"):
                    self._predict_tab()
                with gr.Tab("Batch", id="batch"):
                    self._batch_tab()
                with gr.Tab("Listening test", id="listen"):
                    self._listening_tab(cfg)
                with gr.Tab("Compare", id="compare"):
                    self._compare_tab()
                with gr.Tab("About", id="about"):
                    gr.Markdown(self._about())
            gr.api(self.api_start_session, api_name="start_session", concurrency_limit=None)
            gr.api(self.api_rate, api_name="rate", concurrency_limit=None)
            gr.api(self.api_model_info, api_name="model_info", concurrency_limit=None)
        demo.queue(default_concurrency_limit=self.settings.concurrency, max_size=256)
        return demo

    def api_model_info(self) -> dict:
        """The loaded model: name, note, licences, members; and the optional reference model."""
        reference = {"name": REFERENCE_NAME, "license": REFERENCE_LICENSE,
                     "status": "loaded" if self._reference is not None else
                     (f"unavailable: {self.reference_error}" if self.reference_error else "loads on first use")}
        if self.model is None:
            return {"loaded": False, "error": self.model_error, "reference": reference}
        return {"loaded": True, **self.model.info(), "reference": reference}

    def _predict_tab(self):
        model_events = dict(concurrency_id="model", concurrency_limit=self.settings.concurrency)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio clip",
                                 elem_id="clip-input")
                score = gr.Button("Score clip", variant="primary", elem_id="score-btn")
                with_reference = gr.Checkbox(label=REFERENCE_TOGGLE, value=False, elem_id="reference-toggle")
                examples = _example_files()
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

    def _batch_tab(self):
        gr.Markdown(f"Score up to {self.settings.max_batch} files at once (each at most "
                    f"{self.settings.max_upload_mb} MB). Click a column header to sort.")
        with gr.Row():
            files = gr.File(file_count="multiple", file_types=["audio"], label="Audio files", elem_id="batch-files",
                            scale=3)
            with gr.Column(scale=1):
                run = gr.Button("Score all", variant="primary", elem_id="batch-btn")
                csv_dl = gr.DownloadButton("Download CSV", visible=False)
                jsonl_dl = gr.DownloadButton("Download JSONL", visible=False)
        table = gr.Dataframe(headers=views.BATCH_HEADERS, interactive=False, label="Scores, one row per clip",
                             elem_id="batch-table", show_search="search")
        with gr.Accordion("JSON records", open=False):
            records = gr.JSON()
        run.click(self.predict_batch, [files], [records], api_name="predict_batch", concurrency_id="model",
                  concurrency_limit=self.settings.concurrency).success(
            self.render_batch, [records], [table, csv_dl, jsonl_dl], api_visibility="private", concurrency_limit=None)

    def _listening_tab(self, cfg):
        if self.settings.ratings_at_risk:
            gr.HTML("<div class='mmmos-banner error'><b>Ratings are not on persistent storage.</b> This Space "
                    f"writes them to {_esc(str(self.settings.ratings_path))}, which is wiped when the Space restarts. "
                    "Enable persistent storage (mounted at /data) or set MMMOS_RATINGS_PATH before a session.</div>")
        gr.Markdown(f"## {cfg.title}\n\n{cfg.instructions}")
        consent = gr.Checkbox(label=cfg.consent, elem_id="consent")
        with gr.Row(equal_height=False, elem_id="session-row"):
            rater = gr.Textbox(label="Rater id", placeholder="letters, digits, - and _ (up to 40)", max_length=40,
                               elem_id="rater-id", scale=3)
            random_id = gr.Button("Random id", scale=1, elem_id="random-id")
            playlist = gr.Dropdown(list(cfg.playlists), value=next(iter(cfg.playlists)), label="Playlist", scale=2,
                                   elem_id="playlist")
            start = gr.Button("Start / resume", variant="primary", scale=1, elem_id="start-btn")
        status = gr.Markdown(elem_id="listen-status")
        session_id, clip_id = gr.State(""), gr.State("")
        with gr.Group(visible=False, elem_id="rating-panel") as panel:
            position = gr.Markdown(elem_id="clip-position", padding=True)
            clip = gr.Audio(label="Clip", type="filepath", interactive=False, elem_id="rating-clip", buttons=[])
            radios = []
            for a in AXES:
                label = f"{a} · {AXIS_NAMES[a]}" + (" (more ≠ better)" if a == "PC" else "")
                radios.append(gr.Radio(list(range(1, 11)), label=label, info=f"{AXIS_DEFINITIONS[a]} 1 = lowest, "
                                       "10 = highest.", elem_id=f"rate-{a}", elem_classes=["mmmos-scale"]))
            comment = gr.Textbox(label="Comment (optional)", lines=2, max_length=cfg.max_comment_chars,
                                 elem_id="rate-comment")
            submit = gr.Button("Submit rating", variant="primary", elem_id="submit-rating")
        clip_outputs = [session_id, clip_id, panel, position, clip, *radios, comment]
        random_id.click(random_rater_id, None, rater, api_visibility="private", concurrency_limit=None)
        start.click(self.ui_start, [consent, rater, playlist], clip_outputs + [status], api_visibility="private",
                    concurrency_limit=None)
        submit.click(self.ui_rate, [session_id, clip_id, *radios, comment], clip_outputs + [status],
                     api_visibility="private",
                     concurrency_limit=None)
        clip.play(self.ui_played, [session_id, clip_id], None, api_visibility="private", concurrency_limit=None,
                  show_progress="hidden")

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

    def _about(self) -> str:
        lines = ["## The four axes", "", "| axis | name | what it measures |", "|---|---|---|"]
        lines += [f"| {a} | {AXIS_NAMES[a]} | {AXIS_DEFINITIONS[a]} |" for a in AXES]
        if self.model is not None:
            info = self.model.info()
            lines += ["", f"## Model `{info['name']}`", "", info.get("description") or ""]
            if info.get("note"):
                lines += ["", f"> {info['note']}"]
            if info.get("licenses"):
                lines += ["", "Licences: " + "; ".join(info["licenses"])]
            lines += ["", "| member | encoders | aggregator | loss |", "|---|---|---|---|"]
            lines += [f"| {m['name']} | {', '.join(m['encoders'])} | {m['aggregator']} | {m['loss']} |"
                      for m in info["members"]]
        else:
            lines += ["", f"**No model loaded:** {self.model_error}"]
        lines += ["", "## Reference model (optional)", "",
                  "Ticking *Also score with Meta's Audiobox Aesthetics* in Predict adds the scores of Meta's "
                  "published model (`facebook/audiobox-aesthetics`) beside the ensemble, for comparison only. "
                  "It needs `pip install -r requirements-audiobox.txt` and its `checkpoint.pt` "
                  "(`MMMOS_REFERENCE_PATH`, or see the README).", "", f"Licence: {REFERENCE_LICENSE}."]
        attribution = EXAMPLES_DIR / "ATTRIBUTION.md"
        if attribution.is_file():
            lines += ["", "## Example clips", "", attribution.read_text(encoding="utf-8")]
        lines += ["", "## API", "", "Named endpoints for `gradio_client`: `/predict`, `/predict_batch`, "
                  "`/start_session`, `/rate`, `/compare`, `/model_info`.", "",
                  "```python", "from gradio_client import Client, handle_file", "client = Client(URL)",
                  "record = client.predict(handle_file('clip.wav'), api_name='/predict')", "```",
                  "", f"MMMOS {__version__}"]
        return "\n".join(lines)

    def launch_kwargs(self) -> dict[str, Any]:
        folders = {str(ASSETS), str(EXAMPLES_DIR)}
        for name in self.settings.listening.playlists:
            try:
                folders.update(self.sessions.playlist(name).folders)
            except MMMOSError:
                pass  # a broken playlist is reported when someone picks it
        return dict(max_file_size=f"{self.settings.max_upload_mb}mb", allowed_paths=sorted(folders), show_error=True,
                    ssr_mode=False, theme=gr.themes.Soft(primary_hue="blue", font=["system-ui", "sans-serif"],
                                                         font_mono=["ui-monospace", "monospace"]), css=CSS)


def _example_files() -> list[Path]:
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(p for p in EXAMPLES_DIR.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)


def _definitions_html() -> str:
    rows = "".join(f"<tr><td><b>{a}</b></td><td><b>{AXIS_NAMES[a]}</b>: {_esc(AXIS_DEFINITIONS[a])}</td></tr>"
                   for a in AXES)
    return f"<table class='mmmos-defs'>{rows}</table>"


def _api_record(record: dict[str, Any]) -> dict[str, Any]:
    # gradio_client downloads any returned object with a string "path" as if it were a file.
    return {("file" if k == "path" else k): v for k, v in record.items()}


def _records_csv(records: list[dict[str, Any]]) -> str:
    rows = [flatten_record(r) for r in records]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=csv_columns(rows))
    writer.writeheader()
    # File names are user input: defuse formulas before a spreadsheet opens them.
    writer.writerows({k: sanitize_cell(v) if isinstance(v, str) else v for k, v in r.items()} for r in rows)
    return buf.getvalue()


def _round(df: pd.DataFrame | None) -> pd.DataFrame | None:
    if df is None or df.empty:
        return None
    return df.round(3)


def _skip(n: int) -> tuple:
    return tuple(gr.skip() for _ in range(n))


def _esc(text: str) -> str:
    import html

    return html.escape(text)


def _md(text: str) -> str:
    return text.replace("*", r"\*").replace("_", r"\_")


def main() -> None:
    app = MMMOSApp(AppSettings.from_env())
    app.build().launch(**app.launch_kwargs())


if __name__ == "__main__":
    main()
