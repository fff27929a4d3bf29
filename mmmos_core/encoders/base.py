"""The `Encoder` interface every frozen feature extractor implements.

An encoder turns a batch of zero-padded waveforms at its own sample rate into frame
embeddings ``[batch, layers, frames, dim]`` and a validity mask ``[batch, frames]``.
``layers`` is 1 for single-output encoders and e.g. 13 for WavLM's hidden states;
members learn a softmax-weighted sum over them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn


@dataclass
class EncoderOutput:
    frames: torch.Tensor  # [B, L, T, D]
    mask: torch.Tensor  # [B, T], True where the frame covers real (unpadded) audio


class Encoder(nn.Module):
    """Base class. Subclasses set the class attribute ``kind`` and the four properties."""

    kind: ClassVar[str] = ""
    sample_rate: int
    frame_rate: float
    dim: int
    num_layers: int = 1
    # Most windows one forward takes on a CPU (None: no cap); callers batch no more than this.
    cpu_max_batch: ClassVar[int | None] = None

    def encode(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """waveforms: [B, N] float32 at ``sample_rate``; lengths: [B] valid samples."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """JSON-serialisable settings that rebuild this encoder with `from_config`."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any], model_dir: Path | None = None) -> "Encoder":
        raise NotImplementedError

    def save(self, model_dir: Path) -> None:
        """Write whatever files `from_config` needs into the model directory (default: none)."""

    @property
    def cache_id(self) -> str:
        """Changes whenever the embeddings could change: kind, settings and weights identity."""
        blob = json.dumps({"kind": self.kind, **self.config()}, sort_keys=True, default=str)
        return f"{self.kind}-{hashlib.sha1(blob.encode()).hexdigest()[:16]}"

    def frame_mask(self, lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Frames whose start lies inside the real audio are valid; at least one always is."""
        valid = torch.ceil(lengths.double() / self.sample_rate * self.frame_rate).long()
        valid = valid.clamp(min=1, max=num_frames)
        return torch.arange(num_frames, device=lengths.device)[None, :] < valid[:, None]

    def freeze(self) -> "Encoder":
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> "Encoder":
        # Frozen means frozen: a member's .train() must never switch dropout on in here.
        return super().train(False)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "sample_rate": self.sample_rate, "frame_rate": self.frame_rate,
                "dim": self.dim, "num_layers": self.num_layers}


def soft_standardise(raw: torch.Tensor, mask: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                     soft_limit: float, constant: float) -> torch.Tensor:
    """Frames [B, T, F] standardised with training statistics, softly limited, and followed by a
    constant channel; zero on invalid frames. Members L2-normalise the pooled vector: the soft
    limit keeps a rare extreme value (its sign and order kept) from taking over its direction,
    and the constant channel keeps its length (x = c * y[:-1] / y[-1])."""
    z = (raw - mean) / std
    z = soft_limit * torch.tanh(z / soft_limit)
    const = torch.full_like(z[..., :1], constant)
    return torch.cat([z, const], dim=-1) * mask[..., None]


def frames_for(num_samples: int, sample_rate: int, frame_rate: float) -> int:
    return max(1, math.ceil(num_samples / sample_rate * frame_rate))
