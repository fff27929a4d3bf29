"""The lite model's training material: real and synthetic sources, transformed, with labels.

Sources
- the real recordings in ``../shared/audio``, split by a fixed rule: within each domain,
  in file-name order, every third file starting with the first is HELD OUT (never used
  for training) and forms the "natural" validation set;
- synthetic music, tones, drum kits and sound textures (`synth`), and espeak-ng speech.

Items are mixtures of 1-4 sources put through controlled transformations of known
strength (`degradations`), at a random level, stored as 16-bit values, sometimes at
another sample rate.

Label recipe (`LabelRecipe`), all on the 1-10 scale:
- PQ = 1 + (PQ0 - 1) * exp(-S). PQ0 is the AES mean PQ of the source's domain; S sums
  the severities of every transformation (and of a real source's documented defects),
  each a function of its physical strength (SNR, clipped fraction, cut-off, ...).
  exp(-S) makes compound damage multiply and never saturates at the floor, so a worse
  version always has a lower label.
- PC = PC1 + k * log2(L), L = the number of simultaneous layers (sources, instrument
  parts; babble and noise beds add a share as they become audible). PC1 is the AES
  speech PC mean (one voice) and k puts the AES music PC mean at three layers.
- CE, CU = the domain's AES mean + its AES slope on PQ * (PQ - domain PQ mean)
  + a content offset for synthetic kinds (a sine tone is technically clean but no one
  enjoys it) - a clutter penalty per extra unrelated source in a mixture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmmos_core.axes import AXES, SCALE_MAX, SCALE_MIN
from mmmos_core.errors import MMMOSError
from mmmos_core.model.audio import load_audio, resample
from mmmos_core.paths import shared_audio_dir, shared_dir

from . import degradations as dg
from .priors import DOMAINS, DomainPrior
from .synth import (
    SR,
    TEXTURES,
    drum_pattern,
    music_piece,
    texture,
    tone,
    tts_utterances,
)

DEFAULT_AUDIO_DIR = shared_audio_dir()
DEFAULT_LABELS_DIR = shared_dir() / "aes_labels"


# ---- the real recordings ------------------------------------------------------------------------
@dataclass(frozen=True)
class Recording:
    name: str  # file stem
    path: Path
    domain: str


def list_recordings(audio_dir: str | Path = DEFAULT_AUDIO_DIR) -> list[Recording]:
    audio_dir = Path(audio_dir)
    if not audio_dir.is_dir():
        raise MMMOSError(f"{audio_dir}: folder of real recordings not found")
    out = []
    for path in sorted(audio_dir.glob("*.wav")):
        domain = path.stem.split("_", 1)[0]
        if domain in DOMAINS:
            out.append(Recording(path.stem, path, domain))
    return out


def split_recordings(recordings: list[Recording]) -> tuple[list[Recording], list[Recording]]:
    """(train, held_out): within each domain, in name order, files 0, 3, 6, ... are held out."""
    train, held = [], []
    for domain in DOMAINS:
        names = sorted((r for r in recordings if r.domain == domain), key=lambda r: r.name)
        for i, r in enumerate(names):
            (held if i % 3 == 0 else train).append(r)
    return train, held


# What ../shared/audio/SOURCES.md says about each recording, as label inputs: how many
# things sound at once, and defects the description documents. Unlisted files: 1 layer.
REAL_LAYERS: dict[str, float] = {
    "music_brahms_hungarian_dance5_strings": 3.0,  # string orchestra, live ensemble
    "music_macleod_vibe_ace": 4.0,  # produced track: drums, bass, keys, lead
    "sound_esc50_thunderstorm_clipped": 2.0,  # rain and thunder
    "sound_robin_birdcall": 1.5,  # the call over outdoor ambience
    "sound_street_traffic": 3.0,  # several vehicles and street ambience
    "sound_humpback_whale_dcoffset": 1.5,  # whale song over hydrophone noise
}
REAL_DEFECTS: dict[str, dict[str, float]] = {
    "sound_esc50_thunderstorm_clipped": {"clip_fraction": 0.08},
    "speech_librispeech_1320_lowbitrate_mp3": {"lowpass_hz": 5700.0},
    "speech_fleurs_es_opus": {"codec": 0.3},
    "speech_fleurs_de_opus": {"codec": 0.3},
    "speech_vctk_p240_mp3": {"codec": 0.2},
}


# ---- sources and the label recipe -------------------------------------------------------------
@dataclass
class Source:
    id: str
    domain: str
    kind: str  # "real", "tts", "music", "tone", "texture"
    samples: np.ndarray  # float32 at SR
    layers: float
    severity: float = 0.0  # documented defects of the source itself


# Content offsets (CE, CU) of synthetic kinds against natural recordings of their domain.
CONTENT_OFFSETS: dict[str, tuple[float, float]] = {
    "real": (0.0, 0.0),
    "tts": (-1.0, -0.5),  # intelligible but robotic
    "music": (-0.5, 0.0),  # simple generated arrangements
    "tone": (-2.5, -1.5),  # a steady tone: clean, but no content
    "texture": (-0.3, 0.0),
    "hiss": (-1.0, -1.0),
}
# A clip of nothing but hiss is labelled as if the noise sat 10 dB above the signal.
HISS_SNR_DB = -10.0
CLUTTER_CE = 0.5  # per extra unrelated source in a mixture
CLUTTER_CU = 0.5
MIX_SEVERITY = 0.1  # per extra source: mutual masking
TYPICAL_MUSIC_LAYERS = 3.0  # the assumption that ties k to the AES music PC mean


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
        weight = {"speech": 0.8, "music": 0.35, "sound": 0.5}[domain]
        return weight * rt60 * (1.0 - 0.5 / (1.0 + math.exp(-drr_db / 3.0)))

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

    def defect_severity(self, defects: dict[str, float]) -> float:
        s = 0.0
        if "clip_fraction" in defects:
            s += self.clipping(defects["clip_fraction"])
        if "lowpass_hz" in defects:
            s += self.lowpass(defects["lowpass_hz"])
        s += defects.get("codec", 0.0)
        return s

    def labels(self, components: list[tuple[Source, float]], transforms: list[Transform]) -> dict[str, float]:
        """components: (source, gain in dB relative to the loudest component)."""
        weights = [min(1.0, max(0.0, (g + 20.0) / 14.0)) for _, g in components]
        wsum = sum(weights)
        n_eff = wsum
        pq0 = sum(w * (1 + (self.priors[s.domain].mean["PQ"] - 1) * math.exp(-s.severity))
                  for (s, _), w in zip(components, weights)) / wsum
        severity = sum(t.severity for t in transforms) + MIX_SEVERITY * max(0.0, n_eff - 1.0)
        pq = 1.0 + (pq0 - 1.0) * math.exp(-severity)
        layers = sum(w * s.layers for (s, _), w in zip(components, weights)) + sum(t.extra_layers for t in transforms)
        pc = self.pc_single + self.pc_per_doubling * math.log2(max(1.0, layers))
        ce = cu = 0.0
        for (s, _), w in zip(components, weights):
            p = self.priors[s.domain]
            off_ce, off_cu = CONTENT_OFFSETS[s.kind]
            ce += w * (p.mean["CE"] + p.slope_on_pq["CE"] * (pq - p.mean["PQ"]) + off_ce)
            cu += w * (p.mean["CU"] + p.slope_on_pq["CU"] * (pq - p.mean["PQ"]) + off_cu)
        ce = ce / wsum - CLUTTER_CE * max(0.0, n_eff - 1.0)
        cu = cu / wsum - CLUTTER_CU * max(0.0, n_eff - 1.0)
        out = {"PQ": pq, "PC": pc, "CE": ce, "CU": cu}
        return {a: float(min(SCALE_MAX, max(SCALE_MIN, out[a]))) for a in AXES}


# ---- transformations with sampled strength ---------------------------------------------------------
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


def apply_degradation(kind: str, params: dict[str, float], x: np.ndarray, rng: np.random.Generator,
                      recipe: LabelRecipe, domain: str, babble_pool: list[np.ndarray]) -> tuple[np.ndarray, Transform]:
    """Apply one transformation at SR; return the samples and what it did (with its severity)."""
    p = dict(params)
    if kind in ("white", "pink", "brown", "babble"):
        snr = p["snr_db"]
        if kind == "white":
            noise = dg.white_noise(len(x), rng)
        elif kind == "babble":
            picks = rng.choice(len(babble_pool), size=min(len(babble_pool), int(rng.integers(3, 7))), replace=False)
            noise = dg.babble(len(x), [babble_pool[i] for i in picks], rng)
        else:
            noise = dg.coloured_noise(len(x), rng, 1.0 if kind == "pink" else 2.0)
        y = dg.add_noise(x, noise, snr)
        full = 1.0 if kind == "babble" else 0.5
        return y, Transform(kind, p, recipe.noise(snr), recipe.audible_layers(snr, full))
    if kind == "clip":
        y, frac = dg.hard_clip(x, p["level"])
        p["fraction"] = frac
        return y, Transform(kind, p, recipe.clipping(frac))
    if kind == "clip_fs":
        y, frac = dg.clip_full_scale(dg.peak_normalise(x, 0.99), p["drive_db"])
        p["fraction"] = frac
        return y, Transform(kind, p, recipe.clipping(frac))
    if kind == "lowpass":
        fc, order = p["cutoff_hz"], int(p["order"])
        y = dg.brickwall_lowpass(x, SR, fc) if order == 0 else dg.lowpass(x, SR, fc, order)
        return y, Transform(kind, p, recipe.lowpass(fc))
    if kind == "quantise":
        y, snr = dg.quantise(x, int(p["bits"]))
        p["snr_db"] = snr
        return y, Transform(kind, p, recipe.quantisation(snr))
    if kind == "reverb":
        y = dg.reverb(x, SR, p["rt60"], p["drr_db"], rng)
        return y, Transform(kind, p, recipe.reverb(p["rt60"], p["drr_db"], domain))
    if kind == "dropouts":
        y = dg.dropouts(x, SR, int(p["count"]), rng)
        return y, Transform(kind, p, recipe.dropouts(int(p["count"])))
    if kind == "codec":
        y = dg.codec(x, SR, p["bandwidth_hz"], p["threshold_db"], rng)
        return y, Transform(kind, p, recipe.codec(p["bandwidth_hz"], p["threshold_db"]))
    if kind == "tilt":
        y = dg.tilt(x, SR, p["corner_hz"], p["cut_db"])
        return y, Transform(kind, p, recipe.tilt(p["cut_db"]))
    if kind == "quiet":
        y, snr = dg.quantise(dg.set_rms_dbfs(x, p["rms_dbfs"]), 16)
        p["snr_db"] = snr
        return y, Transform(kind, p, 0.5 + recipe.quantisation(snr))
    raise ValueError(f"unknown degradation {kind!r}")


# ---- items ----------------------------------------------------------------------------------------
@dataclass
class CorpusItem:
    id: str
    samples: np.ndarray
    sample_rate: int
    labels: dict[str, float]
    sources: list[str]
    transforms: list[Transform] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "sources": self.sources, "labels": self.labels, "sample_rate": self.sample_rate,
                "transforms": [{"name": t.name, **t.params, "severity": t.severity} for t in self.transforms]}


@dataclass
class CorpusSettings:
    seed: int = 0
    min_s: float = 3.0
    max_s: float = 8.0
    level_range: tuple[float, float] = (-42.0, -12.0)  # item RMS in dBFS before quantisation
    other_rate_share: float = 0.15
    other_rates: tuple[int, ...] = (22050, 44100, 48000)
    # Share of items given digital silence before/after (as ESC-50 pads its clips): not a
    # defect, so label-neutral, but the encoder must learn that it is not a dropout.
    silence_share: float = 0.12
    tts_train: int = 24
    tts_proxy: int = 10
    music_train: int = 24
    music_proxy: int = 10
    textures_train: int = 16
    textures_proxy: int = 8
    tones_train: int = 4
    tones_proxy: int = 2
    hiss_train: int = 4
    hiss_proxy: int = 2
    real_clean: int = 4
    real_single: int = 22
    real_compound: int = 8
    synth_clean: int = 2
    synth_single: int = 9
    synth_compound: int = 3
    mixtures_train: int = 1000
    proxy_items_per_source: int = 4
    mixtures_proxy: int = 80
    mixtures_natural: int = 30


class CorpusBuilder:
    def __init__(self, recipe: LabelRecipe, settings: CorpusSettings | None = None):
        self.recipe = recipe
        self.settings = settings or CorpusSettings()

    # -- sources
    def real_sources(self, recordings: list[Recording]) -> list[Source]:
        out = []
        for r in recordings:
            audio = load_audio(r.path)
            x = resample(audio.samples, audio.sample_rate, SR)
            x = (x - x.mean()).astype(np.float32)  # a DC offset is not part of what we label
            sev = self.recipe.defect_severity(REAL_DEFECTS.get(r.name, {}))
            out.append(Source(r.name, r.domain, "real", x, REAL_LAYERS.get(r.name, 1.0), sev))
        return out

    def synthetic_sources(self, rng: np.random.Generator, tts: int, music: int, textures: int,
                          tones: int, hiss: int, prefix: str) -> list[Source]:
        s = self.settings
        out = []
        for i, syn in enumerate(tts_utterances(rng, tts)):
            out.append(Source(f"{prefix}tts{i:02d}", "speech", "tts", syn.samples, syn.layers))
        part_choices = [["melody"], ["chords"], ["drums"], ["arpeggio"], ["melody", "chords"],
                        ["melody", "bass"], ["drums", "bass"], ["melody", "chords", "bass"],
                        ["melody", "chords", "drums"], ["melody", "chords", "bass", "drums"],
                        ["arpeggio", "melody", "bass", "drums"], ["chords", "bass", "drums"]]
        for i in range(music):
            parts = part_choices[i % len(part_choices)]
            dur = float(rng.uniform(s.min_s, s.max_s))
            syn = drum_pattern(rng, dur) if parts == ["drums"] else music_piece(rng, dur, parts)
            out.append(Source(f"{prefix}music{i:02d}", "music", "music", syn.samples, max(1.0, syn.layers)))
        for i in range(textures):
            syn = texture(TEXTURES[i % len(TEXTURES)], rng, float(rng.uniform(s.min_s, s.max_s)))
            out.append(Source(f"{prefix}texture{i:02d}", "sound", "texture", syn.samples, syn.layers))
        for i in range(tones):
            syn = tone(rng, float(rng.uniform(s.min_s, s.max_s)))
            out.append(Source(f"{prefix}tone{i:02d}", "music", "tone", syn.samples, syn.layers))
        for i in range(hiss):
            n = int(rng.uniform(s.min_s, s.max_s) * SR)
            # White only: pink and brown noise are too close to real ambiences (traffic,
            # wind, a room), which are content, not defects.
            x = dg.white_noise(n, rng)
            out.append(Source(f"{prefix}hiss{i:02d}", "sound", "hiss", (0.1 * x).astype(np.float32), 1.0,
                              self.recipe.noise(HISS_SNR_DB)))
        return out

    # -- one item
    def crop(self, source: Source, rng: np.random.Generator, length: int | None = None) -> np.ndarray:
        n = len(source.samples)
        want = length or int(rng.uniform(self.settings.min_s, self.settings.max_s) * SR)
        if n <= want:
            return source.samples
        start = int(rng.integers(0, n - want))
        return source.samples[start:start + want]

    def make_item(self, item_id: str, components: list[tuple[Source, float]], degrade: list[tuple[str, dict]],
                  rng: np.random.Generator, babble_pool: list[np.ndarray], out_rate: int = SR,
                  level_db: float | None = None, crops: list[np.ndarray] | None = None,
                  may_pad: bool = False) -> CorpusItem:
        s = self.settings
        if crops is None:
            length = int(rng.uniform(s.min_s, s.max_s) * SR)
            crops = [self.crop(src, rng, length) for src, _ in components]
        x = dg.mix(crops, [g for _, g in components]) if len(crops) > 1 else crops[0].astype(np.float32)
        level = level_db if level_db is not None else float(rng.uniform(*s.level_range))
        x = dg.set_rms_dbfs(x, level)
        main_domain = components[0][0].domain
        transforms = []
        for kind, params in degrade:
            x, t = apply_degradation(kind, params, x, rng, self.recipe, main_domain, babble_pool)
            transforms.append(t)
        if may_pad and rng.random() < s.silence_share:
            before, after = (int(rng.uniform(0, 1.5) * len(x)) for _ in range(2))
            x = np.concatenate([np.zeros(before, np.float32), x, np.zeros(after, np.float32)])
        if float(np.max(np.abs(x))) <= 1.0:
            x, _ = dg.quantise(x, 16)  # as a 16-bit file would hold it
        if out_rate != SR:
            x = resample(x, SR, out_rate)
        labels = self.recipe.labels(components, transforms)
        return CorpusItem(item_id, x.astype(np.float32), out_rate, labels, [c.id for c, _ in components], transforms)

    def _rate(self, rng: np.random.Generator) -> int:
        s = self.settings
        return int(rng.choice(s.other_rates)) if rng.random() < s.other_rate_share else SR

    def _random_degradations(self, rng: np.random.Generator, count: int, heavy: bool) -> list[tuple[str, dict]]:
        if count >= 2 and rng.random() < 0.35:
            # Band-limiting under added noise is common in the wild (a phone call in a
            # cafe) and hard: the noise fills the missing band. Make sure it is seen.
            kinds = [str(rng.choice(["lowpass", "codec"])),
                     str(rng.choice(["white", "pink", "brown", "babble", "quantise"]))]
            rest = [k for k in DEGRADATIONS if k not in kinds]
            kinds += [str(k) for k in rng.choice(rest, size=count - 2, replace=False)]
        else:
            kinds = [str(k) for k in rng.choice(DEGRADATIONS, size=count, replace=False)]
        # Level and clipping happen before anything else in a real chain; noise last.
        order = {"quiet": 0, "clip_fs": 1, "clip": 1, "quantise": 9}
        kinds.sort(key=lambda k: order.get(k, 5))
        if "quiet" in kinds and "quantise" in kinds:
            kinds.remove("quantise")
        return [(k, sample_params(k, rng, heavy)) for k in kinds]

    def _mixture(self, rng: np.random.Generator, pool: list[Source], k: int) -> list[tuple[Source, float]]:
        picks = rng.choice(len(pool), size=k, replace=False)
        gains = [0.0] + [float(rng.uniform(-6, 4)) if rng.random() > 0.15 else float(rng.uniform(-16, -8))
                         for _ in range(k - 1)]
        top = max(gains)
        return [(pool[i], g - top) for i, g in zip(picks, gains)]

    # -- the three sets
    def build(self, train_recordings: list[Recording], held_out: list[Recording]) -> dict[str, list[CorpusItem]]:
        s = self.settings
        rng = np.random.default_rng(s.seed)
        real_train = self.real_sources(train_recordings)
        real_held = self.real_sources(held_out)
        synth_train = self.synthetic_sources(rng, s.tts_train, s.music_train, s.textures_train, s.tones_train,
                                             s.hiss_train, "syn-")
        synth_proxy = self.synthetic_sources(np.random.default_rng(s.seed + 1), s.tts_proxy, s.music_proxy,
                                             s.textures_proxy, s.tones_proxy, s.hiss_proxy, "pxy-")
        babble_pool = [src.samples for src in real_train + synth_train if src.domain == "speech"]
        return {
            "train": self._train_items(rng, real_train, synth_train, babble_pool),
            "natural": self._natural_items(np.random.default_rng(s.seed + 2), real_held, babble_pool),
            "proxy": self._proxy_items(np.random.default_rng(s.seed + 3), synth_proxy, babble_pool),
        }

    def _train_items(self, rng, real, synth, babble_pool) -> list[CorpusItem]:
        s = self.settings
        items = []
        for src in real + synth:
            is_real = src.kind == "real"
            n_clean = s.real_clean if is_real else s.synth_clean
            n_single = s.real_single if is_real else s.synth_single
            n_comp = s.real_compound if is_real else s.synth_compound
            if src.kind == "hiss":  # already as bad as it gets: only seen at other levels and rates
                n_clean, n_single, n_comp = 6, 0, 0
            plan = [[]] * n_clean
            plan += [self._random_degradations(rng, 1, False) for _ in range(n_single)]
            plan += [self._random_degradations(rng, int(rng.integers(2, 4)), False) for _ in range(n_comp)]
            for j, deg in enumerate(plan):
                items.append(self.make_item(f"train-{src.id}-{j:02d}", [(src, 0.0)], deg, rng, babble_pool,
                                            self._rate(rng), may_pad=True))
        pool = [src for src in real + synth if src.kind != "hiss"]  # hiss in a mix is what "noise" covers
        for j in range(s.mixtures_train):
            k = int(rng.choice([2, 3, 3, 4]))
            # Half the mixtures are of real recordings only: real-world complexity.
            comps = self._mixture(rng, real if rng.random() < 0.5 else pool, k)
            deg = self._random_degradations(rng, 1, False) if rng.random() < 0.4 else []
            items.append(self.make_item(f"train-mix{j:03d}", comps, deg, rng, babble_pool, self._rate(rng),
                                        may_pad=True))
        return items

    def _natural_items(self, rng, held, babble_pool) -> list[CorpusItem]:
        """Held-out recordings: clean, each transformation at a fixed moderate strength, and mixtures."""
        fixed = [[], [], [("white", {"snr_db": 25.0})], [("pink", {"snr_db": 12.0})],
                 [("babble", {"snr_db": 5.0})], [("clip", {"level": 0.2})], [("lowpass", {"cutoff_hz": 2500.0, "order": 8})],
                 [("quantise", {"bits": 7})], [("reverb", {"rt60": 1.2, "drr_db": 0.0})],
                 [("codec", {"bandwidth_hz": 4000.0, "threshold_db": 25.0})], [("dropouts", {"count": 4})],
                 [("white", {"snr_db": 5.0}), ("lowpass", {"cutoff_hz": 4000.0, "order": 4})]]
        items = []
        for src in held:
            for j, deg in enumerate(fixed):
                items.append(self.make_item(f"natural-{src.id}-{j:02d}", [(src, 0.0)], deg, rng, babble_pool))
        for j in range(self.settings.mixtures_natural):
            comps = self._mixture(rng, held, int(rng.choice([2, 3, 4])))
            items.append(self.make_item(f"natural-mix{j:03d}", comps, [], rng, babble_pool))
        return items

    def _proxy_items(self, rng, synth, babble_pool) -> list[CorpusItem]:
        s = self.settings
        items = []
        for src in synth:
            items.append(self.make_item(f"proxy-{src.id}-clean", [(src, 0.0)], [], rng, babble_pool))
            for j in range(s.proxy_items_per_source):
                deg = self._random_degradations(rng, int(rng.integers(1, 4)), True)
                items.append(self.make_item(f"proxy-{src.id}-{j:02d}", [(src, 0.0)], deg, rng, babble_pool,
                                            self._rate(rng), may_pad=True))
        pool = [src for src in synth if src.kind != "hiss"]
        for j in range(s.mixtures_proxy):
            comps = self._mixture(rng, pool, int(rng.choice([2, 3, 4])))
            deg = self._random_degradations(rng, 1, True) if rng.random() < 0.5 else []
            items.append(self.make_item(f"proxy-mix{j:03d}", comps, deg, rng, babble_pool, self._rate(rng)))
        return items
