"""Tables on disk: one reader and one writer for every list of records the project handles.

Input lists, label manifests, prediction files, playlists and ratings all arrive as
JSONL, a JSON array, CSV or TSV; every output table (CLI predictions, app downloads,
study exports) leaves as JSONL or CSV. Reading and writing them in one place keeps the
accepted formats and the error messages the same everywhere, and makes every CSV cell
safe to open in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .errors import ManifestError

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv", ".tsv")
# Leading characters that make Excel, LibreOffice or Sheets treat a cell as a formula.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
# A table read whole into memory; bigger files are refused before reading (an upload of
# 100 MB is not a manifest anybody meant).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_CELL_CHARS = 100_000


class TableError(ManifestError):
    """A table file cannot be read; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class Record:
    """One row of a table: its fields and the line it starts on (for messages)."""

    line: int
    fields: dict[str, Any]


def safe_cell(value: object) -> str:
    """Text safe to open in a spreadsheet: no formula, no line breaks (one row stays one line).
    A leading quote is quoted too, so `restore_cell` gives back exactly what was written."""
    text = "" if value is None else str(value)
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\x00", "")
    if text.startswith(FORMULA_LEADS) or text[:1] == "'":
        text = "'" + text
    return text


def restore_cell(text: str) -> str:
    """Undo `safe_cell`'s defusing quote, so ids and paths compare equal to what was typed."""
    return text[1:] if text[:1] == "'" else text


def table_format(path: str | os.PathLike, first_line: str = "") -> str:
    """``jsonl``, ``json`` (an array), ``csv`` or ``tsv``: by extension, else by the first line."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json" if first_line.lstrip().startswith("[") else "jsonl"
    if suffix in CSV_SUFFIXES:
        return suffix[1:]
    stripped = first_line.lstrip()
    if stripped.startswith("["):
        return "json"
    if stripped.startswith("{"):
        return "jsonl"
    return "tsv" if "\t" in first_line and "," not in first_line else "csv"


def _read_text(src: Path, what: str, max_bytes: int) -> str:
    try:
        size = src.stat().st_size
    except FileNotFoundError:
        raise TableError(f"{src}: {what} not found") from None
    except OSError as exc:
        raise TableError(f"{src}: cannot read {what} ({exc.strerror or exc})") from None
    if src.is_dir():
        raise TableError(f"{src}: is a folder, expected a {what} file")
    if size > max_bytes:
        raise TableError(f"{src}: {what} is {size / 2**20:.0f} MB, over the {max_bytes / 2**20:.0f} MB limit")
    try:
        with open(src, encoding="utf-8-sig", newline="") as f:
            return f.read()
    except UnicodeDecodeError:
        raise TableError(f"{src}: not UTF-8 text; is it a {what}?") from None
    except OSError as exc:
        raise TableError(f"{src}: cannot read {what} ({exc.strerror or exc})") from None


def _json_records(src: Path, text: str, fmt: str) -> list[Record]:
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TableError(f"{src}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(data, list):
            raise TableError(f"{src}: expected a JSON array of objects")
        bad = next((k for k, obj in enumerate(data) if not isinstance(obj, dict)), None)
        if bad is not None:
            raise TableError(f"{src}: item {bad + 1} of the array is not an object")
        return [Record(k + 1, obj) for k, obj in enumerate(data)]
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TableError(f"{src}, line {n}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise TableError(f"{src}, line {n}: expected a JSON object like {{\"path\": ...}}, "
                             f"got {type(obj).__name__}")
        out.append(Record(n, obj))
    return out


def _csv_records(src: Path, text: str, delimiter: str, max_cell_chars: int) -> list[Record]:
    # strict: a row torn inside a quoted cell (a crash mid-write) is an error with its line,
    # never a row silently glued to the next one.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise TableError(f"{src}: empty table (no header line)")
        names = [h.strip() for h in header]
        out, start = [], reader.line_num + 1
        for cells in reader:
            if any(len(c) > max_cell_chars for c in cells):
                raise TableError(f"{src}, line {start}: a cell is longer than {max_cell_chars} characters")
            if any(c.strip() for c in cells):
                if len(cells) > len(names):
                    raise TableError(f"{src}, line {start}: {len(cells)} cells but the header has {len(names)}")
                out.append(Record(start, dict(zip(names, cells))))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise TableError(f"{src}, line {reader.line_num}: not valid CSV ({exc})") from None
    return out


def read_records(path: str | os.PathLike, *, what: str = "table", max_bytes: int = DEFAULT_MAX_BYTES,
                 max_cell_chars: int = DEFAULT_MAX_CELL_CHARS, restore: bool = False) -> list[Record]:
    """The records of a JSONL, JSON-array, CSV or TSV file, in file order, each with its line.

    The format comes from the extension (``.jsonl``/``.ndjson``/``.json``, ``.csv``, ``.tsv``)
    or, for any other name, from the first line. CSV cells stay strings (blank lines are
    skipped); ``restore`` undoes `safe_cell` on them, for files this project wrote. Any
    problem raises `TableError` naming the file, the line and what is wrong; ``what`` names
    the kind of file in those messages (``"input list"``, ``"playlist"``).
    """
    src = Path(path)
    text = _read_text(src, what, max_bytes)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    fmt = table_format(src, first)
    if fmt in ("json", "jsonl"):
        return _json_records(src, text, fmt)
    records = _csv_records(src, text, "\t" if fmt == "tsv" else ",", max_cell_chars)
    if restore:
        records = [Record(r.line, {k: restore_cell(v) if isinstance(v, str) else v for k, v in r.fields.items()})
                   for r in records]
    return records


def read_rows(path: str | os.PathLike, *, what: str, required: Sequence[str] = ()) -> list[tuple[str, dict[str, str]]]:
    """Rows as stripped text, each with where it is (``"file, line n"``) for messages; a row
    missing a ``required`` field is an error naming the file, the line and the fields."""
    src = Path(path)
    out = []
    for rec in read_records(src, what=what):
        where = f"{src.name}, line {rec.line}"
        fields = {str(k): ("" if v is None else str(v).strip()) for k, v in rec.fields.items()}
        missing = [k for k in required if not fields.get(k)]
        if missing:
            raise TableError(f"{where}: missing {', '.join(missing)}")
        out.append((where, fields))
    return out


def flat_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as one table row: lists joined with ``;``, nested objects as ``key:field``."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Mapping):
            row.update((f"{key}:{k}", v) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            row[key] = ";".join(str(v) for v in value)
        else:
            row[key] = value
    return row


def columns_of(rows: Iterable[Mapping[str, Any]], first: Sequence[str] = ()) -> list[str]:
    """``first``, then every other key in order of appearance."""
    columns = list(first)
    seen = set(columns)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    return columns


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, delimiter: str = ",") -> str:
    """Rows as CSV text, every text cell made safe by `safe_cell`; numbers stay numbers."""
    rows = [flat_row(r) for r in rows]
    columns = list(columns) if columns is not None else columns_of(rows)

    def cell(value: Any) -> Any:
        return value if value is None or isinstance(value, (int, float)) and not isinstance(value, bool) \
            else safe_cell(value)

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow([safe_cell(c) for c in columns])  # column names come from user data too (member names)
    writer.writerows([cell(row.get(c)) for c in columns] for row in rows)
    return buf.getvalue()


def jsonl_text(records: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in records)


def write_records(path: str | os.PathLike, records: Sequence[Mapping[str, Any]],
                  columns: Sequence[str] | None = None) -> Path:
    """Write records as JSONL (``.jsonl``/``.json``/anything else) or CSV/TSV (by extension),
    through a temporary file and a rename, so a reader never sees half a table."""
    dst = Path(path)
    fmt = table_format(dst) if dst.suffix.lower() in CSV_SUFFIXES else "jsonl"
    text = csv_text(records, columns, "\t" if fmt == "tsv" else ",") if fmt in ("csv", "tsv") else jsonl_text(records)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dst)
    return dst
