"""Training MMMOS-lite's learned encoder (`encoders.melcnn`) on the training items' labels.

The network learns once, before the members, and is frozen for them: it predicts the
four standardised labels from the mean of its frame embeddings, with the squared error
plus a hinge on PQ between versions of one recording (a better version must be predicted
at least ``pair_margin`` of the label gap above a worse one), because ordering damaged
versions of one recording is what its embeddings must carry. Crops of one group share
their offset, so the versions compared hold the same content.

Deterministic for a seed on one thread: the build checks a rebuild within 1e-6.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from mmmos_core.axes import AXES
from mmmos_core.encoders.melcnn import MelCNNEncoder
from mmmos_core.model.audio import Audio

from .sweep import TrainItem


@dataclass
class FrontEndSettings:
    epochs: int = 18
    lr: float = 1e-3
    weight_decay: float = 1e-4
    groups_per_batch: int = 8  # of 3-5 versions each: about 32 items
    crop_s: float = 3.0
    pair_weight: float = 1.0
    pair_margin: float = 0.5
    pair_min_gap: float = 0.2  # in standardised PQ
    seed: int = 0


def _spectrograms(encoder: MelCNNEncoder, items: list[TrainItem]) -> list[torch.Tensor]:
    """Each item's log-mel [n_mels, T] by the encoder's own front, whole item (unstandardised
    from a new encoder, whose mel statistics are 0 and 1)."""
    out = []
    with torch.inference_mode():
        for item in items:
            if not isinstance(item.audio, Audio):
                raise TypeError(f"{item.id}: the front end trains on decoded audio")
            x = torch.from_numpy(item.audio.resampled(encoder.sample_rate).astype(np.float32))[None]
            mel, _ = encoder.spectrogram(x, torch.tensor([x.shape[1]]))
            out.append(mel[0].clone())
    return out


def _batches(items: list[TrainItem], settings: FrontEndSettings, rng: np.random.Generator) -> list[list[int]]:
    groups: dict[str, list[int]] = {}
    for k, item in enumerate(items):
        groups.setdefault(item.group or item.id, []).append(k)
    small = [g for g in groups.values() if len(g) <= 8]
    # A "group" of hundreds (e.g. the proxy's synthetic items) is no set of versions: its items go singly.
    loose = [k for g in groups.values() if len(g) > 8 for k in g]
    order = rng.permutation(len(small))
    batches = [sum((small[i] for i in order[j:j + settings.groups_per_batch]), [])
               for j in range(0, len(order), settings.groups_per_batch)]
    loose = [loose[i] for i in rng.permutation(len(loose))]
    size = 4 * settings.groups_per_batch
    batches += [loose[j:j + size] for j in range(0, len(loose), size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def train_front_end(items: list[TrainItem], settings: FrontEndSettings | None = None,
                    progress: Callable[[str], None] | None = None) -> MelCNNEncoder:
    """The trained encoder, its spectrogram standardised on ``items`` (embedding statistics not yet set)."""
    settings = settings or FrontEndSettings()
    say = progress or (lambda message: None)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    encoder = MelCNNEncoder()
    t0 = time.time()
    mels = _spectrograms(encoder, items)
    frames = torch.cat([m for m in mels[::7]], dim=1).double()
    mel_mean, mel_std = float(frames.mean()), float(frames.std())
    mels = [(m - mel_mean) / mel_std for m in mels]
    y = torch.tensor([[item.labels[a] for a in AXES] for item in items], dtype=torch.float64)
    y = ((y - y.mean(0)) / y.std(0).clamp(min=1e-6)).float()  # a constant axis (in tests) must not divide by 0
    net = encoder.net
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    crop = int(round(settings.crop_s * encoder.frame_rate))
    batches_per_epoch = len(_batches(items, settings, np.random.default_rng(0)))
    total = settings.epochs * batches_per_epoch
    step = 0
    for epoch in range(settings.epochs):
        running = 0.0
        batches = _batches(items, settings, rng)
        for idx in batches:
            x = torch.zeros(len(idx), encoder.n_mels, crop)
            mask = torch.zeros(len(idx), crop, dtype=torch.bool)
            offsets: dict[str, float] = {}
            for row, k in enumerate(idx):
                m = mels[k]
                key = items[k].group or items[k].id
                start = int(offsets.setdefault(key, float(rng.random())) * max(0, m.shape[1] - crop + 1))
                piece = m[:, start:start + crop]
                x[row, :, :piece.shape[1]] = piece
                mask[row, :piece.shape[1]] = True
            for group in opt.param_groups:  # cosine decay to zero over the whole run
                group["lr"] = settings.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            pred = net(x, mask)
            target = y[idx]
            loss = F.mse_loss(pred, target)
            keys = [items[k].group or items[k].id for k in idx]
            same = torch.tensor([[a == b for b in keys] for a in keys])
            gap = target[:, None, 0] - target[None, :, 0]
            pairs = same & (gap > settings.pair_min_gap)
            if pairs.any():
                dp = pred[:, None, 0] - pred[None, :, 0]
                loss = loss + settings.pair_weight * F.relu(settings.pair_margin * gap[pairs] - dp[pairs]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += float(loss.detach())
            step += 1
        say(f"front end: epoch {epoch + 1}/{settings.epochs}, loss {running / len(batches):.3f} "
            f"({time.time() - t0:.0f} s)")
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return MelCNNEncoder(encoder.n_mels, encoder.n_fft, encoder.hop, encoder.channels, encoder.net_dim,
                         mel_mean=mel_mean, mel_std=mel_std, net=net)
