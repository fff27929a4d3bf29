"""Output records: what one scored (or failed) input becomes, in JSONL and as a CSV row."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from mmmos_core.axes import AXES
from mmmos_core.errors import AudioInputError
from mmmos_core.model.results import error_record
from mmmos_core.tables import columns_of, read_records


def display_name(item: dict[str, Any]) -> str:
    """How records and messages name an input: its ``name`` if the caller gave one (an upload's
    original file name), else its path as written."""
    return str(item.get("name") or item["path"])


def result_record(item: dict[str, Any], result: Any) -> dict[str, Any]:
    """The output record of one input: a `Prediction`'s record or an error record, with the
    input's span so that a record names exactly what was scored (and can be resumed)."""
    name = display_name(item)
    body = error_record(name, str(result)) if isinstance(result, BaseException) else result.to_record()
    record: dict[str, Any] = {"path": name}
    for field in ("start_time", "end_time"):
        if item.get(field) is not None:
            record[field] = float(item[field])
    record.update((k, v) for k, v in body.items() if k != "path")
    return record


def load_request(item: dict[str, Any], base_dir: str | None = None) -> dict[str, Any]:
    """What `MMMOSModel.predict_many` gets for an item: the path made absolute against
    ``base_dir`` (a Ray worker's working directory is not the driver's), the name as written."""
    path = item["path"]
    request = {"path": os.path.join(base_dir, path) if base_dir and not os.path.isabs(path) else path,
               "name": display_name(item)}
    for field in ("start_time", "end_time"):
        if item.get(field) is not None:
            request[field] = item[field]
    return request


def score_items(model, items: list[dict[str, Any]], base_dir: str | None = None,
                chunk: int = 8) -> list[dict[str, Any]]:
    """Records for ``items``, in order. An unexpected exception (a bug, not bad input) fails
    only the clip that raised it: the batch is rescored one clip at a time."""
    requests = [load_request(it, base_dir) for it in items]
    try:
        return [result_record(it, r) for it, r in zip(items, model.predict_many(requests, chunk=chunk))]
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception:  # noqa: BLE001 - find the clip that raised; the others still get scores
        pass
    records = []
    for it, req in zip(items, requests):
        try:
            records.append(result_record(it, next(iter(model.predict_many([req], chunk=1)))))
        except (KeyboardInterrupt, SystemExit, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - reported in the record, the corpus goes on
            records.append(result_record(it, AudioInputError(display_name(it), f"internal error: "
                                                             f"{type(exc).__name__}: {exc}")))
    return records


# CSV output flattens a record with the names `mmmos predict` uses for a single run:
# ``{axis}_{std,min,max}`` for the spread and ``{member}:{axis}`` for each member. These
# columns come first, always, so CSVs of different shards line up; the rest follow.
# The optional reference block becomes ``reference:{model,PQ,...}`` columns, only in runs
# that asked for it, so the CSV of a plain run is unchanged. A model that routes by domain
# adds ``domain:{speech,music,sound}`` and ``{member}:weight``.
CSV_HEAD = ["path", "start_time", "end_time", *AXES, "model", "duration_s", "flags", "error"]
REFERENCE_PREFIX = "reference:"
_CSV_TEXT = {"path", "model", "model_note", "flags", "error", REFERENCE_PREFIX + "model"}


def flatten_record(record: dict[str, Any]) -> dict[str, Any]:
    """A JSONL record as one CSV row (idempotent: a row read back from CSV stays as it is)."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if key == "members" and isinstance(value, list):
            for m in value:
                row.update((f"{m['name']}:{a}", m.get(a)) for a in AXES)
                if "weight" in m:  # routed models: the member's share of this clip's score
                    row[f"{m['name']}:weight"] = m["weight"]
        elif key == "domain" and isinstance(value, dict):
            row.update((f"domain:{d}", p) for d, p in value.items())
        elif key == "spread" and isinstance(value, dict):
            for axis, stats in value.items():
                row.update((f"{axis}_{stat}", x) for stat, x in stats.items())
        elif key == "flags" and isinstance(value, list):
            row[key] = ";".join(value)
        elif key == "reference" and isinstance(value, dict):
            row.update((REFERENCE_PREFIX + k, x) for k, x in value.items())
        else:
            row[key] = value
    return row


def reference_model(record: dict[str, Any]) -> str | None:
    """The reference model whose scores a record carries (JSONL block or CSV columns), if any."""
    block = record.get("reference")
    if isinstance(block, dict):
        return block.get("model")
    return record.get(REFERENCE_PREFIX + "model")


def csv_columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    """`CSV_HEAD` first, always, so CSVs of different shards line up; then what the rows add."""
    return columns_of(rows, CSV_HEAD)


def record_from_row(row: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or value == "":
            continue
        if key in _CSV_TEXT:
            record[key] = value
            continue
        try:
            record[key] = float(value)
        except ValueError:
            record[key] = value
    return record



def read_output_records(output: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The records of a finished output file (JSONL or CSV by extension); unreadable JSON
    lines are skipped, so a file another tool appended to still resumes."""
    path = Path(output)
    if output_format(path) == "csv":
        for rec in read_records(path, what="output", restore=True):
            yield record_from_row(rec.fields)
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


def output_format(output: str | os.PathLike) -> str:
    return "csv" if str(output).lower().endswith(".csv") else "jsonl"
