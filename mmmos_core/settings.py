"""App settings: environment variables plus the listening-test config file.

Everything the Gradio app reads from outside lives here, so the app itself stays a
thin shell and tests can build settings without touching the environment.

Environment (all optional)
- ``MMMOS_MODEL``: model name or directory (default ``lite``).
- ``MMMOS_RATINGS_PATH``: the ratings CSV (default: the config's ``ratings_path``, else
  ``/data/mmmos/ratings.csv`` when ``/data`` is a writable folder, i.e. a Space with
  persistent storage, else ``data/ratings.csv`` under the working directory).
- ``MMMOS_LISTENING_CONFIG``: the listening-test config (default ``assets/listening_test.json``).
- ``MMMOS_PLAYLIST``: one more playlist (folder or manifest) offered next to the config's.
- ``MMMOS_AUDIO_ROOTS``: folders (``:``-separated) that playlists' clip paths may point into,
  besides each playlist's own folder (the config's ``audio_roots`` adds more).
- ``MMMOS_EXAMPLES_DIR``: the example clips offered in Predict and as the ``examples`` playlist
  (default ``assets/examples`` of the checkout).
- ``MMMOS_MAX_UPLOAD_MB``: upload size limit (default 50).
- ``MMMOS_CONCURRENCY``: model runs at once (default 1; the encoders use every core anyway).
- ``MMMOS_MAX_BATCH``: files per batch upload (default 50).
- ``MMMOS_UPLOAD_CACHE_MAX_AGE_S``: uploads (Gradio's temp copies) older than this are deleted
  (default 1800; swept every sixth of that, at most every 5 minutes).
- ``MMMOS_REFERENCE_PATH``: the Audiobox Aesthetics ``checkpoint.pt`` (or its folder) for the
  optional reference scores (default: the lookup of `mmmos_core.reference`).
Gradio's own ``GRADIO_SERVER_PORT`` / ``GRADIO_SERVER_NAME`` pick the port and interface.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import MMMOSError
from .paths import EXAMPLES_DIR, REPO_ASSETS

DEFAULT_CONFIG = REPO_ASSETS / "listening_test.json"
SPACE_STORAGE = Path("/data")


class SettingsError(MMMOSError):
    """A setting (environment variable or config file entry) has a value the app cannot use."""


@dataclass
class ListeningConfig:
    title: str = "Listening test"
    instructions: str = ""
    consent: str = "I agree that my ratings are stored and used for research."
    playlists: dict[str, str] = field(default_factory=lambda: {"Bundled examples": "examples"})
    require_play: bool = True
    min_play_fraction: float = 0.0  # share of each clip that must play before rating (1.0 = the whole clip)
    adaptive_order: bool = False  # most informative clips first (studies.adaptive); needs a loaded model
    ratings_path: str | None = None
    # Folders, besides each playlist's own, that clip paths may point into (absolute paths,
    # ../, symlinks); anything else is refused so a playlist cannot serve the server's files.
    audio_roots: list[str] = field(default_factory=list)
    max_comment_chars: int = 1000
    # Post-screening defaults for the Compare tab.
    screen_min_corr: float = 0.25
    screen_max_gold_fail: float = 0.25

    @classmethod
    def from_file(cls, path: str | Path) -> "ListeningConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"{path}: listening-test config not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SettingsError(f"{path}: not a readable JSON config ({exc})") from None
        if not isinstance(data, dict):
            raise SettingsError(f"{path}: expected a JSON object")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__) - {"_comment"})
        if unknown:
            raise SettingsError(f"{path}: unknown keys {', '.join(unknown)}")
        if isinstance(data.get("instructions"), list):  # JSON has no multi-line strings
            data["instructions"] = "\n".join(data["instructions"])
        config = cls(**{k: v for k, v in data.items() if k != "_comment"})
        if not isinstance(config.playlists, dict) or not config.playlists:
            raise SettingsError(f"{path}: 'playlists' must map names to folders or manifests")
        # Relative playlist paths are relative to the config file, like a manifest's clip paths.
        if not isinstance(config.audio_roots, list):
            raise SettingsError(f"{path}: 'audio_roots' must be a list of folders")
        config.audio_roots = [str((path.parent / Path(r).expanduser()).resolve()) for r in config.audio_roots]
        config.playlists = {str(name): spec if spec == "examples" or Path(spec).is_absolute()
                            else str((path.parent / spec).resolve())
                            for name, spec in config.playlists.items()}
        return config


def _int_env(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={value} is outside {lo}..{hi}")
    return value


def default_ratings_path(config: ListeningConfig, env: Mapping[str, str]) -> Path:
    if env.get("MMMOS_RATINGS_PATH"):
        return Path(env["MMMOS_RATINGS_PATH"]).expanduser()
    if config.ratings_path:
        return Path(config.ratings_path).expanduser()
    # A Space with persistent storage mounts it at /data; anything else is wiped on restart.
    if SPACE_STORAGE.is_dir() and os.access(SPACE_STORAGE, os.W_OK):
        return SPACE_STORAGE / "mmmos" / "ratings.csv"
    return Path("data") / "ratings.csv"


@dataclass
class AppSettings:
    model: str = "lite"
    ratings_path: Path = Path("data/ratings.csv")
    max_upload_mb: int = 50
    concurrency: int = 1
    max_batch: int = 50
    upload_cache_max_age_s: int = 1800  # Gradio's copies of uploads older than this are deleted
    listening: ListeningConfig = field(default_factory=ListeningConfig)
    config_path: Path = DEFAULT_CONFIG
    on_space: bool = False  # running on Hugging Face Spaces (SPACE_ID is set there)
    reference_path: str | None = None  # Audiobox Aesthetics checkpoint; None: the usual lookup
    examples_dir: Path = EXAMPLES_DIR

    @property
    def ratings_at_risk(self) -> bool:
        """On a Space, only /data survives a restart; ratings anywhere else are lost with it."""
        return self.on_space and not str(self.ratings_path.resolve()).startswith(str(SPACE_STORAGE) + os.sep)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "AppSettings":
        env = os.environ if env is None else env
        config_path = Path(env.get("MMMOS_LISTENING_CONFIG") or DEFAULT_CONFIG)
        listening = ListeningConfig.from_file(config_path) if config_path.exists() or \
            env.get("MMMOS_LISTENING_CONFIG") else ListeningConfig()
        roots = [r for r in env.get("MMMOS_AUDIO_ROOTS", "").split(os.pathsep) if r.strip()]
        listening.audio_roots = [*listening.audio_roots, *(str(Path(r).expanduser().resolve()) for r in roots)]
        extra = env.get("MMMOS_PLAYLIST", "").strip()
        if extra:
            listening.playlists = {**listening.playlists, Path(extra).stem or extra: extra}
        return cls(
            model=env.get("MMMOS_MODEL", "").strip() or "lite",
            ratings_path=default_ratings_path(listening, env),
            max_upload_mb=_int_env(env, "MMMOS_MAX_UPLOAD_MB", 50, 1, 10_000),
            concurrency=_int_env(env, "MMMOS_CONCURRENCY", 1, 1, 64),
            max_batch=_int_env(env, "MMMOS_MAX_BATCH", 50, 1, 10_000),
            upload_cache_max_age_s=_int_env(env, "MMMOS_UPLOAD_CACHE_MAX_AGE_S", 1800, 10, 7 * 86400),
            listening=listening,
            config_path=config_path,
            on_space=bool(env.get("SPACE_ID")),
            reference_path=env.get("MMMOS_REFERENCE_PATH", "").strip() or None,
            examples_dir=Path(env.get("MMMOS_EXAMPLES_DIR", "").strip() or EXAMPLES_DIR),
        )

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "ratings_path": str(self.ratings_path), "max_upload_mb": self.max_upload_mb,
                "concurrency": self.concurrency, "max_batch": self.max_batch, "config": str(self.config_path),
                "playlists": dict(self.listening.playlists)}
