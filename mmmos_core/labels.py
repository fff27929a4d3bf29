"""Reading clip lists with labels or predictions, in the formats people already have.

Label manifests
- challenge CSV: ``sample_id,data_path,Production_Quality,...`` (or ``PQ,PC,CE,CU`` columns);
- Audiobox multi-rater JSONL: ``data_path`` plus a list of individual ratings per axis,
  averaged here (0.0 ratings occur in the public files; they are kept and counted);
- our JSONL: ``path`` plus the four axes.
Prediction files are `mmmos predict` output (JSONL or CSV) or any CSV/JSONL with an
id column and the four axes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Sequence

from .axes import AXES
from .errors import ManifestError
from .tables import CSV_SUFFIXES, JSON_SUFFIXES, read_records

LONG_NAMES = {"Production_Quality": "PQ", "Production_Complexity": "PC",
              "Content_Enjoyment": "CE", "Content_Usefulness": "CU"}
ID_COLUMNS = ("sample_id", "data_path", "path")
# Prefix the public manifests put before paths the user must point at their own audio.
PLACEHOLDER_PREFIX = "/your_path/"
TRACK2_SYSTEM_REGEX = r"^[^-]+-[^-]+-([^-]+)-"


@dataclass
class LabelRow:
    id: str
    path: str | None
    labels: dict[str, float]
    ratings: dict[str, list[float]] | None = None  # individual ratings, when the file has them
    system: str | None = None


@dataclass
class LabelSet:
    rows: list[LabelRow]
    source: str
    zero_ratings: int = 0  # ratings of 0.0 on the 1-10 scale: kept, reported
    notes: list[str] = field(default_factory=list)


def _axis_key(key: str) -> str | None:
    if key in AXES:
        return key
    return LONG_NAMES.get(key)


def _records(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() not in JSON_SUFFIXES + CSV_SUFFIXES:
        raise ManifestError(f"{path}: unknown manifest type {path.suffix!r} (use .csv, .tsv, .jsonl or .json)")
    for record in read_records(path, what="manifest"):
        yield record.line, record.fields


def resolve_audio_path(raw: str, root: str | Path | None) -> str:
    """Map a manifest path onto the user's audio folder.

    ``/your_path/`` (the public manifests' placeholder) and relative paths are joined to
    ``root``; absolute paths are kept.
    """
    if root is None:
        return raw
    if raw.startswith(PLACEHOLDER_PREFIX):
        return str(Path(root) / raw[len(PLACEHOLDER_PREFIX):])
    if not Path(raw).is_absolute():
        return str(Path(root) / raw)
    return raw


def system_from_id(item_id: str, regex: str) -> str | None:
    m = re.search(regex, item_id)
    return m.group(1) if m else None


def read_labels(path: str | Path, root: str | Path | None = None, system_column: str | None = None,
                system_regex: str | None = None) -> LabelSet:
    path = Path(path)
    rows: list[LabelRow] = []
    zeros = 0
    for n, rec in _records(path):
        item_id = next((str(rec[c]) for c in ID_COLUMNS if rec.get(c) not in (None, "")), None)
        if item_id is None:
            raise ManifestError(f"{path}, line {n}: no id column (one of {', '.join(ID_COLUMNS)})")
        raw_path = rec.get("data_path") or rec.get("path")
        labels, ratings = {}, {}
        for key, value in rec.items():
            axis = _axis_key(key)
            if axis is None or value in (None, ""):
                continue
            try:
                if isinstance(value, list):
                    values = [float(v) for v in value]
                    if not values:
                        raise ValueError("empty list")
                    zeros += sum(1 for v in values if v == 0.0)
                    ratings[axis] = values
                    labels[axis] = sum(values) / len(values)
                else:
                    labels[axis] = float(value)
            except (TypeError, ValueError):
                raise ManifestError(f"{path}, line {n}: {key} value {value!r} is not a number") from None
        missing = [a for a in AXES if a not in labels]
        if missing:
            raise ManifestError(f"{path}, line {n}: missing axes {', '.join(missing)}")
        system = None
        if system_column:
            if system_column not in rec:
                raise ManifestError(f"{path}, line {n}: no column {system_column!r}")
            system = str(rec[system_column])
        elif system_regex:
            system = system_from_id(item_id, system_regex)
        rows.append(LabelRow(item_id, resolve_audio_path(str(raw_path), root) if raw_path else None,
                             labels, ratings or None, system))
    if not rows:
        raise ManifestError(f"{path}: no rows")
    result = LabelSet(rows, str(path), zeros)
    if zeros:
        result.notes.append(f"{path}: {zeros} individual ratings of 0.0 (outside 1-10) kept in the means")
    return result


@dataclass
class PredictionRow:
    id: str
    scores: dict[str, float]
    system: str | None = None


def read_predictions(path: str | Path) -> list[PredictionRow]:
    path = Path(path)
    out = []
    for n, rec in _records(path):
        if rec.get("error"):
            continue  # an input that failed to score has nothing to compare
        item_id = next((str(rec[c]) for c in ID_COLUMNS if rec.get(c) not in (None, "")), None)
        if item_id is None:
            raise ManifestError(f"{path}, line {n}: no id column (one of {', '.join(ID_COLUMNS)})")
        try:
            scores = {a: float(rec[a]) for a in AXES}
        except KeyError as exc:
            raise ManifestError(f"{path}, line {n}: missing axis {exc.args[0]}") from None
        except (TypeError, ValueError):
            raise ManifestError(f"{path}, line {n}: an axis value is not a number") from None
        out.append(PredictionRow(item_id, scores, rec.get("system")))
    return out


def fallback_key(item_id: str) -> str:
    """File name without folder and extension: how ids match across differently rooted lists."""
    name = PurePosixPath(item_id.replace("\\", "/")).name
    return name.rsplit(".", 1)[0] if "." in name else name


@dataclass
class Joined:
    ids: list[str]
    pred: dict[str, list[float]]
    gold: dict[str, list[float]]
    systems: list[str | None]
    unmatched_predictions: list[str]
    unmatched_labels: list[str]


def join(predictions: Sequence[PredictionRow], labels: Sequence[LabelRow]) -> Joined:
    """Match on the exact id (or label path) first, then on the bare file name."""
    exact: dict[str, LabelRow] = {}
    by_name: dict[str, list[LabelRow]] = {}
    for row in labels:
        for key in {row.id, row.path} - {None}:
            exact[key] = row
            by_name.setdefault(fallback_key(key), []).append(row)
    ids, systems, used = [], [], set()
    pred = {a: [] for a in AXES}
    gold = {a: [] for a in AXES}
    unmatched = []
    for p in predictions:
        row = exact.get(p.id)
        if row is None:
            candidates = {id(r): r for r in by_name.get(fallback_key(p.id), [])}
            row = next(iter(candidates.values())) if len(candidates) == 1 else None
        if row is None or id(row) in used:
            unmatched.append(p.id)
            continue
        used.add(id(row))
        ids.append(row.id)
        systems.append(row.system or p.system)
        for a in AXES:
            pred[a].append(p.scores[a])
            gold[a].append(row.labels[a])
    unmatched_labels = [r.id for r in labels if id(r) not in used]
    return Joined(ids, pred, gold, systems, unmatched, unmatched_labels)
