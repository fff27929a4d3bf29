"""Hand-designed acoustic descriptors as an encoder: the offline encoder of MMMOS-lite.

Every frame (50 Hz, so 16 frames tile one 0.32 s sequence bin) carries descriptors of
what listeners hear in speech, music and sound alike: level and dynamics, noise floor
and SNR, clipping, bandwidth and roll-off, spectral shape and flatness, harmonicity and
pitch stability, onsets and rhythm, tonal content (chroma), spectral complexity,
reverberation, dropouts and codec holes.

Design rules, each there for a property the lite model must keep:

- One fixed internal rate (16 kHz): the same clip given at 16, 22.05, 44.1 or 48 kHz
  becomes nearly the same input, so its scores cannot move with the file's rate.
- Gain normalisation: the clip is divided by its own RMS before any descriptor is
  taken, so ±6 dB changes nothing but the two absolute-level descriptors.
- Clip-wide descriptors (noise floor, SNR, bandwidth, clipping statistics) need the
  whole window; they are computed once over the valid frames and repeated on every
  frame, so the pooled mean equals them and each sequence bin carries them too.
- Zero padding is invisible: every statistic is taken over valid samples/frames only,
  and a frame only ever sees samples at or after its start (as in `LogMelEncoder`).
- Members L2-normalise the pooled vector, which would discard its length. The
  standardised descriptors are therefore followed by one constant channel: with it
  the normalised vector still determines the original (x = c * y[:-1] / y[-1]), so
  nothing absolute (e.g. "every quality descriptor is far below average") is lost.
  docs/lite.md records the measurement behind this choice.

Feature versions: version 1 is `descriptors`' set; version 2 adds `room`'s clip-wide
descriptors of the room and of competing talkers after it, leaving version 1's channels
bit for bit as they were. An encoder computes the set of the version its config names
(the model it belongs to was standardised and trained on exactly that set); a new one
(no config) computes the latest. The version and the names are in `config()`, so cached
embeddings of one version are never served to another.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torchaudio

from mmmos_core.errors import ModelLoadError

from .base import Encoder, EncoderOutput, soft_standardise
from .descriptors import FEATURE_NAMES as V1_NAMES
from .descriptors import GROUPS as V1_GROUPS
from .descriptors import describe
from .room import ROOM_GROUPS, ROOM_NAMES

# Each feature version's descriptors (channel order) and the groups that compute them.
FEATURE_SETS: dict[int, tuple[str, ...]] = {1: V1_NAMES, 2: V1_NAMES + ROOM_NAMES}
FEATURE_GROUPS = {1: V1_GROUPS, 2: V1_GROUPS + ROOM_GROUPS}
FEATURE_VERSION = max(FEATURE_SETS)  # what a new encoder computes
FEATURE_NAMES = FEATURE_SETS[FEATURE_VERSION]


class AcousticEncoder(Encoder):
    kind = "acoustic"

    def __init__(self, feature_mean: list[float] | None = None, feature_std: list[float] | None = None,
                 constant: float | None = None, n_fft: int = 1024, hop: int = 320,
                 soft_limit: float = 6.0, version: int = FEATURE_VERSION):
        super().__init__()
        if version not in FEATURE_SETS:
            raise ModelLoadError(f"acoustic encoder config is for feature version {version}, this code computes "
                                 f"versions {sorted(FEATURE_SETS)}; rebuild the model with `make lite-model`")
        self.version = int(version)
        self.feature_names = FEATURE_SETS[self.version]
        self.sample_rate = 16000
        self.n_fft = n_fft
        self.hop = hop
        self.frame_rate = self.sample_rate / hop
        self.num_layers = 1
        self.soft_limit = soft_limit
        n_feat = len(self.feature_names)
        self.constant = float(constant) if constant is not None else math.sqrt(n_feat)
        self.dim = n_feat + 1
        mean = torch.zeros(n_feat) if feature_mean is None else torch.tensor(feature_mean, dtype=torch.float32)
        std = torch.ones(n_feat) if feature_std is None else torch.tensor(feature_std, dtype=torch.float32)
        if mean.numel() != n_feat or std.numel() != n_feat:
            raise ModelLoadError(f"acoustic encoder statistics have {mean.numel()}/{std.numel()} values, "
                             f"expected {n_feat}")
        self.standardised = feature_mean is not None
        self.register_buffer("feature_mean", mean, persistent=False)
        self.register_buffer("feature_std", std.clamp(min=1e-6), persistent=False)

        # Spectral descriptors stop at 6 kHz: above it lies the transition band of
        # whatever resampler brought the clip to 16 kHz (torchaudio's default is -3 dB at
        # 7 kHz after a 16 -> 22.05 -> 16 kHz round trip), which differs between source
        # rates and must not move any descriptor.
        self.top_hz = 6000.0
        hz = self.sample_rate / n_fft
        n_bins = int(round(self.top_hz / hz)) + 1
        self.n_bins = n_bins
        freqs = torch.arange(n_bins, dtype=torch.float32) * hz
        self.register_buffer("freqs", freqs, persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        # Unit-area mel filters: a band's value is mean power per bin, so white noise is flat.
        fb = torchaudio.functional.melscale_fbanks(n_bins, 0.0, self.top_hz, 40, int(2 * self.top_hz),
                                                   norm=None, mel_scale="htk")
        fb = fb / fb.sum(dim=0, keepdim=True).clamp(min=1e-8)
        self.register_buffer("mel_fb", fb, persistent=False)  # [bins, 40]
        # Bin ranges as slices (boolean indexing would copy the whole spectrum each time).
        self.bin_of = lambda f_hz: int(math.ceil(f_hz / hz - 1e-9))
        # Window autocorrelation, to undo the window's taper in the lag domain (Boersma 1993).
        w = self.window
        wr = torch.fft.irfft(torch.fft.rfft(w).abs() ** 2, n=n_fft)
        self.register_buffer("window_acf", wr / wr[0], persistent=False)
        self.min_lag = int(self.sample_rate / 1000)  # 1 kHz
        self.max_lag = int(self.sample_rate / 60)  # 60 Hz
        # Chroma map over 55 Hz - 4 kHz: each bin votes for its pitch class with a
        # Gaussian of half a semitone, so a bin between two classes splits its vote.
        f = freqs.clamp(min=1.0)
        midi = 69.0 + 12.0 * torch.log2(f / 440.0)
        classes = torch.arange(12, dtype=torch.float32)
        dist = (midi[:, None] - classes[None, :]) % 12.0
        dist = torch.minimum(dist, 12.0 - dist)
        chroma = torch.exp(-0.5 * (dist / 0.5) ** 2)
        chroma = chroma * ((freqs >= 55.0) & (freqs <= 4000.0)).float()[:, None]
        self.register_buffer("chroma_map", chroma, persistent=False)  # [bins, 12]

    # ------------------------------------------------------------------ descriptors
    def raw_features(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, N], [B] -> unstandardised descriptors [B, T, F] (see `descriptors`) and the frame mask [B, T]."""
        return describe(self, waveforms, lengths, FEATURE_GROUPS[self.version], self.feature_names)

    # ------------------------------------------------------------------ interface
    def standardise(self, raw: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return soft_standardise(raw, mask, self.feature_mean, self.feature_std, self.soft_limit, self.constant)

    def encode(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        raw, mask = self.raw_features(waveforms, lengths)
        return EncoderOutput(self.standardise(raw, mask).unsqueeze(1), mask)

    def with_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> "AcousticEncoder":
        cfg = self.config()
        cfg["feature_mean"] = [float(v) for v in mean]
        cfg["feature_std"] = [float(v) for v in std]
        return AcousticEncoder.from_config(cfg)

    def config(self) -> dict[str, Any]:
        return {
            "version": self.version, "n_fft": self.n_fft, "hop": self.hop, "soft_limit": self.soft_limit,
            "constant": self.constant,
            "feature_names": list(self.feature_names),
            # Full precision: the float32 statistics must come back bit for bit from JSON.
            "feature_mean": [float(v) for v in self.feature_mean] if self.standardised else None,
            "feature_std": [float(v) for v in self.feature_std] if self.standardised else None,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], model_dir: Path | None = None) -> "AcousticEncoder":
        cfg = dict(config)
        names = cfg.pop("feature_names", None)
        expected = FEATURE_SETS.get(cfg.get("version", FEATURE_VERSION))
        if names is not None and expected is not None and list(names) != list(expected):
            raise ModelLoadError("acoustic encoder config lists different descriptors than this code computes; "
                             "rebuild the model with `make lite-model`")
        return cls(**cfg)
