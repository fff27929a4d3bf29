"""Listening tests: playlists, rater ids, a per-rater clip order, and sessions that resume.

A session is (rater, playlist). The order is a shuffle seeded by both, so a rater who
comes back (after closing the tab or a server restart) gets the same order, and the
clips already in the ratings CSV for that rater and playlist are skipped. Nothing a
session holds in memory is needed to recover: the CSV is the only truth.
"""

from __future__ import annotations

import math
import random
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from mmmos_core.axes import AXES, AXIS_NAMES, SCALE_MAX, SCALE_MIN
from mmmos_core.errors import ManifestError, MMMOSError
from mmmos_core.paths import EXAMPLES_DIR
from mmmos_core.tables import CSV_SUFFIXES, JSON_SUFFIXES, read_records

from .adaptive import adaptive_order, rater_seed
from .ratings import RatingRow, RatingsStore

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a", ".aiff", ".aif")
RATER_ID_MAX = 40
RATER_ID_RE = re.compile(rf"^[A-Za-z0-9_-]{{1,{RATER_ID_MAX}}}$")
TRUE_WORDS = {"1", "true", "yes", "y", "gold", "attention"}
# Play events travel browser -> server with some latency; a clip played to its end must not be
# refused for arriving a fraction of a second "early".
PLAY_TOLERANCE_S = 0.5


class ListeningError(MMMOSError):
    """Something a rater or test organiser can fix: a bad id, a missing rating, a bad playlist."""


def validate_rater_id(raw: str | None) -> str:
    text = (raw or "").strip()
    if not text:
        raise ListeningError("Enter a rater id, or press 'Random id'.")
    if not RATER_ID_RE.match(text):
        raise ListeningError(f"Rater id {text[:60]!r} is not valid: use 1-{RATER_ID_MAX} letters, digits, '-' or '_'.")
    return text


def random_rater_id() -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes: raters copy this down by hand
    return "r-" + "".join(secrets.choice(alphabet) for _ in range(8))


@dataclass
class Clip:
    id: str
    path: str
    system: str = ""
    gold: bool = False
    expected: dict[str, tuple[float, float]] = field(default_factory=dict)  # axis -> inclusive range

    def gold_pass(self, scores: Mapping[str, float]) -> bool | None:
        if not self.gold:
            return None
        return all(lo <= float(scores[a]) <= hi for a, (lo, hi) in self.expected.items())


@dataclass
class Playlist:
    name: str
    clips: list[Clip]
    source: str

    def __post_init__(self):
        self.by_id = {c.id: c for c in self.clips}
        if len(self.by_id) != len(self.clips):
            seen: set[str] = set()
            dup = next(c.id for c in self.clips if c.id in seen or seen.add(c.id))
            raise ManifestError(f"{Path(self.source).name}: clip id {dup!r} appears more than once")

    @property
    def folders(self) -> list[str]:
        return sorted({str(Path(c.path).resolve().parent) for c in self.clips})


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


ROOTS_HINT = ("an experimenter can allow its folder with 'audio_roots' in the listening config "
              "(or MMMOS_AUDIO_ROOTS)")


def _allowed(home: Path, roots: Iterable[str | Path]) -> list[Path]:
    return [home.resolve(), *(Path(r).expanduser().resolve() for r in roots)]


def _confined(clip: Path, allowed: list[Path]) -> bool:
    """Whether the file ``clip`` really lives (symlinks followed) in one of the ``allowed`` folders:
    a playlist must not serve the server's other files to raters."""
    real = clip.resolve()
    return any(real.is_relative_to(folder) for folder in allowed)


def playlist_from_folder(folder: Path, name: str, roots: Iterable[str | Path] = ()) -> Playlist:
    allowed = _allowed(folder, roots)
    clips = []
    for p in _audio_files(folder):
        rel = p.relative_to(folder)
        if not _confined(p, allowed):
            raise ManifestError(f"{name}: {rel.as_posix()} is a link to a file outside the playlist's folder; "
                                f"{ROOTS_HINT}")
        # A folder per system (root/systemA/x.wav) is the usual layout of a comparison test.
        clips.append(Clip(rel.as_posix(), str(p), rel.parts[0] if len(rel.parts) > 1 else ""))
    return Playlist(name, clips, str(folder))


def _parse_range(value: Any, where: str) -> tuple[float, float]:
    try:
        if isinstance(value, (list, tuple)) and len(value) == 2:
            lo, hi = float(value[0]), float(value[1])
        else:
            text = str(value).strip()
            m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(?:-|\.\.|to)\s*(\d+(?:\.\d+)?)\s*$", text)
            lo, hi = (float(m.group(1)), float(m.group(2))) if m else (float(text), float(text))
    except (TypeError, ValueError):
        raise ManifestError(f"{where}: expected range {value!r} is not 'lo-hi' (e.g. 1-3)") from None
    if not (SCALE_MIN <= lo <= hi <= SCALE_MAX):
        raise ManifestError(f"{where}: expected range {lo:g}-{hi:g} is not within {SCALE_MIN:g}-{SCALE_MAX:g}")
    return lo, hi


def _manifest_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        return [(r.line, r.fields) for r in read_records(path, what="playlist")]
    except ManifestError as exc:  # raters see these messages: the file's name, not the server's folders
        raise ManifestError(str(exc).replace(str(path), path.name)) from None


def playlist_from_manifest(path: Path, name: str, roots: Iterable[str | Path] = ()) -> Playlist:
    """CSV or JSONL: a clip path (``path``/``data_path``/``audio``), optional ``id``,
    ``system``, ``gold`` and expected ranges (``expected_PQ: "1-3"``, or in JSONL
    ``expected: {"PQ": [1, 3]}``). Relative clip paths are relative to the manifest. Clips
    must lie in the manifest's folder or one of the experimenter's ``roots``."""
    clips, missing = [], []
    allowed = _allowed(path.parent, roots)
    for n, rec in _manifest_records(path):
        where = f"{path.name}, line {n}"
        raw = next((rec[k] for k in ("path", "data_path", "audio", "file") if rec.get(k)), None)
        if raw is None:
            raise ManifestError(f"{where}: no clip path (a 'path', 'data_path' or 'audio' column)")
        clip_path = Path(str(raw)).expanduser()
        if not clip_path.is_absolute():
            clip_path = (path.parent / clip_path).resolve()
        if not clip_path.is_file():
            missing.append(str(raw))
        elif not _confined(clip_path, allowed):
            raise ManifestError(f"{where}: the clip path points outside the playlist's folder; {ROOTS_HINT}")
        clip_id = str(next((rec[k] for k in ("id", "clip_id", "sample_id") if rec.get(k) not in (None, "")), raw))
        system = str(rec.get("system") or rec.get("system_id") or "")
        expected = {}
        nested = rec.get("expected") or {}
        if not isinstance(nested, dict):
            raise ManifestError(f"{where}: 'expected' must map axes to [lo, hi]")
        for axis in AXES:
            value = nested.get(axis, rec.get(f"expected_{axis}"))
            if value not in (None, ""):
                expected[axis] = _parse_range(value, f"{where}, {axis}")
        gold_raw = rec.get("gold", rec.get("attention"))
        gold = bool(expected) if gold_raw in (None, "") else str(gold_raw).strip().lower() in TRUE_WORDS
        if gold and not expected:
            raise ManifestError(f"{where}: gold item without an expected range (e.g. expected_PQ = 1-3)")
        clips.append(Clip(clip_id, str(clip_path), system, gold, expected))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ManifestError(f"{path.name}: {len(missing)} clip file(s) not found: {shown}")
    return Playlist(name, clips, str(path))


def load_playlist(spec: str, name: str | None = None, examples_dir: Path = EXAMPLES_DIR,
                  roots: Iterable[str | Path] = ()) -> Playlist:
    """``examples`` (the bundled clips in ``examples_dir``), a folder of audio, or a CSV/JSONL manifest."""
    if spec == "examples":
        folder = Path(examples_dir)
        playlist = playlist_from_folder(folder, name or "examples") if folder.is_dir() else Playlist(
            name or "examples", [], str(folder))
    else:
        path = Path(spec).expanduser()
        if path.is_dir():
            playlist = playlist_from_folder(path, name or path.name, roots)
        elif path.is_file():
            if path.suffix.lower() not in JSON_SUFFIXES + CSV_SUFFIXES:
                raise ManifestError(f"{path.name}: a playlist is a folder or a .csv/.tsv/.jsonl/.json manifest")
            playlist = playlist_from_manifest(path, name or path.stem, roots)
        else:
            raise ManifestError(f"{path.name}: playlist folder or manifest not found")
    if not playlist.clips:
        raise ManifestError(f"{Path(playlist.source).name}: the playlist has no audio clips")
    return playlist


def rater_order(playlist: Playlist, rater_id: str) -> list[Clip]:
    """The same shuffle every time for a (playlist, rater): resuming keeps the order."""
    order = list(playlist.clips)
    random.Random(rater_seed(playlist.name, rater_id)).shuffle(order)
    return order


def parse_scores(values: Mapping[str, Any]) -> dict[str, int]:
    scores = {}
    for axis in AXES:
        raw = values.get(axis)
        if raw is None or raw == "":
            raise ListeningError(f"Please rate {axis} ({AXIS_NAMES[axis]}).")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ListeningError(f"{axis} must be a whole number from 1 to 10, not {raw!r}.") from None
        # NaN and Inf fail every comparison below; checked first, int() of them would raise
        if not math.isfinite(number) or number != int(number) or not SCALE_MIN <= number <= SCALE_MAX:
            raise ListeningError(f"{axis} must be a whole number from 1 to 10, not {raw!r}.")
        scores[axis] = int(number)
    return scores


@dataclass
class Session:
    id: str
    rater_id: str
    playlist: Playlist
    order: list[Clip]
    done: set[str]
    resumed: int  # clips rated before this session started
    current: Clip | None = None
    served_at: float = 0.0
    played: set[str] = field(default_factory=set)
    last_saved: dict[str, str] | None = None  # on resume: the latest rating on file (clip id, time)
    play_started: dict[str, float] = field(default_factory=dict)  # clip -> monotonic time of its first play
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total(self) -> int:
        return len(self.order)

    @property
    def remaining(self) -> list[Clip]:
        return [c for c in self.order if c.id not in self.done]

    def advance(self) -> Clip | None:
        self.current = next(iter(self.remaining), None)
        self.served_at = time.monotonic()
        return self.current

    def status(self) -> dict[str, Any]:
        clip = self.current
        return {
            "session_id": self.id, "rater_id": self.rater_id, "playlist": self.playlist.name,
            "total": self.total, "rated": len(self.done), "resumed": self.resumed, "finished": clip is None,
            "last_saved": self.last_saved,
            # Raters are not told the system or whether an item is a gold check.
            "clip": None if clip is None else {"clip_id": clip.id, "position": len(self.done) + 1},
        }


class SessionManager:
    """Sessions in memory (cheap to lose), ratings on disk (never lost)."""

    def __init__(self, store: RatingsStore, playlists: Mapping[str, str], *, model_id: str = "",
                 app_version: str = "", require_play: bool = True, max_comment_chars: int = 1000,
                 max_sessions: int = 5000, examples_dir: Path = EXAMPLES_DIR, min_play_fraction: float = 0.0,
                 audio_roots: Iterable[str | Path] = (),
                 priorities: Callable[[Playlist], Mapping[str, float]] | None = None):
        self.store = store
        self.examples_dir = Path(examples_dir)
        self.audio_roots = tuple(audio_roots)  # folders besides a playlist's own its clips may come from
        self.playlists = dict(playlists)
        self.model_id = model_id
        self.app_version = app_version
        self.require_play = require_play
        # Share of each clip that must have played (server clock) before a browser may rate it; 0 = any play.
        self.min_play_fraction = float(min_play_fraction)
        self._durations: dict[str, float | None] = {}
        # Adaptive order (studies.adaptive): clip id -> priority for a playlist; None = plain shuffle.
        self.priorities = priorities
        self.max_comment_chars = max_comment_chars
        self.max_sessions = max_sessions
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._loaded: dict[str, Playlist] = {}

    def playlist(self, name: str | None) -> Playlist:
        if not name:
            name = next(iter(self.playlists))
        if name not in self.playlists:
            raise ListeningError(f"Unknown playlist {name!r}; choose one of: {', '.join(self.playlists)}.")
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = load_playlist(self.playlists[name], name, self.examples_dir, self.audio_roots)
            return self._loaded[name]

    def start(self, rater_id: str, playlist_name: str | None = None) -> Session:
        rater_id = validate_rater_id(rater_id)
        playlist = self.playlist(playlist_name)
        self.store.check()
        done = self.store.rated_clips(rater_id, playlist.name) & set(playlist.by_id)
        session = Session(uuid.uuid4().hex[:16], rater_id, playlist, self.order_for(playlist, rater_id), set(done),
                          len(done))
        last = self.store.last_saved(rater_id, playlist.name) if done else None
        if last is not None:
            session.last_saved = {"clip_id": last["clip_id"], "timestamp_utc": last["timestamp_utc"]}
        session.advance()
        with self._lock:
            if len(self._sessions) >= self.max_sessions:  # drop the oldest; its rater can resume from the CSV
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[session.id] = session
        return session

    def order_for(self, playlist: Playlist, rater_id: str) -> list[Clip]:
        if self.priorities is None:
            return rater_order(playlist, rater_id)
        return adaptive_order(playlist.clips, lambda c: c.id, self.priorities(playlist),
                              rater_seed(playlist.name, rater_id))

    def get(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(str(session_id or ""))
        if session is None:
            raise ListeningError("This session is no longer open (the app may have restarted). Start again with "
                                 "the same rater id: your saved ratings are kept and skipped.")
        return session

    def mark_played(self, session_id: str, clip_id: str) -> None:
        session = self.get(session_id)
        session.played.add(clip_id)
        session.play_started.setdefault(clip_id, time.monotonic())

    def clip_duration(self, clip: Clip) -> float | None:
        """Seconds of audio, read once per file; None when the file cannot be inspected."""
        if clip.path not in self._durations:
            import soundfile as sf

            try:
                self._durations[clip.path] = float(sf.info(clip.path).duration)
            except (RuntimeError, OSError):  # libsndfile cannot read it: the played time cannot be checked
                self._durations[clip.path] = None
        return self._durations[clip.path]

    def _check_played_through(self, session: Session, clip: Clip) -> None:
        if self.min_play_fraction <= 0:
            return
        duration = self.clip_duration(clip)
        if not duration:
            return
        needed = self.min_play_fraction * duration
        heard = time.monotonic() - session.play_started[clip.id]
        if heard + PLAY_TOLERANCE_S < needed:
            whole = "the whole clip" if self.min_play_fraction >= 1 else f"{self.min_play_fraction:.0%} of the clip"
            raise ListeningError(f"Please listen to {whole} before rating it: {heard:.1f} s of "
                                 f"{needed:.1f} s so far.")

    def rate(self, session_id: str, clip_id: str, scores: Mapping[str, Any], comment: str = "",
             *, client_reports_play: bool = False) -> tuple[RatingRow, Session]:
        """Validate, append to the CSV (durably), then move on. Raises `ListeningError`.

        ``client_reports_play``: the caller is a browser page that sends play events, so
        "not played" is known (and refused when the config requires playing); an API
        client cannot play, and its rows record ``played`` as unknown."""
        session = self.get(session_id)
        parsed = parse_scores(scores)
        comment = (comment or "").strip()
        if len(comment) > self.max_comment_chars:
            raise ListeningError(f"The comment is {len(comment)} characters; keep it under {self.max_comment_chars}.")
        enforce = self.require_play and client_reports_play
        with session.lock:  # a double click must not store the same rating twice
            clip = session.playlist.by_id.get(str(clip_id))
            if clip is None:
                raise ListeningError(f"Clip {clip_id!r} is not in playlist {session.playlist.name!r}.")
            if clip.id in session.done:
                raise ListeningError(f"Clip {clip.id!r} is already rated in this session.")
            if enforce and clip.id not in session.played:
                raise ListeningError("Please play the clip before rating it.")
            if enforce:
                self._check_played_through(session, clip)
            started = session.served_at if session.current is not None and session.current.id == clip.id else None
            row = RatingRow(
                session_id=session.id, rater_id=session.rater_id, playlist=session.playlist.name, clip_id=clip.id,
                scores=parsed, system_id=clip.system,
                seconds_spent=time.monotonic() - started if started is not None else 0.0,
                played=(clip.id in session.played) if client_reports_play else (clip.id in session.played or None),
                gold=clip.gold, gold_pass=clip.gold_pass(parsed), model_id=self.model_id,
                app_version=self.app_version, comment=comment)
            self.store.append(row)  # raises before the session moves on: nothing is marked done unsaved
            session.done.add(clip.id)
            if session.current is None or session.current.id == clip.id:
                session.advance()
        return row, session
