"""Controlled transformations of known strength, for building and checking the lite model.

Every function takes mono float samples and returns new samples; random parts draw
from the `numpy.random.Generator` passed in, so a seed fixes the result exactly.
Strength parameters are physical (SNR in dB, cut-off in Hz, bits, RT60 in s), which is
what the label recipe in `corpus` turns into rating changes.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from mmmos_core.model.audio import resample


def power(x: np.ndarray) -> float:
    return float(np.mean(np.asarray(x, dtype=np.float64) ** 2))


def rms_dbfs(x: np.ndarray) -> float:
    return 10.0 * np.log10(power(x) + 1e-20)


def set_rms_dbfs(x: np.ndarray, target_db: float) -> np.ndarray:
    return (x * 10 ** ((target_db - rms_dbfs(x)) / 20.0)).astype(np.float32)


def gain(x: np.ndarray, db: float) -> np.ndarray:
    return (x * 10 ** (db / 20.0)).astype(np.float32)


def peak_normalise(x: np.ndarray, peak: float = 0.9) -> np.ndarray:
    m = float(np.max(np.abs(x))) if len(x) else 0.0
    return (x * (peak / m)).astype(np.float32) if m > 0 else x.astype(np.float32)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Loop or cut ``x`` to exactly ``n`` samples (noise and babble beds)."""
    if len(x) >= n:
        return x[:n]
    reps = int(np.ceil(n / max(1, len(x))))
    return np.tile(x, reps)[:n]


# ---- noise -------------------------------------------------------------------------
def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n).astype(np.float32)


def coloured_noise(n: int, rng: np.random.Generator, exponent: float = 1.0) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**exponent (1: pink, 2: brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec = spec / f ** (exponent / 2.0)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def babble(n: int, talkers: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Several voices at once, each from a random offset, each at equal level."""
    out = np.zeros(n, dtype=np.float64)
    for t in talkers:
        start = int(rng.integers(0, max(1, len(t))))
        piece = fit_length(np.roll(t, -start), n).astype(np.float64)
        out += piece / (np.sqrt(np.mean(piece ** 2)) + 1e-12)
    return (out / (np.sqrt(np.mean(out ** 2)) + 1e-12)).astype(np.float32)


def a_weighting(freqs_hz: np.ndarray) -> np.ndarray:
    """Power gain of the A-weighting curve (IEC 61672), 1 at 1 kHz."""
    f2 = np.asarray(freqs_hz, dtype=np.float64) ** 2
    ra = (12194.0 ** 2 * f2 ** 2) / ((f2 + 20.6 ** 2) * np.sqrt((f2 + 107.7 ** 2) * (f2 + 737.9 ** 2))
                                     * (f2 + 12194.0 ** 2))
    return (ra / 0.79434) ** 2


def quieter_than_white_db(noise: np.ndarray, sr: int) -> float:
    """How many dB quieter ``noise`` sounds (A-weighted) than white noise of the same power.
    1/f-squared noise holds most of its power below 20 Hz, where hearing is dull, so at one
    flat SNR it sounds some 30-40 dB quieter than white noise."""
    spec = np.abs(np.fft.rfft(np.asarray(noise, dtype=np.float64))) ** 2
    w = a_weighting(np.fft.rfftfreq(len(noise), 1.0 / sr))
    heard = float((spec * w).sum()) / max(float(spec.sum()), 1e-30)
    return float(10.0 * np.log10(float(w.mean()) / max(heard, 1e-30)))


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """x + noise scaled so that power(x) / power(noise) is ``snr_db`` (whole-clip powers)."""
    noise = fit_length(noise, len(x)).astype(np.float64)
    ps, pn = power(x), power(noise)
    if ps <= 0 or pn <= 0:
        return x.astype(np.float32)
    scale = np.sqrt(ps / (pn * 10 ** (snr_db / 10.0)))
    return (x + scale * noise).astype(np.float32)


# ---- distortion and band-limiting ------------------------------------------------------
def hard_clip(x: np.ndarray, level: float) -> tuple[np.ndarray, float]:
    """Clip at ``level`` x the peak, both rails around the signal's mean.

    Centring on the mean keeps "clip at 30% of the peak" meaning the same for a clip
    with a DC offset (where clipping about zero would flatten nearly every sample).
    The result is scaled back to the original peak. Returns the samples and the
    fraction of samples that were clipped.
    """
    if not len(x):
        return x.astype(np.float32), 0.0
    dc = float(np.mean(x))
    ac = x - dc
    peak = float(np.max(np.abs(ac)))
    if peak <= 0:
        return x.astype(np.float32), 0.0
    t = level * peak
    frac = float(np.mean(np.abs(ac) > t))
    return (np.clip(ac, -t, t) / level + dc).astype(np.float32), frac


def clip_full_scale(x: np.ndarray, drive_db: float) -> tuple[np.ndarray, float]:
    """A too-hot recording: gain by ``drive_db`` then clip at digital full scale (±1)."""
    y = x * 10 ** (drive_db / 20.0)
    frac = float(np.mean(np.abs(y) > 1.0))
    return np.clip(y, -1.0, 1.0).astype(np.float32), frac


def lowpass(x: np.ndarray, sr: int, cutoff_hz: float, order: int = 8) -> np.ndarray:
    """Butterworth low-pass, run forward and backward (no phase shift, twice the order)."""
    if cutoff_hz >= 0.5 * sr * 0.98:
        return x.astype(np.float32)
    sos = signal.butter(order, cutoff_hz, btype="low", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, x.astype(np.float64)).astype(np.float32)


def brickwall_lowpass(x: np.ndarray, sr: int, cutoff_hz: float) -> np.ndarray:
    spec = np.fft.rfft(x.astype(np.float64))
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    spec[f > cutoff_hz] = 0.0
    return np.fft.irfft(spec, len(x)).astype(np.float32)


def tilt(x: np.ndarray, sr: int, corner_hz: float, cut_db: float) -> np.ndarray:
    """A gentle first-order high shelf: -``cut_db`` above ``corner_hz``, 6 dB/octave between.

    A darker or brighter balance, unlike a steep low-pass, removes no band outright.
    """
    a = 10 ** (-abs(cut_db) / 20.0)
    b, den = signal.butter(1, corner_hz, btype="low", fs=sr)
    return (a * x + (1 - a) * signal.lfilter(b, den, x.astype(np.float64))).astype(np.float32)


def highpass(x: np.ndarray, sr: int, cutoff_hz: float, order: int = 4) -> np.ndarray:
    sos = signal.butter(order, cutoff_hz, btype="high", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, x.astype(np.float64)).astype(np.float32)


def quantise(x: np.ndarray, bits: int) -> tuple[np.ndarray, float]:
    """Round to a ``bits``-bit grid of digital full scale (no dither).

    Returns the samples and the measured signal-to-quantisation-noise ratio in dB.
    """
    step = 2.0 / (2 ** bits)
    y = np.clip(np.round(x / step) * step, -1.0, 1.0 - step)
    err = power(y - x)
    snr = 10 * np.log10(power(x) / err) if err > 0 else 120.0
    return y.astype(np.float32), float(min(snr, 120.0))


def codec(x: np.ndarray, sr: int, bandwidth_hz: float, threshold_db: float, rng: np.random.Generator,
          step_db: float = 3.0) -> np.ndarray:
    """A crude perceptual-codec stand-in: band-limit, drop weak bins, coarse magnitudes.

    In 32 ms frames, bins above ``bandwidth_hz`` and bins more than ``threshold_db``
    below the frame's strongest are zeroed ("holes"); kept magnitudes are rounded to
    ``step_db`` steps (with a random offset per frame so the grid does not repeat).
    """
    nper = int(round(0.032 * sr))
    f, _, z = signal.stft(x.astype(np.float64), fs=sr, nperseg=nper, noverlap=nper // 2)
    mag = np.abs(z)
    phase = np.angle(z)
    db = 20 * np.log10(mag + 1e-12)
    frame_max = db.max(axis=0, keepdims=True)
    keep = (db > frame_max - threshold_db) & (f[:, None] <= bandwidth_hz)
    offset = rng.uniform(0, step_db, size=(1, db.shape[1]))
    db_q = np.round((db - offset) / step_db) * step_db + offset
    z2 = np.where(keep, 10 ** (db_q / 20.0) * np.exp(1j * phase), 0.0)
    _, y = signal.istft(z2, fs=sr, nperseg=nper, noverlap=nper // 2)
    y = y[: len(x)]
    if len(y) < len(x):
        y = np.pad(y, (0, len(x) - len(y)))
    return y.astype(np.float32)


# ---- room and time ------------------------------------------------------------------
def room_impulse(sr: int, rt60: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Direct sound, then an exponentially decaying noise tail with the given RT60.

    ``drr_db`` is the direct-to-reverberant energy ratio.
    """
    n = int(sr * min(3.0, rt60 * 1.2 + 0.05))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.908 * t / rt60)  # -60 dB at rt60
    onset = int(0.004 * sr)  # first reflections arrive a few ms after the direct sound
    tail[:onset] = 0.0
    tail = lowpass(tail, sr, min(0.45 * sr, 6000.0), order=2)  # air and walls absorb highs
    e_tail = np.sum(tail ** 2)
    h = tail / np.sqrt(e_tail + 1e-20) * np.sqrt(10 ** (-drr_db / 10.0))
    h[0] = 1.0
    return h


def reverb(x: np.ndarray, sr: int, rt60: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    h = room_impulse(sr, rt60, drr_db, rng)
    y = signal.fftconvolve(x.astype(np.float64), h)[: len(x)]
    return (y * np.sqrt(power(x) / (power(y) + 1e-20))).astype(np.float32)


def dropouts(x: np.ndarray, sr: int, count: int, rng: np.random.Generator,
             min_s: float = 0.02, max_s: float = 0.15) -> np.ndarray:
    """Zero ``count`` short stretches (lost packets, a bad cable)."""
    y = x.copy()
    for _ in range(count):
        d = int(rng.uniform(min_s, max_s) * sr)
        start = int(rng.integers(0, max(1, len(y) - d)))
        y[start:start + d] = 0.0
    return y.astype(np.float32)


def to_rate(x: np.ndarray, sr: int, new_sr: int) -> np.ndarray:
    return resample(x, sr, new_sr)


def mix(sources: list[np.ndarray], gains_db: list[float] | None = None) -> np.ndarray:
    """Sum of equal-RMS copies of the sources (each then offset by its gain), cut to the shortest."""
    n = min(len(s) for s in sources)
    gains_db = gains_db or [0.0] * len(sources)
    out = np.zeros(n, dtype=np.float64)
    for s, g in zip(sources, gains_db):
        s = s[:n].astype(np.float64)
        out += s / (np.sqrt(np.mean(s ** 2)) + 1e-12) * 10 ** (g / 20.0)
    return out.astype(np.float32)


# ---- transformations with sampled strength ---------------------------------------------
DEGRADATIONS = ("white", "pink", "brown", "babble", "clip", "clip_fs", "lowpass", "quantise", "reverb",
                "dropouts", "codec", "quiet", "tilt")


def sample_params(kind: str, rng: np.random.Generator, heavy: bool = False) -> dict[str, float]:
    if kind in ("white", "pink", "brown", "babble"):
        return {"snr_db": float(rng.uniform(-5, 25) if heavy else rng.uniform(-5, 40))}
    if kind == "clip":
        return {"level": float(np.exp(rng.uniform(np.log(0.04), np.log(0.4 if heavy else 0.9))))}
    if kind == "clip_fs":
        return {"drive_db": float(rng.uniform(6, 30) if heavy else rng.uniform(2, 25))}
    if kind == "lowpass":
        return {"cutoff_hz": float(np.exp(rng.uniform(np.log(800), np.log(5000 if heavy else 7600)))),
                "order": float(rng.choice([0, 4, 8, 12]))}  # 0: brick wall
    if kind == "quantise":
        return {"bits": float(rng.integers(3, 8) if heavy else rng.integers(3, 13))}
    if kind == "reverb":
        return {"rt60": float(rng.uniform(0.6, 3.0) if heavy else rng.uniform(0.2, 2.5)),
                "drr_db": float(rng.uniform(-8, 4) if heavy else rng.uniform(-6, 10))}
    if kind == "dropouts":
        return {"count": float(rng.integers(3, 12) if heavy else rng.integers(1, 9))}
    if kind == "codec":
        return {"bandwidth_hz": float(rng.uniform(2000, 5000) if heavy else rng.uniform(2500, 7800)),
                "threshold_db": float(rng.uniform(10, 30) if heavy else rng.uniform(15, 50))}
    if kind == "quiet":
        return {"rms_dbfs": float(rng.uniform(-75, -55) if heavy else rng.uniform(-70, -52))}
    if kind == "tilt":
        return {"corner_hz": float(np.exp(rng.uniform(np.log(300), np.log(3000)))),
                "cut_db": float(rng.uniform(3, 24))}
    raise ValueError(f"unknown degradation {kind!r}")


def degrade(kind: str, params: dict[str, float], x: np.ndarray, sr: int, rng: np.random.Generator,
            babble_pool: list[np.ndarray]) -> tuple[np.ndarray, dict[str, float]]:
    """Apply one transformation; return the samples and its parameters with what was measured
    on the way (the clipped fraction, the quantisation SNR, how much quieter brown noise
    sounds than white)."""
    p = dict(params)
    if kind in ("white", "pink", "brown", "babble"):
        if kind == "white":
            noise = white_noise(len(x), rng)
        elif kind == "babble":
            picks = rng.choice(len(babble_pool), size=min(len(babble_pool), int(rng.integers(3, 7))), replace=False)
            noise = babble(len(x), [babble_pool[i] for i in picks], rng)
        else:
            noise = coloured_noise(len(x), rng, 1.0 if kind == "pink" else 2.0)
        if kind == "brown":
            p["quieter_db"] = quieter_than_white_db(noise, sr)
        return add_noise(x, noise, p["snr_db"]), p
    if kind == "clip":
        y, p["fraction"] = hard_clip(x, p["level"])
        return y, p
    if kind == "clip_fs":
        y, p["fraction"] = clip_full_scale(peak_normalise(x, 0.99), p["drive_db"])
        return y, p
    if kind == "lowpass":
        fc, order = p["cutoff_hz"], int(p["order"])
        return (brickwall_lowpass(x, sr, fc) if order == 0 else lowpass(x, sr, fc, order)), p
    if kind == "quantise":
        y, p["snr_db"] = quantise(x, int(p["bits"]))
        return y, p
    if kind == "reverb":
        return reverb(x, sr, p["rt60"], p["drr_db"], rng), p
    if kind == "dropouts":
        return dropouts(x, sr, int(p["count"]), rng), p
    if kind == "codec":
        return codec(x, sr, p["bandwidth_hz"], p["threshold_db"], rng), p
    if kind == "tilt":
        return tilt(x, sr, p["corner_hz"], p["cut_db"]), p
    if kind == "quiet":
        y, p["snr_db"] = quantise(set_rms_dbfs(x, p["rms_dbfs"]), 16)
        return y, p
    raise ValueError(f"unknown degradation {kind!r}")
