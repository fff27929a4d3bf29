"""Aggregators: what sits between the encoder features and the four per-axis heads.

- ``mlp``: the per-encoder pooled vectors (L2-normalised, concatenated) through an MLP.
- ``blstm``: a bidirectional LSTM over the time-binned frame sequence (per-encoder
  L2-normalised, concatenated per bin); its outputs are mean-pooled over valid bins,
  and the pooled vector goes to the heads.
- ``blstm_t``: the same BLSTM, but the heads score every time step and the scores are
  averaged over valid bins ("t" for temporal scoring). This is how we read the paper's
  BLSTM(t): the paper names the variant without defining it, and its public code has
  no BLSTM; frame-level scoring then averaging is the UTMOS-style reading that gives
  the variant a different inductive bias from ``blstm``, as its own row in the paper's
  tables implies.

Every aggregator returns ``[B, 4]`` (one column per axis, in `AXES` order).

``heads`` names what scores each axis: "mlp" (this project's choice: for the ``mlp``
aggregator a shared 256-d GELU trunk then a two-layer head per axis) or "linear" (the
authors' code: one independent linear layer per axis straight on the aggregator's
output, which for ``mlp`` is the concatenated encoder vector itself).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mmmos_core.axes import AXES

AGGREGATORS = ("mlp", "blstm", "blstm_t")
HEADS = ("mlp", "linear")


class LinearAxisHeads(nn.Module):
    """One linear layer per axis, stored stacked: [..., in_dim] -> [..., 4]."""

    def __init__(self, in_dim: int, dropout: float = 0.0):
        super().__init__()
        n = len(AXES)
        self.weight = nn.Parameter(torch.empty(n, in_dim))
        self.bias = nn.Parameter(torch.zeros(n))
        self.dropout = nn.Dropout(dropout)
        bound = in_dim ** -0.5  # nn.Linear's default initialisation, per head
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x) @ self.weight.T + self.bias


class AxisHeads(nn.Module):
    """One small two-layer head per axis, so axes do not share their last layers.

    The four heads are stored stacked and run as one batched product: same maths as
    four separate MLPs, but one kernel call instead of four, which keeps a member cheap
    next to the shared encoder pass.
    """

    def __init__(self, in_dim: int, hidden: int, dropout: float):
        super().__init__()
        n = len(AXES)
        self.w1 = nn.Parameter(torch.empty(n, in_dim, hidden))
        self.b1 = nn.Parameter(torch.zeros(n, hidden))
        self.w2 = nn.Parameter(torch.empty(n, hidden))
        self.b2 = nn.Parameter(torch.zeros(n))
        self.dropout = nn.Dropout(dropout)
        for i in range(n):  # the same initialisation nn.Linear would give each head
            nn.init.kaiming_uniform_(self.w1.data[i].T, a=5 ** 0.5)
            nn.init.uniform_(self.b1.data[i], -in_dim ** -0.5, in_dim ** -0.5)
            nn.init.uniform_(self.w2.data[i], -hidden ** -0.5, hidden ** -0.5)
            nn.init.uniform_(self.b2.data[i:i + 1], -hidden ** -0.5, hidden ** -0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[..., in_dim] -> [..., 4]"""
        h = torch.nn.functional.gelu(torch.einsum("...i,aih->...ah", x, self.w1) + self.b1)
        return (self.dropout(h) * self.w2).sum(dim=-1) + self.b2


class MLPAggregator(nn.Module):
    uses_sequence = False

    def __init__(self, in_dim: int, hidden: int = 256, dropout: float = 0.1, heads: str = "mlp"):
        super().__init__()
        if heads == "linear":
            self.trunk = nn.Identity()
            self.heads = LinearAxisHeads(in_dim, dropout)
        else:
            self.trunk = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout))
            self.heads = AxisHeads(hidden, hidden // 2, dropout)

    def forward(self, pooled: torch.Tensor, sequence=None, mask=None) -> torch.Tensor:
        return self.heads(self.trunk(pooled))


class BLSTMAggregator(nn.Module):
    uses_sequence = True

    def __init__(self, in_dim: int, hidden: int = 256, dropout: float = 0.1, temporal: bool = False,
                 heads: str = "mlp"):
        super().__init__()
        self.temporal = temporal
        self.project = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.GELU())
        self.lstm = nn.LSTM(hidden, hidden // 2, batch_first=True, bidirectional=True)
        self.heads = LinearAxisHeads(hidden, dropout) if heads == "linear" else AxisHeads(hidden, hidden // 2, dropout)

    def forward(self, pooled, sequence: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(dim=1).clamp(min=1)
        x = self.project(sequence)
        if bool((lengths == lengths[0]).all()):
            # Equal lengths: cutting the padding off is exact and much cheaper than packing.
            valid = int(lengths[0])
            out, _ = self.lstm(x[:, :valid])
            out = torch.nn.functional.pad(out, (0, 0, 0, x.shape[1] - valid))
        else:
            # Packing keeps padded bins out of the recurrence in both directions.
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        m = mask[..., None].to(out.dtype)
        if self.temporal:
            scores = self.heads(out)  # [B, S, 4]
            return (scores * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        pooled_out = (out * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        return self.heads(pooled_out)


def build_aggregator(kind: str, in_dim: int, hidden: int, dropout: float, heads: str = "mlp") -> nn.Module:
    if heads not in HEADS:
        raise ValueError(f"unknown heads {heads!r}; choose from {', '.join(HEADS)}")
    if kind == "mlp":
        return MLPAggregator(in_dim, hidden, dropout, heads)
    if kind == "blstm":
        return BLSTMAggregator(in_dim, hidden, dropout, temporal=False, heads=heads)
    if kind == "blstm_t":
        return BLSTMAggregator(in_dim, hidden, dropout, temporal=True, heads=heads)
    raise ValueError(f"unknown aggregator {kind!r}; choose from {', '.join(AGGREGATORS)}")
