"""Feature version 2: clip-wide descriptors of the room and of competing talkers.

Version 1's descriptors (`descriptors`) hear a room mostly through statistics that noise
moves as much as reverberation does (the 5% frame-to-frame drop reads white noise as a
long decay; spectral persistence and envelope spread fall with noise). These descriptors
follow what a room does to sound and what a crowd of talkers does to a pause:

- ``decay_time``: how long energy takes to die away after it starts falling. For every
  frame of the 0.8-2.5 and 2.5-6 kHz band envelopes that is well above the band's floor,
  the slope (dB/s) of the next 120 ms; the 5% steepest slope is the fastest decay the
  room lets through, and 60 dB over it is a decay time in seconds (a blind RT60: a room
  cannot decay faster than its own reverberation). Decays that would reach the floor are
  left out, so noise hides decays instead of stretching them; with few decays measured
  the value is pulled towards a dry 0.3 s (pseudo-counts), so "nothing measurable" reads
  as "no room heard" rather than as an extreme.
- The modulation spectrum of eight band envelopes (50 Hz frames, 1.28 s Hann segments,
  clip-wide averages weighted by band level): ``mod_depth_syllabic_db``, the 2-8 Hz
  (syllable-rate) modulation index of the amplitude envelopes in dB, which reverberation,
  babble and noise all fill in; ``mod_depth_power_db``, the same index of the power
  envelopes, which follows the loud peaks and so drops for babble and reverberation more
  than for steady noise at the same SNR; ``mod_syllabic_share``, the 2-8 Hz share of the
  0.5-25 Hz modulation power, which a room lowers (its modulation transfer falls with
  modulation frequency) and steady noise leaves alone; ``mod_fast_ratio_db``, 8-20 Hz
  relative to 2-8 Hz modulation power (the smeared tail flickers faster than syllables).
- ``floor_speech_shape``: correlation, across the 40 mel bands, between the noise-floor
  spectrum (10th percentile) and the mean spectrum of the active frames: high when what
  fills the pauses sounds like the foreground (babble, a reverberant tail), low for white
  or hum floors.
- ``background_voicing``: harmonicity of the quietest quarter of the frames minus that of
  the loud half: other talkers leave voiced sound in the pauses, noise does not.

Every statistic is taken over valid frames only, and every window (a decay's 120 ms, a
modulation segment) must lie inside the clip, so zero padding stays invisible; the
descriptors are ratios of one clip's own levels, so gain cannot move them.
docs/lite.md records the measurements behind each choice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .framestats import db, masked_mean, masked_quantile

if TYPE_CHECKING:
    from .acoustic import AcousticEncoder
    from .descriptors import Analysis

ROOM_NAMES: tuple[str, ...] = (
    "decay_time", "mod_depth_syllabic_db", "mod_depth_power_db", "mod_syllabic_share", "mod_fast_ratio_db",
    "floor_speech_shape", "background_voicing",
)

_FLOOR_DB = -100.0
DECAY_FRAMES = 6  # 120 ms at 50 frames/s
DECAY_QUANTILE = 0.05
DRY_DECAY_S = 0.3  # what a clip with no measurable decay reads as
DECAY_PSEUDO_COUNT = 3.0
MOD_SEGMENT = 64  # frames: 1.28 s, 0.78 Hz modulation resolution
MOD_HOP = 16


def _windows(x: torch.Tensor, mask: torch.Tensor, k: int, fill: float) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, T] -> frames t .. t+k-1 for every t [B, T, k], and whether all of them are valid [B, T]."""
    T = x.shape[1]
    win = F.pad(x.masked_fill(~mask, fill), (0, k), value=fill).unfold(1, k, 1)[:, :T]
    ok = F.pad(mask, (0, k)).unfold(1, k, 1)[:, :T].all(-1)
    return win, ok


def room_decay(e: "AcousticEncoder", an: "Analysis") -> None:
    """The decay time: 60 dB over the fastest sustained fall of the 0.8-6 kHz band envelopes."""
    fmask, live, mel = an.fmask, an.live, an.mel
    k = torch.arange(DECAY_FRAMES, device=mel.device, dtype=mel.dtype) - (DECAY_FRAMES - 1) / 2.0
    slopes, oks = [], []
    for a, b in ((14, 27), (27, 40)):  # 0.84-2.5 kHz and 2.5-6 kHz (an.groups' mid and high)
        g = db(mel[..., a:b].mean(-1)).clamp(min=_FLOOR_DB)
        floor = masked_quantile(g, live, 0.10)[:, None]
        top = masked_quantile(g, live, 0.95)[:, None]
        win, inside = _windows(g, fmask, DECAY_FRAMES, _FLOOR_DB)
        slopes.append((win * k).sum(-1) / (k ** 2).sum() * e.frame_rate)  # dB/s, least squares
        # Starts 20 dB above the floor (and within 40 dB of the loud frames); still 10 dB
        # above it 100 ms later: a decay that noise or the floor would cut short is not used.
        oks.append(inside & fmask & (g > torch.maximum(floor + 20.0, top - 40.0)) & (win[..., -1] > floor + 10.0))
    slope, ok = torch.cat(slopes, dim=1), torch.cat(oks, dim=1)
    fastest = masked_quantile(slope, ok, DECAY_QUANTILE)
    seconds = (-60.0 / fastest.clamp(max=-15.0)).clamp(max=4.0)  # no decay measured: 4 s, then pulled dry
    n = ok.to(mel.dtype).sum(1)
    an.clipwide("decay_time", (n * seconds + DECAY_PSEUDO_COUNT * DRY_DECAY_S) / (n + DECAY_PSEUDO_COUNT))


def _segments(env: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Band envelopes [B, T, C] -> segments [B, S, L, C], their window [B, 1, L], and which are used [B, S].

    A segment is used if it lies inside the valid frames. A clip shorter than one segment
    uses its first, under a Hann window over its own valid frames.
    """
    L = MOD_SEGMENT
    T = env.shape[1]
    if T < L:
        env, mask = F.pad(env, (0, 0, 0, L - T)), F.pad(mask, (0, L - T))
    env = env * mask[..., None]
    segs = env.unfold(1, L, MOD_HOP).transpose(-1, -2)  # [B, S, L, C]
    full = mask.unfold(1, L, MOD_HOP).all(-1)  # [B, S]
    short = ~full.any(1)
    n = mask[:, :L].sum(1).to(env.dtype)[:, None]  # valid frames in the first segment
    t = torch.arange(L, device=env.device, dtype=env.dtype)[None]
    own = (0.5 - 0.5 * torch.cos(2 * torch.pi * (t + 0.5) / n.clamp(min=1.0))) * (t < n)  # [B, L]
    hann = torch.hann_window(L, periodic=False, device=env.device, dtype=env.dtype)[None]
    window = torch.where(short[:, None], own, hann)[:, None]  # [B, 1, L]
    first = torch.zeros_like(full)
    first[:, 0] = True
    return segs, window, torch.where(short[:, None], first, full)


def modulation_spectrum(e: "AcousticEncoder", an: "Analysis") -> None:
    """How deeply and how fast the band envelopes move: 2-8 Hz depth and shares."""
    B, T, fmask, mel = an.B, an.T, an.fmask, an.mel
    power_env = mel.view(B, T, 8, 5).mean(-1)  # eight bands of five mel bands each
    freqs = torch.fft.rfftfreq(MOD_SEGMENT, d=1.0 / e.frame_rate).to(mel.device)
    for kind, env in (("amp", power_env.sqrt()), ("pow", power_env)):
        segs, window, use = _segments(env, fmask)
        w = window[..., None]  # [B, 1, L, 1]
        dc = (segs * w).sum(2)  # [B, S, C]: window-weighted level of each band and segment
        mean = dc / w.sum(2).clamp(min=1e-12)
        spec = torch.fft.rfft((segs - mean[:, :, None]) * w, dim=2).abs() ** 2  # [B, S, F, C]

        def band(lo: float, hi: float) -> torch.Tensor:
            return spec[:, :, (freqs >= lo) & (freqs < hi)].sum(2)  # [B, S, C]

        weight = dc * use[..., None]  # louder bands and segments count more
        wsum = weight.sum((1, 2)).clamp(min=1e-12)

        def average(v: torch.Tensor) -> torch.Tensor:
            return (v * weight).sum((1, 2)) / wsum

        dc2 = dc.clamp(min=1e-12) ** 2
        syllabic = band(2.0, 8.0)
        depth = db(average(syllabic / dc2)).clamp(min=-60.0)
        if kind == "pow":
            an.clipwide("mod_depth_power_db", depth)
            continue
        an.clipwide("mod_depth_syllabic_db", depth)
        an.clipwide("mod_syllabic_share", average(syllabic / band(0.5, 25.1).clamp(min=1e-12)))
        an.clipwide("mod_fast_ratio_db", db(average(band(8.0, 20.0) / dc2)).clamp(min=-60.0) - depth)


def competing_talkers(e: "AcousticEncoder", an: "Analysis") -> None:
    """What fills the pauses: a speech-shaped floor, voiced sound among the quiet frames."""
    active, live, level = an.active, an.live, an.level
    act = masked_mean(an.mel_db, active)  # [B, 40]
    floor = db(an.floor_spec)
    a = act - act.mean(-1, keepdim=True)
    f = floor - floor.mean(-1, keepdim=True)
    corr = (a * f).sum(-1) / ((a ** 2).sum(-1) * (f ** 2).sum(-1)).sqrt().clamp(min=1e-6)
    an.clipwide("floor_speech_shape", corr)
    peak = an.acf_peak.clamp(0.0, 1.0)  # the autocorrelation's pitch peak, not gated by level
    quiet = live & (level <= masked_quantile(level, live, 0.25)[:, None])
    loud = active & (level > an.p50[:, None])
    an.clipwide("background_voicing", masked_mean(peak, quiet) - masked_mean(peak, loud))


ROOM_GROUPS = (room_decay, modulation_spectrum, competing_talkers)
