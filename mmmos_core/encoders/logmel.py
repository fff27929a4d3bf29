"""A log-mel spectrogram as an encoder: weight-free, offline, and the reference for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torchaudio

from .base import Encoder, EncoderOutput


class LogMelEncoder(Encoder):
    kind = "logmel"

    def __init__(self, sample_rate: int = 16000, n_mels: int = 64, n_fft: int = 512, hop: int = 320):
        super().__init__()
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop = hop
        self.frame_rate = sample_rate / hop
        self.dim = n_mels
        self.num_layers = 1
        # center=False so that a frame only ever sees samples at or after its start:
        # padding after the audio cannot leak into valid frames.
        self.melspec = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels, center=False, power=2.0)

    def encode(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        pad = self.n_fft - self.hop
        x = torch.nn.functional.pad(waveforms, (0, pad))
        mel = self.melspec(x)  # [B, n_mels, T]
        frames = torch.log(mel + 1e-6).transpose(1, 2)  # [B, T, D]
        mask = self.frame_mask(lengths, frames.shape[1])
        frames = frames * mask[..., None]
        return EncoderOutput(frames.unsqueeze(1), mask)

    def config(self) -> dict[str, Any]:
        return {"sample_rate": self.sample_rate, "n_mels": self.n_mels, "n_fft": self.n_fft, "hop": self.hop}

    @classmethod
    def from_config(cls, config: dict[str, Any], model_dir: Path | None = None) -> "LogMelEncoder":
        return cls(**config)
