"""The audio front door: every input form becomes one mono float32 `Audio`.

Accepted inputs
- a path (wav, flac, ogg, mp3 — whatever libsndfile decodes),
- raw encoded bytes,
- ``(sample_rate, ndarray)`` as Gradio hands it: int16/int32/float, shape ``(n,)`` or
  ``(n, channels)``,
- an ``Audio`` (passed through).

Every failure is an `AudioInputError` naming the input and the problem.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from mmmos_core.errors import AudioInputError

from .wav_header import wav_length

DEFAULT_MAX_DURATION_S = 600.0
# Below 4 kHz there is no speech or music to rate; above 768 kHz no recorder exists.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4000, 768000
_BLOCK_FRAMES = 1 << 16
_UNKNOWN_FRAMES = 1 << 62
# Said by the CLI after a length refusal; the app has no such flag, so it never says it.
CLI_DURATION_HINT = "raise the limit with --max-duration SECONDS"
OVER_LENGTH_MARK = "over the maximum of"  # in every length refusal, so a record's text can be recognised

AudioLike = Union[str, os.PathLike, bytes, tuple, "Audio"]


@dataclass
class Audio:
    """Mono float32 samples in [-1, 1] (not enforced: loud float files stay as they are)."""

    samples: np.ndarray
    sample_rate: int
    source: str = "<audio>"
    channels: int = 1
    flags: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    def content_hash(self) -> str:
        """Identity of the signal itself (not of the file name): the embedding-cache key."""
        h = hashlib.sha256()
        h.update(str(self.sample_rate).encode())
        h.update(np.ascontiguousarray(self.samples, dtype=np.float32).tobytes())
        return h.hexdigest()

    def resampled(self, sample_rate: int) -> np.ndarray:
        return resample(self.samples, self.sample_rate, sample_rate)


def resample(samples: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    if orig_sr == new_sr:
        return samples.astype(np.float32, copy=False)
    x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    return AF.resample(x, int(orig_sr), int(new_sr)).numpy()


def _to_float(array: np.ndarray, source: str) -> np.ndarray:
    if array.dtype == np.int16:
        return array.astype(np.float32) / 32768.0
    if array.dtype == np.int32:
        return array.astype(np.float32) / 2147483648.0
    if array.dtype == np.uint8:  # 8-bit PCM is unsigned with 128 as zero
        return (array.astype(np.float32) - 128.0) / 128.0
    if array.dtype == np.int8:
        return array.astype(np.float32) / 128.0
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32)
    raise AudioInputError(source, f"unsupported sample type {array.dtype}")


def _downmix(array: np.ndarray, source: str) -> tuple[np.ndarray, int]:
    if array.ndim == 1:
        return array, 1
    if array.ndim != 2:
        raise AudioInputError(source, f"expected shape (n,) or (n, channels), got {array.shape}")
    n, channels = array.shape
    # Gradio and soundfile give (n, channels); a (channels, n) array with few rows is a common slip.
    if channels > 16 and n <= 16:
        array = array.T
        n, channels = array.shape
    if channels == 0:
        raise AudioInputError(source, "audio has no channels")
    return array.mean(axis=1), channels


def over_length_problem(duration_s: float, max_duration_s: float, *, declared: bool = False) -> str:
    said = "its header says it is" if declared else "audio is"
    return f"{said} {duration_s:.1f} s long, {OVER_LENGTH_MARK} {max_duration_s:.0f} s"


def _opener(data: Union[str, os.PathLike, bytes], source: str):
    """A handle libsndfile can read, the file's size, and ``read_at(offset, n)`` for header checks."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.exists():
            raise AudioInputError(source, "file not found")
        if path.is_dir():
            raise AudioInputError(source, "is a folder, not an audio file")
        if not path.is_file():  # /dev/zero, a pipe, a socket: endless or blocking, never audio
            raise AudioInputError(source, "is not a regular file (a device, pipe or socket)")
        size = path.stat().st_size
        if size == 0:
            raise AudioInputError(source, "file is empty (0 bytes)")

        def read_at(offset: int, n: int) -> bytes:
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read(n)

        return str(path), size, read_at
    if len(data) == 0:
        raise AudioInputError(source, "no data (0 bytes)")
    return io.BytesIO(data), len(data), lambda offset, n: data[offset:offset + n]


def _header_flags(read_at, size: int, source: str) -> list[str]:
    try:
        length = wav_length(read_at, size)
    except OSError as exc:
        raise AudioInputError(source, f"cannot read ({exc.strerror or exc})") from None
    if length is None:
        return []
    return (["truncated"] if length.truncated else []) + (["header_length_mismatch"] if length.understated else [])


def _decode(data: Union[str, os.PathLike, bytes], source: str, start_time: float | None, end_time: float | None,
            max_duration_s: float | None) -> tuple[np.ndarray, int, int, list[str]]:
    """Mono samples, rate, channel count and flags. The length is checked from the header before
    anything is decoded, then again while decoding (headers can lie), one block at a time, so a
    small file that decodes to hours costs a header read, not gigabytes."""
    handle, size, read_at = _opener(data, source)
    flags = _header_flags(read_at, size, source)
    blocks: list[np.ndarray] = []
    try:
        with sf.SoundFile(handle) as f:
            sr, channels = int(f.samplerate), int(f.channels)
            if channels <= 0:
                raise AudioInputError(source, "audio has no channels")
            if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
                raise AudioInputError(source, f"sample rate {sr} Hz is outside {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz")
            # A stream written without seeking back (FLAC with total_samples 0) has no length
            # in its header: libsndfile says SF_COUNT_MAX. Then only the block-wise limit holds.
            known = f.frames < _UNKNOWN_FRAMES
            frames = f.frames if known else _UNKNOWN_FRAMES
            start = int(round((start_time or 0.0) * sr))
            stop = frames if end_time is None else min(frames, int(round(end_time * sr)))
            wanted = max(0, stop - min(start, frames))
            limit = None if max_duration_s is None else int(max_duration_s * sr)
            if known and limit is not None and wanted > limit:
                raise AudioInputError(source, over_length_problem(wanted / sr, max_duration_s, declared=True),
                                      hint=CLI_DURATION_HINT)
            if start > 0:
                f.seek(min(start, frames))
            got = 0
            while got < wanted:
                # libsndfile fails the read that meets the end of a length-less FLAC and drops that
                # block: small blocks there lose at most 4096 frames (< 0.1 s at 44.1 kHz).
                n = min(_BLOCK_FRAMES if known else 4096, wanted - got)
                try:
                    block = f.read(frames=n, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError):
                    if not blocks:
                        raise
                    block = np.zeros((0, channels), np.float32)  # a cut stream: keep what decoded, flag it
                if len(block) == 0:
                    break
                blocks.append(block.mean(axis=1, dtype=np.float32) if channels > 1 else block[:, 0].copy())
                got += len(block)
                if limit is not None and got > limit:
                    raise AudioInputError(source, f"audio runs {OVER_LENGTH_MARK} {max_duration_s:.0f} s (decoding "
                                          f"stopped at {got / sr:.1f} s; its header gave no length or a wrong one)",
                                          hint=CLI_DURATION_HINT)
            if known and got < wanted and "truncated" not in flags:
                flags.append("truncated")
    except AudioInputError:
        raise
    except sf.LibsndfileError as exc:  # its str() repeats the (possibly temporary) path; the reason is enough
        reason = (exc.error_string or str(exc)).rstrip(".")
        raise AudioInputError(source, f"cannot decode as audio ({reason[:1].lower() + reason[1:]})") from None
    except (RuntimeError, ValueError, TypeError, OSError) as exc:
        raise AudioInputError(source, f"cannot decode as audio ({exc})") from None
    finally:
        if isinstance(handle, io.BytesIO):
            handle.close()
    mono = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    return mono, sr, channels, flags


def load_audio(
    data: AudioLike,
    *,
    name: str | None = None,
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
    start_time: float | None = None,
    end_time: float | None = None,
) -> Audio:
    """Turn any accepted input into a checked mono `Audio`.

    ``start_time``/``end_time`` (seconds) select a span, as in the Audiobox input lists.
    """
    if isinstance(data, Audio):
        return data
    if isinstance(data, (str, os.PathLike)):
        source = name or str(data)
    elif isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        source = name or "<bytes>"
    elif isinstance(data, tuple) and len(data) == 2:
        source = name or "<array>"
    else:
        raise AudioInputError(name or "<input>", f"unsupported input type {type(data).__name__}")
    if start_time is not None and start_time < 0:
        raise AudioInputError(source, f"start_time {start_time} is negative")
    if start_time is not None and end_time is not None and end_time <= start_time:
        raise AudioInputError(source, f"end_time {end_time} is not after start_time {start_time}")

    if isinstance(data, tuple):
        sr, array = data
        if isinstance(array, (int, float)) and not isinstance(sr, (int, float)):
            sr, array = array, sr  # (ndarray, sr) order, as librosa returns it
        try:
            sr = int(sr)
        except (TypeError, ValueError):
            raise AudioInputError(source, f"sample rate {sr!r} is not a number") from None
        array = np.asarray(array)
        if array.ndim == 2 and 0 in array.shape:
            raise AudioInputError(source, "audio has no channels" if array.shape[1] == 0 else "audio is empty (0 samples)")
        array = _to_float(array, source)
        if start_time is not None or end_time is not None:
            a = int(round((start_time or 0.0) * sr))
            b = None if end_time is None else int(round(end_time * sr))
            array = array[a:b]
        if sr <= 0:
            raise AudioInputError(source, f"invalid sample rate {sr}")
        mono, channels = _downmix(array, source)
        flags: list[str] = []
    else:
        mono, sr, channels, flags = _decode(data, source, start_time, end_time, max_duration_s)

    if mono.size == 0:
        raise AudioInputError(source, "audio is empty (0 samples)")
    if not np.all(np.isfinite(mono)):
        bad = int(np.count_nonzero(~np.isfinite(mono)))
        raise AudioInputError(source, f"audio contains {bad} NaN or Inf samples")
    duration = mono.size / sr
    if max_duration_s is not None and duration > max_duration_s:
        raise AudioInputError(source, over_length_problem(duration, max_duration_s), hint=CLI_DURATION_HINT)
    if not np.any(mono):
        flags.append("silent")
    return Audio(np.ascontiguousarray(mono, dtype=np.float32), int(sr), source, channels, flags)
