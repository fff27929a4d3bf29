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
    members: dict[str, dict[str, float]] | None = None  # each ensemble member's scores, when the file has them


def _member_scores(rec: dict[str, Any]) -> dict[str, dict[str, float]] | None:
    """Members' scores from a `mmmos predict` record: the JSONL ``members`` list, or the CSV's
    ``{member}:{axis}`` columns. None when the file does not carry them."""
    out: dict[str, dict[str, float]] = {}
    if isinstance(rec.get("members"), list):
        for m in rec["members"]:
            if isinstance(m, dict) and "name" in m:
                out[str(m["name"])] = {a: float(m[a]) for a in AXES if m.get(a) not in (None, "")}
    else:
        for key, value in rec.items():
            name, _, axis = str(key).rpartition(":")
            if name and axis in AXES and value not in (None, "") and name != "reference":
                out.setdefault(name, {})[axis] = float(value)
    complete = {name: s for name, s in out.items() if len(s) == len(AXES)}
    return complete or None


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
        try:
            members = _member_scores(rec)
        except (TypeError, ValueError):
            raise ManifestError(f"{path}, line {n}: a member's score is not a number") from None
        out.append(PredictionRow(item_id, scores, rec.get("system"), members))
    return out


# --- The one rule that pairs predictions with labelled clips (`mmmos evaluate` and Compare) ---

def path_tails(text: str) -> list[tuple[str, ...]]:
    """Keys of an id or path, longest first: every tail of its folders plus the file name,
    each with and without the extension."""
    parts = tuple(p for p in PurePosixPath(text.replace("\\", "/")).parts if p not in ("/", ""))
    keys = []
    for k in range(len(parts), 0, -1):
        tail = parts[-k:]
        keys.append(tail)
        stem = tail[-1].rsplit(".", 1)[0]
        if stem and stem != tail[-1]:
            keys.append(tail[:-1] + (stem,))
    return keys


def match_ids(prediction_ids: Sequence[str], labels: Sequence[Iterable[str | None]]) -> list[int | None]:
    """For each prediction id, the index of the label it belongs to, or None.

    The rule: (1) the prediction id equals a label's id or path exactly; otherwise
    (2) the longest path tail (folders + file name, extension optional) that names
    exactly one label, so ``/your_path/EARS/p001/x.wav`` pairs with
    ``/home/me/EARS/p001/x.flac`` while two ``x.wav`` in different folders pair only by a
    tail long enough to tell them apart. A tail that names several labels pairs nothing.
    Each label pairs with one prediction at most: the first one in file order wins,
    later ones stay unmatched. ``labels[i]`` are the texts that name label i (id, path).
    """
    exact: dict[str, int] = {}
    index: dict[tuple[str, ...], set[int]] = {}
    for i, texts in enumerate(labels):
        for text in dict.fromkeys(t for t in texts if t):
            exact.setdefault(text, i)
            for key in path_tails(text):
                index.setdefault(key, set()).add(i)
    used: set[int] = set()
    out: list[int | None] = []
    for pid in prediction_ids:
        hit = exact.get(pid)
        if hit is None:
            for key in path_tails(pid):
                found = index.get(key, set())
                if found:
                    hit = next(iter(found)) if len(found) == 1 else None
                    break
        if hit is None or hit in used:
            out.append(None)
        else:
            used.add(hit)
            out.append(hit)
    return out


@dataclass
class Joined:
    ids: list[str]
    pred: dict[str, list[float]]
    gold: dict[str, list[float]]
    systems: list[str | None]
    unmatched_predictions: list[str]
    unmatched_labels: list[str]
    members: list[dict[str, dict[str, float]] | None] = field(default_factory=list)  # per matched id

    def member_predictions(self) -> tuple[list[str], list[list[list[float]]]] | None:
        """([member names], [member][clip][axis] scores) when every matched prediction carries the
        same members; None otherwise (a file without them, or mixed models)."""
        if not self.members or any(m is None for m in self.members):
            return None
        names = sorted(self.members[0])
        if any(sorted(m) != names for m in self.members):
            return None
        return names, [[[m[name][a] for a in AXES] for m in self.members] for name in names]


def join(predictions: Sequence[PredictionRow], labels: Sequence[LabelRow]) -> Joined:
    """Pair predictions with labels by `match_ids` (the rule Compare uses too)."""
    hits = match_ids([p.id for p in predictions], [(row.id, row.path) for row in labels])
    ids, systems, used, members = [], [], set(), []
    pred = {a: [] for a in AXES}
    gold = {a: [] for a in AXES}
    unmatched = []
    for p, hit in zip(predictions, hits):
        if hit is None:
            unmatched.append(p.id)
            continue
        row = labels[hit]
        used.add(hit)
        ids.append(row.id)
        systems.append(row.system or p.system)
        members.append(p.members)
        for a in AXES:
            pred[a].append(p.scores[a])
            gold[a].append(row.labels[a])
    unmatched_labels = [r.id for k, r in enumerate(labels) if k not in used]
    return Joined(ids, pred, gold, systems, unmatched, unmatched_labels, members)
