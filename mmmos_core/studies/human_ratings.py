"""Human ratings from any supported file, narrowed by playlist, rater and system.

Human ratings come from
- this app's ratings CSV (one row per rating, real rater ids, gold items flagged),
- the Audiobox multi-rater JSONL (10 ratings per axis per clip, no rater ids: rating
  position i is treated as pseudo-rater i, which mixes real people, so per-"rater"
  numbers are for orientation only),
- any label manifest `mmmos_core.labels.read_labels` reads (means only: no rater
  statistics).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

from mmmos_core.axes import AXES
from mmmos_core.errors import ManifestError
from mmmos_core.labels import TRACK2_SYSTEM_REGEX, read_labels
from mmmos_core.tables import DEFAULT_MAX_BYTES

from .agreement import RatingTable
from .quality import RatingEvent
from .ratings import is_ratings_csv, parse_ratings_csv

PSEUDO_RATER_NOTE = ("This file has no rater ids: rating position i of each clip is treated as pseudo-rater i. "
                     "A position mixes different people across clips, so per-rater numbers and screening are "
                     "for orientation only; Krippendorff's alpha does not depend on the labelling.")


@dataclass
class HumanItem:
    id: str
    path: str | None = None
    system: str | None = None
    playlist: str | None = None


@dataclass(frozen=True)
class StudyFilter:
    """Which ratings Compare looks at; an empty tuple means all. Kept in the report's settings."""

    playlists: tuple[str, ...] = ()
    raters: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()

    @classmethod
    def parse(cls, playlists: Iterable[str] | str = (), raters: Iterable[str] | str = (),
              systems: Iterable[str] | str = ()) -> "StudyFilter":
        def clean(v: Iterable[str] | str) -> tuple[str, ...]:
            items = v.split(",") if isinstance(v, str) else v
            return tuple(dict.fromkeys(s.strip() for s in items if s and s.strip()))
        return cls(clean(playlists), clean(raters), clean(systems))

    def keeps(self, playlist: str | None, rater: str, system: str | None) -> bool:
        return ((not self.playlists or (playlist or "") in self.playlists)
                and (not self.raters or rater in self.raters)
                and (not self.systems or (system or "") in self.systems))

    def describe(self) -> str:
        parts = [f"{name}: {', '.join(values)}" for name, values in
                 (("playlists", self.playlists), ("raters", self.raters), ("systems", self.systems)) if values]
        return "; ".join(parts) or "all ratings"

    def to_json(self) -> dict[str, list[str]]:
        return {"playlists": list(self.playlists), "raters": list(self.raters), "systems": list(self.systems)}


@dataclass
class HumanRatings:
    table: RatingTable  # gold/attention items excluded: they test raters, not the model
    items: dict[str, HumanItem]
    source: str
    kind: str  # "app" | "multi-rater" | "means"
    notes: list[str] = field(default_factory=list)
    gold: dict[str, tuple[int, int]] = field(default_factory=dict)  # rater -> (gold rated, gold failed)
    events: list[RatingEvent] = field(default_factory=list)  # every non-gold rating, for quality checks
    available: dict[str, list[str]] = field(default_factory=dict)  # playlists/raters/systems before filtering
    filter: StudyFilter = field(default_factory=StudyFilter)

    @property
    def has_raters(self) -> bool:
        return self.kind != "means" and len(self.table.raters) >= 2


def detect_system(item_id: str, path: str | None) -> str | None:
    """System ids the public files encode: track-2 ids, and the generator folder of PAM clips."""
    if item_id.startswith("audiomos2025-track2-sys"):
        m = re.search(TRACK2_SYSTEM_REGEX, item_id)
        if m:
            return m.group(1)
    for text in (item_id, path or ""):
        if "/PAM/" in text:
            return PurePosixPath(text).parent.name
    return None


def _available(rows: Iterable[tuple[str | None, str, str | None]]) -> dict[str, list[str]]:
    rows = list(rows)
    return {"playlists": sorted({p for p, _, _ in rows if p}), "raters": sorted({r for _, r, _ in rows}),
            "systems": sorted({s for _, _, s in rows if s})}


def _from_app_csv(raw: bytes, source: str, clip_path: Callable[[str, str], str | None] | None,
                  keep: StudyFilter) -> HumanRatings:
    parsed = parse_ratings_csv(raw, source)
    if not parsed.rows and parsed.answers:
        raise ManifestError(f"{source}: no absolute ratings, only A/B or MUSHRA answers: analyse them under "
                            "'A/B preference and MUSHRA-style results'")
    if not parsed.rows:
        raise ManifestError(f"{source}: no ratings yet")
    available = _available((r["playlist"], r["rater_id"], r["system_id"] or None) for r in parsed.rows)
    rows = [r for r in parsed.rows if keep.keeps(r["playlist"], r["rater_id"], r["system_id"] or None)]
    if not rows:
        raise ManifestError(f"{source}: no ratings match the filter ({keep.describe()})")
    playlists = {r["playlist"] for r in rows}
    records, items, gold, events = [], {}, {}, []
    for r in rows:
        item = r["clip_id"] if len(playlists) == 1 else f"{r['playlist']}/{r['clip_id']}"
        if r["gold"] == "1":
            n, failed = gold.get(r["rater_id"], (0, 0))
            gold[r["rater_id"]] = (n + 1, failed + (r["gold_pass"] == "0"))
            continue
        records.append((r["rater_id"], item, r.scores))
        if item not in items:
            path = clip_path(r["playlist"], r["clip_id"]) if clip_path else None
            items[item] = HumanItem(item, path, r["system_id"] or None, r["playlist"])
        try:
            spent = float(r["seconds_spent"])
        except ValueError:
            spent = None
        events.append(RatingEvent(r["rater_id"], item, dict(r.scores), spent, r["timestamp_utc"]))
    notes = []
    if parsed.malformed:
        shown = ", ".join(map(str, parsed.malformed[:5])) + (", ..." if len(parsed.malformed) > 5 else "")
        notes.append(f"{len(parsed.malformed)} malformed row(s) skipped (lines {shown}), e.g. a rating cut short "
                     "by a crash.")
    n_gold = sum(n for n, _ in gold.values())
    if n_gold:
        notes.append(f"{n_gold} gold/attention rating(s) are used to screen raters and left out of the statistics.")
    if not records:
        raise ManifestError(f"{source}: only gold/attention ratings, nothing to analyse")
    return HumanRatings(RatingTable.from_long(records), items, source, "app", notes, gold, events, available, keep)


def _from_labels(path: Path, audio_root: str | None, keep: StudyFilter) -> HumanRatings:
    labels = read_labels(path, root=audio_root)
    records, items, notes, seen = [], {}, list(labels.notes), []
    multi = all(row.ratings for row in labels.rows)
    short = 0
    for row in labels.rows:
        system = row.system or detect_system(row.id, row.path)
        if multi:
            n = min(len(row.ratings[a]) for a in AXES)
            short += any(len(row.ratings[a]) != n for a in AXES)
            raters = [(f"pos{i + 1:02d}", {a: row.ratings[a][i] for a in AXES}) for i in range(n)]
        else:
            raters = [("mean", row.labels)]
        for rater, scores in raters:
            seen.append((None, rater, system))
            if keep.keeps(None, rater, system):
                records.append((rater, row.id, scores))
                items.setdefault(row.id, HumanItem(row.id, row.path, system))
    if not records:
        raise ManifestError(f"{path}: no ratings match the filter ({keep.describe()})")
    if multi:
        notes.insert(0, PSEUDO_RATER_NOTE)
        if short:
            notes.append(f"{short} clip(s) have a different number of ratings per axis; the extra ones are ignored.")
    else:
        notes.insert(0, "This file holds mean ratings only: no rater statistics.")
    return HumanRatings(RatingTable.from_long(records), items, str(path), "multi-rater" if multi else "means", notes,
                        available=_available(seen), filter=keep)


def load_human_ratings(path: str | Path, *, audio_root: str | None = None,
                       clip_path: Callable[[str, str], str | None] | None = None,
                       max_items: int | None = None, keep: StudyFilter | None = None,
                       max_bytes: int = DEFAULT_MAX_BYTES) -> HumanRatings:
    """Read any supported human-ratings file; ``keep`` narrows it (playlist, rater, system),
    ``max_items`` keeps the first n clips (quick looks). A file over ``max_bytes`` is refused
    before it is read: it is read whole, and nobody meant to upload a 100 MB table."""
    path = Path(path)
    keep = keep or StudyFilter()
    if not path.is_file():
        raise ManifestError(f"{path}: file not found")
    size = path.stat().st_size
    if size > max_bytes:
        raise ManifestError(f"{path}: {size / 2**20:.0f} MB is over the {max_bytes / 2**20:.0f} MB limit for a "
                            "ratings file; split it or filter it first")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if is_ratings_csv(raw[:4096]):
        human = _from_app_csv(raw, str(path), clip_path, keep)
    else:
        human = _from_labels(path, audio_root, keep)
    if keep != StudyFilter():
        human.notes.insert(0, f"Filtered to {keep.describe()}.")
    if max_items is not None and len(human.table.items) > max_items:
        kept = human.table.items[:max_items]
        human.table = human.table.subset(items=kept)
        human.items = {k: human.items[k] for k in kept}
        human.events = [e for e in human.events if e.item in human.items]
        human.notes.append(f"Only the first {max_items} clips are analysed.")
    return human
