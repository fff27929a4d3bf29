"""Lite 2's training material: splits by source, profiles, verified recordings, the speech teacher."""

import numpy as np
import pytest
import soundfile as sf

from mmmos_core.errors import ManifestError
from mmmos_core.lite.real_corpus import DEFAULT_PROFILE, RealCorpusBuilder, load_verified, profile_of, source_splits
from mmmos_core.lite.recipe import CONTENT_OFFSETS, LabelRecipe, Source
from mmmos_core.lite.sources import CorpusRecord, audio_sha256, read_manifest
from mmmos_core.lite.teacher import STUDIO_SCORE, TEACHER_WEIGHT, SpeechTeacher, TeacherScores


@pytest.fixture(scope="module")
def manifest():
    return read_manifest()


def test_fit_val_and_check_are_disjoint_and_check_is_the_manifest_s(manifest):
    splits = source_splits(manifest)
    assert set(splits.values()) == {"fit", "val", "check"}
    assert {s for s, v in splits.items() if v == "check"} == {r.source for r in manifest.records if r.split == "check"}
    for domain in ("speech", "music", "sound"):
        assert any(splits[r.source] == "val" for r in manifest.records if r.primary_domain == domain)
    assert all(splits[s] == "fit" for s in splits if s.startswith("shared:"))


def test_validation_takes_no_kind_away_from_training(manifest):
    splits = source_splits(manifest)
    fit_kinds = {(r.domain, profile_of(r).content) for r in manifest.records if splits[r.source] == "fit"}
    val_kinds = {(r.domain, profile_of(r).content) for r in manifest.records if splits[r.source] == "val"}
    assert val_kinds <= fit_kinds
    assert all(splits[r.source] == "fit" for r in manifest.records if r.container == "midi")  # part counts


def test_every_debian_training_source_says_what_it_is(manifest):
    for r in manifest.records:
        if r.split == "train" and not r.source.startswith("shared:"):
            assert profile_of(r) is not DEFAULT_PROFILE, r.source
            assert profile_of(r).content in CONTENT_OFFSETS


def test_every_held_out_music_source_says_what_it_is(manifest):
    # The card's produced-music check counts the held-out recordings whose profile says
    # "produced-music": a soundtrack added to the corpus without its line would drop out of it.
    for r in manifest.records:
        if r.split == "check" and r.domain == "music":
            assert profile_of(r) is not DEFAULT_PROFILE, r.source


def _record(tmp_path, samples, sr=16000, **kw):
    path = tmp_path / "speech" / "x.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (samples * 32767).astype(np.int16)[:, None]
    fields = dict(id="x", source="pkg", version="1", member="a.wav", container="file", licence="CC0-1.0",
                  domain="speech", primary_domain="speech", split="train", start_s=0.0, duration_s=len(samples) / sr,
                  sample_rate=sr, channels=1, source_sha256="0" * 64, sha256=audio_sha256(pcm, sr))
    fields.update(kw)
    return path, pcm, CorpusRecord(**fields)


def test_a_recording_is_used_only_as_its_manifest_states_it(tmp_path):
    x = (0.3 * np.sin(np.arange(8000) / 10)).astype(np.float32)
    path, pcm, record = _record(tmp_path, x)
    with pytest.raises(ManifestError, match=r"x\.wav: corpus recording x is missing; run `make lite-corpus`"):
        load_verified(path, record)
    path.write_bytes(b"RIFF....not a wave file")
    with pytest.raises(ManifestError, match=r"x\.wav: corpus recording x is undecodable"):
        load_verified(path, record)
    sf.write(path, pcm[::-1], 16000, subtype="PCM_16")  # other samples: a damaged or stale file
    with pytest.raises(ManifestError, match=r"x\.wav: .*does not match its manifest checksum"):
        load_verified(path, record)
    sf.write(path, pcm, 16000, subtype="PCM_16")
    audio = load_verified(path, record)
    assert audio.sample_rate == 16000 and np.allclose(audio.samples, pcm[:, 0] / 32768.0)


def test_the_teacher_maps_dnsmos_onto_the_pq_scale_and_blends_with_the_recipe():
    teacher = SpeechTeacher(studio_pq=7.4, peer=object())
    assert teacher.pq(TeacherScores(1.0, 1.0)) == pytest.approx(1.0)
    assert teacher.pq(TeacherScores(STUDIO_SCORE, STUDIO_SCORE)) == pytest.approx(7.4)
    assert teacher.pq(TeacherScores(2.0, 3.0)) < teacher.pq(TeacherScores(2.5, 3.0))  # OVRL counts most
    assert teacher.pq(TeacherScores(5.0, 5.0)) <= 10.0
    assert teacher.blend(6.0, 2.0) == pytest.approx(TEACHER_WEIGHT * 6.0 + (1 - TEACHER_WEIGHT) * 2.0)


class _FixedPeer:
    def __init__(self, ovrl, p808):
        self.values = {"OVRL": ovrl, "SIG": 3.0, "BAK": 3.0, "P808": p808}

    def first_window(self, samples):
        return dict(self.values)


def test_speech_alone_takes_the_teacher_and_music_keeps_the_recipe(manifest):
    from mmmos_core.lite.corpus import DEFAULT_LABELS_DIR
    from mmmos_core.lite.priors import compute_priors

    try:
        priors = compute_priors(DEFAULT_LABELS_DIR)
    except ManifestError:
        pytest.skip("needs ../shared/aes_labels")
    recipe = LabelRecipe(priors)
    rng = np.random.default_rng(0)
    voice = Source("v", "speech", "real", (0.1 * rng.standard_normal(32000)).astype(np.float32), 1.0)
    tune = Source("m", "music", "real", (0.1 * rng.standard_normal(32000)).astype(np.float32), 3.0)
    for ovrl, p808 in ((3.4, 3.6), (1.5, 2.2)):
        teacher = SpeechTeacher(studio_pq=priors["speech"].pq_percentiles[75], peer=_FixedPeer(ovrl, p808))
        builder = RealCorpusBuilder(recipe, manifest, teacher)
        item = builder.make_item("s", [(voice, 0.0)], [], rng, [])
        want = teacher.blend(teacher.pq(TeacherScores(ovrl, p808)), item.teacher["recipe_pq"])
        assert item.labels["PQ"] == pytest.approx(want)
        music = builder.make_item("m", [(tune, 0.0)], [], rng, [])
        assert music.teacher is None and music.labels == recipe.labels([(tune, 0.0)], [])
