"""Statistics over the valid frames of padded [B, T, ...] batches, for the acoustic descriptors.

Every statistic takes a [B, T] mask and ignores what it masks out, so zero padding never
moves a descriptor.
"""

from __future__ import annotations

import torch

EPS = 1e-10  # power floor on the unit-RMS scale: -100 dB below the clip's own RMS


def db(power: torch.Tensor) -> torch.Tensor:
    """Power in dB, floored just above -100 dB (`EPS`) so silence stays finite."""
    return 10.0 * torch.log10(power + EPS)


def masked_quantile(values: torch.Tensor, mask: torch.Tensor, q: float) -> torch.Tensor:
    """Quantile over the last-but-one axis (time) of [B, T, ...] using only masked-in rows."""
    m = mask
    while m.dim() < values.dim():
        m = m.unsqueeze(-1)
    v = torch.where(m, values, torch.full_like(values, float("nan")))
    out = torch.nanquantile(v, q, dim=1)
    return torch.nan_to_num(out, nan=0.0)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(values.dtype)
    while m.dim() < values.dim():
        m = m.unsqueeze(-1)
    return (values * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def masked_std(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean = masked_mean(values, mask)
    return masked_mean((values - mean.unsqueeze(1)) ** 2, mask).clamp(min=0).sqrt()


def shift(x: torch.Tensor, k: int) -> torch.Tensor:
    """x[:, t - k] along time (dim 1), edge-padded: frame t sees frame t-k (k may be negative)."""
    if k == 0:
        return x
    if k > 0:
        return torch.cat([x[:, :1].expand(-1, k, *x.shape[2:]), x[:, :-k]], dim=1)
    k = -k
    return torch.cat([x[:, k:], x[:, -1:].expand(-1, k, *x.shape[2:])], dim=1)
