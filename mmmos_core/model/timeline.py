"""The timeline of a long clip: the four scores of every window the model already scores.

A clip longer than one window is cut into windows (`windows.py`) and its score is the
length-weighted mean of theirs in the normalised space. The timeline shows those same
windows on the 1-10 scale: each member's window scores, their mean and the members' std.
`extract_in_chunks` computes the features a few windows at a time so that a caller can
show progress and stop a 10-minute file midway; the windows it encodes are sample for
sample the ones `extract_features` encodes, so both paths give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from mmmos_core.axes import AXES
from mmmos_core.errors import MMMOSError

from .audio import Audio
from .features import ClipFeatures, EncodedWindows, encode_windows
from .member import FeatureBatch
from .results import Prediction, WindowScores
from .windows import window_spans

CHUNK_WINDOWS = 6  # a progress step every minute of audio at the default 10 s windows


class Cancelled(MMMOSError):
    """The caller asked to stop a long scoring run."""


@torch.inference_mode()
def member_window_scores(model, clips: list[ClipFeatures]) -> list[np.ndarray]:
    """Per clip, [M, W, 4] window scores on the 1-10 scale (no averaging over windows)."""
    batch = FeatureBatch.from_clips(clips, with_sequence=model.needs_sequence, device=model.device)
    z = torch.stack([member(batch) for member in model.members])  # [M, B, 4]
    scores = model.denormalise(z).cpu().numpy()
    owner = batch.clip_index.cpu().numpy()
    return [scores[:, owner == k, :] for k in range(len(clips))]


def attach_windows(model, clips: list[ClipFeatures], predictions: list[Prediction]) -> None:
    """Fill ``Prediction.windows`` for each clip from the same features its score came from."""
    settings = model.config.windows
    for prediction, scores in zip(predictions, member_window_scores(model, clips)):
        spans = window_spans(prediction.duration_s, settings.window_s, settings.hop_s)
        if prediction.domains is not None and model.router is not None:
            # The clip's routing weights, so that its score stays the mean of its windows' scores.
            heard = torch.tensor([[prediction.domains[d] for d in model.router.domains]])
            w = model.member_weights(heard)[:, 0, :].numpy()[:, None, :]  # [M, 1, A]
            mean = (w * scores).sum(axis=0)
            std = np.sqrt((w * (scores - mean) ** 2).sum(axis=0))
        else:
            mean, std = scores.mean(axis=0), scores.std(axis=0)
        prediction.windows = [WindowScores(s, e, {a: float(mean[w, i]) for i, a in enumerate(AXES)},
                                           {a: float(std[w, i]) for i, a in enumerate(AXES)})
                              for w, (s, e) in enumerate(spans)]


def _concat(parts: list[EncodedWindows]) -> EncodedWindows:
    return EncodedWindows(*(torch.cat([getattr(p, f) for p in parts])
                            for f in ("pooled", "sequence", "sequence_mask", "weights")))


def extract_in_chunks(model, audio: Audio, on_progress: Callable[[float, str], None] | None = None,
                      chunk_windows: int = CHUNK_WINDOWS) -> ClipFeatures:
    """`model.features(audio)`, a few windows at a time. ``on_progress(fraction, text)`` is called
    after each chunk; it may raise (e.g. `Cancelled`) to stop the run there."""
    settings = model.config.windows
    spans = window_spans(audio.duration_s, settings.window_s, settings.hop_s)
    encoders = dict(model.encoders.items())
    steps = [(n, k) for n in encoders for k in range(0, len(spans), chunk_windows)]
    by_encoder, done = {}, 0
    for name, encoder in encoders.items():
        sr = encoder.sample_rate
        # Resampled once for the whole clip: slicing the resampled signal at window starts gives the
        # windows `encode_windows` cuts from the whole clip, with no filter edge at chunk borders.
        whole = audio.resampled(sr)
        parts = []
        for k in range(0, len(spans), chunk_windows):
            first, last = spans[k], spans[min(k + chunk_windows, len(spans)) - 1]
            a, b = int(round(first[0] * sr)), int(round(last[1] * sr))
            piece = Audio(whole[a:b], sr, audio.source, audio.channels, list(audio.flags))
            parts.append(encode_windows(encoder, piece, settings))
            done += 1
            if on_progress is not None:
                on_progress(done / len(steps), f"{name}: {last[1]:.0f} of {audio.duration_s:.0f} s")
        by_encoder[name] = _concat(parts)
    first = next(iter(by_encoder.values()))
    return ClipFeatures(by_encoder, first.weights)


def predict_timeline(model, audio: Audio, on_progress: Callable[[float, str], None] | None = None) -> Prediction:
    """A prediction with its ``windows``, features extracted in chunks (progress, cancel)."""
    clip = extract_in_chunks(model, audio, on_progress)
    return model.predict_features([audio], [clip], timeline=True)[0]


@dataclass
class WorstStretch:
    axis: str
    start: float
    end: float
    score: float
    overall: float  # the clip's score on that axis

    def sentence(self) -> str:
        return (f"{self.axis} drops from {self.overall:.1f} to {self.score:.1f} at "
                f"{clock(self.start)}–{clock(self.end)}")


def worst_stretch(record: dict) -> WorstStretch | None:
    """The window that sits furthest below the clip's own score on any axis but PC (where lower
    is not worse); None for a one-window clip."""
    windows = record.get("windows") or []
    if len(windows) < 2:
        return None
    best = None
    for a in AXES:
        if a == "PC":
            continue
        for w in windows:
            drop = record[a] - w[a]
            if best is None or drop > best[0]:
                best = (drop, WorstStretch(a, w["start"], w["end"], w[a], record[a]))
    return best[1]


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
