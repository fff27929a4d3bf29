"""Is this clip speech? The gate that shows the speech-only peer (DNSMOS) automatically.

Rule: Silero VAD (the ``silero-vad`` package, MIT, its 2 MB ONNX model run by onnxruntime)
marks speech segments over the first `SCAN_S` seconds; a clip is speech when they cover at
least `MIN_SPEECH_FRACTION` of it. Chosen over a spectral/voicing heuristic because on the
21 real recordings in shared/audio the hand-made features (envelope modulation, voicing,
pauses) overlapped between speech and tabla, trumpet or rain, while the VAD splits them
cleanly: 0.66-0.99 of every speech clip, at most 0.04 of any music or sound clip, in
about 0.05 s per clip. Solo singing is voice and counts as speech (0.87): DNSMOS is then
shown, with its domain stated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmmos_core.model.audio import Audio

SAMPLE_RATE = 16_000
SCAN_S = 60.0  # enough to tell; a 10-minute file is not scanned end to end for a yes/no
MIN_SPEECH_FRACTION = 0.3
_vad = None


@dataclass
class SpeechCheck:
    is_speech: bool
    speech_fraction: float  # of the scanned part
    method: str


def _model():
    global _vad
    if _vad is None:
        from silero_vad import load_silero_vad

        _vad = load_silero_vad(onnx=True)
    return _vad


def available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(p) is not None for p in ("silero_vad", "onnxruntime"))


def detect_speech(audio: Audio) -> SpeechCheck:
    """Whether ``audio`` is mostly speech. Silent clips and clips without the VAD say no."""
    if "silent" in audio.flags or not available():
        return SpeechCheck(False, 0.0, "silero-vad" if available() else "unavailable")
    import torch
    from silero_vad import get_speech_timestamps

    samples = audio.resampled(SAMPLE_RATE)[: int(SCAN_S * SAMPLE_RATE)]
    if samples.size < SAMPLE_RATE // 4:
        return SpeechCheck(False, 0.0, "silero-vad")
    x = torch.from_numpy(np.ascontiguousarray(np.clip(samples, -1.0, 1.0), dtype=np.float32))
    segments = get_speech_timestamps(x, _model(), sampling_rate=SAMPLE_RATE)
    fraction = sum(s["end"] - s["start"] for s in segments) / float(samples.size)
    return SpeechCheck(fraction >= MIN_SPEECH_FRACTION, round(fraction, 4), "silero-vad")
