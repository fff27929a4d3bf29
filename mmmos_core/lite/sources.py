"""The real-audio corpus manifest: which recordings, from where, under what licence, and
which sources are held out.

The corpus itself is never committed (it is hundreds of MB); the manifest
``corpus_sources.json`` beside this module is. It lists every recording with the Debian
package (or shared file) it comes from, the path inside it, its licence, the checksums of
the source bytes and of the converted audio, its duration, domain, known defects and
split. ``corpus_build`` rebuilds the audio from it; ``source_picks`` wrote it.

The held-out ("check") sources are fixed by a rule that looks only at source names, stated
in ``HELD_OUT_RULE`` and in the manifest's header, so nobody chooses them after seeing a
result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mmmos_core.errors import ManifestError
from mmmos_core.paths import mmmos_home

MANIFEST_PATH = Path(__file__).resolve().parent / "corpus_sources.json"
DOMAINS = ("speech", "music", "sound")
SPLITS = ("train", "check")
# How a recording is taken out of its source: a plain audio file, a member of a zip
# archive (pk3/wz), or a MIDI file rendered through a General MIDI sound font.
CONTAINERS = ("file", "zip", "midi")
DEFECTS = ("telephone-band", "band-limited", "clipping", "low-level", "codec", "low-rate", "dc-offset", "processed")

# Free licences the corpus may use (SPDX-style ids). NonCommercial material is left out.
ALLOWED_LICENCES = frozenset({
    "PD", "CC0-1.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "MIT", "BSD-3-Clause",
    "BSD-like", "Apache-2.0", "GPL-2.0", "GPL-2.0+", "GPL-3.0", "GPL-3.0+", "LGPL-3.0+", "GFDL-1.3", "Freedoom-BSD",
})
# Reserved for independent evaluation of the project (issue 11): never a corpus source.
RESERVED_SOURCES = frozenset({
    "supertuxkart-data", "0ad-data", "0ad-data-common", "wesnoth-music", "wesnoth-1.16-music",
    "freeciv-sound-standard", "freeciv-data",
    "librosa/data", "speechbrain/speechbrain", "mir-dataset-loaders/mirdata", "wenet-e2e/wenet",
    "sebastian-software/cuttledoc", "CorentinJ/Real-Time-Voice-Cloning", "openai/whisper", "MTG/essentia",
    "iver56/audiomentations", "kahst/BirdNET-Analyzer", "ludlows/PESQ", "qiuqiangkong/audioset_tagging_cnn",
})
# Files already in ../shared/audio stay usable even when their repository is reserved:
# such sources carry this prefix ("shared:librosa/data").
SHARED_PREFIX = "shared:"

HELD_OUT_RULE = (
    "Fixed before any result was seen, from source names only: within each domain (a source's "
    "'primary_domain'), sort the Debian sources by sha256('mmmos-lite-corpus:' + source name) as hex; "
    "the first ceil(n/4) form the held-out 'check' split, the rest 'train'. Sources from ../shared/audio "
    "are always 'train': the project has looked at them before. No source is in both splits."
)


@dataclass(frozen=True)
class CorpusRecord:
    """One recording of the corpus, as the manifest states it."""

    id: str
    source: str  # Debian package name, or "shared:<repository>"
    version: str  # package version, or the shared file's commit
    member: str  # path inside the package; "archive!inner" for zip members; file name for shared
    container: str  # one of CONTAINERS
    licence: str
    domain: str
    primary_domain: str  # the domain of its source, used by the held-out rule
    split: str
    start_s: float
    duration_s: float
    sample_rate: int
    channels: int
    source_sha256: str  # of the member's bytes as shipped
    sha256: str  # of the converted audio: see audio_sha256
    defects: tuple[str, ...] = ()
    parts: int | None = None  # number of instrument parts of a rendered MIDI ensemble
    soundfont: str = ""  # "package:version:path" of the sound font a MIDI file was rendered through
    keep_channels: tuple[int, ...] = ()  # MIDI channels that play; empty: all (midi_parts.mute_channels)
    note: str = ""

    @property
    def file_name(self) -> str:
        return f"{self.domain}/{self.id}.wav"


@dataclass
class Manifest:
    about: str
    held_out_rule: str
    records: list[CorpusRecord] = field(default_factory=list)


def audio_sha256(samples: np.ndarray, sample_rate: int) -> str:
    """The checksum of converted audio: 16-bit little-endian interleaved samples plus the rate.

    Hashing samples, not the WAV file, keeps it independent of header details."""
    pcm = np.ascontiguousarray(samples, dtype="<i2")
    h = hashlib.sha256(f"{sample_rate}:{pcm.shape[1] if pcm.ndim == 2 else 1}:".encode())
    h.update(pcm.tobytes())
    return h.hexdigest()


def corpus_dir() -> Path:
    """Where the built corpus lives: ``$MMMOS_HOME/lite-corpus`` (default ~/.cache/mmmos)."""
    return mmmos_home() / "lite-corpus"


def held_out_sources(primary_domains: dict[str, str]) -> set[str]:
    """The 'check' sources by HELD_OUT_RULE, given each source's primary domain."""
    out: set[str] = set()
    for domain in DOMAINS:
        names = [s for s, d in primary_domains.items() if d == domain and not s.startswith(SHARED_PREFIX)]
        names.sort(key=lambda s: hashlib.sha256(f"mmmos-lite-corpus:{s}".encode()).hexdigest())
        out.update(names[: -(-len(names) // 4)])
    return out


def read_manifest(path: Path | str = MANIFEST_PATH) -> Manifest:
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: the corpus manifest does not exist") from None
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    records = []
    for k, row in enumerate(raw.get("records", [])):
        try:
            row = dict(row, defects=tuple(row.get("defects", ())), keep_channels=tuple(row.get("keep_channels", ())))
            records.append(CorpusRecord(**row))
        except TypeError as e:
            raise ManifestError(f"{path}: record {k} ({row.get('id', '?')}): {e}") from None
    return Manifest(raw.get("about", ""), raw.get("held_out_rule", ""), records)


def write_manifest(manifest: Manifest, path: Path | str = MANIFEST_PATH) -> None:
    """One record a line, so that a changed recording is a one-line diff."""
    lines = ["{", f'  "about": {json.dumps(manifest.about)},',
             f'  "held_out_rule": {json.dumps(manifest.held_out_rule)},', '  "records": [']
    rows = [json.dumps(asdict(r), ensure_ascii=False) for r in manifest.records]
    lines += [f"    {row}," for row in rows[:-1]] + ([f"    {rows[-1]}"] if rows else [])
    lines += ["  ]", "}"]
    Path(path).write_text("\n".join(lines) + "\n")


def check_manifest(manifest: Manifest) -> list[str]:
    """Every way the manifest breaks its own rules, as sentences naming the record."""
    problems: list[str] = []
    seen: set[str] = set()
    primary: dict[str, str] = {}
    for r in manifest.records:
        where = f"{r.id} ({r.source}:{r.member})"
        if r.id in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(r.id)
        bare = r.source.removeprefix(SHARED_PREFIX)
        if r.source in RESERVED_SOURCES or (bare in RESERVED_SOURCES and not r.source.startswith(SHARED_PREFIX)):
            problems.append(f"{where}: source is reserved for independent evaluation")
        if r.licence not in ALLOWED_LICENCES:
            problems.append(f"{where}: licence {r.licence!r} is not in the allowed list")
        if r.domain not in DOMAINS or r.primary_domain not in DOMAINS:
            problems.append(f"{where}: unknown domain {r.domain!r}/{r.primary_domain!r}")
        if r.split not in SPLITS:
            problems.append(f"{where}: unknown split {r.split!r}")
        if r.container not in CONTAINERS:
            problems.append(f"{where}: unknown container {r.container!r}")
        if unknown := set(r.defects) - set(DEFECTS):
            problems.append(f"{where}: unknown defects {sorted(unknown)}")
        if r.container == "midi" and (not r.parts or not r.soundfont):
            problems.append(f"{where}: a rendered MIDI file needs its part count and sound font")
        if r.keep_channels and r.container != "midi":
            problems.append(f"{where}: only a rendered MIDI file can keep some of its channels")
        if not (r.duration_s > 0 and r.sample_rate > 0 and r.channels > 0):
            problems.append(f"{where}: duration, sample rate and channels must be positive")
        if len(r.sha256) != 64 or len(r.source_sha256) != 64:
            problems.append(f"{where}: checksums must be sha256 hex digests")
        if primary.setdefault(r.source, r.primary_domain) != r.primary_domain:
            problems.append(f"{where}: source {r.source} has two primary domains")
    first_with: dict[str, str] = {}
    for r in manifest.records:
        if (other := first_with.setdefault(r.sha256, r.id)) != r.id:
            problems.append(f"{r.id} ({r.source}:{r.member}): the same audio as {other}")
    check = held_out_sources(primary)
    for r in manifest.records:
        want = "check" if r.source in check else "train"
        if r.split != want:
            problems.append(f"{r.id} ({r.source}): split is {r.split!r} but the held-out rule says {want!r}")
    return problems
