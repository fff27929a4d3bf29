"""A small convolutional network over a log-mel spectrogram: MMMOS-lite's learned encoder.

The hand-designed descriptors of `acoustic` summarise a clip in ~100 numbers chosen in
advance; what separates a damaged recording from a clean one of another source is not
always among them (docs/lite-history.md). This network is trained once, on the lite
corpus's training items (`training.front_end`), to predict their four labels from the
spectrogram, and is then frozen like any other encoder: members read its frame
embeddings beside the descriptors, and every member shares one pass of it.

Design rules, each there for a property the lite model must keep (as in `acoustic`):

- One fixed internal rate (16 kHz) and a clip divided by its own RMS before the
  spectrogram, so the file's rate and ±6 dB hardly move it; the descriptors carry level.
- Padding is invisible: the spectrogram and every hidden layer are zeroed on invalid
  frames, so a valid frame sees the same zeros however much padding follows it.
- Frames keep 50 per second (the network pools only over frequency), so sequence bins
  line up with the descriptors' frames.
- The pooled embedding is standardised with the training items' statistics and followed
  by a constant channel, for the same reason as the descriptors: members L2-normalise it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
import torchaudio
from torch import nn
from torch.nn import functional as F

from mmmos_core.errors import ModelLoadError

from .base import Encoder, EncoderOutput, soft_standardise

WEIGHTS = "encoders/melcnn.safetensors"


class MelCNN(nn.Module):
    """log-mel [B, n_mels, T] -> frame embeddings [B, T, dim]; a linear head reads their mean."""

    def __init__(self, n_mels: int = 64, channels: tuple[int, ...] = (8, 16, 32, 32), dim: int = 64):
        super().__init__()
        if n_mels % 2 ** len(channels):
            raise ValueError(f"n_mels {n_mels} must be divisible by 2**{len(channels)} (one halving per block)")
        self.blocks = nn.ModuleList()
        cin = 1
        for cout in channels:
            self.blocks.append(nn.Conv2d(cin, cout, 3, padding=1))
            cin = cout
        flat = channels[-1] * (n_mels // 2 ** len(channels))
        # With the 3x3 blocks, two dilated convolutions see 16 frames (0.32 s) either side of a frame:
        # enough for the start of a room's decay, which a single frame cannot show.
        self.time1 = nn.Conv1d(flat, dim, 5, padding=4, dilation=2)
        self.time2 = nn.Conv1d(dim, dim, 5, padding=8, dilation=4)
        self.head = nn.Sequential(nn.Linear(dim, 64), nn.ReLU(), nn.Linear(64, 4))

    def frames(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m2 = mask[:, None, None, :].to(mel.dtype)
        h = mel.unsqueeze(1) * m2
        for conv in self.blocks:
            h = F.max_pool2d(F.relu(conv(h)), (2, 1)) * m2
        m1 = m2[:, 0]
        h = h.flatten(1, 2)
        h = F.relu(self.time1(h)) * m1
        h = (F.relu(self.time2(h)) + h) * m1
        return h.transpose(1, 2)

    def forward(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, 4] standardised label predictions from the mean of the valid frames."""
        h = self.frames(mel, mask)
        m = mask[..., None].to(h.dtype)
        return self.head((h * m).sum(1) / m.sum(1).clamp(min=1.0))


def weights_digest(net: MelCNN) -> str:
    h = hashlib.sha256()
    for name, value in sorted(net.state_dict().items()):
        h.update(name.encode() + b"\0" + value.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()


class MelCNNEncoder(Encoder):
    kind = "melcnn"
    sample_rate = 16000

    def __init__(self, n_mels: int = 64, n_fft: int = 512, hop: int = 320, channels: tuple[int, ...] = (8, 16, 32, 32),
                 dim: int = 64, mel_mean: float = 0.0, mel_std: float = 1.0, soft_limit: float = 6.0,
                 constant: float = 1.0, feature_mean: list[float] | None = None,
                 feature_std: list[float] | None = None, weights_sha256: str | None = None, net: MelCNN | None = None):
        super().__init__()
        self.n_mels, self.n_fft, self.hop = n_mels, n_fft, hop
        self.channels, self.net_dim = tuple(channels), dim
        self.mel_mean, self.mel_std = float(mel_mean), float(mel_std)
        self.soft_limit, self.constant = soft_limit, constant
        self.frame_rate = self.sample_rate / hop
        self.dim = dim + 1
        self.net = net if net is not None else MelCNN(n_mels, self.channels, dim)
        self.weights_sha256 = weights_sha256 or weights_digest(self.net)
        self.standardised = feature_mean is not None and feature_std is not None
        self.register_buffer("feature_mean", torch.tensor(feature_mean if self.standardised else [0.0] * dim))
        self.register_buffer("feature_std", torch.tensor(feature_std if self.standardised else [1.0] * dim))
        # center=False: a frame only ever sees samples at or after its start (as `LogMelEncoder`).
        self.melspec = torchaudio.transforms.MelSpectrogram(sample_rate=self.sample_rate, n_fft=n_fft, hop_length=hop,
                                                            n_mels=n_mels, f_min=30.0, f_max=8000.0, center=False,
                                                            power=2.0)

    def spectrogram(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, N], [B] -> the standardised log-mel [B, n_mels, T] (zero on invalid frames) and its mask [B, T]."""
        valid = torch.arange(waveforms.shape[1], device=waveforms.device)[None, :] < lengths[:, None]
        x = waveforms.float() * valid
        rms = ((x ** 2).sum(1) / lengths.clamp(min=1)).sqrt().clamp(min=1e-5)
        x = F.pad(x / rms[:, None], (0, self.n_fft - self.hop))
        mel = 10.0 * torch.log10(self.melspec(x) + 1e-10)
        mask = self.frame_mask(lengths, mel.shape[-1])
        return (mel - self.mel_mean) / self.mel_std * mask[:, None, :], mask

    def raw_features(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unstandardised frame embeddings [B, T, dim] and the frame mask [B, T]."""
        mel, mask = self.spectrogram(waveforms, lengths)
        return self.net.frames(mel, mask), mask

    def encode(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        raw, mask = self.raw_features(waveforms, lengths)
        z = soft_standardise(raw, mask, self.feature_mean, self.feature_std, self.soft_limit, self.constant)
        return EncoderOutput(z.unsqueeze(1), mask)

    def with_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> "MelCNNEncoder":
        cfg = self.config()
        cfg["feature_mean"] = [float(v) for v in mean]
        # A unit that never fires on the training items has std 0: it stays 0, not NaN.
        cfg["feature_std"] = [max(float(v), 1e-6) for v in std]
        return MelCNNEncoder(**cfg, net=self.net)

    def config(self) -> dict[str, Any]:
        return {
            "n_mels": self.n_mels, "n_fft": self.n_fft, "hop": self.hop, "channels": list(self.channels),
            "dim": self.net_dim, "mel_mean": self.mel_mean, "mel_std": self.mel_std, "soft_limit": self.soft_limit,
            "constant": self.constant,
            "feature_mean": [float(v) for v in self.feature_mean] if self.standardised else None,
            "feature_std": [float(v) for v in self.feature_std] if self.standardised else None,
            # In the config, so cached embeddings of other weights are never served for these.
            "weights_sha256": self.weights_sha256,
        }

    def save(self, model_dir: Path) -> None:
        from safetensors.torch import save_file

        path = Path(model_dir) / WEIGHTS
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().float().contiguous() for k, v in self.net.state_dict().items()}, str(path))

    @classmethod
    def from_config(cls, config: dict[str, Any], model_dir: Path | None = None) -> "MelCNNEncoder":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        cfg = dict(config)
        if model_dir is None:
            raise ModelLoadError("the melcnn encoder has trained weights: load it from its model folder")
        path = Path(model_dir) / WEIGHTS
        if not path.is_file():
            raise ModelLoadError(f"{path}: missing (the melcnn encoder's weights)")
        net = MelCNN(cfg.get("n_mels", 64), tuple(cfg.get("channels", (8, 16, 32, 32))), cfg.get("dim", 64))
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise ModelLoadError(f"{path}: not a readable safetensors file of melcnn weights ({exc})") from None
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:  # wrong shapes or missing keys
            raise ModelLoadError(f"{path}: not the weights this melcnn config describes ({exc})") from None
        expected = cfg.get("weights_sha256")
        if expected is not None and weights_digest(net) != expected:
            raise ModelLoadError(f"{path}: its weights differ from the ones the model was trained with "
                                 "(checksum mismatch)")
        cfg["channels"] = tuple(cfg.get("channels", (8, 16, 32, 32)))
        return cls(**cfg, net=net)
