"""Behavioural checks of a quality model on real recordings: the lite model's acceptance tests.

- degradation: PQ(clean) > PQ(degraded) for additive white noise at 20/10/0 dB SNR,
  hard clipping, a 3 kHz low-pass and 8-bit quantisation, and PQ falls further as the
  noise grows (20 > 10 > 0 dB);
- complexity: PC of a mixture of three different recordings > PC of each alone;
- stability: the same clip at 16/22.05/44.1/48 kHz, at ±6 dB, or as stereo vs its mono
  down-mix moves no axis by more than a tolerance (0.3).

Each check takes a scoring function ``list[Audio] -> list[dict[axis, score]]`` so it
runs on a full `MMMOSModel` (``model.predict_audio``) or on a prototype alike.
Degraded versions are made at the clip's own sample rate, as a user would make them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from mmmos_core.axes import AXES
from mmmos_core.model.audio import Audio, load_audio, resample

from . import degradations as dg

ScoreFn = Callable[[list[Audio]], list[dict[str, float]]]

NOISE_SNRS = (20.0, 10.0, 0.0)
CLIP_LEVEL = 0.3  # hard clipping at 30% of the peak
LOWPASS_HZ = 3000.0
QUANT_BITS = 8
RATES = (16000, 22050, 44100, 48000)
GAINS_DB = (-6.0, 6.0)
MAX_SECONDS = 10.0


@dataclass
class CheckResult:
    name: str
    passed: int
    total: int
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else float("nan")

    def summary(self) -> str:
        return f"{self.name}: {self.passed}/{self.total} ({100 * self.rate:.1f}%)"


def load_clip(path, max_seconds: float = MAX_SECONDS) -> Audio:
    audio = load_audio(path)
    n = int(max_seconds * audio.sample_rate)
    if len(audio.samples) > n:
        audio = Audio(audio.samples[:n].copy(), audio.sample_rate, audio.source, audio.channels)
    return audio


def _with(audio: Audio, samples: np.ndarray, tag: str, sample_rate: int | None = None) -> Audio:
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), sample_rate or audio.sample_rate,
                 f"{audio.source}#{tag}")


def degraded_versions(audio: Audio, seed: int = 0, rng: np.random.Generator | None = None) -> dict[str, Audio]:
    """The clean clip and its degraded versions, keyed by name ("clean", "noise20", ...).
    ``rng`` (else one seeded with ``seed``) draws the noise; a caller may go on drawing from it."""
    x, sr = audio.samples, audio.sample_rate
    rng = rng if rng is not None else np.random.default_rng(seed)
    noise = dg.white_noise(len(x), rng)
    out = {"clean": audio}
    for snr in NOISE_SNRS:
        out[f"noise{snr:g}"] = _with(audio, dg.add_noise(x, noise, snr), f"noise{snr:g}")
    out["clip"] = _with(audio, dg.hard_clip(x, CLIP_LEVEL)[0], "clip")
    out["lowpass3k"] = _with(audio, dg.lowpass(x, sr, LOWPASS_HZ), "lowpass3k")
    out["quant8"] = _with(audio, dg.quantise(x, QUANT_BITS)[0], "quant8")
    return out


def degradation_check(score: ScoreFn, clips: list[Audio]) -> tuple[CheckResult, CheckResult]:
    """(clean > degraded pairs, noise monotonicity 20 > 10 > 0 dB per clip)."""
    pairs, mono = [], []
    for audio in clips:
        versions = degraded_versions(audio)
        names = list(versions)
        pq = dict(zip(names, (s["PQ"] for s in score(list(versions.values())))))
        for name in names[1:]:
            pairs.append({"clip": audio.source, "degradation": name, "clean": pq["clean"], "degraded": pq[name],
                          "ok": bool(pq["clean"] > pq[name])})
        chain = [pq[f"noise{s:g}"] for s in NOISE_SNRS]
        mono.append({"clip": audio.source, "pq": chain, "ok": bool(all(a > b for a, b in zip(chain, chain[1:])))})
    return (CheckResult("degradation pairs", sum(d["ok"] for d in pairs), len(pairs), pairs),
            CheckResult("noise monotonic", sum(d["ok"] for d in mono), len(mono), mono))


def mixture(clips: list[Audio], sample_rate: int = 16000, seconds: float | None = None) -> tuple[Audio, list[Audio]]:
    """Equal-RMS mixture of the clips (cut to the shortest) and each clip cut the same way."""
    xs = [resample(c.samples, c.sample_rate, sample_rate) for c in clips]
    n = min(len(x) for x in xs)
    if seconds is not None:
        n = min(n, int(seconds * sample_rate))
    xs = [x[:n] for x in xs]
    mixed = dg.peak_normalise(dg.mix(xs), 0.9)
    name = "+".join(c.source.rsplit("/", 1)[-1] for c in clips)
    alone = [Audio(np.ascontiguousarray(x, dtype=np.float32), sample_rate, c.source) for x, c in zip(xs, clips)]
    return Audio(mixed, sample_rate, f"mix:{name}"), alone


def complexity_check(score: ScoreFn, clips: list[Audio], size: int = 3,
                     combos: list[tuple[int, ...]] | None = None,
                     name: str = "complexity mixtures") -> CheckResult:
    """PC of a mixture > PC of each part alone, over every ``size`` of the clips (or ``combos``, index tuples)."""
    details = []
    for combo in combos if combos is not None else itertools.combinations(range(len(clips)), size):
        mixed, alone = mixture([clips[i] for i in combo])
        pcs = [s["PC"] for s in score([mixed] + alone)]
        details.append({"mixture": mixed.source, "pc_mix": pcs[0], "pc_alone": pcs[1:],
                        "ok": bool(pcs[0] > max(pcs[1:]))})
    return CheckResult(name, sum(d["ok"] for d in details), len(details), details)


def stability_check(score: ScoreFn, clips: list[Audio], tolerance: float = 0.3,
                    stereo: dict[str, tuple[int, np.ndarray]] | None = None) -> CheckResult:
    """Per clip: the largest move of any axis across sample rates, across ±6 dB, and
    between a stereo file and its mono down-mix (``stereo``: source -> (sr, [n, 2]))."""
    details = []
    for audio in clips:
        x, sr = audio.samples, audio.sample_rate
        variants = [_with(audio, resample(x, sr, r), f"{r}Hz", r) for r in RATES]
        rate_scores = score(variants)
        gain_scores = score([audio] + [_with(audio, dg.gain(x, g), f"{g:+g}dB") for g in GAINS_DB])
        rate_move = {a: max(s[a] for s in rate_scores) - min(s[a] for s in rate_scores) for a in AXES}
        gain_move = {a: max(abs(s[a] - gain_scores[0][a]) for s in gain_scores[1:]) for a in AXES}
        row = {"clip": audio.source, "rate_move": rate_move, "gain_move": gain_move}
        worst = max(max(rate_move.values()), max(gain_move.values()))
        if stereo and audio.source in stereo:
            st_sr, st = stereo[audio.source]
            n = min(len(st), int(MAX_SECONDS * st_sr))
            st = st[:n]
            st_audio = load_audio((st_sr, st), name=f"{audio.source}#stereo")
            mono_audio = load_audio((st_sr, st.mean(axis=1)), name=f"{audio.source}#mono")
            s_st, s_mono = score([st_audio, mono_audio])
            row["stereo_move"] = {a: abs(s_st[a] - s_mono[a]) for a in AXES}
            worst = max(worst, max(row["stereo_move"].values()))
        row["worst"] = worst
        row["ok"] = bool(worst <= tolerance)
        details.append(row)
    return CheckResult("stability", sum(d["ok"] for d in details), len(details), details)
