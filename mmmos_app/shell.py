"""`MMMOSApp`: the state all visitors share (model, ratings store, sessions) and the page.

Each tab's handlers and layout live in their own module as a mixin; this class owns
what they share and assembles them into one `gr.Blocks`.
"""

from __future__ import annotations

import threading
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

from .about_tab import AboutTab
from .batch_tab import BatchTab
from .common import CSS, esc
from .compare_tab import CompareTab
from .listening_tab import ListeningTab
from .predict_tab import PredictTab


class MMMOSApp(PredictTab, BatchTab, ListeningTab, CompareTab, AboutTab):
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
            raise gr.Error(f"No model is loaded: {self.model_error}", print_exception=False)
        return self.model

    def banner(self) -> str:
        if self.model is None:
            return (f"<div class='mmmos-banner error'><b>No model loaded.</b> {esc(self.model_error)}<br>"
                    "The listening test and comparisons with uploaded predictions still work.</div>")
        members = len(self.model.member_names)
        text = (f"<div class='mmmos-model'>Scores by model <b><code>{esc(self.model.name)}</code></b> "
                f"({members} ensemble members) · MMMOS {__version__}</div>")
        if self.model.config.note:
            text += (f"<div class='mmmos-banner'><b>Offline demo model.</b> {esc(self.model.config.note)}</div>")
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

    def build(self) -> gr.Blocks:
        cfg = self.settings.listening
        with gr.Blocks(title="MMMOS · audio quality on four axes") as demo:
            gr.Markdown("# MMMOS · audio quality on four axes\nProduction Quality, Production Complexity, "
                        "Content Enjoyment and Content Usefulness, each on a 1–10 scale, for speech, music and sound.")
            gr.HTML(self.banner())
            with gr.Tabs() as tabs:
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
            demo.load(self.ui_from_link, None, [tabs, *self.link_targets], api_visibility="private",
                      concurrency_limit=None, show_progress="hidden")
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


def main() -> None:
    app = MMMOSApp(AppSettings.from_env())
    app.build().launch(**app.launch_kwargs())
