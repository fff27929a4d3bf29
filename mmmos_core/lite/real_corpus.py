"""MMMOS-lite 2's training material: the real-audio corpus (`sources`), cut, transformed,
mixed and labelled; the speech teacher (`teacher`) for items that are speech alone.

Three kinds of source-level split, all by source name, never by a result:
- ``check``: the manifest's held-out sources (`sources.HELD_OUT_RULE`). Nothing here reads
  them; only ``scripts/lite_card.py`` does, after a build.
- ``val``: among the manifest's ``train`` sources, within each primary domain, the first
  ceil(n/5) Debian sources by sha256("mmmos-lite-val:" + name), leaving out the sources of
  rendered MIDI ensembles (the only material with a known count of parts, and the
  ensemble ladders) and any source that is the last fit source of one of its kinds
  (`Profile.content`, e.g. the only UI sounds): validation must not take a kind away. They are the "natural"
  validation set that picks ensemble members, so they are looked at; they are not trained on.
- ``fit``: the rest (with every ``shared:`` source), which the members are trained on.

What a source is (its production and content) is stated per source in `PROFILES`, from
what the package is (a studio IVR voice, a mastered game soundtrack, a system beep), not
from how any model scores it. Production places the undamaged recording on the AES
domain's PQ distribution (`PRODUCTION_PERCENTILE`); documented defects of the manifest
lower it (`DEFECT_SEVERITY`); the content kind moves CE/CU (`recipe.CONTENT_OFFSETS`);
the layer count sets PC (a rendered MIDI ensemble states its own number of parts).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from mmmos_core.errors import ManifestError
from mmmos_core.model.audio import load_audio, resample

from .corpus import REAL_DEFECTS, REAL_LAYERS, CorpusBuilder, CorpusItem, CorpusSettings
from .recipe import LabelRecipe, Source
from .sources import CorpusRecord, Manifest, audio_sha256, corpus_dir
from .synth import SR


@dataclass(frozen=True)
class Profile:
    production: str  # a key of PRODUCTION_PERCENTILE
    content: str  # a key of recipe.CONTENT_OFFSETS
    layers: float  # things sounding at once in a typical stretch


# Where an undamaged recording of each production sits among the AES clips of its domain.
PRODUCTION_PERCENTILE = {"studio": 75, "produced": 75, "rendered": 50, "reference": 50, "designed": 50,
                         "field": 25, "amateur": 25}
# Severity (recipe units) of the defects the manifest documents for a recording.
DEFECT_SEVERITY = {
    "telephone-band": LabelRecipe.lowpass(3400.0),
    "band-limited": LabelRecipe.lowpass(5000.0),
    "codec": 0.1,  # shipped as Ogg/MP3 at game bitrates: near-transparent
    "clipping": 0.3,
    "low-level": 0.3,
    "dc-offset": 0.0,  # removed before anything else (a DC offset is not heard)
    "processed": 0.2,
    # "low-rate" is the band its sample rate leaves: LabelRecipe.lowpass(rate / 2), per recording.
}

# (source, domain) -> profile; a source's entry without a domain applies to all its domains.
PROFILES: dict[tuple[str, str], Profile] = {
    # speech (the teacher decides PQ; the profile still places the recipe's share)
    ("asterisk-core-sounds-en-wav", ""): Profile("studio", "prompt", 1.0),
    ("asterisk-core-sounds-it-wav", ""): Profile("studio", "prompt", 1.0),
    ("festvox-ru", ""): Profile("studio", "reading", 1.0),
    ("fillets-ng-data-cs", ""): Profile("studio", "acted", 1.0),
    ("fillets-ng-data-nl", ""): Profile("studio", "acted", 1.0),
    ("hedgewars-data", "speech"): Profile("studio", "acted", 1.0),
    ("kajongg", ""): Profile("amateur", "prompt", 1.0),
    ("klettres-data", ""): Profile("amateur", "reading", 1.0),
    ("ktuberling-data", ""): Profile("amateur", "reading", 1.0),
    # music
    ("asterisk-moh-opsound-wav", ""): Profile("produced", "hold-music", 4.0),
    ("colobot-common-sounds", "music"): Profile("produced", "produced-music", 5.0),
    ("hedgewars-data", "music"): Profile("produced", "produced-music", 5.0),
    ("nexuiz-music", ""): Profile("produced", "produced-music", 5.0),
    ("singularity-music", ""): Profile("produced", "produced-music", 5.0),
    ("warzone2100-music", ""): Profile("produced", "produced-music", 5.0),
    ("xmoto-data", ""): Profile("produced", "produced-music", 5.0),
    ("openttd-openmsx", ""): Profile("rendered", "rendered-midi", 4.0),
    ("planetblupi-music-midi", ""): Profile("rendered", "rendered-midi", 4.0),
    ("sonic-pi-samples", ""): Profile("studio", "loop", 1.0),
    # sound
    ("boswars-data", ""): Profile("designed", "sfx", 1.5),
    ("bucklespring-data", ""): Profile("field", "keyboard", 1.0),
    ("heroes-sound-effects", ""): Profile("designed", "sfx", 1.0),
    ("tuxpaint-data", ""): Profile("designed", "sfx", 1.0),
    ("wordwarvi-sound", ""): Profile("designed", "sfx", 1.5),
    ("yaru-theme-sound", ""): Profile("produced", "ui-sound", 1.0),
    ("colobot-common-sounds", "sound"): Profile("designed", "sfx", 1.5),
    ("hedgewars-data", "sound"): Profile("designed", "sfx", 1.5),
    # Held-out ("check") sources: what the packages are, for the card's produced-music check
    # only. No label is ever made from these lines (`RealCorpusBuilder` never reads check).
    ("extremetuxracer-data", "music"): Profile("produced", "produced-music", 5.0),
    ("frozen-bubble-data", "music"): Profile("produced", "produced-music", 5.0),
    ("neverball-common", "music"): Profile("produced", "produced-music", 5.0),
}
DEFAULT_PROFILE = Profile("reference", "real", 1.0)  # the shared recordings (REAL_LAYERS adds theirs)


def profile_of(record: CorpusRecord) -> Profile:
    return PROFILES.get((record.source, record.domain)) or PROFILES.get((record.source, "")) or DEFAULT_PROFILE


def source_splits(manifest: Manifest) -> dict[str, str]:
    """source -> "fit", "val" or "check" (see the module's docstring)."""
    primary = {r.source: r.primary_domain for r in manifest.records}
    split = {r.source: r.split for r in manifest.records}
    rendered = {r.source for r in manifest.records if r.container == "midi"}
    kinds: dict[str, set[tuple[str, str]]] = {}
    for r in manifest.records:
        kinds.setdefault(r.source, set()).add((r.domain, profile_of(r).content))
    out = {s: "check" for s, v in split.items() if v == "check"}
    for domain in sorted(set(primary.values())):
        debian = sorted((s for s, d in primary.items() if d == domain and split[s] == "train"
                         and not s.startswith("shared:") and s not in rendered),
                        key=lambda s: hashlib.sha256(f"mmmos-lite-val:{s}".encode()).hexdigest())
        n_val = math.ceil(len(debian) / 5)
        for s in debian:
            out[s] = "fit"
        for s in debian:
            if n_val == 0:
                break
            # A source stays in fit when it is the only fit source of one of its kinds (UI
            # sounds, keyboard, loops, hold music): validation must not take a kind away.
            others = [o for o in split if o != s and out.get(o, "fit") == "fit" and split[o] == "train"]
            if all(any(kind in kinds[o] for o in others) for kind in kinds[s]):
                out[s] = "val"
                n_val -= 1
    for s in split:
        out.setdefault(s, "fit")  # shared: sources
    return out


def shared_name(record: CorpusRecord) -> str:
    """The ../shared/audio file stem of a shared recording (its REAL_* tables are keyed so)."""
    return record.member.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def load_verified(path, record: CorpusRecord):
    """The recording as the manifest states it, or one clear error naming the file. The model
    build stops there: a model trained on other audio than its manifest lists could not be
    rebuilt (`make lite-corpus` rebuilds or names what it cannot)."""
    import soundfile as sf

    if not path.is_file():
        raise ManifestError(f"{path}: corpus recording {record.id} is missing; run `make lite-corpus`")
    try:
        pcm, sr = sf.read(str(path), dtype="int16", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this file's problem
        raise ManifestError(f"{path}: corpus recording {record.id} is undecodable ({type(exc).__name__}: {exc}); "
                            "run `make lite-corpus` to rebuild it") from None
    if audio_sha256(pcm, sr) != record.sha256:
        raise ManifestError(f"{path}: corpus recording {record.id} does not match its manifest checksum; "
                            "run `make lite-corpus` to rebuild it")
    return load_audio((sr, pcm.astype(np.float32) / 32768.0), name=str(path))


class RealCorpusBuilder(CorpusBuilder):
    """`CorpusBuilder`'s items, made from the real-audio corpus, with the speech teacher."""

    def __init__(self, recipe: LabelRecipe, manifest: Manifest, teacher=None, settings: CorpusSettings | None = None,
                 root=None):
        super().__init__(recipe, settings or CorpusSettings())
        self.manifest = manifest
        self.teacher = teacher
        self.root = root or corpus_dir()
        self.splits = source_splits(manifest)

    def records(self, split: str) -> list[CorpusRecord]:
        return [r for r in self.manifest.records if self.splits[r.source] == split]

    def source(self, record: CorpusRecord) -> Source:
        audio = load_verified(self.root / record.file_name, record)
        x = resample(audio.samples, audio.sample_rate, SR)
        x = (x - x.mean()).astype(np.float32)
        prof = profile_of(record)
        prior = self.recipe.priors[record.domain]
        base = prior.pq_percentiles[PRODUCTION_PERCENTILE[prof.production]]
        severity = sum(self.recipe.lowpass(record.sample_rate / 2.0) if d == "low-rate" else DEFECT_SEVERITY[d]
                       for d in record.defects)
        layers = prof.layers
        if record.source.startswith("shared:"):
            name = shared_name(record)
            severity += self.recipe.defect_severity(REAL_DEFECTS.get(name, {}))
            layers = REAL_LAYERS.get(name, layers)
        if record.parts:
            layers = float(record.parts)
        return Source(record.id, record.domain, "real", x, layers, severity, base_pq=base, content=prof.content)

    # -- labels: the teacher for speech alone
    def item_labels(self, components, transforms, samples):
        labels = self.recipe.labels(components, transforms)
        if self.teacher is None or not all(src.domain == "speech" for src, _ in components):
            return labels, None
        scores = self.teacher.scores(samples)
        pq = self.teacher.blend(self.teacher.pq(scores), labels["PQ"])
        return (self.recipe.labels(components, transforms, pq=pq),
                {"OVRL": scores.ovrl, "P808": scores.p808, "recipe_pq": labels["PQ"]})

    # -- the three sets
    def build_sets(self, progress=None) -> dict[str, list[CorpusItem]]:
        say = progress or (lambda m: None)
        s = self.settings
        rng = np.random.default_rng(s.seed)
        fit = [self.source(r) for r in self.records("fit")]
        val = [self.source(r) for r in self.records("val")]
        say(f"sources: {len(fit)} fit recordings, {len(val)} validation recordings")
        synth = self.synthetic_sources(rng, s.tts_train, s.music_train, s.textures_train, s.tones_train,
                                       s.hiss_train, "syn-")
        synth_proxy = self.synthetic_sources(np.random.default_rng(s.seed + 1), s.tts_proxy, s.music_proxy,
                                             s.textures_proxy, s.tones_proxy, s.hiss_proxy, "pxy-")
        babble_fit = [src.samples for src in fit if src.domain == "speech" and len(src.samples) > SR]
        babble_val = [src.samples for src in val if src.domain == "speech" and len(src.samples) > SR]
        train = self._train_items(rng, fit, synth, babble_fit)
        say(f"train items: {len(train)} (teacher calls so far: {getattr(self.teacher, 'calls', 0)})")
        train += self._produced_mixtures(rng, fit, babble_fit, "train", s.produced_mixtures_train)
        natural = self._natural_items(np.random.default_rng(s.seed + 2), val, babble_val or babble_fit)
        natural += self._produced_mixtures(np.random.default_rng(s.seed + 4), val, babble_val, "natural",
                                           s.produced_mixtures_natural)
        proxy = self._proxy_items(np.random.default_rng(s.seed + 3), synth_proxy, babble_fit)
        return {"train": train, "natural": natural, "proxy": proxy}

    def _produced_mixtures(self, rng, pool, babble_pool, prefix, count) -> list[CorpusItem]:
        """Two or three full productions at once: PC must keep rising above dense music."""
        dense = [src for src in pool if src.content in ("produced-music", "rendered-midi") and src.layers >= 3
                 and len(src.samples) >= 3 * SR]
        items = []
        if len(dense) < 3:
            return items
        for j in range(count):
            k = int(rng.choice([2, 3]))
            comps = self._mixture(rng, dense, k)
            items.append(self.make_item(f"{prefix}-dense{j:03d}", comps, [], rng, babble_pool, self._rate(rng)))
        return items


def real_corpus_settings(seed: int = 0) -> CorpusSettings:
    """Item counts for the real corpus: fewer per recording (there are 25 times more
    recordings than before), fewer synthetic sources (they are there for pure tones, hiss
    and textures that the corpus lacks). Each recording gives six crops (`paired_versions`),
    each clean and in its share of the recording's 13 single transformations (every kind
    once, `every_kind_once`) and 2 compound ones.

    Lite 2-2.5 drew 5 single kinds at random per recording from four crops: a kind then met
    13-22 of the 52 sound recordings (babble 20, a room 17), and lite 2.5 put a validation
    sound effect above its babble or room version in only two cases of three. Lite 2.6
    shows every recording every kind, with two more clean crops (undamaged audio is 6 in 21
    of a recording's items, against 4 in 11) and 40% more mixtures (1700 and 420, from 1200
    and 300): without those two, mixtures of three and produced music lost on the
    validation sources (docs/lite-history.md, lite 2.6)."""
    return CorpusSettings(seed=seed, tts_train=8, tts_proxy=8, music_train=12, music_proxy=8, textures_train=12,
                          textures_proxy=8, tones_train=4, tones_proxy=2, hiss_train=4, hiss_proxy=2,
                          real_clean=6, real_compound=2, synth_clean=2, synth_single=6,
                          synth_compound=2, mixtures_train=1700, proxy_items_per_source=4, mixtures_proxy=80,
                          mixtures_natural=60, produced_mixtures_train=420, produced_mixtures_natural=40,
                          paired_versions=True, every_kind_once=True)
