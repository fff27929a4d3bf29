"""An ensemble member: layer mixing, per-encoder normalisation, an aggregator and heads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from .aggregators import build_aggregator
from .features import ClipFeatures
from .pooling import l2_normalise

LAYER_CHOICES = ("mix", "last")


@dataclass
class MemberConfig:
    name: str
    encoders: list[str]
    aggregator: str = "mlp"
    loss: str = "utmos"
    hidden: int = 256
    dropout: float = 0.1
    heads: str = "mlp"  # "linear": the authors' one linear layer per axis (see aggregators.py)
    # Per encoder, which hidden layers feed the member: "mix" (learned softmax weights over
    # all layers, the default) or "last" (the last hidden state only, as the authors take MuQ's).
    layers: dict[str, str] = field(default_factory=dict)
    weights: str = ""  # file inside the model directory
    validation: dict[str, Any] = field(default_factory=dict)  # the metrics it was selected on
    training: dict[str, Any] = field(default_factory=dict)  # seed, epochs, lr: how to remake it
    # The domains whose clips this member scores, weighed by the model's router
    # (`mmmos_core.model.router`); empty: every clip, the usual member.
    domains: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.domains:
            del d["domains"]  # a general member's manifest entry stays as models before routing wrote it
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MemberConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class FeatureBatch:
    """Windows of one or more clips, flattened, as every member consumes them."""

    pooled: dict[str, torch.Tensor]  # name -> [B, L, D]
    sequence: dict[str, torch.Tensor]  # name -> [B, L, S, D]
    sequence_mask: torch.Tensor  # [B, S]
    weights: torch.Tensor  # [B] seconds of real audio
    clip_index: torch.Tensor  # [B] which clip each window belongs to
    num_clips: int
    memo: dict = field(default_factory=dict, repr=False)  # member inputs shared within this batch

    @classmethod
    def from_clips(cls, clips: list[ClipFeatures], encoders: list[str] | None = None,
                   with_sequence: bool = True, device: torch.device | str | None = None) -> "FeatureBatch":
        names = encoders or list(clips[0].by_encoder)
        pooled = {n: torch.cat([c.by_encoder[n].pooled for c in clips]).float() for n in names}
        if with_sequence:
            sequence = {n: torch.cat([c.by_encoder[n].sequence for c in clips]).float() for n in names}
            masks = [torch.cat([c.by_encoder[n].sequence_mask for c in clips]) for n in names]
            mask = masks[0]
            for m in masks[1:]:
                mask = mask & m  # a bin counts only where every encoder has frames in it
        else:
            sequence, mask = {}, torch.ones(sum(c.num_windows for c in clips), 1, dtype=torch.bool)
        weights = torch.cat([c.weights for c in clips]).float()
        clip_index = torch.cat([torch.full((c.num_windows,), i, dtype=torch.long) for i, c in enumerate(clips)])
        batch = cls(pooled, sequence, mask, weights, clip_index, len(clips))
        return batch.to(device) if device is not None else batch

    def to(self, device) -> "FeatureBatch":
        return FeatureBatch({k: v.to(device) for k, v in self.pooled.items()},
                            {k: v.to(device) for k, v in self.sequence.items()},
                            self.sequence_mask.to(device), self.weights.to(device),
                            self.clip_index.to(device), self.num_clips)

    def clip_average(self, window_scores: torch.Tensor) -> torch.Tensor:
        """[B, A] window scores -> [num_clips, A], weighted by real window length."""
        w = self.weights[:, None].to(window_scores.dtype)
        total = torch.zeros(self.num_clips, window_scores.shape[1], dtype=window_scores.dtype,
                            device=window_scores.device).index_add_(0, self.clip_index, window_scores * w)
        norm = torch.zeros(self.num_clips, 1, dtype=w.dtype, device=w.device).index_add_(0, self.clip_index, w)
        return total / norm.clamp(min=1e-9)


class Member(nn.Module):
    def __init__(self, config: MemberConfig, encoder_shapes: dict[str, tuple[int, int]]):
        """encoder_shapes: name -> (num_layers, dim) for at least the member's encoders."""
        super().__init__()
        self.config = config
        missing = [e for e in config.encoders if e not in encoder_shapes]
        if missing:
            raise ValueError(f"member {config.name!r} uses unknown encoders {missing}")
        unknown = {n: v for n, v in config.layers.items() if v not in LAYER_CHOICES}
        if unknown:
            raise ValueError(f"member {config.name!r}: layer choice must be one of {LAYER_CHOICES}, got {unknown}")
        self.layer_logits = nn.ParameterDict({
            name: nn.Parameter(torch.zeros(encoder_shapes[name][0]))
            for name in config.encoders
            if encoder_shapes[name][0] > 1 and config.layers.get(name, "mix") == "mix"
        })
        in_dim = sum(encoder_shapes[name][1] for name in config.encoders)
        self.aggregator = build_aggregator(config.aggregator, in_dim, config.hidden, config.dropout, config.heads)

    @property
    def uses_sequence(self) -> bool:
        return self.aggregator.uses_sequence

    def _mix(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """[B, L, ..., D] -> [B, ..., D]: softmax-weighted sum over layers, or the last layer."""
        if name in self.layer_logits:
            w = torch.softmax(self.layer_logits[name], dim=0)
            return torch.einsum("bl...,l->b...", x, w)
        if self.config.layers.get(name) == "last":
            return x[:, -1]
        return x[:, 0]

    def prepared_input(self, batch: FeatureBatch) -> torch.Tensor:
        """What the aggregator reads: per-encoder L2-normalised features, concatenated.

        Pooled [B, In] for the MLP, binned sequence [B, S, In] for the BLSTMs. Without
        learned layer weights the input only depends on the encoder subset, so members
        that share it compute it once per batch (at inference).
        """
        key = (tuple(self.config.encoders), self.uses_sequence, tuple(sorted(self.config.layers.items())))
        shareable = not self.layer_logits and not torch.is_grad_enabled()
        if shareable and key in batch.memo:
            return batch.memo[key]
        if self.uses_sequence:
            parts = [l2_normalise(self._mix(n, batch.sequence[n])) for n in self.config.encoders]
            x = torch.cat(parts, dim=-1) * batch.sequence_mask[..., None]
        else:
            x = torch.cat([l2_normalise(self._mix(n, batch.pooled[n])) for n in self.config.encoders], dim=-1)
        if shareable:
            batch.memo[key] = x
        return x

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        """Window-level z-scored predictions [B, 4]."""
        x = self.prepared_input(batch)
        if self.uses_sequence:
            return self.aggregator(None, x, batch.sequence_mask)
        return self.aggregator(x)
