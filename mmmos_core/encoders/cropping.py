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
    per_item: list[torch.Tensor | None] = [None] * batch
    for n in sorted(set(crops), reverse=True):
        index = [i for i, c in enumerate(crops) if c == n]
        step = max_batch or len(index)
        for start in range(0, len(index), step):
            part = index[start:start + step]
            frames = forward(waveforms[part, :n])
            for j, i in enumerate(part):
                per_item[i] = frames[j]
    num_frames = max(f.shape[1] for f in per_item)
    layers, dim = per_item[0].shape[0], per_item[0].shape[2]
    out = per_item[0].new_zeros(batch, layers, num_frames, dim)
    valid = []
    for i, f in enumerate(per_item):
        out[i, :, :f.shape[1]] = f
        real = max(1, math.ceil(int(lengths[i]) / sample_rate * frame_rate - 1e-9))
        valid.append(min(f.shape[1], real))
    mask = torch.arange(num_frames, device=out.device)[None, :] < torch.tensor(valid, device=out.device)[:, None]
    return EncoderOutput(out * mask[:, None, :, None].to(out.dtype), mask)
