"""The corpus of bad (and oddly shaped but good) audio files every door is tried with.

Each entry is built from a real clip or from a few bytes, and says what a user must get:
either a refusal whose message names the problem (``refused``), or scores, possibly with
flags (``flags``). Shared by the hostile-input tests of the CLI, the Python API and the app.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf


@dataclass(frozen=True)
class Case:
    name: str  # the file's name (some are hostile themselves)
    refused: str = ""  # a fragment of the refusal; "" when the file is scored
    flags: tuple[str, ...] = ()


CASES = [
    Case("empty.wav", refused="empty"),
    Case("text.wav", refused="cannot decode"),
    Case("random_bytes.wav", refused="cannot decode"),
    Case("truncated.wav", flags=("truncated",)),
    Case("header_lies.wav", flags=("header_length_mismatch",)),
    Case("nan_inf.wav", refused="NaN or Inf"),
    Case("one_sample.wav"),
    Case("eight_channels.wav"),
    Case("rate_1hz.wav", refused="sample rate 1 Hz"),
    Case("rate_8k.wav"),
    Case("rate_192k.wav"),
    Case("pcm_u8.wav"),
    Case("pcm_24.wav"),
    Case("float32.wav"),
    Case("flac_named.wav"),
    Case("two_hours.flac", refused="over the maximum"),
    Case("bomb_192k.flac", refused="over the maximum"),
    Case("dev_zero.wav", refused="not a regular file"),
    Case("a_folder.wav", refused="folder"),
    Case("ünïcødé_音声.wav"),
    Case("$(touch pwned);<img src=x onerror=alert(1)>&'q\".wav"),
]


def _wav_bytes(x: np.ndarray, sr: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def _long_silent_flac(path: Path, seconds: float, sr: int) -> None:
    """Silence compresses to almost nothing: a small file that decodes to a long signal."""
    block = np.zeros(sr * 10, dtype=np.int16)
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, format="FLAC", subtype="PCM_16") as f:
        for _ in range(int(seconds // 10)):
            f.write(block)


def build_corpus(folder: Path, clip: Path) -> dict[str, Path]:
    """Write every case into ``folder`` (from the real ``clip``); returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    x, sr = sf.read(clip, dtype="float32", always_2d=False)
    x = (x if x.ndim == 1 else x.mean(axis=1))[: sr * 4]
    good = _wav_bytes(x, sr)
    out = {c.name: folder / c.name for c in CASES}
    out["empty.wav"].write_bytes(b"")
    out["text.wav"].write_text("this is not audio\n" * 20)
    out["random_bytes.wav"].write_bytes(np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes())
    out["truncated.wav"].write_bytes(good[: len(good) // 2])  # a download cut half-way
    lie = bytearray(good)  # the data chunk claims one second of the four
    struct.pack_into("<I", lie, lie.find(b"data") + 4, sr * 2)
    out["header_lies.wav"].write_bytes(bytes(lie))
    bad = x.copy()
    bad[100], bad[200] = np.nan, np.inf
    out["nan_inf.wav"].write_bytes(_wav_bytes(bad, sr, "FLOAT"))
    out["one_sample.wav"].write_bytes(_wav_bytes(x[:1], sr))
    out["eight_channels.wav"].write_bytes(_wav_bytes(np.stack([x] * 8, axis=1), sr))
    out["rate_1hz.wav"].write_bytes(_wav_bytes(x[:100], 1))
    out["rate_8k.wav"].write_bytes(_wav_bytes(x, 8000))
    out["rate_192k.wav"].write_bytes(_wav_bytes(np.tile(x, 2)[: 192000 * 2], 192000))
    out["pcm_u8.wav"].write_bytes(_wav_bytes(x, sr, "PCM_U8"))
    out["pcm_24.wav"].write_bytes(_wav_bytes(x, sr, "PCM_24"))
    out["float32.wav"].write_bytes(_wav_bytes(x, sr, "FLOAT"))
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="FLAC")
    out["flac_named.wav"].write_bytes(buf.getvalue())
    _long_silent_flac(out["two_hours.flac"], 7200, 8000)
    _long_silent_flac(out["bomb_192k.flac"], 660, 192000)  # ~0.4 MB, 127 M samples
    if out["dev_zero.wav"].is_symlink() or out["dev_zero.wav"].exists():
        out["dev_zero.wav"].unlink()
    os.symlink("/dev/zero", out["dev_zero.wav"])
    out["a_folder.wav"].mkdir(exist_ok=True)
    for name in ("ünïcødé_音声.wav", "$(touch pwned);<img src=x onerror=alert(1)>&'q\".wav"):
        out[name].write_bytes(good)
    return out
