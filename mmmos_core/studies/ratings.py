"""The ratings CSV: one row per rating, appended the moment it is given.

Raters sit in front of this file live, so it is built to never lose a rating:
- every append takes a lock file shared by all processes (`filelock`), writes one
  row, flushes and fsyncs before the lock is released, so a crash loses at most the
  rating in flight and concurrent writers never interleave;
- the header is written once, by whoever creates the file;
- an existing file whose header is not ours, or that cannot be read, is never
  touched: the append fails with a message naming the file and the problem;
- a row cut short by a crash (no final newline) was never acknowledged: before the next
  append it is moved to ``<file>.torn`` (kept, not parsed), so the CSV itself always parses;
  readers that meet one report it instead of failing or counting it;
- a rating that cannot be written (read-only or full disk, lock unavailable) raises a
  `RatingsStoreError` for the rater and is kept in memory (``unsaved``) and in the log until a
  retry saves it; ``status()`` tells the experimenter;
- free-text cells are defused against spreadsheet formula injection.

Two header versions (docs/app.md, "The ratings file"): files started before A/B and MUSHRA
tests have the `LEGACY_COLUMNS`; new files add ``design`` and ``answer``. An old file is
never rewritten: absolute ratings go on being appended to it in its own shape, and an
A/B or MUSHRA answer, which it has no column for, is refused with a message saying so.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from filelock import FileLock, Timeout

from mmmos_core.axes import AXES
from mmmos_core.errors import MMMOSError
from mmmos_core.tables import DEFAULT_MAX_CELL_CHARS, restore_cell, safe_cell

LEGACY_COLUMNS: tuple[str, ...] = (
    "timestamp_utc", "session_id", "rater_id", "playlist", "clip_id", "system_id",
    *AXES, "seconds_spent", "played", "gold", "gold_pass", "model_id", "app_version", "comment",
)
# design: "absolute" (the four 1-10 scales), "ab" or "mushra"; answer: the A/B or MUSHRA answer
# as JSON (studies.trials), empty for absolute ratings, whose scores are in the axis columns.
COLUMNS: tuple[str, ...] = (*LEGACY_COLUMNS, "design", "answer")
ABSOLUTE = "absolute"
LOCK_TIMEOUT_S = 30.0
log = logging.getLogger(__name__)


class RatingsStoreError(MMMOSError):
    """The ratings file cannot be used; the message names the file and what to do.

    ``for_rater``: the same without the server's paths, fit to show a rater."""

    def __init__(self, message: str, for_rater: str = ""):
        super().__init__(message)
        self.for_rater = for_rater or "the ratings file cannot be used"



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
    design: str = ABSOLUTE
    answer: str = ""  # JSON of an A/B or MUSHRA answer; its scores are not on the 1-10 axes
    timestamp_utc: str = field(default_factory=utc_now)

    def cells(self, columns: tuple[str, ...] = COLUMNS) -> list[str]:
        def flag(v: bool | None) -> str:
            return "" if v is None else ("1" if v else "0")

        values = {
            "timestamp_utc": self.timestamp_utc, "session_id": self.session_id, "rater_id": self.rater_id,
            "playlist": self.playlist, "clip_id": self.clip_id, "system_id": self.system_id,
            **{a: str(int(self.scores[a])) if a in self.scores else "" for a in AXES},
            "seconds_spent": f"{max(0.0, float(self.seconds_spent)):.2f}", "played": flag(self.played),
            "gold": "1" if self.gold else "0", "gold_pass": flag(self.gold_pass), "model_id": self.model_id,
            "app_version": self.app_version, "comment": self.comment, "design": self.design,
            "answer": self.answer,
        }
        return [safe_cell(values[c]) for c in columns]


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
    rows: list[StoredRating]  # absolute ratings (scores on the four axes)
    malformed: list[int]  # line numbers of rows that were cut short or mangled
    answers: list[StoredRating] = field(default_factory=list)  # A/B and MUSHRA answers (``answer`` JSON)

    @property
    def everything(self) -> list[StoredRating]:
        """Every saved row, in file order: what a rater has done, whatever the design."""
        return sorted(self.rows + self.answers, key=lambda r: r.line)


def _encode(cells: Iterable[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(list(cells))
    return buf.getvalue()


HEADER_LINE = _encode(COLUMNS)
LEGACY_HEADER_LINE = _encode(LEGACY_COLUMNS)


def _columns_of(header_line: str) -> tuple[str, ...] | None:
    """The columns a ratings header stands for, or None when it is not ours."""
    line = header_line.rstrip("\r\n")
    return {HEADER_LINE.rstrip("\n"): COLUMNS, LEGACY_HEADER_LINE.rstrip("\n"): LEGACY_COLUMNS}.get(line)


class LegacyFileError(RatingsStoreError):
    """An A/B or MUSHRA answer for a ratings file started before those designs existed."""


@dataclass
class StoreStatus:
    """What the experimenter needs to know about the ratings file right now."""

    path: str
    unsaved: int  # ratings given but not on disk yet (kept in memory until a retry saves them)
    failures: int  # failed writes since the app started
    last_error: str
    last_error_utc: str


class RatingsStore:
    """Append-only CSV of ratings at ``path``; safe across threads and processes."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.torn_path = self.path.with_name(self.path.name + ".torn")
        # (session_id, clip_id) -> the row that failed to save; a retry replaces it, a save removes it
        self.unsaved: dict[tuple[str, str], RatingRow] = {}
        self.failures, self.last_error, self.last_error_utc = 0, "", ""
        self._mutex = threading.Lock()

    def _lock(self) -> FileLock:
        return FileLock(str(self.lock_path), timeout=LOCK_TIMEOUT_S)

    @contextmanager
    def _locked(self, unsaved_note: str = ""):
        """The cross-process lock; a lock file that cannot be created (read-only or full disk) is
        the same failure as the file itself, with the same message."""
        try:
            with self._lock():
                yield
        except Timeout:
            raise RatingsStoreError(f"{self.path}: locked by another process for over {LOCK_TIMEOUT_S:.0f} s"
                                    f"{unsaved_note}", "the ratings file is busy") from None
        except OSError as exc:
            raise RatingsStoreError(f"{self.path}: cannot write its lock file ({_reason(exc)}){unsaved_note}",
                                    f"the ratings file cannot be written: {_reason(exc)}") from None

    def _check_existing(self, f) -> tuple[tuple[str, ...], bool]:
        """Validate an existing file; returns its columns and whether it ends with a newline."""
        f.seek(0)
        first = f.readline()
        try:
            header = first.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise RatingsStoreError(f"{self.path}: not a UTF-8 text file; it was left untouched. Move it aside or "
                                    "set MMMOS_RATINGS_PATH to a new file.") from None
        columns = _columns_of(header)
        if columns is None:
            shown = header.strip()[:80]
            raise RatingsStoreError(
                f"{self.path}: its first line {shown!r} is not the MMMOS ratings header; the file was left "
                "untouched. Move it aside or set MMMOS_RATINGS_PATH to a new file.")
        f.seek(-1, os.SEEK_END)
        return columns, f.read(1) == b"\n"

    def _refuse_legacy(self, design: str, note: str = "") -> None:
        raise LegacyFileError(
            f"{self.path}: this ratings file was started before A/B and MUSHRA tests (its header has no 'design' "
            f"and 'answer' columns), so it cannot hold {design} answers; it was left untouched{note}. Point "
            "MMMOS_RATINGS_PATH (or 'ratings_path' in the listening config) at a new file for this test; "
            "absolute ratings can go on being added to this one.",
            f"this ratings file cannot hold {design} answers; tell the experimenter")

    def check(self, design: str = ABSOLUTE) -> None:
        """Fail early (before a session starts) if the file exists but cannot be appended to, or
        cannot hold answers of ``design``."""
        with self._locked():
            if self.path.exists():
                try:
                    with open(self.path, "rb") as f:
                        if f.seek(0, os.SEEK_END) > 0:
                            columns, _ = self._check_existing(f)
                            if design != ABSOLUTE and columns is LEGACY_COLUMNS:
                                self._refuse_legacy(design)
                except OSError as exc:
                    raise RatingsStoreError(f"{self.path}: cannot read ({_reason(exc)})") from None
            self._check_writable()

    def _check_writable(self) -> None:
        target = self.path if self.path.exists() else self.path.parent
        if target.exists() and not os.access(target, os.W_OK):
            raise RatingsStoreError(f"{self.path}: not writable by this process")

    def append(self, row: RatingRow) -> None:
        self.append_many([row])

    def append_many(self, rows: list[RatingRow]) -> None:
        """Write ``rows`` durably, or raise `RatingsStoreError` and keep them in ``unsaved``.

        A row saved here replaces nothing and a row kept is replaced by the next attempt for the
        same (session, clip), so retrying never stores a rating twice."""
        try:
            self._write(rows)
        except RatingsStoreError as exc:
            with self._mutex:
                self.failures += 1
                self.last_error, self.last_error_utc = str(exc), utc_now()
                for r in rows:
                    self.unsaved[(r.session_id, r.clip_id)] = r
            for r in rows:  # the log is a second place the rating survives in, should the process die
                log.error("rating NOT saved (%s): %s", exc, json.dumps(dict(zip(COLUMNS, r.cells()))))
            raise
        with self._mutex:
            for r in rows:
                self.unsaved.pop((r.session_id, r.clip_id), None)

    def _write(self, rows: list[RatingRow]) -> None:
        note = "; the rating was NOT saved, please submit it again"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RatingsStoreError(f"{self.path}: cannot create its folder ({_reason(exc)}){note}",
                                    f"the ratings folder cannot be created: {_reason(exc)}") from None
        with self._locked(note):
            size = None
            try:
                with open(self.path, "r+b" if self.path.exists() else "x+b") as f:
                    size = f.seek(0, os.SEEK_END)
                    columns, whole = COLUMNS, True
                    if size > 0:
                        columns, whole = self._check_existing(f)
                    designs = sorted({r.design for r in rows if r.design != ABSOLUTE})
                    if designs and columns is LEGACY_COLUMNS:
                        size = None  # nothing written, nothing to cut back
                        self._refuse_legacy(designs[0], "; the answer was NOT saved")
                    # An old file keeps its own shape: its readers never meet a row longer than its header.
                    data = "".join(_encode(r.cells(columns)) for r in rows).encode("utf-8")
                    if size == 0:
                        data = HEADER_LINE.encode("utf-8") + data
                    elif not whole:
                        size = self._set_aside_torn_row(f)
                    f.seek(size)
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                # A full disk can leave part of the row behind: cut back to where we started so the
                # file holds whole rows only (the retry writes the row again).
                self._cut_back(size)
                raise RatingsStoreError(f"{self.path}: cannot write ({_reason(exc)}){note}",
                                        f"the ratings file cannot be written: {_reason(exc)}") from None

    def _set_aside_torn_row(self, f) -> int:
        """Move the bytes after the last newline (a row a crash cut short, never acknowledged) to
        ``<file>.torn`` and cut them off; returns the new size. Comments never hold raw newlines
        (`safe_cell`), so the last newline always ends a whole row."""
        f.seek(0)
        raw = f.read()
        keep = raw.rfind(b"\n") + 1
        with open(self.torn_path, "ab") as torn:
            torn.write(raw[keep:] + b"\n")
            torn.flush()
            os.fsync(torn.fileno())
        f.truncate(keep)
        log.warning("%s: a row cut short by a crash was moved to %s", self.path, self.torn_path)
        return keep

    def _cut_back(self, size: int | None) -> None:
        if size is None:
            return
        try:
            with open(self.path, "r+b") as f:
                if f.seek(0, os.SEEK_END) > size:
                    f.truncate(size)
        except OSError:
            pass  # the next append sets any torn tail aside

    def status(self) -> StoreStatus:
        with self._mutex:
            return StoreStatus(str(self.path), len(self.unsaved), self.failures, self.last_error,
                               self.last_error_utc)

    def read(self) -> ReadResult:
        if not self.path.exists():
            return ReadResult([], [])
        with self._locked():
            try:
                raw = self.path.read_bytes()
            except OSError as exc:
                raise RatingsStoreError(f"{self.path}: cannot read ({_reason(exc)})") from None
        return parse_ratings_csv(raw, str(self.path))

    def rated_clips(self, rater_id: str, playlist: str) -> set[str]:
        """Clip ids (trial ids, for A/B and MUSHRA) this rater has saved in this playlist."""
        return {r["clip_id"] for r in self.read().everything
                if r["rater_id"] == rater_id and r["playlist"] == playlist}

    def last_saved(self, rater_id: str, playlist: str) -> StoredRating | None:
        """The rater's latest row: after a crash it may be one the app saved but never confirmed,
        so a resuming rater is told which it was rather than finding a clip silently skipped."""
        mine = [r for r in self.read().everything if r["rater_id"] == rater_id and r["playlist"] == playlist]
        return mine[-1] if mine else None



def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def parse_ratings_csv(raw: bytes, source: str, max_cell_chars: int = DEFAULT_MAX_CELL_CHARS) -> ReadResult:
    """Rows of a ratings CSV (ours, either header); rows that are cut short or not numeric are listed,
    not fatal. Absolute ratings go to ``rows``, A/B and MUSHRA answers to ``answers``.
    A row over ``max_cell_chars`` (an uploaded file built to exhaust memory or a spreadsheet)
    refuses the file with its line number."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RatingsStoreError(f"{source}: not a UTF-8 text file") from None
    lines = text.split("\n")
    columns = _columns_of(lines[0]) if lines else None
    if columns is None:
        raise RatingsStoreError(f"{source}: first line is not the MMMOS ratings header "
                                f"({', '.join(COLUMNS[:6])}, ...)")
    rows, malformed, answers = [], [], []
    last = len(lines)  # text.split leaves "" after a final newline; anything else there was cut short
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        if number == last:
            malformed.append(number)
            continue
        if len(line) > max_cell_chars:  # before csv, whose own field limit would only skip the row
            raise RatingsStoreError(f"{source}, line {number}: a row of {len(line):,} characters, over the limit "
                                    f"of {max_cell_chars:,}; the file was not read")
        try:
            cells = next(csv.reader([line], strict=True))
        except csv.Error:
            malformed.append(number)
            continue
        if len(cells) != len(columns):
            malformed.append(number)
            continue

        values = {c: restore_cell(v) for c, v in zip(columns, cells)}
        values.setdefault("answer", "")
        values["design"] = values.get("design") or ABSOLUTE
        if values["design"] != ABSOLUTE:
            if not values["answer"]:
                malformed.append(number)
            else:
                answers.append(StoredRating(number, values, {}))
            continue
        try:
            scores = {a: float(values[a]) for a in AXES}
        except ValueError:
            malformed.append(number)
            continue
        rows.append(StoredRating(number, values, scores))
    return ReadResult(rows, malformed, answers)


def is_ratings_csv(raw_head: bytes) -> bool:
    try:
        first = raw_head.decode("utf-8-sig", errors="strict").split("\n", 1)[0]
    except UnicodeDecodeError:
        return False
    return _columns_of(first) is not None
