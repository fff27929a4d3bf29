"""The label recipe of the lite model's training material: what each source and each
transformation of known strength is worth on the four axes.

Label recipe (`LabelRecipe`), all on the 1-10 scale:
- PQ = 1 + (PQ0 - 1) * exp(-S). PQ0 is the AES mean PQ of the source's domain; S sums
  the severities of every transformation (and of a real source's documented defects),
  each a function of its physical strength (SNR, clipped fraction, cut-off, ...).
  exp(-S) makes compound damage multiply and never saturates at the floor, so a worse
  version always has a lower label.
- PC = PC1 + k * log2(L), L = the number of simultaneous layers (sources, instrument
  parts; babble and noise beds add a share as they become audible). PC1 is the AES
  speech PC mean (one voice) and k puts the AES music PC mean at three layers.
- CE, CU = the domain's AES mean + its AES coefficients on PQ and on PC (fitted together
  on the clip means) times their distance from the domain means, where the PQ seen is
  the undamaged recording's plus DAMAGE_SHARE of what damage took away, + a content offset
  by kind (a sine tone is technically clean but no one enjoys it) - a clutter penalty per
  extra unrelated source in a mixture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mmmos_core.axes import AXES, SCALE_MAX, SCALE_MIN

from .priors import DomainPrior


@dataclass
class Source:
    id: str
    domain: str
    kind: str  # "real", "tts", "music", "tone", "texture"
    samples: np.ndarray  # float32 at SR
    layers: float
    severity: float = 0.0  # documented defects of the source itself
    base_pq: float | None = None  # PQ of the undamaged recording when its production is known
    content: str = ""  # content kind for the CE/CU offsets; empty: ``kind``


# Content offsets (CE, CU) of synthetic kinds against natural recordings of their domain.
CONTENT_OFFSETS: dict[str, tuple[float, float]] = {
    "real": (0.0, 0.0),
    "tts": (-1.0, -0.5),  # intelligible but robotic
    "music": (-0.5, 0.0),  # simple generated arrangements
    "tone": (-2.5, -1.5),  # a steady tone: clean, but no content
    "texture": (-0.3, 0.0),
    "hiss": (-1.0, -1.0),
    # Real recordings by what they are (lite/real_corpus.py assigns them per source). A
    # judgement, stated here so it can be argued with: people enjoy full productions more
    # than a lone loop or a system beep, and value loops and effects as material.
    "produced-music": (0.6, 0.4),
    "rendered-midi": (-0.2, 0.0),
    "loop": (-0.6, 0.5),
    "hold-music": (-0.8, -0.6),
    "prompt": (-0.6, 0.4),
    "reading": (-0.2, 0.2),
    "acted": (0.4, 0.0),
    "sfx": (0.0, 0.3),
    "ui-sound": (-0.8, 0.2),
    "keyboard": (-1.2, -0.3),
}
# A clip of nothing but hiss is labelled as if the noise sat 10 dB above the signal.
HISS_SNR_DB = -10.0
CLUTTER_CE = 0.5  # per extra unrelated source in a mixture
CLUTTER_CU = 0.5
MIX_SEVERITY = 0.1  # per extra source: mutual masking
# The AES slope of CE/CU on PQ is measured between different recordings, which differ in
# content as well as production. Damage done to one recording leaves its content as it
# was, so CE and CU follow the PQ lost to a transformation by this share of that slope only.
DAMAGE_SHARE = 0.6
TYPICAL_MUSIC_LAYERS = 3.0  # the assumption that ties k to the AES music PC mean
# Severity per second of RT60 (at DRR 0 dB; a drier room costs less), by domain. Speech from
# the teacher: on 10 training voices DNSMOS OVRL lost more to RT60 0.8 s at DRR 0 dB (1.09
# points) than to white noise at 10 dB SNR (0.92), so the speech weight puts that room just
# above noise(10) = 1.15. Music and sound have no judge here; rooms are part of many
# productions, so their weights stay lower than speech's. Lite 2 had 0.6 and 0.9; lite 2.1
# doubles music's and raises sound's (a judgement: an RT60 0.8 s room at DRR 0 dB laid over
# a finished mix or effect smears it about as much as 10-15 dB of noise would). On the
# validation sources this moved nothing measurable (docs/lite-history.md).
REVERB_WEIGHT = {"speech": 2.2, "music": 1.2, "sound": 1.4}


@dataclass
class Transform:
    name: str
    params: dict[str, float]
    severity: float = 0.0
    extra_layers: float = 0.0


class LabelRecipe:
    def __init__(self, priors: dict[str, DomainPrior]):
        self.priors = priors
        self.pc_single = priors["speech"].mean["PC"]
        self.pc_per_doubling = (priors["music"].mean["PC"] - self.pc_single) / math.log2(TYPICAL_MUSIC_LAYERS)

    # Severity of each transformation from its physical strength.
    @staticmethod
    def noise(snr_db: float) -> float:
        return 0.5 * math.exp((20.0 - snr_db) / 12.0)

    @staticmethod
    def clipping(fraction: float) -> float:
        return 4.0 * max(0.0, fraction) ** 0.6

    @staticmethod
    def lowpass(cutoff_hz: float) -> float:
        # Only the band the 16 kHz encoder can hear counts: nothing is lost above 8 kHz.
        return 0.6 * math.log2(8000.0 / cutoff_hz) if cutoff_hz < 8000.0 else 0.0

    @staticmethod
    def quantisation(snr_db: float) -> float:
        return 0.8 * math.exp((28.0 - snr_db) / 10.0)

    @staticmethod
    def reverb(rt60: float, drr_db: float, domain: str) -> float:
        return REVERB_WEIGHT[domain] * rt60 * (1.0 - 0.5 / (1.0 + math.exp(-drr_db / 3.0)))

    @staticmethod
    def tilt(cut_db: float) -> float:
        # A darker balance is a mild flaw; far milder than losing the band (`lowpass`).
        return 0.1 * abs(cut_db) / 6.0

    @staticmethod
    def dropouts(count: int) -> float:
        return 0.3 * count

    @classmethod
    def codec(cls, bandwidth_hz: float, threshold_db: float) -> float:
        return cls.lowpass(bandwidth_hz) + 0.5 * math.exp((25.0 - threshold_db) / 10.0)

    @staticmethod
    def audible_layers(snr_db: float, full: float) -> float:
        """A noise bed counts as (part of) a layer once it is loud enough to notice."""
        return full / (1.0 + math.exp((snr_db - 10.0) / 5.0))

    def base_pq(self, source: Source) -> float:
        return self.priors[source.domain].mean["PQ"] if source.base_pq is None else source.base_pq

    def defect_severity(self, defects: dict[str, float]) -> float:
        s = 0.0
        if "clip_fraction" in defects:
            s += self.clipping(defects["clip_fraction"])
        if "lowpass_hz" in defects:
            s += self.lowpass(defects["lowpass_hz"])
        s += defects.get("codec", 0.0)
        return s

    def labels(self, components: list[tuple[Source, float]], transforms: list[Transform],
               pq: float | None = None) -> dict[str, float]:
        """components: (source, gain in dB relative to the loudest component). ``pq``: a PQ
        decided elsewhere (the speech teacher's blend); the other axes follow it."""
        weights = [min(1.0, max(0.0, (g + 20.0) / 14.0)) for _, g in components]
        wsum = sum(weights)
        n_eff = wsum
        pq0 = sum(w * (1 + (self.base_pq(s) - 1) * math.exp(-s.severity))
                  for (s, _), w in zip(components, weights)) / wsum
        severity = sum(t.severity for t in transforms) + MIX_SEVERITY * max(0.0, n_eff - 1.0)
        if pq is None:
            pq = 1.0 + (pq0 - 1.0) * math.exp(-severity)
        # Content axes see the undamaged production fully, the damage by DAMAGE_SHARE.
        pq_seen = pq0 + DAMAGE_SHARE * (pq - pq0)
        layers = sum(w * s.layers for (s, _), w in zip(components, weights)) + sum(t.extra_layers for t in transforms)
        pc = self.pc_single + self.pc_per_doubling * math.log2(max(1.0, layers))
        ce = cu = 0.0
        for (s, _), w in zip(components, weights):
            p = self.priors[s.domain]
            off_ce, off_cu = CONTENT_OFFSETS[s.content or s.kind]
            if p.on_pq_pc:  # CE and CU follow PQ and PC as the AES clip means do
                (ce_pq, ce_pc), (cu_pq, cu_pc) = p.on_pq_pc["CE"], p.on_pq_pc["CU"]
                ce += w * (p.mean["CE"] + ce_pq * (pq_seen - p.mean["PQ"]) + ce_pc * (pc - p.mean["PC"]) + off_ce)
                cu += w * (p.mean["CU"] + cu_pq * (pq_seen - p.mean["PQ"]) + cu_pc * (pc - p.mean["PC"]) + off_cu)
            else:
                ce += w * (p.mean["CE"] + p.slope_on_pq["CE"] * (pq - p.mean["PQ"]) + off_ce)
                cu += w * (p.mean["CU"] + p.slope_on_pq["CU"] * (pq - p.mean["PQ"]) + off_cu)
        ce = ce / wsum - CLUTTER_CE * max(0.0, n_eff - 1.0)
        cu = cu / wsum - CLUTTER_CU * max(0.0, n_eff - 1.0)
        out = {"PQ": pq, "PC": pc, "CE": ce, "CU": cu}
        return {a: float(min(SCALE_MAX, max(SCALE_MIN, out[a]))) for a in AXES}

    def transform(self, kind: str, params: dict[str, float], domain: str) -> Transform:
        """What a degradation applied with ``params`` (as `degradations.degrade` measured them)
        costs a source of ``domain``."""
        p = params
        if kind in ("white", "pink", "brown", "babble"):
            # Brown noise is read at the SNR it sounds like: most of its power lies below 20 Hz,
            # so "at 10 dB" it sits 30-40 dB below a recording (A-weighted), and lite 2-2.6
            # labelled it as heavy damage nobody hears. Pink (about 5 dB quieter than white)
            # keeps its flat SNR: correcting it too cost agreement with DNSMOS within clips in
            # the development builds (docs/lite-history.md, "After lite 2.6, continued").
            heard = p["snr_db"] + (p["quieter_db"] if kind == "brown" else 0.0)
            full = 1.0 if kind == "babble" else 0.5  # babble is talkers: a full layer once audible
            return Transform(kind, p, self.noise(heard), self.audible_layers(heard, full))
        severity = {
            "clip": lambda: self.clipping(p["fraction"]),
            "clip_fs": lambda: self.clipping(p["fraction"]),
            "lowpass": lambda: self.lowpass(p["cutoff_hz"]),
            "quantise": lambda: self.quantisation(p["snr_db"]),
            "reverb": lambda: self.reverb(p["rt60"], p["drr_db"], domain),
            "dropouts": lambda: self.dropouts(int(p["count"])),
            "codec": lambda: self.codec(p["bandwidth_hz"], p["threshold_db"]),
            "tilt": lambda: self.tilt(p["cut_db"]),
            # A very quiet recording: its quantisation floor, and a level people must turn up.
            "quiet": lambda: 0.5 + self.quantisation(p["snr_db"]),
        }.get(kind)
        if severity is None:
            raise ValueError(f"unknown degradation {kind!r}")
        return Transform(kind, p, severity())
