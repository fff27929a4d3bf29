"""The lite model's training material: real and synthetic sources, transformed, with labels.

Sources
- the real recordings in ``../shared/audio``, split by a fixed rule: within each domain,
  in file-name order, every third file starting with the first is HELD OUT (never used
  for training) and forms the "natural" validation set;
- synthetic music, tones, drum kits and sound textures (`synth`), and espeak-ng speech.

Items are mixtures of 1-4 sources put through controlled transformations of known
strength (`degradations`), at a random level, stored as 16-bit values, sometimes at
another sample rate.

The label recipe lives in `recipe`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmmos_core.errors import MMMOSError
from mmmos_core.model.audio import load_audio, resample
from mmmos_core.paths import shared_audio_dir, shared_dir

from . import degradations as dg
from .priors import DOMAINS
from .recipe import HISS_SNR_DB, LabelRecipe, Source, Transform
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


def apply_degradation(kind: str, params: dict[str, float], x: np.ndarray, rng: np.random.Generator,
                      recipe: LabelRecipe, domain: str, babble_pool: list[np.ndarray]) -> tuple[np.ndarray, Transform]:
    """Apply one transformation at SR; return the samples and what it did (with its severity)."""
    y, measured = dg.degrade(kind, params, x, SR, rng, babble_pool)
    return y, recipe.transform(kind, measured, domain)


# ---- items ----------------------------------------------------------------------------------------
@dataclass
class CorpusItem:
    id: str
    samples: np.ndarray
    sample_rate: int
    labels: dict[str, float]
    sources: list[str]
    transforms: list[Transform] = field(default_factory=list)
    teacher: dict[str, float] | None = None  # the speech teacher's scores, when it labelled PQ
    group: str | None = None  # items cut from the same crop at the same level (clean and degraded versions)

    def describe(self) -> dict[str, Any]:
        out = {"id": self.id, "sources": self.sources, "labels": self.labels, "sample_rate": self.sample_rate,
               "transforms": [{"name": t.name, **t.params, "severity": t.severity} for t in self.transforms]}
        if self.teacher is not None:
            out["teacher"] = self.teacher
        if self.group is not None:
            out["group"] = self.group
        return out


# A crop must be sounding for at least this share of its 50 ms blocks, counting a block as
# sounding within SOUNDING_RANGE_DB of the recording's loud blocks (95th percentile). A part
# resting for bars on end, or a fade's silent tail, is not the recording: labelled as it,
# such a crop would teach that digital silence is a clean recording of three parts.
SOUNDING_SHARE = 0.5
SOUNDING_RANGE_DB = 40.0


def sounding_start(samples: np.ndarray, start: int, want: int, sample_rate: int = SR) -> int:
    """``start`` if the ``want`` samples from it are sounding enough, else the nearest start
    (in steps of a quarter crop, either way) that is; if none is, the most sounding one.
    Deterministic, so a recording that sounds throughout is cut exactly where it was drawn.
    ``samples`` is mono at ``sample_rate`` (blocks are 50 ms)."""
    n = len(samples)
    block = sample_rate // 20
    k = n // block
    if k < 2:
        return start
    power = (samples[:k * block].astype(np.float64).reshape(k, block) ** 2).mean(1)
    level = 10.0 * np.log10(power + 1e-20)
    sounding = level > np.percentile(level, 95) - SOUNDING_RANGE_DB
    csum = np.concatenate([[0], np.cumsum(sounding)])

    def share(s: int) -> float:
        a, b = s // block, min(k, (s + want) // block)
        return float(csum[b] - csum[a]) / max(1, b - a)

    step = max(block, want // 4)
    candidates = [start] + [c for d in range(step, n, step) for c in (start - d, start + d) if 0 <= c <= n - want]
    enough = [c for c in candidates if share(c) >= SOUNDING_SHARE]
    return enough[0] if enough else max(candidates, key=share)


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
    produced_mixtures_train: int = 0  # mixtures of 2-3 dense productions (real_corpus)
    # Versions of one crop: a single recording's clean and degraded training items share
    # one crop, level and padding (a group, `CorpusItem.group`), so that what separates
    # them is the transformation alone. Off: every item is cut on its own.
    paired_versions: bool = False
    produced_mixtures_natural: int = 0
    # Each real recording under every single degradation kind once (in a random order) instead
    # of ``real_single`` random draws (lite 2-2.5), which left each kind on few recordings of a
    # domain (`real_corpus.real_corpus_settings` says how few).
    every_kind_once: bool = False


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
        """A stretch of ``source`` where it sounds (`sounding_start`), at a random place."""
        n = len(source.samples)
        want = length or int(rng.uniform(self.settings.min_s, self.settings.max_s) * SR)
        if n <= want:
            return source.samples
        start = sounding_start(source.samples, int(rng.integers(0, n - want)), want)
        return source.samples[start:start + want]

    def make_item(self, item_id: str, components: list[tuple[Source, float]], degrade: list[tuple[str, dict]],
                  rng: np.random.Generator, babble_pool: list[np.ndarray], out_rate: int = SR,
                  level_db: float | None = None, crops: list[np.ndarray] | None = None,
                  may_pad: bool = False, padding: tuple[float, float] | None = None,
                  group: str | None = None) -> CorpusItem:
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
        if padding is None and may_pad:
            padding = self._padding(rng)
        if padding is not None and padding != (0.0, 0.0):
            before, after = (int(f * len(x)) for f in padding)
            x = np.concatenate([np.zeros(before, np.float32), x, np.zeros(after, np.float32)])
        if float(np.max(np.abs(x))) <= 1.0:
            x, _ = dg.quantise(x, 16)  # as a 16-bit file would hold it
        labels, teacher = self.item_labels(components, transforms, x)
        if out_rate != SR:
            x = resample(x, SR, out_rate)
        return CorpusItem(item_id, x.astype(np.float32), out_rate, labels, [c.id for c, _ in components], transforms,
                          teacher, group)

    def item_labels(self, components: list[tuple[Source, float]], transforms: list[Transform],
                    samples: np.ndarray) -> tuple[dict[str, float], dict[str, float] | None]:
        """The item's labels (and what a teacher said, if one labelled it) from its samples at SR."""
        return self.recipe.labels(components, transforms), None

    def _padding(self, rng: np.random.Generator) -> tuple[float, float]:
        """Digital silence before and after, as fractions of the item's length; (0, 0) for most items."""
        if rng.random() < self.settings.silence_share:
            return float(rng.uniform(0, 1.5)), float(rng.uniform(0, 1.5))
        return 0.0, 0.0

    def _rate(self, rng: np.random.Generator) -> int:
        s = self.settings
        return int(rng.choice(s.other_rates)) if rng.random() < s.other_rate_share else SR

    def _random_degradations(self, rng: np.random.Generator, count: int, heavy: bool) -> list[tuple[str, dict]]:
        if count >= 2 and rng.random() < 0.35:
            # Band-limiting under added noise is common in the wild (a phone call in a
            # cafe) and hard: the noise fills the missing band. Make sure it is seen.
            kinds = [str(rng.choice(["lowpass", "codec"])),
                     str(rng.choice(["white", "pink", "brown", "babble", "quantise"]))]
            rest = [k for k in dg.DEGRADATIONS if k not in kinds]
            kinds += [str(k) for k in rng.choice(rest, size=count - 2, replace=False)]
        else:
            kinds = [str(k) for k in rng.choice(dg.DEGRADATIONS, size=count, replace=False)]
        # Level and clipping happen before anything else in a real chain; noise last.
        order = {"quiet": 0, "clip_fs": 1, "clip": 1, "quantise": 9}
        kinds.sort(key=lambda k: order.get(k, 5))
        if "quiet" in kinds and "quantise" in kinds:
            kinds.remove("quantise")
        return [(k, dg.sample_params(k, rng, heavy)) for k in kinds]

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
            if is_real and s.every_kind_once:
                plan += [[(str(k), dg.sample_params(str(k), rng, False))] for k in rng.permutation(dg.DEGRADATIONS)]
            else:
                plan += [self._random_degradations(rng, 1, False) for _ in range(n_single)]
            plan += [self._random_degradations(rng, int(rng.integers(2, 4)), False) for _ in range(n_comp)]
            if s.paired_versions and n_clean > 0:
                items += self._versions(src, plan, n_clean, rng, babble_pool)
                continue
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

    def _versions(self, src: Source, plan: list[list[tuple[str, dict]]], n_groups: int, rng: np.random.Generator,
                  babble_pool: list[np.ndarray]) -> list[CorpusItem]:
        """``plan``'s items in ``n_groups`` groups (plan[g] is group g's clean item; the
        degraded ones are dealt round the groups), each group cut from one crop at one
        level with one padding."""
        s = self.settings
        items = []
        for g in range(n_groups):
            crop = self.crop(src, rng, int(rng.uniform(s.min_s, s.max_s) * SR))
            level = float(rng.uniform(*s.level_range))
            padding = self._padding(rng)
            for j in [g] + list(range(n_groups + g, len(plan), n_groups)):
                items.append(self.make_item(f"train-{src.id}-{j:02d}", [(src, 0.0)], plan[j], rng, babble_pool,
                                            self._rate(rng), level_db=level, crops=[crop], padding=padding,
                                            group=f"{src.id}/{g}"))
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
