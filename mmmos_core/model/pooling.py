"""Masked pooling: padding frames never change a pooled vector or a sequence bin."""

from __future__ import annotations

import math

import torch


def masked_mean(frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """frames [B, L, T, D], mask [B, T] -> [B, L, D]."""
    m = mask[:, None, :, None].to(frames.dtype)
    return (frames * m).sum(dim=2) / m.sum(dim=2).clamp(min=1.0)


def sequence_bins(window_s: float, bin_s: float) -> int:
    return math.ceil(window_s / bin_s - 1e-9)


def bin_frames(frames: torch.Tensor, mask: torch.Tensor, frame_rate: float, bin_s: float,
               num_bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Average frames into fixed time bins so encoders with different frame rates line up.

    A frame belongs to the bin that holds its centre. Returns the binned sequence
    [B, L, S, D] and the bin mask [B, S] (a bin is valid if any valid frame fell in it).
    """
    B, L, T, D = frames.shape
    centres = (torch.arange(T, device=frames.device, dtype=torch.float64) + 0.5) / frame_rate
    index = torch.clamp((centres / bin_s).floor().long(), max=num_bins - 1)  # [T]
    m = mask.to(frames.dtype)  # [B, T]
    one_hot = torch.zeros(T, num_bins, device=frames.device, dtype=frames.dtype)
    one_hot[torch.arange(T, device=frames.device), index] = 1.0
    weights = m[:, :, None] * one_hot[None]  # [B, T, S]
    counts = weights.sum(dim=1)  # [B, S]
    summed = torch.einsum("bltd,bts->blsd", frames, weights)
    binned = summed / counts.clamp(min=1.0)[:, None, :, None]
    return binned, counts > 0


def l2_normalise(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp(min=eps)
