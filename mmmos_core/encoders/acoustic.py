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
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchaudio

from mmmos_core.errors import ModelLoadError

from .base import Encoder, EncoderOutput

# Bumped whenever a descriptor's definition changes, so cached embeddings are not reused.
FEATURE_VERSION = 1

_EPS = 1e-10  # power floor on the unit-RMS scale: -100 dB below the clip's own RMS
_FLOOR_DB = -100.0
FLOOR_SNR_DB = 55.0
QUIET_BELOW_DBFS = -40.0


def _db(power: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10(power + _EPS)


def _masked_quantile(values: torch.Tensor, mask: torch.Tensor, q: float) -> torch.Tensor:
    """Quantile over the last-but-one axis (time) of [B, T, ...] using only masked-in rows."""
    m = mask
    while m.dim() < values.dim():
        m = m.unsqueeze(-1)
    v = torch.where(m, values, torch.full_like(values, float("nan")))
    out = torch.nanquantile(v, q, dim=1)
    return torch.nan_to_num(out, nan=0.0)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(values.dtype)
    while m.dim() < values.dim():
        m = m.unsqueeze(-1)
    return (values * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def _masked_std(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean = _masked_mean(values, mask)
    return _masked_mean((values - mean.unsqueeze(1)) ** 2, mask).clamp(min=0).sqrt()


def _shift(x: torch.Tensor, k: int) -> torch.Tensor:
    """x[:, t - k] along time (dim 1), edge-padded: frame t sees frame t-k (k may be negative)."""
    if k == 0:
        return x
    if k > 0:
        return torch.cat([x[:, :1].expand(-1, k, *x.shape[2:]), x[:, :-k]], dim=1)
    k = -k
    return torch.cat([x[:, k:], x[:, -1:].expand(-1, k, *x.shape[2:])], dim=1)


# name, and whether it is clip-wide (repeated on every frame) or per frame. The order is
# the channel order; docs/lite.md lists them with their meaning.
FEATURE_NAMES: tuple[str, ...] = (
    # level and loudness
    "frame_level_db", "quiet_level_dbfs", "crest_db", "dynamic_range_db", "level_std_db",
    # noise floor and SNR
    "snr_db", "floor_db", "median_level_db", "band_snr_low", "band_snr_mid", "band_snr_high",
    "floor_flatness_db", "frame_snr_db", "active_fraction",
    # clipping
    "frame_near_peak", "near_peak_fraction", "rail_pileup", "flat_top_fraction",
    # bandwidth
    "bandwidth_20db", "bandwidth_30db", "bandwidth_40db", "bandwidth_50db", "floor_bandwidth_20db",
    "signal_bandwidth_10db", "signal_bandwidth_20db", "floor_tilt_db",
    "edge_drop_db", "edge_freq", "rolloff_85", "rolloff_95", "rolloff_99", "hf_ratio_3k_db", "hf_ratio_5k_db",
    # spectral shape
    *[f"band_{i:02d}_rel_db" for i in range(20)],
    "centroid", "spread", "flatness_db", "flatness_low_db", "flatness_mid_db", "flatness_high_db",
    "slope", "entropy", "shape_flux",
    # harmonicity and pitch
    "harmonicity", "hnr_db", "voiced", "pitch_oct", "pitch_jump", "voiced_fraction", "pitch_instability",
    # onsets and rhythm
    "onset_strength", "onset_rate", "rhythm_regularity",
    # tonal content
    "chroma_1", "chroma_2", "chroma_3", "chroma_4", "chroma_entropy", "chroma_flux",
    # spectral complexity
    "peak_count", "active_bands", "effective_rank",
    # reverberation
    "decay_low", "decay_mid", "decay_high", "spectral_persistence",
    "modulation_low", "modulation_midlow", "modulation_midhigh", "modulation_high",
    # dropouts, codec artefacts, DC
    "frame_gap", "gap_fraction", "digital_silence", "frame_hf_holes", "hf_flicker_db",
)


class AcousticEncoder(Encoder):
    kind = "acoustic"

    def __init__(self, feature_mean: list[float] | None = None, feature_std: list[float] | None = None,
                 constant: float | None = None, n_fft: int = 1024, hop: int = 320,
                 soft_limit: float = 6.0, version: int = FEATURE_VERSION):
        super().__init__()
        if version != FEATURE_VERSION:
            raise ModelLoadError(f"acoustic encoder config is for feature version {version}, "
                             f"this code computes version {FEATURE_VERSION}; rebuild the model")
        self.sample_rate = 16000
        self.n_fft = n_fft
        self.hop = hop
        self.frame_rate = self.sample_rate / hop
        self.num_layers = 1
        self.soft_limit = soft_limit
        n_feat = len(FEATURE_NAMES)
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
        """[B, N], [B] -> unstandardised descriptors [B, T, F] and the frame mask [B, T]."""
        x = waveforms.float()
        if x.dim() == 1:
            x = x[None]
        B, N = x.shape
        lengths = lengths.to(x.device).long().clamp(min=1, max=N)
        smask = torch.arange(N, device=x.device)[None, :] < lengths[:, None]
        n = lengths.to(x.dtype)
        x = x * smask
        dc = x.sum(dim=1) / n
        # Exact zeros stay zero: digital silence must still read as silence after the
        # DC offset is taken out.
        x = (x - dc[:, None]) * (smask & (x != 0))
        rms = ((x ** 2).sum(dim=1) / n).sqrt()
        peak = x.abs().amax(dim=1)
        silent = rms < 1e-9
        xn = x / torch.where(silent, torch.ones_like(rms), rms)[:, None]

        # Frames: a frame starts every hop and sees n_fft samples from there on.
        pad = self.n_fft - self.hop
        need = max(0, self.n_fft - (N + pad))
        xp = F.pad(xn, (0, pad + need))
        frames = xp.unfold(1, self.n_fft, self.hop)  # [B, T, n_fft]
        T = frames.shape[1]
        fmask = self.frame_mask(lengths, T)
        spec = torch.fft.rfft(frames * self.window, dim=-1)
        power = spec.real ** 2 + spec.imag ** 2  # [B, T, bins]
        # Scaled so that the one-sided bins sum to the frame's mean square (Parseval).
        power = power * (2.0 / (self.n_fft * (self.window ** 2).sum()))
        power = power * fmask[..., None]

        feats: dict[str, torch.Tensor] = {}

        def clipwide(name: str, value: torch.Tensor) -> None:
            feats[name] = value[:, None].expand(B, T)

        # ---- level and loudness ---------------------------------------------------
        frame_pow = power.sum(dim=-1)
        # A white floor as if noise were added at 55 dB SNR: detail below it is barely
        # audible, and down there resamplers leave residue that differs with the source
        # rate (torchaudio's 16 -> 22.05 -> 16 kHz round trip lifts an empty band by
        # ~15 dB at -90 dB; with a 65 dB floor that still moved scores between rates).
        power = power[..., : self.n_bins] + 10 ** (-FLOOR_SNR_DB / 10) / self.n_bins
        level = _db(frame_pow).clamp(min=_FLOOR_DB)  # dB re the clip's RMS
        feats["frame_level_db"] = level.clamp(min=-80.0)
        rms_dbfs = (20 * torch.log10(rms + 1e-12)).clamp(-100.0, 20.0)
        peak_dbfs = (20 * torch.log10(peak + 1e-12)).clamp(-100.0, 20.0)
        # The one absolute-level descriptor, and only for very quiet clips: it is flat
        # above -40 dBFS RMS, so a normal clip's score cannot move with its gain. (Peak
        # level is left out: a loud float file can peak above full scale without harm.)
        clipwide("quiet_level_dbfs", rms_dbfs.clamp(max=QUIET_BELOW_DBFS))
        clipwide("crest_db", torch.where(silent, torch.zeros_like(rms), peak_dbfs - rms_dbfs))
        # Noise-floor statistics are taken over "live" frames: digital silence (zero
        # padding, gated pauses) has no noise floor and is described on its own below.
        live = fmask & (level > _FLOOR_DB + 1.0)
        live = torch.where(live.any(dim=1, keepdim=True), live, fmask)
        p05, p10 = _masked_quantile(level, live, 0.05), _masked_quantile(level, live, 0.10)
        p50, p95 = _masked_quantile(level, live, 0.50), _masked_quantile(level, live, 0.95)
        clipwide("dynamic_range_db", p95 - p10)
        active = fmask & (level > p95[:, None] - 30.0)
        clipwide("level_std_db", _masked_std(level, active))

        # ---- noise floor and SNR --------------------------------------------------
        mel = power @ self.mel_fb  # [B, T, 40]
        mel_db = _db(mel).clamp(min=_FLOOR_DB)
        clipwide("snr_db", p95 - p05)
        clipwide("floor_db", p10)
        clipwide("median_level_db", p50)
        groups = ((0, 14), (14, 27), (27, 40))
        for name, (a, b) in zip(("band_snr_low", "band_snr_mid", "band_snr_high"), groups):
            g = _db(mel[..., a:b].mean(dim=-1)).clamp(min=_FLOOR_DB)
            hi, lo = _masked_quantile(g, live, 0.95), _masked_quantile(g, live, 0.10)
            clipwide(name, hi - lo)
        floor_spec = _masked_quantile(mel, live, 0.10)  # [B, 40] noise floor spectrum
        floor_flat = _db(torch.exp(torch.log(floor_spec + _EPS).mean(-1))) - _db(floor_spec.mean(-1) + _EPS)
        clipwide("floor_flatness_db", floor_flat)
        feats["frame_snr_db"] = (level - p10[:, None]).clamp(min=-20.0, max=80.0)
        clipwide("active_fraction", _masked_mean(active.float(), fmask))

        # ---- clipping: samples pile up at the rails, gain-invariantly ------------------
        pos = xn.masked_fill(~smask, float("-inf")).amax(dim=1)
        neg = xn.masked_fill(~smask, float("inf")).amin(dim=1)
        pos = torch.where(silent, torch.ones_like(pos), pos).clamp(min=1e-6)
        neg = torch.where(silent, -torch.ones_like(neg), neg).clamp(max=-1e-6)
        rel = torch.where(xn >= 0, xn / pos[:, None], xn / neg[:, None]) * smask
        near95 = (rel >= 0.95) & smask
        band85 = (rel >= 0.85) & (rel < 0.95) & smask
        hop_blocks = F.pad(near95.float(), (0, T * self.hop - N)) if T * self.hop > N else near95.float()[:, :T * self.hop]
        feats["frame_near_peak"] = torch.log10(hop_blocks.view(B, T, self.hop).mean(-1) + 1e-3)
        c95, c85 = near95.sum(dim=1).float(), band85.sum(dim=1).float()
        clipwide("near_peak_fraction", torch.log10(c95 / n + 1e-5))
        prior = 1.0 + 1e-4 * n  # pseudo-counts: a clean clip's few peak samples must not make noise here
        clipwide("rail_pileup", torch.log((c95 + prior) / (c85 + prior)))
        dx = (xn - torch.roll(xn, 1, dims=1)).abs()
        flat = (rel >= 0.9) & (dx < 0.01 * torch.maximum(pos, neg.abs())[:, None]) & smask
        flat[:, 0] = False
        clipwide("flat_top_fraction", torch.log10(flat.sum(dim=1).float() / n + 1e-5))

        # ---- bandwidth and roll-off -----------------------------------------------
        n_lin = (self.n_bins - 1) // 8
        lin = power[..., 1:].reshape(B, T, n_lin, 8).mean(-1)  # [B, T, 48] bands of 125 Hz
        ltas = _db(_masked_mean(lin, fmask))  # [B, 48]
        ltas_rel = ltas - ltas.amax(dim=-1, keepdim=True)
        idx = torch.arange(1, n_lin + 1, device=x.device, dtype=x.dtype) / n_lin
        for thr in (20, 30, 40, 50):
            above = torch.sigmoid((ltas_rel + thr) / 2.0)
            clipwide(f"bandwidth_{thr}db", (idx * above).amax(dim=-1))
        floor_lin = _db(_masked_quantile(lin, live, 0.10))
        floor_rel = floor_lin - floor_lin.amax(dim=-1, keepdim=True)
        clipwide("floor_bandwidth_20db", (idx * torch.sigmoid((floor_rel + 20) / 2.0)).amax(dim=-1))
        # Where the signal itself reaches: bands whose level moves (loud frames well above
        # that band's floor). Stationary noise fills a band without moving it, so a
        # band limit stays visible under added noise.
        lin_db = _db(lin)
        swing = _masked_quantile(lin_db, live, 0.95) - _masked_quantile(lin_db, live, 0.10)
        for thr in (10, 20):
            clipwide(f"signal_bandwidth_{thr}db", (idx * torch.sigmoid((swing - thr) / 2.0)).amax(dim=-1))
        # White noise or hiss lifts the floor at high frequencies relative to low ones.
        clipwide("floor_tilt_db", _db(floor_spec[:, 30:].mean(-1)) - _db(floor_spec[:, 8:20].mean(-1)))
        # A steep edge (a low-pass, a codec's cut-off) drops tens of dB within 500 Hz.
        drop = ltas[:, 4:n_lin - 4] - ltas[:, 8:n_lin]  # band j vs band j+4, from 500 Hz up
        edge, where = drop.max(dim=-1)
        clipwide("edge_drop_db", edge)
        clipwide("edge_freq", (where.to(x.dtype) + 6.0) / n_lin)
        cum = power.cumsum(dim=-1)
        total = cum[..., -1:].clamp(min=_EPS)
        nb = power.shape[-1]
        for q in (85, 95, 99):
            feats[f"rolloff_{q}"] = (cum < total * (q / 100.0)).sum(dim=-1).to(x.dtype) / nb
        f = self.freqs
        feats["hf_ratio_3k_db"] = _db(power[..., self.bin_of(3000):].sum(-1) / total[..., 0]).clamp(min=-80.0)
        feats["hf_ratio_5k_db"] = _db(power[..., self.bin_of(5000):].sum(-1) / total[..., 0]).clamp(min=-80.0)

        # ---- spectral shape ---------------------------------------------------------
        rel_db = mel_db - _db(mel.mean(-1, keepdim=True))
        rel_db = rel_db.clamp(min=-80.0)
        shape20 = rel_db.view(B, T, 20, 2).mean(-1)
        for i in range(20):
            feats[f"band_{i:02d}_rel_db"] = shape20[..., i]
        p = power / total
        centroid = (p * f).sum(-1)
        feats["centroid"] = centroid / self.top_hz
        feats["spread"] = ((p * (f - centroid[..., None]) ** 2).sum(-1)).sqrt() / self.top_hz

        def flatness(P: torch.Tensor) -> torch.Tensor:
            return (_db(torch.exp(torch.log(P + _EPS).mean(-1))) - _db(P.mean(-1))).clamp(min=-60.0)

        feats["flatness_db"] = flatness(power[..., 1:])
        feats["flatness_low_db"] = flatness(power[..., 1:self.bin_of(1000)])
        feats["flatness_mid_db"] = flatness(power[..., self.bin_of(1000):self.bin_of(4000)])
        feats["flatness_high_db"] = flatness(power[..., self.bin_of(4000):])
        k = torch.linspace(-1.0, 1.0, 40, device=x.device)
        feats["slope"] = (rel_db * k).sum(-1) / (k ** 2).sum() / 10.0
        feats["entropy"] = -(p * torch.log(p + 1e-12)).sum(-1) / math.log(nb)
        feats["shape_flux"] = (rel_db - _shift(rel_db, 1)).abs().mean(-1) / 10.0

        # ---- harmonicity and pitch --------------------------------------------------
        # The circular autocorrelation of the already computed spectrum: its wrap-around
        # term (lags beyond n_fft - max_lag) is negligible under the Hann taper.
        acf = torch.fft.irfft(power, n=self.n_fft, dim=-1)[..., : self.max_lag + 2]  # zero above 7.5 kHz
        acf = acf / self.window_acf[: self.max_lag + 2]
        acf = acf / acf[..., :1].clamp(min=_EPS)
        lo, hi = self.min_lag, self.max_lag
        mid = acf[..., lo:hi + 1]
        peaks = (mid > acf[..., lo - 1:hi]) & (mid >= acf[..., lo + 1:hi + 2])
        lags = torch.arange(lo, hi + 1, device=x.device, dtype=x.dtype)
        # A small cost per octave of lag keeps the first period from losing to its multiples.
        score = torch.where(peaks, mid - 0.02 * torch.log2(lags / lo), torch.full_like(mid, -1.0))
        best, arg = score.max(dim=-1)
        harm = torch.where(best > -1.0, acf.gather(-1, (arg + lo)[..., None])[..., 0], torch.zeros_like(best))
        harm = harm.clamp(0.0, 0.999) * (level > p10[:, None] + 3.0) * fmask
        f0 = self.sample_rate / (arg + lo).to(x.dtype)
        voiced = (harm > 0.5) & fmask
        feats["harmonicity"] = harm
        feats["hnr_db"] = (10 * torch.log10((harm + 1e-3) / (1.0 - harm + 1e-3))).clamp(-20.0, 30.0)
        feats["voiced"] = voiced.float()
        logf0 = torch.log2(f0 / 200.0)
        feats["pitch_oct"] = logf0 * voiced
        both = voiced & _shift(voiced, 1)
        jump = (logf0 - _shift(logf0, 1)).abs().clamp(max=1.0) * both
        feats["pitch_jump"] = jump
        clipwide("voiced_fraction", _masked_mean(voiced.float(), active))
        clipwide("pitch_instability", jump.sum(1) / both.sum(1).clamp(min=1))

        # ---- onsets and rhythm ----------------------------------------------------------
        loudest = mel_db.masked_fill(~fmask[..., None], _FLOOR_DB).amax(dim=(1, 2), keepdim=True)
        mel_floor = mel_db.clamp(min=loudest - 80.0)
        onset = (mel_floor - _shift(mel_floor, 1)).clamp(min=0.0).mean(-1) * fmask
        feats["onset_strength"] = onset
        # Local mean over valid frames only, so a clip's end looks the same padded or not.
        fm = fmask.to(x.dtype)[:, None]
        local = (F.avg_pool1d(onset[:, None], 15, stride=1, padding=7) /
                 F.avg_pool1d(fm, 15, stride=1, padding=7).clamp(min=1e-6))[:, 0]
        is_peak = (onset > _shift(onset, 1)) & (onset >= _shift(onset, -1)) & (onset > local + 1.0) & fmask
        seconds = fmask.sum(1).to(x.dtype) / self.frame_rate
        clipwide("onset_rate", is_peak.sum(1).to(x.dtype) / seconds.clamp(min=0.1))
        oc = (onset - _masked_mean(onset, fmask)[:, None]) * fmask
        nfft = 1 << (2 * T - 1).bit_length()
        oacf = torch.fft.irfft(torch.fft.rfft(oc, n=nfft).abs() ** 2, n=nfft)[:, :T]
        oacf = oacf / oacf[:, :1].clamp(min=_EPS)
        lag_lo, lag_hi = int(0.25 * self.frame_rate), min(T - 1, int(2.0 * self.frame_rate))
        reg = oacf[:, lag_lo:lag_hi + 1].amax(-1).clamp(min=0.0) if lag_hi > lag_lo else torch.zeros(B, device=x.device)
        clipwide("rhythm_regularity", reg)

        # ---- tonal content -------------------------------------------------------------
        chroma = power.sqrt() @ self.chroma_map
        chroma = chroma / chroma.sum(-1, keepdim=True).clamp(min=1e-8)
        top = chroma.sort(dim=-1, descending=True).values
        for i in range(4):
            feats[f"chroma_{i + 1}"] = top[..., i]
        feats["chroma_entropy"] = -(chroma * torch.log(chroma + 1e-8)).sum(-1) / math.log(12)
        feats["chroma_flux"] = 0.5 * (chroma - _shift(chroma, 1)).abs().sum(-1)

        # ---- spectral complexity: how many things sound at once --------------------------
        # Three frames averaged tame noise's spikiness; the next frame counts only if valid.
        nmask = torch.cat([fmask[:, 1:], torch.zeros_like(fmask[:, :1])], dim=1)
        nxt = torch.cat([power[:, 1:], torch.zeros_like(power[:, :1])], dim=1) * nmask[..., None]
        smooth = (_shift(power, 1) + power + nxt) / (2.0 + nmask.to(x.dtype))[..., None]
        sdb = _db(smooth)
        a0, a1 = self.bin_of(60), self.bin_of(5000)
        csum = F.pad(smooth.cumsum(-1), (1, 0))
        lo_i = (torch.arange(a0, a1, device=x.device) - 8).clamp(min=0)
        hi_i = (torch.arange(a0, a1, device=x.device) + 9).clamp(max=smooth.shape[-1])
        local_mean = _db((csum[..., hi_i] - csum[..., lo_i]) / (hi_i - lo_i).to(x.dtype))
        kmax = sdb.amax(-1, keepdim=True)
        core = sdb[..., a0:a1]
        pk = ((core > sdb[..., a0 - 1:a1 - 1]) & (core >= sdb[..., a0 + 1:a1 + 1]) & (core - local_mean > 8.0)
              & (core > kmax - 50.0))
        feats["peak_count"] = torch.log1p(pk.sum(-1).to(x.dtype)) * fmask
        feats["active_bands"] = (mel_db > mel_db.amax(-1, keepdim=True) - 30.0).to(x.dtype).mean(-1)
        centred = (mel_floor - _masked_mean(mel_floor, fmask)[:, None]) * fmask[..., None]
        sv = torch.linalg.svdvals(centred)  # [B, 40]
        e = sv ** 2 / (sv ** 2).sum(-1, keepdim=True).clamp(min=_EPS)
        clipwide("effective_rank", torch.exp(-(e * torch.log(e + 1e-12)).sum(-1)))

        # ---- reverberation: how fast energy dies away, how long spectra persist ------------
        for name, (a, b) in zip(("decay_low", "decay_mid", "decay_high"), groups):
            g = _db(mel[..., a:b].mean(-1)).clamp(min=_FLOOR_DB)
            gfloor = _masked_quantile(g, live, 0.10)
            d = g - _shift(g, 1)
            ok = fmask & (_shift(g, 1) > gfloor[:, None] + 15.0)
            clipwide(name, _masked_quantile(d, ok, 0.05))
        a_ = rel_db - rel_db.mean(-1, keepdim=True)
        b_ = _shift(a_, 5)
        corr = (a_ * b_).sum(-1) / ((a_ ** 2).sum(-1) * (b_ ** 2).sum(-1)).sqrt().clamp(min=1e-6)
        clipwide("spectral_persistence", _masked_mean(corr, active & _shift(active, 5)))
        for name, (a, b) in zip(("modulation_low", "modulation_midlow", "modulation_midhigh", "modulation_high"),
                                ((0, 10), (10, 20), (20, 30), (30, 40))):
            # In dB, floored 60 dB under the band's loudest frame: bounded, so a single
            # short event in a long clip does not read as an extreme value.
            env = _db(mel[..., a:b].mean(-1))
            env = torch.maximum(env, env.masked_fill(~live, _FLOOR_DB).amax(dim=1, keepdim=True) - 60.0)
            clipwide(name, _masked_std(env, live))

        # ---- dropouts, codec artefacts, DC ------------------------------------------------
        # A dropout is silence with sound on BOTH sides within 160 ms; silence at the
        # start or end of a clip (padding, a fade) is not one.
        lv = level.masked_fill(~fmask, _FLOOR_DB)
        padded = F.pad(lv[:, None], (8, 8), value=_FLOOR_DB)
        before = F.max_pool1d(padded[..., :-9], 8, stride=1)[:, 0]  # max over t-8 .. t-1
        after = F.max_pool1d(padded[..., 9:], 8, stride=1)[:, 0]  # max over t+1 .. t+8
        gap = (level < -60.0) & (torch.minimum(before, after) > -30.0) & fmask
        feats["frame_gap"] = gap.float()
        clipwide("gap_fraction", _masked_mean(gap.float(), fmask))
        clipwide("digital_silence", _masked_mean((level <= _FLOOR_DB + 1.0).float(), fmask))
        band = power[..., self.bin_of(2000):]
        band_max = band.amax(-1, keepdim=True)
        holes = (band < band_max * 1e-5).float().mean(-1)
        feats["frame_hf_holes"] = holes * (band_max[..., 0] > _EPS)
        hf_db = _db(band).clamp(min=_db(band_max) - 80.0)
        clipwide("hf_flicker_db", _masked_std(hf_db, active).mean(-1))

        out = torch.stack([feats[name] for name in FEATURE_NAMES], dim=-1)
        out = torch.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
        return out * fmask[..., None], fmask

    # ------------------------------------------------------------------ interface
    def standardise(self, raw: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = (raw - self.feature_mean) / self.feature_std
        # A soft limit: a rare extreme value keeps its sign and order but cannot take
        # over the direction of the L2-normalised vector.
        z = self.soft_limit * torch.tanh(z / self.soft_limit)
        const = torch.full_like(z[..., :1], self.constant)
        return torch.cat([z, const], dim=-1) * mask[..., None]

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
            "version": FEATURE_VERSION, "n_fft": self.n_fft, "hop": self.hop, "soft_limit": self.soft_limit,
            "constant": self.constant,
            "feature_names": list(FEATURE_NAMES),
            # Full precision: the float32 statistics must come back bit for bit from JSON.
            "feature_mean": [float(v) for v in self.feature_mean] if self.standardised else None,
            "feature_std": [float(v) for v in self.feature_std] if self.standardised else None,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], model_dir: Path | None = None) -> "AcousticEncoder":
        cfg = dict(config)
        names = cfg.pop("feature_names", None)
        if names is not None and list(names) != list(FEATURE_NAMES):
            raise ModelLoadError("acoustic encoder config lists different descriptors than this code computes; "
                             "rebuild the model with `make lite-model`")
        return cls(**cfg)
