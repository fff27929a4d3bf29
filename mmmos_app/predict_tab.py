"""The Predict tab: one clip in; the radar, what the flags and the members' spread mean in words,
the timeline of a long clip and the second opinions out."""

from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from mmmos_core import AXES, AXIS_DEFINITIONS, AXIS_NAMES
from mmmos_core.errors import AudioInputError, MMMOSError
from mmmos_core.model.audio import load_audio
from mmmos_core.model.timeline import Cancelled, predict_timeline
from mmmos_core.studies.playlists import AUDIO_EXTENSIONS
from mmmos_core.views import figures as views
from mmmos_core.views import words
from mmmos_core.views.context import AxisContext, context_strip
from mmmos_core.views.timeline import timeline_figure, timeline_sentence

from .common import api_record, esc
from .presenter import toolbar
from .second_opinions import SecondOpinions, opinions_html

MEMBERS_LINES = "members as lines"
MEMBERS_BAND = "members as min–max band"


class PredictTab(SecondOpinions):
    """Mixin of `MMMOSApp`: this tab's handlers and layout."""

    _cancelled: set[str] = set()
    _cancel_lock = threading.Lock()
    _examples: list[dict[str, Any]] | None = None
    _examples_lock = threading.Lock()

    def decode(self, audio_path: str):
        """The clip decoded once, for the model and every peer; bad input is a `gr.Error` naming the file."""
        model = self.require_model()
        name = Path(audio_path).name
        try:
            audio = model.load(load_audio(audio_path, name=name, max_duration_s=model.max_duration_s))
        except AudioInputError as exc:
            problem = exc.problem.replace(str(audio_path), name)  # the upload's temp path means nothing to the user
            raise gr.Error(f"{name}: {problem}", title="Cannot score this file", print_exception=False) from None
        audio.flags += [f for f in words.signal_flags(audio, model.config.windows.window_s) if f not in audio.flags]
        return audio

    def score_audio(self, audio, on_progress=None, with_reference: bool = False) -> dict[str, Any]:
        """The record of a decoded clip, with its timeline and second opinions. Audiobox Aesthetics, when
        it runs here, is also the record's ``reference`` (same axes: drawn dashed on the radar);
        ``with_reference`` (API callers) asks for ``reference_unavailable`` saying why when it cannot."""
        model = self.require_model()
        try:
            if on_progress is not None and audio.duration_s > model.config.windows.window_s:
                prediction = predict_timeline(model, audio, on_progress)
            else:
                prediction = model.predict(audio, timeline=True)
            record = api_record(prediction.to_record())
            record["speech"], record["second_opinions"] = self.second_opinions(audio)
            audiobox = [o for o in record["second_opinions"] if o["model"] == "audiobox-aesthetics"]
            if audiobox:
                record["reference"] = {k: audiobox[0][k] for k in ("model", *AXES)}
            elif with_reference:
                self.reference()  # records why it cannot load: for the developer calling the API
                record["reference_unavailable"] = self.reference_error or "the reference model is not set up here"
            record["context"] = [asdict(c) for c in context_strip(record, self.example_records())]
            # and among recordings the model never trained on, where the model ships them (lite does)
            record["context_held_out"] = [asdict(c) for c in context_strip(record, model.context_records())]
        except Cancelled:
            raise gr.Error(f"{audio.source}: stopped before the end, as asked.", title="Scoring cancelled",
                           print_exception=False) from None
        except MMMOSError as exc:
            raise gr.Error(f"{audio.source}: {exc}", title="Cannot score this file", print_exception=False) from None
        except Exception as exc:  # a model or driver fault on one clip must not take the page down
            raise gr.Error(f"{audio.source}: could not be scored ({type(exc).__name__}: {exc})",
                           title="Scoring failed") from None
        except Exception as exc:  # a decoder or model failure on odd input must not take the app down
            raise gr.Error(f"{audio.source}: could not be scored ({type(exc).__name__}: {exc})",
                           title="Cannot score this file") from None
        return record

    def predict(self, audio_path: str | None, with_reference: bool = False, request: gr.Request = None,
                progress=gr.Progress()) -> dict[str, Any]:
        """Score one clip: the `mmmos predict --timeline` JSON record (scores, members, spread, windows, model)
        with the clip's name under ``file``, plus ``speech`` (the speech check), ``second_opinions``
        (peer models' scores, each with its scale and domain) and ``context`` (the clip among the examples).
        ``with_reference``: say why Audiobox Aesthetics is missing (``reference_unavailable``) if it is."""
        if not audio_path:
            raise gr.Error("No clip given: upload a file or record one.", title="Nothing to score",
                           print_exception=False)
        session = getattr(request, "session_hash", None) or ""
        with self._cancel_lock:
            self._cancelled.discard(session)

        def on_progress(fraction: float, text: str) -> None:
            with self._cancel_lock:
                if session in self._cancelled:
                    raise Cancelled("cancelled")
            progress(fraction, desc=f"Scoring {text}")

        return self.score_audio(self.decode(audio_path), on_progress, with_reference)

    def predict_if_any(self, audio_path: str | None, request: gr.Request = None, progress=gr.Progress()):
        return self.predict(audio_path, False, request, progress) if audio_path else None

    def cancel_scoring(self, request: gr.Request = None) -> None:
        with self._cancel_lock:
            self._cancelled.add(getattr(request, "session_hash", None) or "")

    def example_records(self) -> list[dict[str, Any]]:
        """The bundled examples scored once by this model: the context every clip is placed in."""
        with self._examples_lock:
            if self._examples is None:
                records = []
                for path in _example_files(self.settings.examples_dir):
                    try:
                        records.append(api_record(self.model.predict(str(path), name=path.name).to_record()))
                    except Exception:  # noqa: BLE001 - a broken example (or model fault) is no reference point
                        continue
                self._examples = records  # per app: another app in this process may run another model
            return self._examples

    def member_names(self) -> dict[str, str]:
        return words.member_labels(self.model.info()["members"]) if self.model is not None else {}

    def render_prediction(self, record: dict[str, Any] | None, mode: str):
        if not record:
            return "", None, gr.update(value=None, visible=False), "", None, None
        names = self.member_names()
        radar = views.radar_figure(record, "band" if mode == MEMBERS_BAND else "lines",
                                   title=views.short_title(record["file"]), member_names=names)
        timeline = timeline_figure(record)
        spread = views.spread_figure(record, member_names=names)
        table = pd.DataFrame(views.score_rows(record), columns=views.SCORE_HEADERS)
        return (summary_html(record), radar, gr.update(value=timeline, visible=timeline is not None),
                opinions_html(record), spread, table)

    def _predict_tab(self):
        model_events = dict(concurrency_id="model", concurrency_limit=self.settings.concurrency)
        with gr.Row(equal_height=False, elem_id="predict-row"):
            with gr.Column(scale=2, min_width=300, elem_classes=["mmmos-controls"]):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio clip",
                                 elem_id="clip-input")
                with gr.Row():
                    score = gr.Button("Score clip", variant="primary", elem_id="score-btn", min_width=120)
                    cancel = gr.Button("Stop", variant="secondary", elem_id="cancel-btn", min_width=80)
                examples = _example_files(self.settings.examples_dir)
                if examples:
                    gr.Examples([[str(p)] for p in examples], inputs=[audio], label="Example clips (click one)",
                                example_labels=[p.stem.replace("_", " ") for p in examples], examples_per_page=12)
                gr.HTML(_definitions_html())
            with gr.Column(scale=3, min_width=300):
                toolbar([("Radar", "radar", "mmmos-radar"), ("Timeline", "timeline", "mmmos-timeline")],
                        "predict-tools")
                summary = gr.HTML(elem_id="predict-summary")
                radar = gr.Plot(label="Scores on the 1–10 scale", elem_id="radar")
                timeline = gr.Plot(label="Timeline: scores per 10 s window (click a point to play from there)",
                                   elem_id="timeline", visible=False)
                opinions = gr.HTML(elem_id="second-opinions")
        with gr.Accordion("The members, one by one (numbers and spread)", open=False, elem_id="members-acc"):
            mode = gr.Radio([MEMBERS_LINES, MEMBERS_BAND], value=MEMBERS_LINES, show_label=False, container=False)
            with gr.Row(equal_height=False):
                spread = gr.Plot(label="Ensemble members", elem_id="spread")
                table = gr.Dataframe(headers=views.SCORE_HEADERS, interactive=False, wrap=True, elem_id="scores-table",
                                     label="Numbers: ensemble mean and the spread of the members")
        with gr.Accordion("JSON record (as `mmmos predict --timeline` writes it, with the clip name as `file`)",
                          open=False):
            record = gr.JSON(elem_id="record-json")
        outputs = [summary, radar, timeline, opinions, spread, table]
        with_reference = gr.Checkbox(value=False, visible=False)  # API callers only: the page shows peers by itself
        scored = score.click(self.predict, [audio, with_reference], [record], api_name="predict", **model_events)
        scored.success(self.render_prediction, [record, mode], outputs, api_visibility="private",
                       concurrency_limit=None)
        changed = audio.change(self.predict_if_any, [audio], [record], api_visibility="private", **model_events)
        changed.success(self.render_prediction, [record, mode], outputs, api_visibility="private",
                        concurrency_limit=None)
        cancel.click(self.cancel_scoring, None, None, api_visibility="private", concurrency_limit=None)
        mode.change(self.render_prediction, [record, mode], outputs, api_visibility="private", concurrency_limit=None)
        return audio


def summary_html(record: dict[str, Any]) -> str:
    """Above the radar: the clip, its flags as badges, the members' agreement and the worst stretch."""
    parts = [f"<div class='mmmos-clip'><b>{esc(record['file'])}</b> · {record['duration_s']:.1f} s</div>"]
    badges = words.badges(record)
    if badges:
        parts.append("<div class='mmmos-badges'>" + "".join(
            f"<div class='mmmos-badge {b.severity}' data-flag='{esc(b.flag)}'><b>{esc(b.title)}</b> "
            f"{esc(b.sentence)}</div>" for b in badges) + "</div>")
    heard = words.heard_as_sentence(record)
    parts.append(f"<div class='mmmos-agree'>{esc((heard + ' ' if heard else '') + words.agreement_sentence(record))}"
                 "</div>")
    for key, what, title in (("context", "examples", "the example clips"),
                             # Validation recordings: never trained on, but not the card's held-out sources.
                             ("context_held_out", "unseen recordings",
                              "real recordings this model never trained on")):
        context = [AxisContext(**c) for c in record.get(key) or []]
        if context:
            cells = "".join(f"<div class='mmmos-context-cell'><b>{c.axis} {c.score:.1f}</b> · above {c.below} of "
                            f"{c.total} {what}<br><span>closest: {esc(c.nearest)} ({c.nearest_score:.1f})</span></div>"
                            for c in context)
            parts.append(f"<div class='mmmos-context' data-context='{key}' title='Where this clip falls among "
                         f"{title}, scored by the same model'>{cells}</div>")
    stretch = timeline_sentence(record)
    if stretch:
        shaded = " (shaded in the timeline)" if "drops" in stretch else ""
        parts.append(f"<div class='mmmos-worst'>Timeline: {esc(stretch)}{shaded}.</div>")
    return "".join(parts)


def _example_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)


def _definitions_html() -> str:
    rows = "".join(f"<tr><td><b>{a}</b></td><td><b>{AXIS_NAMES[a]}</b>: {esc(AXIS_DEFINITIONS[a])}</td></tr>"
                   for a in AXES)
    return f"<table class='mmmos-defs'>{rows}</table>"
