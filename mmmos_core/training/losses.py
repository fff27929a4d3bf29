"""The four training losses of the paper, each computed per axis and averaged over axes.

All take ``pred`` and ``target`` of shape [B, A] on the rating scale (so the UTMOS
threshold and the contrastive margin are in rating points). Pairwise terms run over
ordered pairs i != j: a clip compared with itself carries no ranking information.
"""

from __future__ import annotations

import torch

LOSSES = ("utmos", "contrastive", "dcq", "ccc")


def _pair_mask(n: int, device) -> torch.Tensor:
    return ~torch.eye(n, dtype=torch.bool, device=device)


def contrastive_loss(pred: torch.Tensor, target: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    """mean over pairs of relu(|Δtarget − Δpred| − margin); Δx = x_i − x_j."""
    n = pred.shape[0]
    if n < 2:
        return pred.sum() * 0.0
    d_pred = pred[:, None, :] - pred[None, :, :]
    d_true = target[:, None, :] - target[None, :, :]
    per_pair = torch.relu((d_true - d_pred).abs() - margin)  # [B, B, A]
    return per_pair[_pair_mask(n, pred.device)].mean()


def utmos_loss(pred: torch.Tensor, target: torch.Tensor, tau: float = 0.5, margin: float = 0.1,
               contrastive_weight: float = 0.5) -> torch.Tensor:
    """Clipped MSE (squared error only where |pred − target| > tau) + 0.5 × contrastive."""
    err = pred - target
    clipped = torch.where(err.abs() > tau, err ** 2, torch.zeros_like(err)).mean()
    return clipped + contrastive_weight * contrastive_loss(pred, target, margin)


def dcq_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dual-criterion quality: mean((Δpred − Δtarget)²) − mean(Δpred · sign(Δtarget))."""
    n = pred.shape[0]
    if n < 2:
        return pred.sum() * 0.0
    d_pred = pred[:, None, :] - pred[None, :, :]
    d_true = target[:, None, :] - target[None, :, :]
    mask = _pair_mask(n, pred.device)
    discrepancy = ((d_pred - d_true) ** 2)[mask].mean()
    alignment = (d_pred * torch.sign(d_true))[mask].mean()
    return discrepancy - alignment


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """1 − Lin's concordance correlation (population moments), averaged over axes."""
    mp, mt = pred.mean(dim=0), target.mean(dim=0)
    vp = ((pred - mp) ** 2).mean(dim=0)
    vt = ((target - mt) ** 2).mean(dim=0)
    cov = ((pred - mp) * (target - mt)).mean(dim=0)
    ccc = 2 * cov / (vp + vt + (mp - mt) ** 2 + eps)
    return (1 - ccc).mean()


def get_loss(name: str):
    try:
        return {"utmos": utmos_loss, "contrastive": contrastive_loss, "dcq": dcq_loss, "ccc": ccc_loss}[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}") from None
