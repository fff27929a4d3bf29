"""Input lists: which clips (and which spans of them) a batch run scores.

Formats: JSONL as Audiobox Aesthetics reads it (one ``{"path": ...}`` object per line;
other keys are ignored), a JSON array of such objects, CSV/TSV with a ``path`` column
(optional ``start_time``, ``end_time``), or plain text with one path per line (blank
lines and ``#`` comments skipped). JSON and CSV go through `mmmos_core.tables`, so their
errors read like every other table's.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from mmmos_core.errors import ManifestError
from mmmos_core.tables import TableError, read_records, table_format


def _time_field(value: Any, where: str, field: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ManifestError(f"{where}: {field} {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds):
        raise ManifestError(f"{where}: {field} {value!r} is not a finite number of seconds")
    return seconds


def _item(path: Any, start: Any, end: Any, where: str) -> dict[str, Any]:
    if not isinstance(path, str) or not path.strip():
        raise ManifestError(f"{where}: missing or empty 'path'")
    item: dict[str, Any] = {"path": path.strip()}
    start_time = _time_field(start, where, "start_time")
    end_time = _time_field(end, where, "end_time")
    if start_time is not None:
        item["start_time"] = start_time
    if end_time is not None:
        item["end_time"] = end_time
    return item



def _is_text_list(src: Path, first_line: str) -> bool:
    """Plain text (one path per line) unless the name or the first line says JSON or a table."""
    if src.suffix.lower() in (".jsonl", ".ndjson", ".json", ".csv", ".tsv"):
        return False
    stripped = first_line.lstrip()
    if stripped.startswith(("{", "[")):
        return False
    return "path" not in [h.strip().lower() for h in first_line.replace("\t", ",").split(",")]


def read_input_list(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Items ``{"path", "start_time"?, "end_time"?}`` from an input list, in file order.

    Paths are kept as written; relative ones are relative to the working directory, as in
    Audiobox. A malformed line raises `ManifestError` naming file and line.
    """
    src = Path(path)
    try:
        with open(src, encoding="utf-8-sig") as f:
            head = f.read(65536)
    except FileNotFoundError:
        raise ManifestError(f"{src}: input list not found") from None
    except IsADirectoryError:
        raise ManifestError(f"{src}: is a folder; give an input list file (JSONL, CSV or one path per line)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{src}: cannot read input list ({exc})") from None
    first = next((ln for ln in head.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    items: list[dict[str, Any]] = []
    if _is_text_list(src, first):
        lines = src.read_text(encoding="utf-8-sig").splitlines()
        for n, line in enumerate(lines, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                items.append(_item(line, None, None, f"{src}, line {n}"))
    else:
        try:
            records = read_records(src, what="input list")
        except TableError as exc:
            raise ManifestError(str(exc)) from None
        if table_format(src, first) in ("csv", "tsv") and records:
            names = {k.strip().lower(): k for k in records[0].fields}
            if "path" not in names:
                raise ManifestError(f"{src}: CSV input needs a 'path' column (found {list(records[0].fields)})")
        for rec in records:
            fields = {k.strip().lower() if isinstance(k, str) else k: v for k, v in rec.fields.items()}
            items.append(_item(fields.get("path"), fields.get("start_time"), fields.get("end_time"),
                               f"{src}, line {rec.line}"))
    if not items:
        raise ManifestError(f"{src}: the input list has no inputs")
    return items


def item_key(item: dict[str, Any]) -> str:
    """Identity of an input across runs: path plus the span (1 and 1.0 are the same span)."""
    def t(v: Any) -> float | None:
        return None if v is None else float(v)
    return json.dumps([str(item["path"]), t(item.get("start_time")), t(item.get("end_time"))])

