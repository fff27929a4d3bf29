"""The ratings CSV: one row per rating, appended the moment it is given.

Raters sit in front of this file live, so it is built to never lose a rating:
- every append takes a lock file shared by all processes (`filelock`), writes one
  row, flushes and fsyncs before the lock is released, so a crash loses at most the
  rating in flight and concurrent writers never interleave;
- the header is written once, by whoever creates the file;
- an existing file whose header is not ours, or that cannot be read, is never
  touched: the append fails with a message naming the file and the problem;
- a row cut short by a crash (no final newline) is closed off before the next
  append, and readers report it instead of failing;
- free-text cells are defused against spreadsheet formula injection.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from filelock import FileLock, Timeout

from mmmos_core.axes import AXES
from mmmos_core.errors import MMMOSError
from mmmos_core.tables import restore_cell, safe_cell

COLUMNS: tuple[str, ...] = (
    "timestamp_utc", "session_id", "rater_id", "playlist", "clip_id", "system_id",
    *AXES, "seconds_spent", "played", "gold", "gold_pass", "model_id", "app_version", "comment",
)
LOCK_TIMEOUT_S = 30.0


class RatingsStoreError(MMMOSError):
    """The ratings file cannot be used; the message names the file and what to do."""



def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class RatingRow:
    session_id: str
    rater_id: str
    playlist: str
    clip_id: str
    scores: dict[str, int]
    system_id: str = ""
    seconds_spent: float = 0.0
    played: bool | None = None  # None: the client could not tell us (e.g. the API)
    gold: bool = False
    gold_pass: bool | None = None  # None: not a gold item
    model_id: str = ""
    app_version: str = ""
    comment: str = ""
    timestamp_utc: str = field(default_factory=utc_now)

    def cells(self) -> list[str]:
        def flag(v: bool | None) -> str:
            return "" if v is None else ("1" if v else "0")

        values = {
            "timestamp_utc": self.timestamp_utc, "session_id": self.session_id, "rater_id": self.rater_id,
            "playlist": self.playlist, "clip_id": self.clip_id, "system_id": self.system_id,
            **{a: str(int(self.scores[a])) for a in AXES},
            "seconds_spent": f"{max(0.0, float(self.seconds_spent)):.2f}", "played": flag(self.played),
            "gold": "1" if self.gold else "0", "gold_pass": flag(self.gold_pass), "model_id": self.model_id,
            "app_version": self.app_version, "comment": self.comment,
        }
        return [safe_cell(values[c]) for c in COLUMNS]


@dataclass
class StoredRating:
    """A row read back: text cells as written, scores as numbers."""

    line: int
    values: dict[str, str]
    scores: dict[str, float]

    def __getitem__(self, key: str) -> str:
        return self.values[key]


@dataclass
class ReadResult:
    rows: list[StoredRating]
    malformed: list[int]  # line numbers of rows that were cut short or mangled


def _encode(cells: Iterable[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(list(cells))
    return buf.getvalue()


HEADER_LINE = _encode(COLUMNS)


class RatingsStore:
    """Append-only CSV of ratings at ``path``; safe across threads and processes."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def _lock(self) -> FileLock:
        return FileLock(str(self.lock_path), timeout=LOCK_TIMEOUT_S)

    def _check_existing(self, f) -> bool:
        """Validate an existing file; returns whether it ends with a newline."""
        f.seek(0)
        first = f.readline()
        try:
            header = first.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise RatingsStoreError(f"{self.path}: not a UTF-8 text file; it was left untouched. Move it aside or "
                                    "set MMMOS_RATINGS_PATH to a new file.") from None
        if header.rstrip("\r\n") != HEADER_LINE.rstrip("\n"):
            shown = header.strip()[:80]
            raise RatingsStoreError(
                f"{self.path}: its first line {shown!r} is not the MMMOS ratings header; the file was left "
                "untouched. Move it aside or set MMMOS_RATINGS_PATH to a new file.")
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"

    def check(self) -> None:
        """Fail early (before a session starts) if the file exists but cannot be appended to."""
        try:
            with self._lock():
                if self.path.exists():
                    with open(self.path, "rb") as f:
                        if f.seek(0, os.SEEK_END) > 0:
                            self._check_existing(f)
                self._check_writable()
        except Timeout:
            raise RatingsStoreError(f"{self.path}: locked by another process for over {LOCK_TIMEOUT_S:.0f} s") from None

    def _check_writable(self) -> None:
        target = self.path if self.path.exists() else self.path.parent
        if target.exists() and not os.access(target, os.W_OK):
            raise RatingsStoreError(f"{self.path}: not writable by this process")

    def append(self, row: RatingRow) -> None:
        self.append_many([row])

    def append_many(self, rows: list[RatingRow]) -> None:
        data = "".join(_encode(r.cells()) for r in rows).encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RatingsStoreError(f"{self.path}: cannot create its folder ({exc.strerror})") from None
        try:
            with self._lock():
                try:
                    with open(self.path, "a+b") as f:
                        size = f.seek(0, os.SEEK_END)
                        prefix = b""
                        if size == 0:
                            prefix = HEADER_LINE.encode("utf-8")
                        elif not self._check_existing(f):
                            prefix = b"\n"  # close off a row a crash cut short; readers flag it
                        f.seek(0, os.SEEK_END)
                        f.write(prefix + data)
                        f.flush()
                        os.fsync(f.fileno())
                except OSError as exc:
                    raise RatingsStoreError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
        except Timeout:
            raise RatingsStoreError(f"{self.path}: locked by another process for over {LOCK_TIMEOUT_S:.0f} s; "
                                    "the rating was not saved, please submit again") from None

    def read(self) -> ReadResult:
        if not self.path.exists():
            return ReadResult([], [])
        try:
            with self._lock():
                raw = self.path.read_bytes()
        except Timeout:
            raise RatingsStoreError(f"{self.path}: locked by another process for over {LOCK_TIMEOUT_S:.0f} s") from None
        except OSError as exc:
            raise RatingsStoreError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
        return parse_ratings_csv(raw, str(self.path))

    def rated_clips(self, rater_id: str, playlist: str) -> set[str]:
        return {r["clip_id"] for r in self.read().rows if r["rater_id"] == rater_id and r["playlist"] == playlist}



def parse_ratings_csv(raw: bytes, source: str) -> ReadResult:
    """Rows of a ratings CSV (ours); rows that are cut short or not numeric are listed, not fatal."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RatingsStoreError(f"{source}: not a UTF-8 text file") from None
    lines = text.split("\n")
    if not lines or lines[0].rstrip("\r") != HEADER_LINE.rstrip("\n"):
        raise RatingsStoreError(f"{source}: first line is not the MMMOS ratings header "
                                f"({', '.join(COLUMNS[:6])}, ...)")
    rows, malformed = [], []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        try:
            cells = next(csv.reader([line]))
        except csv.Error:
            malformed.append(number)
            continue
        if len(cells) != len(COLUMNS):
            malformed.append(number)
            continue
        values = {c: restore_cell(v) for c, v in zip(COLUMNS, cells)}
        try:
            scores = {a: float(values[a]) for a in AXES}
        except ValueError:
            malformed.append(number)
            continue
        rows.append(StoredRating(number, values, scores))
    return ReadResult(rows, malformed)


def is_ratings_csv(raw_head: bytes) -> bool:
    try:
        first = raw_head.decode("utf-8-sig", errors="strict").split("\n", 1)[0]
    except UnicodeDecodeError:
        return False
    return first.rstrip("\r") == HEADER_LINE.rstrip("\n")
