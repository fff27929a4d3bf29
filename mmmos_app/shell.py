"""`MMMOSApp`: the state all visitors share (model, ratings store, sessions) and the page.

Each tab's handlers and layout live in their own module as a mixin; this class owns
what they share and assembles them into one `gr.Blocks`.
"""

from __future__ import annotations

import ctypes
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gradio as gr

from mmmos_core import AudioInputError, MMMOSError, __version__, load_model
from mmmos_core.paths import REPO_ASSETS
from mmmos_core.peers.audiobox import LICENSE as REFERENCE_LICENSE
from mmmos_core.peers.audiobox import NAME as REFERENCE_NAME
from mmmos_core.peers.audiobox import load_reference
from mmmos_core.settings import AppSettings
from mmmos_core.studies.playlists import SessionManager
from mmmos_core.studies.ratings import RatingsStore

from .ab_tab import ABTab
from .about_tab import AboutTab
from .batch_tab import BatchTab
from .common import CSS, esc
from .compare_tab import CompareTab
from .listening_tab import ListeningTab
from .predict_tab import PredictTab


class MMMOSApp(PredictTab, ABTab, BatchTab, ListeningTab, CompareTab, AboutTab):
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
                                       require_play=cfg.require_play, max_comment_chars=cfg.max_comment_chars,
                                       examples_dir=settings.examples_dir, min_play_fraction=cfg.min_play_fraction,
                                       audio_roots=cfg.audio_roots,
                                       priorities=self.clip_priorities if cfg.adaptive_order and self.model else None)
        # The optional reference peer loads on first use: most visits never ask for it, and it
        # needs an extra package and a 380 MB checkpoint that may not be there.
        self._reference, self.reference_error = None, ""
        self._reference_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return self.model.name if self.model is not None else ""

    def require_model(self):
        if self.model is None:
            raise gr.Error(f"No model is loaded: {self.model_error}", title="No model", print_exception=False)
        return self.model

    def banner(self) -> str:
        if self.model is None:
            return (f"<div class='mmmos-banner error'><b>No model loaded.</b> {esc(self.model_error)}<br>"
                    "The listening test and comparisons with uploaded predictions still work.</div>")
        members = len(self.model.member_names)
        text = (f"<div class='mmmos-model'>Scores by model <b><code>{esc(self.model.name)}</code></b> "
                f"({members} ensemble members) · MMMOS {__version__}</div>")
        note = self.model.config.note.strip()
        if note:  # the note names what the model is (the lite model's starts "offline demo model ...")
            text += f"<div class='mmmos-banner'><b>About this model:</b> {esc(note[:1].upper() + note[1:])}</div>"
        return text

    def _score(self, model, path: str):
        name = Path(path).name
        try:
            prediction = model.predict(path, name=name)
        except AudioInputError as exc:
            problem = exc.problem.replace(str(path), name)  # the upload's temp path means nothing to the user
            raise gr.Error(f"{name}: {problem}", title="Cannot score this file", print_exception=False) from None
        except MMMOSError as exc:
            raise gr.Error(f"{name}: {exc}", title="Cannot score this file", print_exception=False) from None
        except Exception as exc:  # a decoder or model failure on odd input must not take the app down
            raise gr.Error(f"{name}: could not be scored ({type(exc).__name__}: {exc})",
                           title="Scoring failed") from None
        for flag in prediction.flags:
            if flag in FLAG_NOTES:
                gr.Warning(f"{name}: {FLAG_NOTES[flag]}.", title="Scored with a warning")
        return prediction

    def reference(self):
        """The reference peer (Audiobox Aesthetics), or None with ``reference_error`` saying why."""
        with self._reference_lock:
            if self._reference is None and not self.reference_error:
                try:
                    self._reference = load_reference("audiobox", self.settings.reference_path)
                except MMMOSError as exc:  # a missing extra is a note in the UI, not an error
                    self.reference_error = str(exc)
            return self._reference

    def build(self) -> gr.Blocks:
        cfg = self.settings.listening
        with gr.Blocks(title="MMMOS · audio quality on four axes", delete_cache=cache_sweep(self.settings.upload_cache_max_age_s)) as demo:
            gr.Markdown("# MMMOS · audio quality on four axes\nProduction Quality, Production Complexity, "
                        "Content Enjoyment and Content Usefulness, each on a 1–10 scale, for speech, music and sound.")
            gr.HTML(self.banner())
            with gr.Tabs() as tabs:
                with gr.Tab("Predict", id="predict"):
                    self._predict_tab()
                with gr.Tab("A/B", id="ab"):
                    self._ab_tab()
                with gr.Tab("Batch", id="batch"):
                    self._batch_tab()
                with gr.Tab("Listening test", id="listen"):
                    self._listening_tab(cfg)
                with gr.Tab("Compare", id="compare"):
                    self._compare_tab()
                with gr.Tab("About", id="about"):
                    gr.Markdown(self._about())
            demo.load(self.ui_from_link, None, [tabs, *self.link_targets], api_visibility="private",
                      concurrency_limit=None, show_progress="hidden")
            gr.api(self.api_start_session, api_name="start_session", concurrency_limit=None)
            gr.api(self.api_rate, api_name="rate", concurrency_limit=None)
            gr.api(self.api_model_info, api_name="model_info", concurrency_limit=None)
            gr.api(self.api_ratings_status, api_name="ratings_status", concurrency_limit=None)
        demo.queue(default_concurrency_limit=self.settings.concurrency, max_size=QUEUE_MAX_SIZE)
        return demo

    def api_model_info(self) -> dict:
        """The loaded model: name, note, licences, members; and the optional reference model."""
        reference = {"name": REFERENCE_NAME, "license": REFERENCE_LICENSE,
                     "status": "loaded" if self._reference is not None else
                     (f"unavailable: {self.reference_error}" if self.reference_error else "loads on first use")}
        if self.model is None:
            return {"loaded": False, "error": self.model_error, "reference": reference}
        return {"loaded": True, **self.model.info(), "reference": reference}

    def api_ratings_status(self) -> dict:
        """For the experimenter: the ratings file, ratings given but not yet saved, failed writes and the last error."""
        return asdict(self.store.status())

    def launch_kwargs(self) -> dict[str, Any]:
        folders = {str(REPO_ASSETS), str(self.settings.examples_dir)}
        for name in self.settings.listening.playlists:
            try:
                folders.update(self.sessions.playlist(name).folders)
            except MMMOSError:
                pass  # a broken playlist is reported when someone picks it
        return dict(max_file_size=f"{self.settings.max_upload_mb}mb", allowed_paths=sorted(folders), show_error=True,
                    ssr_mode=False, theme=gr.themes.Soft(primary_hue="blue", font=["system-ui", "sans-serif"],
                                                         font_mono=["ui-monospace", "monospace"]), css=CSS)


# Gradio copies every upload (and every file it serves) into its temp folder and, left alone,
# never removes them: distinct uploads grew it by ~330 MB a minute in a load test. This app's
# own temp files older than `upload_cache_max_age_s` (default 30 min) are deleted, swept every
# sixth of that (at most every 5 min); examples and playlist clips are not touched.
def cache_sweep(max_age_s: int) -> tuple[int, int]:
    return max(5, min(300, max_age_s // 6)), max_age_s


# Visitors waiting for a model slot beyond this are told the app is busy instead of queueing for
# minutes: with one model run at a time, 64 waiting visitors is about a minute of scoring (docs/app.md).
QUEUE_MAX_SIZE = 64

# Flags a scored clip can carry that the visitor must see next to the scores, not only in the JSON.
FLAG_NOTES = {
    "truncated": "the file ends before its header says it should (cut short?); scored on the part that could be read",
    "header_length_mismatch": "the file holds more audio than its header declares; scored on the declared part",
    "silent": "the clip is digital silence; its scores mean little",
}


def return_freed_memory(every_s: float = 30.0) -> None:
    """glibc keeps what a burst of visitors freed: one malloc arena per worker thread, none given
    back to the system (RSS grew ~150 MB over 40 s of 20 visitors and stayed). Two arenas and a
    periodic malloc_trim give most of it back; elsewhere than glibc this does nothing."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX: new threads share two arenas
    except (OSError, AttributeError):
        return

    def trim() -> None:
        while True:
            time.sleep(every_s)
            libc.malloc_trim(0)

    threading.Thread(target=trim, name="malloc-trim", daemon=True).start()


def main() -> None:
    return_freed_memory()
    app = MMMOSApp(AppSettings.from_env())
    app.build().launch(**app.launch_kwargs())
