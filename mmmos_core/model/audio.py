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

DEFAULT_MAX_DURATION_S = 600.0

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


def _decode(data: Union[str, os.PathLike, bytes], source: str,
            start_time: float | None, end_time: float | None) -> tuple[np.ndarray, int]:
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.exists():
            raise AudioInputError(source, "file not found")
        if path.is_dir():
            raise AudioInputError(source, "is a folder, not an audio file")
        if path.stat().st_size == 0:
            raise AudioInputError(source, "file is empty (0 bytes)")
        handle = str(path)
    else:
        if len(data) == 0:
            raise AudioInputError(source, "no data (0 bytes)")
        handle = io.BytesIO(data)
    try:
        with sf.SoundFile(handle) as f:
            sr = f.samplerate
            if f.channels == 0:
                raise AudioInputError(source, "audio has no channels")
            start = int(round((start_time or 0.0) * sr))
            stop = f.frames if end_time is None else min(f.frames, int(round(end_time * sr)))
            if start > 0:
                f.seek(min(start, f.frames))
            array = f.read(frames=max(0, stop - start), dtype="float32", always_2d=True)
    except AudioInputError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError) as exc:
        raise AudioInputError(source, f"cannot decode as audio ({exc})") from None
    return array, sr


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
    else:
        array, sr = _decode(data, source, start_time, end_time)

    if sr <= 0:
        raise AudioInputError(source, f"invalid sample rate {sr}")
    mono, channels = _downmix(array, source)
    if mono.size == 0:
        raise AudioInputError(source, "audio is empty (0 samples)")
    if not np.all(np.isfinite(mono)):
        bad = int(np.count_nonzero(~np.isfinite(mono)))
        raise AudioInputError(source, f"audio contains {bad} NaN or Inf samples")
    duration = mono.size / sr
    if max_duration_s is not None and duration > max_duration_s:
        raise AudioInputError(
            source, f"audio is {duration:.1f} s long, over the maximum of {max_duration_s:.0f} s "
            "(raise it with --max-duration)")
    flags = []
    if not np.any(mono):
        flags.append("silent")
    return Audio(np.ascontiguousarray(mono, dtype=np.float32), int(sr), source, channels, flags)
