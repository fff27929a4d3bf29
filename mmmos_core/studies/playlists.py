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
from mmmos_core.errors import MMMOSError
from mmmos_core.paths import EXAMPLES_DIR

from .adaptive import adaptive_order, rater_seed
from .design_sessions import DesignRating
from .playlist_files import AUDIO_EXTENSIONS, Clip, Playlist, load_playlist

__all__ = ["AUDIO_EXTENSIONS", "Clip", "ListeningError", "Playlist", "Session", "SessionManager", "load_playlist",
           "parse_scores", "random_rater_id", "rater_order", "validate_rater_id"]  # playlist files re-exported
from .ratings import RatingRow, RatingsStore
from .trials import Trial, screen_for, trial_order

RATER_ID_MAX = 40
RATER_ID_RE = re.compile(rf"^[A-Za-z0-9_-]{{1,{RATER_ID_MAX}}}$")
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
        if self.playlist.options is not None:  # A/B or MUSHRA: the trial as this rater sees it
            screen = None if clip is None else screen_for(clip, self.playlist.options, self.playlist.name,
                                                          self.rater_id).public()
            return {**self._status(clip), "design": self.playlist.design, "screen": screen}
        return self._status(clip)

    def _status(self, clip) -> dict[str, Any]:
        return {
            "session_id": self.id, "rater_id": self.rater_id, "playlist": self.playlist.name,
            "total": self.total, "rated": len(self.done), "resumed": self.resumed, "finished": clip is None,
            "last_saved": self.last_saved,
            # Raters are not told the system or whether an item is a gold check.
            "clip": None if clip is None else {"clip_id": clip.id, "position": len(self.done) + 1},
        }


class SessionManager(DesignRating):
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
        self.store.check(playlist.design)  # an old-format file cannot hold A/B or MUSHRA answers: say so now
        units = {t.id for t in playlist.trials} if playlist.options else set(playlist.by_id)
        done = self.store.rated_clips(rater_id, playlist.name) & units
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

    def order_for(self, playlist: Playlist, rater_id: str) -> list[Clip] | list[Trial]:
        if playlist.options is not None:  # A/B and MUSHRA trials: a plain shuffle (no model priority)
            return trial_order(playlist.trials, playlist.name, rater_id)
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
