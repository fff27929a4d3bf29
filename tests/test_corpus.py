import numpy as np
import pytest
from conftest import AES_LABELS, SHARED_AUDIO

from mmmos_core.axes import AXES
from mmmos_core.lite import degradations as dg
from mmmos_core.lite.corpus import CorpusBuilder, CorpusSettings, list_recordings, sounding_start, split_recordings
from mmmos_core.lite.recipe import LabelRecipe, Source, Transform
from mmmos_core.lite.priors import compute_priors
from mmmos_core.lite.synth import SR, espeak_available

LABELS = AES_LABELS


@pytest.fixture(scope="module")
def recipe():
    if not (LABELS / "AES_natural_speech.jsonl").exists():
        pytest.skip("no AES ratings")
    return LabelRecipe(compute_priors(LABELS))


def src(domain="speech", layers=1.0, kind="real", severity=0.0, name="s"):
    return Source(name, domain, kind, np.zeros(SR, np.float32), layers, severity)


# ---- the split ------------------------------------------------------------------------------
def test_held_out_rule_is_fixed_and_disjoint(shared_recordings):
    recs = list_recordings(SHARED_AUDIO)
    train, held = split_recordings(recs)
    assert not {r.name for r in train} & {r.name for r in held}
    assert len(train) + len(held) == len(recs)
    for domain in ("speech", "music", "sound"):
        names = sorted(r.name for r in recs if r.domain == domain)
        assert [r.name for r in held if r.domain == domain] == names[::3]  # every third, from the first
    assert split_recordings(list(reversed(recs))) == (train, held)  # order of discovery does not matter


# ---- the label recipe ----------------------------------------------------------------------------
def test_pq_falls_with_every_degradation_and_with_its_strength(recipe):
    clean = recipe.labels([(src(), 0.0)], [])
    assert clean["PQ"] == pytest.approx(recipe.priors["speech"].mean["PQ"])
    noise = [recipe.labels([(src(), 0.0)], [Transform("white", {}, recipe.noise(s))])["PQ"] for s in (30, 20, 10, 0)]
    assert clean["PQ"] > noise[0] > noise[1] > noise[2] > noise[3] > 1.0
    assert recipe.clipping(0.2) > recipe.clipping(0.02) > recipe.clipping(0.0) == 0.0
    assert recipe.lowpass(2000) > recipe.lowpass(3000) > recipe.lowpass(6000) > recipe.lowpass(8000) == 0.0
    assert recipe.quantisation(20) > recipe.quantisation(40)
    assert recipe.codec(3000, 15) > recipe.codec(6000, 40)
    one = recipe.labels([(src(), 0.0)], [Transform("a", {}, 0.7)])["PQ"]
    two = recipe.labels([(src(), 0.0)], [Transform("a", {}, 0.7), Transform("b", {}, 0.7)])["PQ"]
    assert two < one < clean["PQ"]  # compound damage is worse, and never sticks at the floor
    assert two > 1.0


def test_a_weighting_matches_the_standard_table():
    db = 10 * np.log10(dg.a_weighting(np.array([100.0, 1000.0, 4000.0, 10000.0])))
    assert db == pytest.approx([-19.1, 0.0, 1.0, -2.5], abs=0.1)  # IEC 61672-1, table 3


def test_brown_noise_costs_what_it_sounds_like(recipe):
    """At one flat SNR, brown noise (power mostly below 20 Hz) sounds some 35 dB quieter than
    white noise, and its label follows. White noise, the severity curve's reference, pink and
    babble keep the cost the curve gives their flat SNR."""
    rng = np.random.default_rng(0)
    t = np.arange(5 * SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1760 * t)).astype(np.float32)
    talkers = [rng.standard_normal(SR).astype(np.float32) for _ in range(6)]
    measured, cost = {}, {}
    for kind in ("white", "pink", "brown", "babble"):
        _, measured[kind] = dg.degrade(kind, {"snr_db": 10.0}, x, SR, np.random.default_rng(1), talkers)
        cost[kind] = recipe.transform(kind, measured[kind], "music").severity
    assert cost["white"] == cost["pink"] == cost["babble"] == recipe.noise(10.0)
    assert measured["brown"]["quieter_db"] > 25.0
    assert cost["brown"] < 0.1 * cost["white"]
    assert abs(dg.quieter_than_white_db(dg.white_noise(5 * SR, rng), SR)) < 0.1
    assert dg.quieter_than_white_db(dg.coloured_noise(5 * SR, rng, 1.0), SR) == pytest.approx(5.4, abs=1.0)


def test_pc_rises_with_layers_and_content_axes_follow_pq(recipe):
    solo = recipe.labels([(src("music"), 0.0)], [])
    mix3 = recipe.labels([(src("music"), 0.0), (src("speech"), 0.0), (src("sound"), -3.0)], [])
    assert mix3["PC"] > solo["PC"]
    assert solo["PC"] == pytest.approx(recipe.priors["speech"].mean["PC"])  # one layer: the speech prior
    # Three layers of music land on the AES music mean, by construction of the scale.
    assert recipe.labels([(src("music", 3.0), 0.0)], [])["PC"] == pytest.approx(recipe.priors["music"].mean["PC"])
    babble = recipe.labels([(src(), 0.0)], [Transform("babble", {}, 0.5, recipe.audible_layers(0.0, 1.0))])
    assert babble["PC"] > recipe.labels([(src(), 0.0)], [])["PC"]
    worse = recipe.labels([(src("music"), 0.0)], [Transform("x", {}, 1.0)])
    p = recipe.priors["music"]
    # Same layers, so only the AES coefficient on PQ (fitted jointly with PC) moves CE, and
    # damage to the same content by DAMAGE_SHARE of it.
    from mmmos_core.lite.recipe import DAMAGE_SHARE

    assert worse["CE"] - solo["CE"] == pytest.approx(DAMAGE_SHARE * p.on_pq_pc["CE"][0] * (worse["PQ"] - solo["PQ"]))
    more = recipe.labels([(src("music", 6.0), 0.0)], [])  # a busier piece: CE follows PC as AES music does
    assert more["CE"] - solo["CE"] == pytest.approx(p.on_pq_pc["CE"][1] * (more["PC"] - solo["PC"]))
    assert worse["CU"] < solo["CU"]
    tone = recipe.labels([(src("music", kind="tone"), 0.0)], [])
    assert tone["CE"] < solo["CE"] and tone["PQ"] == solo["PQ"]
    for labels in (solo, mix3, worse, tone):
        assert all(1.0 <= labels[a] <= 10.0 for a in AXES)


# ---- the transformations -----------------------------------------------------------------------------
def test_transformations_hit_their_stated_strength():
    rng = np.random.default_rng(0)
    t = np.arange(2 * SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 3500 * t)).astype(np.float32)
    for snr in (20.0, 0.0):
        for noise in (dg.white_noise(len(x), rng), dg.coloured_noise(len(x), rng, 1.0)):
            y = dg.add_noise(x, noise, snr)
            assert 10 * np.log10(dg.power(x) / dg.power(y - x)) == pytest.approx(snr, abs=0.01)
    y, frac = dg.hard_clip(x + 0.5, 0.3)  # a DC offset does not change what "30% of the peak" means
    assert 0.3 < frac < 0.9 and np.mean(y) == pytest.approx(0.5, abs=0.05)
    assert np.max(np.abs(y - 0.5)) == pytest.approx(np.max(np.abs(x)), rel=1e-3)
    low = dg.lowpass(x, SR, 1000.0)
    assert dg.power(low) == pytest.approx(0.3 ** 2 / 2, rel=0.02)  # the 3.5 kHz partial is gone
    q, snr = dg.quantise(x, 8)
    assert len(np.unique(q)) <= 256 and 30 < snr < 50
    assert dg.rms_dbfs(dg.reverb(x, SR, 1.0, 0.0, rng)) == pytest.approx(dg.rms_dbfs(x), abs=0.01)
    gaps = dg.dropouts(x, SR, 3, rng, 0.05, 0.05)
    assert (gaps == 0).sum() >= 0.9 * 3 * 0.05 * SR
    mixed = dg.mix([x, 10 * dg.white_noise(len(x), rng)], [0.0, -6.0])  # equal RMS first, then the gains
    assert dg.power(mixed) == pytest.approx(1.0 + 10 ** -0.6, rel=0.05)
    assert dg.set_rms_dbfs(x, -30.0).std() == pytest.approx(10 ** (-1.5), rel=0.01)


# ---- the corpus ------------------------------------------------------------------------------------
TINY = CorpusSettings(seed=3, tts_train=1, tts_proxy=1, music_train=2, music_proxy=1, textures_train=1,
                      textures_proxy=1, tones_train=1, tones_proxy=1, hiss_train=1, hiss_proxy=1, real_clean=1,
                      real_single=1, real_compound=1, synth_clean=1, synth_single=1, synth_compound=1,
                      mixtures_train=4, proxy_items_per_source=1, mixtures_proxy=2, mixtures_natural=2)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_corpus_is_reproducible_and_never_trains_on_held_out_recordings(recipe, shared_recordings):
    train, held = split_recordings(list_recordings(SHARED_AUDIO))
    a = CorpusBuilder(recipe, TINY).build(train, held)
    b = CorpusBuilder(recipe, TINY).build(train, held)
    for name in ("train", "natural", "proxy"):
        assert [i.id for i in a[name]] == [i.id for i in b[name]]
        for x, y in zip(a[name], b[name]):
            assert x.labels == y.labels and x.sample_rate == y.sample_rate
            np.testing.assert_array_equal(x.samples, y.samples)
    held_names = {r.name for r in held}
    assert not any(set(i.sources) & held_names for i in a["train"] + a["proxy"])
    assert {s for i in a["natural"] for s in i.sources} <= held_names
    for item in a["train"] + a["natural"] + a["proxy"]:
        assert np.isfinite(item.samples).all() and len(item.samples) > SR
        assert all(1.0 <= item.labels[x] <= 10.0 for x in AXES)
        assert item.sample_rate in (SR,) + TINY.other_rates
    # Each degraded natural item scores lower PQ than the clean one of the same recording.
    for item in a["natural"]:
        if item.transforms and "mix" not in item.id:
            clean = next(i for i in a["natural"] if i.sources == item.sources and not i.transforms)
            assert item.labels["PQ"] < clean.labels["PQ"]


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_paired_versions_share_one_crop_and_rank_below_their_clean_version(recipe, shared_recordings):
    from dataclasses import replace

    train, held = split_recordings(list_recordings(SHARED_AUDIO))
    settings = replace(TINY, paired_versions=True, real_clean=2, real_single=3, real_compound=1, other_rate_share=0.0)
    items = CorpusBuilder(recipe, settings).build(train[:3], held)["train"]
    groups: dict[str, list] = {}
    for item in items:
        if item.group is not None:
            groups.setdefault(item.group, []).append(item)
    real = {name: g for name, g in groups.items() if name.split("/")[0] in {r.name for r in train[:3]}}
    assert len(real) == 3 * 2 and all(len(g) == 3 for g in real.values())  # 2 clean + 4 degraded per recording
    for members in groups.values():
        clean = [i for i in members if not i.transforms]
        assert len(clean) == 1 and len({len(i.samples) for i in members}) == 1
        for item in members:
            if item.transforms:
                assert item.labels["PQ"] < clean[0].labels["PQ"]
    # the two groups of one recording are cut from two crops
    first = [g for name, g in groups.items() if name.startswith(train[0].name)]
    a, b = (next(i for i in g if not i.transforms).samples for g in first)
    assert not (len(a) == len(b) and np.array_equal(a, b))


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_every_kind_once_puts_each_real_recording_under_every_degradation(recipe, shared_recordings):
    from dataclasses import replace

    train, held = split_recordings(list_recordings(SHARED_AUDIO))
    settings = replace(TINY, paired_versions=True, every_kind_once=True, real_clean=2, real_compound=1,
                       other_rate_share=0.0)
    items = CorpusBuilder(recipe, settings).build(train[:4], held)["train"]
    for rec in train[:4]:
        mine = [i for i in items if i.group is not None and i.group.split("/")[0] == rec.name]
        singles = sorted(i.transforms[0].name for i in mine if len(i.transforms) == 1)
        assert singles == sorted(dg.DEGRADATIONS)  # each kind once, whatever `real_single` says
        assert sum(len(i.transforms) >= 2 for i in mine) == 1 and sum(not i.transforms for i in mine) == 2
        clean = {i.group: i for i in mine if not i.transforms}
        assert all(i.labels["PQ"] < clean[i.group].labels["PQ"] for i in mine if i.transforms)


def test_crops_are_cut_where_the_recording_sounds(recipe):
    # 24 s: a part that rests for the first 15 s, then plays; a crop drawn in the rest
    # moves onto the playing part, and one drawn there stays exactly where it was drawn.
    rng = np.random.default_rng(0)
    x = np.zeros(24 * SR, np.float32)
    x[15 * SR:] = 0.1 * np.sin(2 * np.pi * 220 * np.arange(9 * SR) / SR)
    source = Source("resting-part", "music", "real", x, 1.0)
    builder = CorpusBuilder(recipe)
    for _ in range(40):
        crop = builder.crop(source, rng, 4 * SR)
        assert len(crop) == 4 * SR
        assert np.mean(np.abs(crop) > 0) >= 0.5
    assert sounding_start(x, 17 * SR, 4 * SR) == 17 * SR
    assert sounding_start(x, 2 * SR, 4 * SR) >= 13 * SR
    # A recording that sounds throughout is cut where it was drawn.
    steady = (0.1 * rng.standard_normal(20 * SR)).astype(np.float32)
    assert all(sounding_start(steady, s, 5 * SR) == s for s in (0, 3 * SR, 15 * SR))
