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


def _device_of(encoder: Encoder) -> torch.device:
    device = next((p.device for p in encoder.parameters()), None)
    return device or next((b.device for b in encoder.buffers()), torch.device("cpu"))


# Windows per encoder forward on an accelerator, where batching is what makes it fast.
ACCELERATOR_WINDOWS_PER_FORWARD = 8


def windows_per_forward(encoder: Encoder, requested: int | None = None) -> int:
    """How many windows one forward of ``encoder`` takes: ``requested`` when a caller sets it,
    else a device-aware default. On a CPU it is the encoder's ``cpu_max_batch``, which
    bounds memory: one window for the pretrained encoders, whose every extra 10 s window
    adds its activations (150-250 MB) to the peak and nothing to the speed, since one
    window already keeps a CPU at its matmul rate. Encoders without a cap, and every
    encoder on an accelerator, take `ACCELERATOR_WINDOWS_PER_FORWARD`."""
    if requested is not None:
        return max(1, int(requested))
    if _device_of(encoder).type == "cpu":
        return encoder.cpu_max_batch or ACCELERATOR_WINDOWS_PER_FORWARD
    return ACCELERATOR_WINDOWS_PER_FORWARD


@torch.inference_mode()
def encode_windows_of(encoder: Encoder, audios: list[Audio], settings: WindowSettings,
                      max_batch: int | None = None) -> list[EncodedWindows]:
    """Each clip's windows through ``encoder``, windows of several clips sharing forwards.

    ``max_batch``: most windows per forward; None takes `windows_per_forward`'s
    device-aware default. Decoding, window cutting and the members are shared by all the
    clips of a call either way. Windows go longest first, so every full window of every
    clip lands in the same forwards; the encoder crops each window to its real length, so
    a window's features are the same whatever shares its batch.
    """
    device = _device_of(encoder)
    max_batch = windows_per_forward(encoder, max_batch)
    spans, cut = [], []
    for audio in audios:
        spans.append(window_spans(audio.duration_s, settings.window_s, settings.hop_s))
        cut.append(cut_windows(audio.resampled(encoder.sample_rate), encoder.sample_rate, spans[-1],
                               settings.window_s))
    samples = torch.cat([w.samples for w in cut])
    lengths = torch.cat([w.lengths for w in cut])
    order = sorted(range(len(lengths)), key=lambda i: -int(lengths[i]))
    pooled: list[torch.Tensor | None] = [None] * len(order)
    sequence: list[torch.Tensor | None] = [None] * len(order)
    seq_mask: list[torch.Tensor | None] = [None] * len(order)
    for start in range(0, len(order), max_batch):
        part = order[start:start + max_batch]
        out = encoder.encode(samples[part].to(device), lengths[part].to(device))
        frames = out.frames.float()
        seq, m = bin_frames(frames, out.mask, encoder.frame_rate, settings.bin_s, settings.num_bins)
        for row, (p, q, mm) in zip(part, zip(masked_mean(frames, out.mask).cpu(), seq.cpu(), m.cpu())):
            pooled[row], sequence[row], seq_mask[row] = p, q, mm
        del out, frames, seq
    encoded, first = [], 0
    for clip_spans in spans:
        rows = range(first, first + len(clip_spans))
        first += len(clip_spans)
        weights = torch.tensor([end - begin for begin, end in clip_spans], dtype=torch.float64)
        encoded.append(EncodedWindows(torch.stack([pooled[r] for r in rows]), torch.stack([sequence[r] for r in rows]),
                                      torch.stack([seq_mask[r] for r in rows]), weights))
    return encoded


def encode_windows(encoder: Encoder, audio: Audio, settings: WindowSettings,
                   max_batch: int | None = None) -> EncodedWindows:
    return encode_windows_of(encoder, [audio], settings, max_batch)[0]


def extract_features_many(encoders: dict[str, Encoder], audios: list[Audio], settings: WindowSettings,
                          cache: EmbeddingCache | None = None, max_batch: int | None = None) -> list[ClipFeatures]:
    """`extract_features` for several clips at once: what the cache lacks is encoded in shared forwards."""
    hashes = [a.content_hash() if cache is not None else "" for a in audios]
    by_encoder: list[dict[str, EncodedWindows]] = [{} for _ in audios]
    for name, encoder in encoders.items():
        keys = [(h, f"{encoder.cache_id}-{settings.key()}") for h in hashes]
        todo = []
        for i, key in enumerate(keys):
            hit = cache.get(key) if cache is not None else None
            if hit is None:
                todo.append(i)
            else:
                by_encoder[i][name] = hit
        if todo:
            for i, encoded in zip(todo, encode_windows_of(encoder, [audios[i] for i in todo], settings, max_batch)):
                by_encoder[i][name] = encoded
                if cache is not None:
                    cache.put(keys[i], encoded)
    return [ClipFeatures(clip, next(iter(clip.values())).weights) for clip in by_encoder]


def extract_features(encoders: dict[str, Encoder], audio: Audio, settings: WindowSettings,
                     cache: EmbeddingCache | None = None) -> ClipFeatures:
    return extract_features_many(encoders, [audio], settings, cache)[0]
