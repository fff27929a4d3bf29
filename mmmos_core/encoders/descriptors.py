"""The descriptors of the acoustic encoder, one function per group of what listeners hear.

`analyse` frames a batch of waveforms and computes what every group shares (the unit-RMS
signal, masks, frame spectra); each group function then adds its descriptors to the
analysis and leaves behind the intermediates later groups read (the frame level and its
quantiles, the mel spectrum, ...). `describe` runs them in order and stacks the result in
the channel order of `FEATURE_NAMES`. The design rules (fixed rate, gain normalisation,
clip-wide statistics, invisible padding) are in `mmmos_core.encoders.acoustic`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import torch
import torch.nn.functional as F

from .framestats import EPS as _EPS
from .framestats import db, masked_mean, masked_quantile, masked_std, shift

if TYPE_CHECKING:
    from .acoustic import AcousticEncoder

# These are feature version 1's descriptors; `acoustic.FEATURE_SETS` lists each version's.

_FLOOR_DB = -100.0
FLOOR_SNR_DB = 55.0
QUIET_BELOW_DBFS = -40.0



# name, and whether it is clip-wide (repeated on every frame) or per frame. The order is
# the channel order; the group comments say what each group measures, and the group's
# function below says how each is computed.
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



class Analysis:
    """One batch under analysis: the shared signals, the descriptors so far (``feats``, by
    name), and the intermediates a group leaves for the groups after it (set as attributes)."""

    def __init__(self, **shared: torch.Tensor | int):
        self.__dict__.update(shared)
        self.feats: dict[str, torch.Tensor] = {}

    def clipwide(self, name: str, value: torch.Tensor) -> None:
        """A clip-wide descriptor [B], repeated on every frame so pooling keeps it as it is."""
        self.feats[name] = value[:, None].expand(self.B, self.T)


def analyse(e: "AcousticEncoder", waveforms: torch.Tensor, lengths: torch.Tensor) -> Analysis:
    """[B, N] waveforms at the encoder's rate and their [B] valid lengths -> the shared analysis."""
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
    pad = e.n_fft - e.hop
    need = max(0, e.n_fft - (N + pad))
    xp = F.pad(xn, (0, pad + need))
    frames = xp.unfold(1, e.n_fft, e.hop)  # [B, T, n_fft]
    T = frames.shape[1]
    fmask = e.frame_mask(lengths, T)
    spec = torch.fft.rfft(frames * e.window, dim=-1)
    power = spec.real ** 2 + spec.imag ** 2  # [B, T, bins]
    # Scaled so that the one-sided bins sum to the frame's mean square (Parseval).
    power = power * (2.0 / (e.n_fft * (e.window ** 2).sum()))
    power = power * fmask[..., None]
    return Analysis(x=x, xn=xn, smask=smask, fmask=fmask, n=n, rms=rms, peak=peak, silent=silent, power=power,
                    B=B, T=T, N=N)


def level_and_loudness(e: "AcousticEncoder", an: Analysis) -> None:
    """Level and dynamics on the unit-RMS scale; the frame level, its quantiles and the live/active frames every later group reads."""
    clipwide, feats, fmask, peak, power, rms, silent = an.clipwide, an.feats, an.fmask, an.peak, an.power, an.rms, an.silent
    frame_pow = power.sum(dim=-1)
    # A white floor as if noise were added at 55 dB SNR: detail below it is barely
    # audible, and down there resamplers leave residue that differs with the source
    # rate (torchaudio's 16 -> 22.05 -> 16 kHz round trip lifts an empty band by
    # ~15 dB at -90 dB; with a 65 dB floor that still moved scores between rates).
    power = power[..., : e.n_bins] + 10 ** (-FLOOR_SNR_DB / 10) / e.n_bins
    level = db(frame_pow).clamp(min=_FLOOR_DB)  # dB re the clip's RMS
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
    p05, p10 = masked_quantile(level, live, 0.05), masked_quantile(level, live, 0.10)
    p50, p95 = masked_quantile(level, live, 0.50), masked_quantile(level, live, 0.95)
    clipwide("dynamic_range_db", p95 - p10)
    active = fmask & (level > p95[:, None] - 30.0)
    clipwide("level_std_db", masked_std(level, active))
    an.active = active
    an.level = level
    an.live = live
    an.p05 = p05
    an.p10 = p10
    an.p50 = p50
    an.p95 = p95
    an.power = power


def noise_floor(e: "AcousticEncoder", an: Analysis) -> None:
    """Noise floor and SNR, overall and in three bands; the mel spectrum and the floor spectrum."""
    active, clipwide, feats, fmask, level, live, p05, p10, p50, p95, power = an.active, an.clipwide, an.feats, an.fmask, an.level, an.live, an.p05, an.p10, an.p50, an.p95, an.power
    mel = power @ e.mel_fb  # [B, T, 40]
    mel_db = db(mel).clamp(min=_FLOOR_DB)
    clipwide("snr_db", p95 - p05)
    clipwide("floor_db", p10)
    clipwide("median_level_db", p50)
    groups = ((0, 14), (14, 27), (27, 40))
    for name, (a, b) in zip(("band_snr_low", "band_snr_mid", "band_snr_high"), groups):
        g = db(mel[..., a:b].mean(dim=-1)).clamp(min=_FLOOR_DB)
        hi, lo = masked_quantile(g, live, 0.95), masked_quantile(g, live, 0.10)
        clipwide(name, hi - lo)
    floor_spec = masked_quantile(mel, live, 0.10)  # [B, 40] noise floor spectrum
    floor_flat = db(torch.exp(torch.log(floor_spec + _EPS).mean(-1))) - db(floor_spec.mean(-1) + _EPS)
    clipwide("floor_flatness_db", floor_flat)
    feats["frame_snr_db"] = (level - p10[:, None]).clamp(min=-20.0, max=80.0)
    clipwide("active_fraction", masked_mean(active.float(), fmask))
    an.floor_spec = floor_spec
    an.groups = groups
    an.mel = mel
    an.mel_db = mel_db


def clipping(e: "AcousticEncoder", an: Analysis) -> None:
    """Clipping: samples pile up at the rails, gain-invariantly."""
    B, N, T, clipwide, feats, n, silent, smask, xn = an.B, an.N, an.T, an.clipwide, an.feats, an.n, an.silent, an.smask, an.xn
    pos = xn.masked_fill(~smask, float("-inf")).amax(dim=1)
    neg = xn.masked_fill(~smask, float("inf")).amin(dim=1)
    pos = torch.where(silent, torch.ones_like(pos), pos).clamp(min=1e-6)
    neg = torch.where(silent, -torch.ones_like(neg), neg).clamp(max=-1e-6)
    rel = torch.where(xn >= 0, xn / pos[:, None], xn / neg[:, None]) * smask
    near95 = (rel >= 0.95) & smask
    band85 = (rel >= 0.85) & (rel < 0.95) & smask
    hop_blocks = F.pad(near95.float(), (0, T * e.hop - N)) if T * e.hop > N else near95.float()[:, :T * e.hop]
    feats["frame_near_peak"] = torch.log10(hop_blocks.view(B, T, e.hop).mean(-1) + 1e-3)
    c95, c85 = near95.sum(dim=1).float(), band85.sum(dim=1).float()
    clipwide("near_peak_fraction", torch.log10(c95 / n + 1e-5))
    prior = 1.0 + 1e-4 * n  # pseudo-counts: a clean clip's few peak samples must not make noise here
    clipwide("rail_pileup", torch.log((c95 + prior) / (c85 + prior)))
    dx = (xn - torch.roll(xn, 1, dims=1)).abs()
    flat = (rel >= 0.9) & (dx < 0.01 * torch.maximum(pos, neg.abs())[:, None]) & smask
    flat[:, 0] = False
    clipwide("flat_top_fraction", torch.log10(flat.sum(dim=1).float() / n + 1e-5))


def bandwidth(e: "AcousticEncoder", an: Analysis) -> None:
    """Bandwidth and roll-off: how far up the signal (and its floor) reaches, steep edges."""
    B, T, clipwide, feats, floor_spec, fmask, live, power, x = an.B, an.T, an.clipwide, an.feats, an.floor_spec, an.fmask, an.live, an.power, an.x
    n_lin = (e.n_bins - 1) // 8
    lin = power[..., 1:].reshape(B, T, n_lin, 8).mean(-1)  # [B, T, 48] bands of 125 Hz
    ltas = db(masked_mean(lin, fmask))  # [B, 48]
    ltas_rel = ltas - ltas.amax(dim=-1, keepdim=True)
    idx = torch.arange(1, n_lin + 1, device=x.device, dtype=x.dtype) / n_lin
    for thr in (20, 30, 40, 50):
        above = torch.sigmoid((ltas_rel + thr) / 2.0)
        clipwide(f"bandwidth_{thr}db", (idx * above).amax(dim=-1))
    floor_lin = db(masked_quantile(lin, live, 0.10))
    floor_rel = floor_lin - floor_lin.amax(dim=-1, keepdim=True)
    clipwide("floor_bandwidth_20db", (idx * torch.sigmoid((floor_rel + 20) / 2.0)).amax(dim=-1))
    # Where the signal itself reaches: bands whose level moves (loud frames well above
    # that band's floor). Stationary noise fills a band without moving it, so a
    # band limit stays visible under added noise.
    lin_db = db(lin)
    swing = masked_quantile(lin_db, live, 0.95) - masked_quantile(lin_db, live, 0.10)
    for thr in (10, 20):
        clipwide(f"signal_bandwidth_{thr}db", (idx * torch.sigmoid((swing - thr) / 2.0)).amax(dim=-1))
    # White noise or hiss lifts the floor at high frequencies relative to low ones.
    clipwide("floor_tilt_db", db(floor_spec[:, 30:].mean(-1)) - db(floor_spec[:, 8:20].mean(-1)))
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
    f = e.freqs
    feats["hf_ratio_3k_db"] = db(power[..., e.bin_of(3000):].sum(-1) / total[..., 0]).clamp(min=-80.0)
    feats["hf_ratio_5k_db"] = db(power[..., e.bin_of(5000):].sum(-1) / total[..., 0]).clamp(min=-80.0)
    an.f = f
    an.nb = nb
    an.total = total


def spectral_shape(e: "AcousticEncoder", an: Analysis) -> None:
    """Spectral shape: band balance, centroid, spread, flatness, slope, entropy, flux."""
    B, T, f, feats, mel, mel_db, nb, power, total, x = an.B, an.T, an.f, an.feats, an.mel, an.mel_db, an.nb, an.power, an.total, an.x
    rel_db = mel_db - db(mel.mean(-1, keepdim=True))
    rel_db = rel_db.clamp(min=-80.0)
    shape20 = rel_db.view(B, T, 20, 2).mean(-1)
    for i in range(20):
        feats[f"band_{i:02d}_rel_db"] = shape20[..., i]
    p = power / total
    centroid = (p * f).sum(-1)
    feats["centroid"] = centroid / e.top_hz
    feats["spread"] = ((p * (f - centroid[..., None]) ** 2).sum(-1)).sqrt() / e.top_hz

    def flatness(P: torch.Tensor) -> torch.Tensor:
        return (db(torch.exp(torch.log(P + _EPS).mean(-1))) - db(P.mean(-1))).clamp(min=-60.0)

    feats["flatness_db"] = flatness(power[..., 1:])
    feats["flatness_low_db"] = flatness(power[..., 1:e.bin_of(1000)])
    feats["flatness_mid_db"] = flatness(power[..., e.bin_of(1000):e.bin_of(4000)])
    feats["flatness_high_db"] = flatness(power[..., e.bin_of(4000):])
    k = torch.linspace(-1.0, 1.0, 40, device=x.device)
    feats["slope"] = (rel_db * k).sum(-1) / (k ** 2).sum() / 10.0
    feats["entropy"] = -(p * torch.log(p + 1e-12)).sum(-1) / math.log(nb)
    feats["shape_flux"] = (rel_db - shift(rel_db, 1)).abs().mean(-1) / 10.0
    an.rel_db = rel_db


def harmonicity(e: "AcousticEncoder", an: Analysis) -> None:
    """Harmonicity and pitch from the autocorrelation of the frame spectra."""
    active, clipwide, feats, fmask, level, p10, power, x = an.active, an.clipwide, an.feats, an.fmask, an.level, an.p10, an.power, an.x
    # The circular autocorrelation of the already computed spectrum: its wrap-around
    # term (lags beyond n_fft - max_lag) is negligible under the Hann taper.
    acf = torch.fft.irfft(power, n=e.n_fft, dim=-1)[..., : e.max_lag + 2]  # zero above 7.5 kHz
    acf = acf / e.window_acf[: e.max_lag + 2]
    acf = acf / acf[..., :1].clamp(min=_EPS)
    lo, hi = e.min_lag, e.max_lag
    mid = acf[..., lo:hi + 1]
    peaks = (mid > acf[..., lo - 1:hi]) & (mid >= acf[..., lo + 1:hi + 2])
    lags = torch.arange(lo, hi + 1, device=x.device, dtype=x.dtype)
    # A small cost per octave of lag keeps the first period from losing to its multiples.
    score = torch.where(peaks, mid - 0.02 * torch.log2(lags / lo), torch.full_like(mid, -1.0))
    best, arg = score.max(dim=-1)
    harm = torch.where(best > -1.0, acf.gather(-1, (arg + lo)[..., None])[..., 0], torch.zeros_like(best))
    an.acf_peak = harm  # ungated, for version 2's background voicing
    harm = harm.clamp(0.0, 0.999) * (level > p10[:, None] + 3.0) * fmask
    f0 = e.sample_rate / (arg + lo).to(x.dtype)
    voiced = (harm > 0.5) & fmask
    feats["harmonicity"] = harm
    feats["hnr_db"] = (10 * torch.log10((harm + 1e-3) / (1.0 - harm + 1e-3))).clamp(-20.0, 30.0)
    feats["voiced"] = voiced.float()
    logf0 = torch.log2(f0 / 200.0)
    feats["pitch_oct"] = logf0 * voiced
    both = voiced & shift(voiced, 1)
    jump = (logf0 - shift(logf0, 1)).abs().clamp(max=1.0) * both
    feats["pitch_jump"] = jump
    clipwide("voiced_fraction", masked_mean(voiced.float(), active))
    clipwide("pitch_instability", jump.sum(1) / both.sum(1).clamp(min=1))


def rhythm(e: "AcousticEncoder", an: Analysis) -> None:
    """Onsets and rhythm."""
    B, T, clipwide, feats, fmask, mel_db, x = an.B, an.T, an.clipwide, an.feats, an.fmask, an.mel_db, an.x
    loudest = mel_db.masked_fill(~fmask[..., None], _FLOOR_DB).amax(dim=(1, 2), keepdim=True)
    mel_floor = mel_db.clamp(min=loudest - 80.0)
    onset = (mel_floor - shift(mel_floor, 1)).clamp(min=0.0).mean(-1) * fmask
    feats["onset_strength"] = onset
    # Local mean over valid frames only, so a clip's end looks the same padded or not.
    fm = fmask.to(x.dtype)[:, None]
    local = (F.avg_pool1d(onset[:, None], 15, stride=1, padding=7) /
             F.avg_pool1d(fm, 15, stride=1, padding=7).clamp(min=1e-6))[:, 0]
    is_peak = (onset > shift(onset, 1)) & (onset >= shift(onset, -1)) & (onset > local + 1.0) & fmask
    seconds = fmask.sum(1).to(x.dtype) / e.frame_rate
    clipwide("onset_rate", is_peak.sum(1).to(x.dtype) / seconds.clamp(min=0.1))
    oc = (onset - masked_mean(onset, fmask)[:, None]) * fmask
    nfft = 1 << (2 * T - 1).bit_length()
    oacf = torch.fft.irfft(torch.fft.rfft(oc, n=nfft).abs() ** 2, n=nfft)[:, :T]
    oacf = oacf / oacf[:, :1].clamp(min=_EPS)
    lag_lo, lag_hi = int(0.25 * e.frame_rate), min(T - 1, int(2.0 * e.frame_rate))
    reg = oacf[:, lag_lo:lag_hi + 1].amax(-1).clamp(min=0.0) if lag_hi > lag_lo else torch.zeros(B, device=x.device)
    clipwide("rhythm_regularity", reg)
    an.mel_floor = mel_floor


def tonal_content(e: "AcousticEncoder", an: Analysis) -> None:
    """Tonal content: how concentrated the chroma is and how it moves."""
    feats, power = an.feats, an.power
    chroma = power.sqrt() @ e.chroma_map
    chroma = chroma / chroma.sum(-1, keepdim=True).clamp(min=1e-8)
    top = chroma.sort(dim=-1, descending=True).values
    for i in range(4):
        feats[f"chroma_{i + 1}"] = top[..., i]
    feats["chroma_entropy"] = -(chroma * torch.log(chroma + 1e-8)).sum(-1) / math.log(12)
    feats["chroma_flux"] = 0.5 * (chroma - shift(chroma, 1)).abs().sum(-1)


def complexity(e: "AcousticEncoder", an: Analysis) -> None:
    """Spectral complexity: how many things sound at once."""
    clipwide, feats, fmask, mel_db, mel_floor, power, x = an.clipwide, an.feats, an.fmask, an.mel_db, an.mel_floor, an.power, an.x
    # Three frames averaged tame noise's spikiness; the next frame counts only if valid.
    nmask = torch.cat([fmask[:, 1:], torch.zeros_like(fmask[:, :1])], dim=1)
    nxt = torch.cat([power[:, 1:], torch.zeros_like(power[:, :1])], dim=1) * nmask[..., None]
    smooth = (shift(power, 1) + power + nxt) / (2.0 + nmask.to(x.dtype))[..., None]
    sdb = db(smooth)
    a0, a1 = e.bin_of(60), e.bin_of(5000)
    csum = F.pad(smooth.cumsum(-1), (1, 0))
    lo_i = (torch.arange(a0, a1, device=x.device) - 8).clamp(min=0)
    hi_i = (torch.arange(a0, a1, device=x.device) + 9).clamp(max=smooth.shape[-1])
    local_mean = db((csum[..., hi_i] - csum[..., lo_i]) / (hi_i - lo_i).to(x.dtype))
    kmax = sdb.amax(-1, keepdim=True)
    core = sdb[..., a0:a1]
    pk = ((core > sdb[..., a0 - 1:a1 - 1]) & (core >= sdb[..., a0 + 1:a1 + 1]) & (core - local_mean > 8.0)
          & (core > kmax - 50.0))
    feats["peak_count"] = torch.log1p(pk.sum(-1).to(x.dtype)) * fmask
    feats["active_bands"] = (mel_db > mel_db.amax(-1, keepdim=True) - 30.0).to(x.dtype).mean(-1)
    centred = (mel_floor - masked_mean(mel_floor, fmask)[:, None]) * fmask[..., None]
    sv = torch.linalg.svdvals(centred)  # [B, 40]
    e = sv ** 2 / (sv ** 2).sum(-1, keepdim=True).clamp(min=_EPS)
    clipwide("effective_rank", torch.exp(-(e * torch.log(e + 1e-12)).sum(-1)))


def reverberation(e: "AcousticEncoder", an: Analysis) -> None:
    """Reverberation: how fast energy dies away, how long spectra persist."""
    active, clipwide, fmask, groups, live, mel, rel_db = an.active, an.clipwide, an.fmask, an.groups, an.live, an.mel, an.rel_db
    for name, (a, b) in zip(("decay_low", "decay_mid", "decay_high"), groups):
        g = db(mel[..., a:b].mean(-1)).clamp(min=_FLOOR_DB)
        gfloor = masked_quantile(g, live, 0.10)
        d = g - shift(g, 1)
        ok = fmask & (shift(g, 1) > gfloor[:, None] + 15.0)
        clipwide(name, masked_quantile(d, ok, 0.05))
    a_ = rel_db - rel_db.mean(-1, keepdim=True)
    b_ = shift(a_, 5)
    corr = (a_ * b_).sum(-1) / ((a_ ** 2).sum(-1) * (b_ ** 2).sum(-1)).sqrt().clamp(min=1e-6)
    clipwide("spectral_persistence", masked_mean(corr, active & shift(active, 5)))
    for name, (a, b) in zip(("modulation_low", "modulation_midlow", "modulation_midhigh", "modulation_high"),
                            ((0, 10), (10, 20), (20, 30), (30, 40))):
        # In dB, floored 60 dB under the band's loudest frame: bounded, so a single
        # short event in a long clip does not read as an extreme value.
        env = db(mel[..., a:b].mean(-1))
        env = torch.maximum(env, env.masked_fill(~live, _FLOOR_DB).amax(dim=1, keepdim=True) - 60.0)
        clipwide(name, masked_std(env, live))


def dropouts(e: "AcousticEncoder", an: Analysis) -> None:
    """Dropouts, codec holes and digital silence."""
    active, clipwide, feats, fmask, level, power = an.active, an.clipwide, an.feats, an.fmask, an.level, an.power
    # A dropout is silence with sound on BOTH sides within 160 ms; silence at the
    # start or end of a clip (padding, a fade) is not one.
    lv = level.masked_fill(~fmask, _FLOOR_DB)
    padded = F.pad(lv[:, None], (8, 8), value=_FLOOR_DB)
    before = F.max_pool1d(padded[..., :-9], 8, stride=1)[:, 0]  # max over t-8 .. t-1
    after = F.max_pool1d(padded[..., 9:], 8, stride=1)[:, 0]  # max over t+1 .. t+8
    gap = (level < -60.0) & (torch.minimum(before, after) > -30.0) & fmask
    feats["frame_gap"] = gap.float()
    clipwide("gap_fraction", masked_mean(gap.float(), fmask))
    clipwide("digital_silence", masked_mean((level <= _FLOOR_DB + 1.0).float(), fmask))
    band = power[..., e.bin_of(2000):]
    band_max = band.amax(-1, keepdim=True)
    holes = (band < band_max * 1e-5).float().mean(-1)
    feats["frame_hf_holes"] = holes * (band_max[..., 0] > _EPS)
    hf_db = db(band).clamp(min=db(band_max) - 80.0)
    clipwide("hf_flicker_db", masked_std(hf_db, active).mean(-1))


GROUPS: tuple[Callable[["AcousticEncoder", Analysis], None], ...] = (
    level_and_loudness, noise_floor, clipping, bandwidth, spectral_shape, harmonicity, rhythm, tonal_content,
    complexity, reverberation, dropouts)


def describe(e: "AcousticEncoder", waveforms: torch.Tensor, lengths: torch.Tensor, groups=GROUPS,
             names: tuple[str, ...] = FEATURE_NAMES) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, N], [B] -> unstandardised descriptors [B, T, F] (``names``, after running ``groups``) and the frame mask [B, T]."""
    an = analyse(e, waveforms, lengths)
    for group in groups:
        group(e, an)
    feats, fmask = an.feats, an.fmask
    out = torch.stack([feats[name] for name in names], dim=-1)
    out = torch.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return out * fmask[..., None], fmask

