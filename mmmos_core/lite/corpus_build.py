"""Rebuild the real-audio corpus from its manifest: fetch each source, take each listed
recording out of it, convert it to 16-bit WAV, check it against the manifest.

What happens on bad input (every case is one message naming the file; nothing is skipped
silently, and the build report lists every problem):

- a source that cannot be fetched (package gone from the archive, shared file absent):
  each of its recordings is reported missing; the build GOES ON with the other sources;
- a listed file absent from its source: reported missing; the build goes on;
- a file that cannot be decoded (or a MIDI file fluidsynth cannot render): reported
  undecodable; the build goes on;
- a checksum mismatch (the source bytes or the converted audio differ from the manifest):
  the file is NOT written to the corpus and is reported; the build goes on.

The build ends with a report; it "fails" (``BuildReport.ok`` is false, the script exits
1) if any recording is absent from the finished corpus.

Sources are fetched by a ``SourceStore``: ``DebianStore`` runs ``apt-get download`` and
``dpkg -x`` (needs root or a writable apt cache, and the ``fluidsynth`` program for MIDI
records); tests use ``DirectoryStore`` over a small fake tree.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tempfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import soundfile as sf

from mmmos_core.paths import shared_audio_dir

from .midi_parts import mute_channels
from .sources import SHARED_PREFIX, CorpusRecord, audio_sha256

RENDER_RATE = 44100
# fluidsynth's master gain: 0.3 leaves headroom for dense General MIDI ensembles (0.6 clips).
RENDER_GAIN = 0.3


class SourceMissing(Exception):
    """A source (package or shared folder) could not be fetched; the message says why."""


class SourceStore(Protocol):
    def open(self, source: str, version: str) -> Path:
        """The root folder of the source's files, fetching it if needed."""

    def close(self, source: str) -> None:
        """Release what ``open`` made (extraction folders)."""


@dataclass
class DirectoryStore:
    """Sources already unpacked under ``root/<source>``; shared files under ``shared``."""

    root: Path
    shared: Path | None = None

    def open(self, source: str, version: str) -> Path:
        if source.startswith(SHARED_PREFIX):
            folder = self.shared if self.shared is not None else shared_audio_dir()
        else:
            folder = self.root / source
        if not folder.is_dir():
            raise SourceMissing(f"{folder} does not exist")
        return folder

    def close(self, source: str) -> None:
        pass


@dataclass
class DebianStore:
    """Debian packages fetched with ``apt-get download`` into ``debs`` and unpacked with
    ``dpkg -x`` into a temporary folder that ``close`` removes."""

    debs: Path
    shared: Path | None = None
    _open: dict[str, Path] = field(default_factory=dict)

    def open(self, source: str, version: str) -> Path:
        if source.startswith(SHARED_PREFIX):
            return DirectoryStore(self.debs, self.shared).open(source, version)
        if source in self._open:
            return self._open[source]
        self.debs.mkdir(parents=True, exist_ok=True)
        debs = sorted(self.debs.glob(f"{source}_*.deb"))
        wanted = [d for d in debs if _deb_version(d) == version]
        if not wanted:
            run = subprocess.run(["apt-get", "download", f"{source}={version}"], cwd=self.debs,
                                 capture_output=True, text=True)
            if run.returncode != 0:
                reason = (run.stderr.strip().splitlines() or ["apt-get failed"])[-1]
                raise SourceMissing(f"apt-get download {source}={version}: {reason}")
            wanted = [d for d in sorted(self.debs.glob(f"{source}_*.deb")) if _deb_version(d) == version]
            if not wanted:
                raise SourceMissing(f"apt-get download {source}={version} left no matching .deb in {self.debs}")
        target = Path(tempfile.mkdtemp(prefix=f"mmmos-corpus-{source}-"))
        run = subprocess.run(["dpkg", "-x", str(wanted[0]), str(target)], capture_output=True, text=True)
        if run.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise SourceMissing(f"dpkg -x {wanted[0].name}: {run.stderr.strip()}")
        self._open[source] = target
        return target

    def close(self, source: str) -> None:
        if (path := self._open.pop(source, None)) is not None:
            shutil.rmtree(path, ignore_errors=True)


def _deb_version(deb: Path) -> str:
    # apt names files pkg_version_arch.deb with ':' (epoch) escaped as %3a
    return deb.name.split("_")[1].replace("%3a", ":")


@dataclass(frozen=True)
class Problem:
    record: str  # the recording's id
    file: str  # the file the problem is about, as a user can find it
    kind: str  # "missing source" | "missing file" | "undecodable" | "checksum mismatch"
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.kind}: {self.message} (recording {self.record})"


@dataclass
class BuildReport:
    out_dir: Path
    built: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # WAV files in the corpus folder that the manifest does not list (left by an older
    # manifest): kept, named, and never read as corpus by anything that follows the manifest
    strays: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        lines = [f"corpus in {self.out_dir}: {len(self.built)} built, {len(self.already)} already there and "
                 f"verified, {len(self.problems)} missing"]
        lines += [f"  {p}" for p in self.problems]
        if self.strays:
            more = " …" if len(self.strays) > 5 else ""
            lines.append(f"{len(self.strays)} files in {self.out_dir} are not in the manifest (ignored; "
                         f"delete them if unwanted): " + ", ".join(self.strays[:5]) + more)
        return "\n".join(lines)


def read_member(root: Path, record: CorpusRecord) -> bytes:
    """The bytes of the recording's source file (a zip member when ``member`` has '!')."""
    archive, _, inner = record.member.partition("!")
    path = root / archive
    if not path.is_file():
        raise FileNotFoundError(f"{path.name} is not in {record.source}")
    if not inner:
        return path.read_bytes()
    with zipfile.ZipFile(path) as z:
        try:
            return z.read(inner)
        except KeyError:
            raise FileNotFoundError(f"{inner} is not in {archive}") from None


def render_midi(data: bytes, soundfont: Path, sample_rate: int = RENDER_RATE) -> tuple[np.ndarray, int]:
    """Render a MIDI file through a sound font with fluidsynth (float output: no dither, so
    the result is the same on every run)."""
    if shutil.which("fluidsynth") is None:
        raise RuntimeError("the fluidsynth program is not installed (apt-get install fluidsynth)")
    with tempfile.TemporaryDirectory(prefix="mmmos-midi-") as tmp:
        mid, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        mid.write_bytes(data)
        run = subprocess.run(["fluidsynth", "-ni", "-q", "-g", str(RENDER_GAIN), "-r", str(sample_rate),
                              "-O", "float", "-T", "wav", "-F", str(wav), str(soundfont), str(mid)],
                             capture_output=True, text=True, timeout=600)
        if run.returncode != 0 or not wav.is_file():
            raise RuntimeError(f"fluidsynth failed: {run.stderr.strip()[-200:]}")
        audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    return audio, sr


def decode(data: bytes, record: CorpusRecord, soundfont: Path | None) -> tuple[np.ndarray, int]:
    """(frames, channels) float audio and its rate, from the source bytes."""
    if record.container == "midi":
        if soundfont is None:
            raise RuntimeError(f"sound font {record.soundfont} is not available")
        if record.keep_channels:
            data = mute_channels(data, set(record.keep_channels))
        return render_midi(data, soundfont)
    audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return audio, sr


def to_pcm16(audio: np.ndarray, sr: int, start_s: float, duration_s: float) -> np.ndarray:
    """The kept span as int16: rounded, clipped at full scale, no dither, no gain change."""
    a = int(round(start_s * sr))
    b = a + int(round(duration_s * sr))
    return np.clip(np.round(audio[a:b] * 32768.0), -32768, 32767).astype(np.int16)


def convert(data: bytes, record: CorpusRecord, soundfont: Path | None) -> tuple[np.ndarray, int]:
    audio, sr = decode(data, record, soundfont)
    return to_pcm16(audio, sr, record.start_s, record.duration_s), sr


def build_corpus(records: list[CorpusRecord], store: SourceStore, out_dir: Path,
                 progress: Callable[[str], None] = lambda s: None) -> BuildReport:
    """Build every record into ``out_dir/<domain>/<id>.wav``; see the module doc for errors."""
    report = BuildReport(out_dir)
    by_source: dict[str, list[CorpusRecord]] = defaultdict(list)
    for r in records:
        by_source[r.source].append(r)
    fonts: dict[str, Path | None] = {}
    try:
        for source, group in by_source.items():
            todo = []
            for r in group:
                if _verified(out_dir / r.file_name, r):
                    report.already.append(r.id)
                else:
                    todo.append(r)
            if not todo:
                continue
            progress(f"{source}: {len(todo)} recordings")
            try:
                root = store.open(source, todo[0].version)
            except SourceMissing as e:
                report.problems += [Problem(r.id, f"{source}:{r.member}", "missing source", str(e)) for r in todo]
                continue
            for r in todo:
                font = _soundfont(r, store, fonts, report) if r.container == "midi" else None
                _build_one(r, root, font, out_dir, report)
            store.close(source)
    finally:
        for name in fonts:
            store.close(name)
    listed = {r.file_name for r in records}
    report.strays = sorted(str(p.relative_to(out_dir)) for p in out_dir.glob("*/*.wav")
                           if str(p.relative_to(out_dir)) not in listed)
    return report


def _soundfont(r: CorpusRecord, store: SourceStore, fonts: dict[str, Path | None],
               report: BuildReport) -> Path | None:
    package, _, rest = r.soundfont.partition(":")
    version, _, path = rest.partition(":")
    if package not in fonts:
        try:
            fonts[package] = store.open(package, version)
        except SourceMissing as e:
            fonts[package] = None
            report.problems.append(Problem(r.id, r.soundfont, "missing source", f"sound font: {e}"))
    root = fonts[package]
    return None if root is None or not (root / path).is_file() else root / path


def _build_one(r: CorpusRecord, root: Path, font: Path | None, out_dir: Path, report: BuildReport) -> None:
    where = f"{r.source}:{r.member}"
    try:
        data = read_member(root, r)
    except (FileNotFoundError, zipfile.BadZipFile, OSError) as e:
        report.problems.append(Problem(r.id, where, "missing file", str(e)))
        return
    if (got := hashlib.sha256(data).hexdigest()) != r.source_sha256:
        report.problems.append(Problem(r.id, where, "checksum mismatch",
                                       f"source bytes sha256 {got[:12]}… but the manifest says "
                                       f"{r.source_sha256[:12]}… (the source changed)"))
        return
    try:
        pcm, sr = convert(data, r, font)
    except Exception as e:  # noqa: BLE001 - any decoder failure is reported for this one file
        report.problems.append(Problem(r.id, where, "undecodable", f"{type(e).__name__}: {e}"))
        return
    if (got := audio_sha256(pcm, sr)) != r.sha256:
        report.problems.append(Problem(r.id, where, "checksum mismatch",
                                       f"converted audio sha256 {got[:12]}… but the manifest says "
                                       f"{r.sha256[:12]}… (a different decoder or renderer); not written"))
        return
    target = out_dir / r.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    sf.write(target, pcm, sr, subtype="PCM_16")
    report.built.append(r.id)


def _verified(path: Path, r: CorpusRecord) -> bool:
    """A file already in the corpus counts only if its samples still match the manifest."""
    if not path.is_file():
        return False
    try:
        pcm, sr = sf.read(path, dtype="int16", always_2d=True)
    except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt, not trusted
        return False
    return audio_sha256(pcm, sr) == r.sha256
