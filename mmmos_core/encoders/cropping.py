"""Padding made invisible by construction: each item is encoded at its own real length.

None of the three pretrained encoders can ignore zero padding with a mask alone: WavLM
Base+ group-normalises its first conv layer over the whole time axis and adds a
convolutional position embedding, MuQ's conformer convolutions and its centred STFT
reach across the end of the audio, and M2D's ViT attends to every patch. So a window
is cropped to its real length before the forward pass; items of equal length share one
batched forward (every full 10 s window of a long clip goes through in one call).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .base import EncoderOutput

# Below this many seconds a crop is zero-padded up to it, so STFT reflection padding and
# the first conv layers always have enough input; the padded frames are then masked.
MIN_CROP_S = 0.1


def encode_at_real_length(waveforms: torch.Tensor, lengths: torch.Tensor,
                          forward: Callable[[torch.Tensor], torch.Tensor],
                          sample_rate: int, frame_rate: float, max_batch: int | None = None) -> EncoderOutput:
    """``forward`` maps unpadded audio ``[b, n]`` to frames ``[b, L, t, D]``.

    ``max_batch`` caps the items per forward call, for encoders whose activations at full
    batch would dwarf their weights.

    Returns frames padded with zeros to the longest item, and a mask that is True on the
    frames that start inside each item's real audio.
    """
    batch, total = waveforms.shape
    min_crop = min(total, max(1, int(round(MIN_CROP_S * sample_rate))))
    lengths = lengths.to(torch.long).clamp(max=total)
    crops = lengths.clamp(min=min_crop).tolist()
    valid = [max(1, math.ceil(int(n) / sample_rate * frame_rate - 1e-9)) for n in lengths.tolist()]
    # Frames go straight into one zeroed output, longest crops first so that the first
    # forward fixes its size: a long clip's frames (20 MB per 10 s window for WavLM's 13
    # layers) are held once, not once per step of the assembly.
    out: torch.Tensor | None = None
    for n in sorted(set(crops), reverse=True):
        index = [i for i, c in enumerate(crops) if c == n]
        step = max_batch or len(index)
        for start in range(0, len(index), step):
            part = index[start:start + step]
            frames = forward(waveforms[part, :n])
            if out is None:
                out = frames.new_zeros(batch, frames.shape[1], frames.shape[2], frames.shape[3])
            for j, i in enumerate(part):
                # frames that start after the real audio (a crop padded up to MIN_CROP_S) stay zero
                valid[i] = min(frames.shape[2], valid[i])
                out[i, :, :valid[i]] = frames[j, :, :valid[i]]
            del frames
    assert out is not None  # batch >= 1
    mask = torch.arange(out.shape[2], device=out.device)[None, :] < torch.tensor(valid, device=out.device)[:, None]
    return EncoderOutput(out, mask)
