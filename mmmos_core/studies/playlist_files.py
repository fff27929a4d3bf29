"""Playlists as files: a folder of audio, a CSV/JSONL manifest of clips, or a JSON playlist that
names its design (absolute, A/B or MUSHRA; studies.trials).

Clips must lie in the playlist's own folder or a root the experimenter allows: a playlist
must not serve the server's other files to raters. Errors name the playlist file and the
line, never the server's folders (raters see them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from mmmos_core.axes import AXES, SCALE_MAX, SCALE_MIN
from mmmos_core.errors import ManifestError
from mmmos_core.paths import EXAMPLES_DIR
from mmmos_core.tables import CSV_SUFFIXES, JSON_SUFFIXES, read_records

from .ratings import ABSOLUTE
from .trials import DesignOptions, Trial, parse_design

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a", ".aiff", ".aif")
TRUE_WORDS = {"1", "true", "yes", "y", "gold", "attention"}


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
    """``clips``: every audio file; for an A/B or MUSHRA playlist (``options``) the unit a rater
    answers is a trial (``trials``), which plays several of them."""

    name: str
    clips: list[Clip]
    source: str
    options: DesignOptions | None = None
    trials: list[Trial] = field(default_factory=list)

    @property
    def design(self) -> str:
        return self.options.design if self.options else ABSOLUTE

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


def playlist_from_manifest(path: Path, name: str, roots: Iterable[str | Path] = (),
                           records: list[tuple[int, dict[str, Any]]] | None = None) -> Playlist:
    """CSV or JSONL: a clip path (``path``/``data_path``/``audio``), optional ``id``,
    ``system``, ``gold`` and expected ranges (``expected_PQ: "1-3"``, or in JSONL
    ``expected: {"PQ": [1, 3]}``). Relative clip paths are relative to the manifest. Clips
    must lie in the manifest's folder or one of the experimenter's ``roots``."""
    clips, missing = [], []
    allowed = _allowed(path.parent, roots)
    for n, rec in _manifest_records(path) if records is None else records:
        where = f"{path.name}, line {n}" if records is None else f"{path.name}, clip {n}"
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


def playlist_from_json(path: Path, name: str, roots: Iterable[str | Path] = ()) -> Playlist | None:
    """A JSON object with a ``design`` (absolute with ``clips``, or A/B / MUSHRA with ``items``,
    studies.trials); None for any other JSON, which is read as a list of clips."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, OSError):
        return None
    if not isinstance(spec, dict) or "design" not in spec:
        return None
    if str(spec["design"]).strip().lower() == ABSOLUTE:
        if not isinstance(spec.get("clips"), list):
            raise ManifestError(f"{path.name}: an absolute playlist needs a list of 'clips'")
        return playlist_from_manifest(path, name, roots, list(enumerate(spec["clips"], 1)))
    allowed = _allowed(path.parent, roots)

    def resolve(raw: str, where: str) -> str:
        clip = Path(raw).expanduser()
        clip = clip if clip.is_absolute() else (path.parent / clip).resolve()
        if not clip.is_file():
            raise ManifestError(f"{where}: clip file not found: {raw}")
        if not _confined(clip, allowed):
            raise ManifestError(f"{where}: the clip path points outside the playlist's folder; {ROOTS_HINT}")
        return str(clip)

    options, trials = parse_design(spec, path, resolve)
    clips = {}
    for t in trials:
        for v in t.versions + ([t.reference] if t.reference else []):
            clips.setdefault(f"{t.item}/{v.system}", Clip(f"{t.item}/{v.system}", v.path, v.system))
    return Playlist(name, list(clips.values()), str(path), options, trials)


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
            playlist = (playlist_from_json(path, name or path.stem, roots) if path.suffix.lower() == ".json"
                        else None) or playlist_from_manifest(path, name or path.stem, roots)
        else:
            raise ManifestError(f"{path.name}: playlist folder or manifest not found")
    if not playlist.clips:
        raise ManifestError(f"{Path(playlist.source).name}: the playlist has no audio clips")
    return playlist
