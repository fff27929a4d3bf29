"""Audio -> per-encoder pooled features, computed once per clip and shared by all members."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from mmmos_core.encoders.base import Encoder

from .audio import Audio
from .cache import EmbeddingCache
from .pooling import bin_frames, masked_mean, sequence_bins
from .windows import cut_windows, window_spans


@dataclass(frozen=True)
class WindowSettings:
    window_s: float = 10.0
    hop_s: float = 10.0
    bin_s: float = 0.32  # 2 M2D frames, 8 MuQ frames, 16 WavLM frames: every real encoder tiles it

    @property
    def num_bins(self) -> int:
        return sequence_bins(self.window_s, self.bin_s)

    def key(self) -> str:
        return f"w{self.window_s}-h{self.hop_s}-b{self.bin_s}"


@dataclass
class EncodedWindows:
    """One encoder's view of one clip."""

    pooled: torch.Tensor  # [W, L, D] masked mean over each window's frames, per layer
    sequence: torch.Tensor  # [W, L, S, D] frames averaged into time bins
    sequence_mask: torch.Tensor  # [W, S]
    weights: torch.Tensor  # [W] seconds of real audio per window

    def as_dict(self) -> dict[str, torch.Tensor]:
        return asdict(self)


@dataclass
class ClipFeatures:
    by_encoder: dict[str, EncodedWindows]
    weights: torch.Tensor  # [W]

    @property
    def num_windows(self) -> int:
        return int(self.weights.shape[0])


@torch.inference_mode()
def encode_windows(encoder: Encoder, audio: Audio, settings: WindowSettings,
                   max_batch: int = 8) -> EncodedWindows:
    device = next((p.device for p in encoder.parameters()), None)
    device = device or next((b.device for b in encoder.buffers()), torch.device("cpu"))
    spans = window_spans(audio.duration_s, settings.window_s, settings.hop_s)
    windows = cut_windows(audio.resampled(encoder.sample_rate), encoder.sample_rate, spans, settings.window_s)
    if device.type == "cpu" and encoder.cpu_max_batch:
        # the encoder runs them one by one anyway; so its frames and their pooling temporaries are per window
        max_batch = min(max_batch, encoder.cpu_max_batch)
    pooled, sequence, seq_mask = [], [], []
    for i in range(0, windows.samples.shape[0], max_batch):
        x = windows.samples[i:i + max_batch].to(device)
        lengths = windows.lengths[i:i + max_batch].to(device)
        out = encoder.encode(x, lengths)
        frames = out.frames.float()
        pooled.append(masked_mean(frames, out.mask).cpu())
        seq, m = bin_frames(frames, out.mask, encoder.frame_rate, settings.bin_s, settings.num_bins)
        sequence.append(seq.cpu())
        seq_mask.append(m.cpu())
    weights = torch.tensor([end - start for start, end in spans], dtype=torch.float64)
    return EncodedWindows(torch.cat(pooled), torch.cat(sequence), torch.cat(seq_mask), weights)


def extract_features(encoders: dict[str, Encoder], audio: Audio, settings: WindowSettings,
                     cache: EmbeddingCache | None = None) -> ClipFeatures:
    by_encoder = {}
    audio_hash = audio.content_hash() if cache is not None else ""
    for name, encoder in encoders.items():
        key = (audio_hash, f"{encoder.cache_id}-{settings.key()}")
        encoded = cache.get(key) if cache is not None else None
        if encoded is None:
            encoded = encode_windows(encoder, audio, settings)
            if cache is not None:
                cache.put(key, encoded)
        by_encoder[name] = encoded
    first = next(iter(by_encoder.values()))
    return ClipFeatures(by_encoder, first.weights)
