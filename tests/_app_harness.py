"""Launch the real app in this process on a free local port, for the API and browser tests."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home from tests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_playlist(folder: Path, clips: list[Path]) -> Path:
    """A manifest over the shared clips, systems by domain; two are gold items with expected ranges."""
    lines = ["id,path,system,gold,expected_PQ,expected_PC"]
    for c in clips:
        domain = c.name.split("_")[0]
        if c.name.startswith("sound_musan_noise"):
            lines.append(f"{c.stem},{c},{domain},1,1-4,")
        elif c.name.startswith("speech_ljspeech"):
            lines.append(f"{c.stem},{c},{domain},1,6-10,1-3")
        else:
            lines.append(f"{c.stem},{c},{domain},,,")
    path = folder / "playlist.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def gold_count(clips: list[Path]) -> int:
    """How many of ``clips`` `write_playlist` makes gold items."""
    return sum(c.name.startswith(("sound_musan_noise", "speech_ljspeech")) for c in clips)


def write_config(folder: Path, playlist: Path, require_play: bool = True, listening: dict | None = None) -> Path:
    config = {
        "title": "Test listening session",
        "instructions": "Play each clip, then rate it on all four scales.",
        "consent": "I agree that my ratings are stored.",
        "playlists": {"Shared clips": str(playlist)},
        "require_play": require_play,
        # The manifest lives in tmp and names the clips where they are: the experimenter allows that.
        "audio_roots": sorted({str(Path(line.split(",")[1]).parent) for line in playlist.read_text().splitlines()[1:]}),
        **(listening or {}),
    }
    path = folder / "listening.json"
    path.write_text(json.dumps(config))
    return path


@dataclass
class RunningApp:
    url: str
    app: object
    ratings_path: Path


@contextmanager
def running_app(tmp: Path, model_dir: Path, clips: list[Path], require_play: bool = True,
                concurrency: int = 2, examples: list[Path] | None = None,
                env: dict[str, str] | None = None, listening: dict | None = None) -> Iterator[RunningApp]:
    """``examples``: clips to show as the bundled examples (assets/examples may not exist yet);
    ``env``: more settings variables (e.g. MMMOS_REFERENCE_PATH); ``listening``: more
    listening-config keys (e.g. min_play_fraction)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import app as app_module
    from mmmos_core.settings import AppSettings

    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(env or {})
    if examples is not None:
        folder = tmp / "examples"
        folder.mkdir(exist_ok=True)
        for clip in examples:
            shutil.copy(clip, folder / clip.name)
        env["MMMOS_EXAMPLES_DIR"] = str(folder)
    config = write_config(tmp, write_playlist(tmp, clips), require_play, listening)
    ratings = tmp / "data" / "ratings.csv"
    settings = AppSettings.from_env({"MMMOS_MODEL": str(model_dir), "MMMOS_RATINGS_PATH": str(ratings),
                                     "MMMOS_LISTENING_CONFIG": str(config), "MMMOS_CONCURRENCY": str(concurrency),
                                     "MMMOS_MAX_UPLOAD_MB": "20", **env})
    app = app_module.MMMOSApp(settings)
    demo = app.build()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **app.launch_kwargs())
    try:
        yield RunningApp(f"http://127.0.0.1:{port}/", app, ratings)
    finally:
        demo.close()


def example_design_playlists() -> dict[str, str]:
    """The shipped A/B and MUSHRA example playlists, as an app config's ``listening.playlists``."""
    from mmmos_core.paths import REPO_ASSETS

    return {"AB": str(REPO_ASSETS / "studies" / "ab_example.json"),
            "MUSHRA": str(REPO_ASSETS / "studies" / "mushra_example.json")}
