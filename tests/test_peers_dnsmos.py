"""The DNSMOS peer and the speech gate, on real recordings from shared/audio."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmmos_core.errors import ModelLoadError
from mmmos_core.model.audio import Audio, load_audio
from mmmos_core.peers import load_peer
from mmmos_core.peers import dnsmos, speech

pytestmark = pytest.mark.skipif(not dnsmos.available(), reason="speechmos/onnxruntime not installed")


@pytest.fixture(scope="module")
def peer():
    return load_peer("dnsmos")


@pytest.fixture(scope="module")
def ljspeech(clips):
    return load_audio(next(c for c in clips if c.name.startswith("speech_ljspeech")))


def test_clean_speech_scores_higher_than_the_same_speech_in_noise(peer, ljspeech):
    rng = np.random.default_rng(0)
    noisy = ljspeech.samples + rng.normal(0, 0.05, ljspeech.samples.shape).astype(np.float32)
    clean, degraded = peer.score([ljspeech, Audio(noisy, ljspeech.sample_rate, "noisy")])
    assert clean["OVRL"] > degraded["OVRL"] + 0.5
    assert clean["BAK"] > degraded["BAK"] + 0.5  # the background axis is where noise shows


def test_scores_match_the_published_model_on_an_audiobook_clip(peer, ljspeech):
    # Seen once from speechmos 0.0.1.1's ONNX models; pinned so a package change that moves them is noticed.
    s = peer.score([ljspeech])[0]
    assert s["OVRL"] == pytest.approx(3.30, abs=0.05)
    assert s["SIG"] == pytest.approx(3.60, abs=0.05)
    assert s["BAK"] == pytest.approx(3.99, abs=0.05)
    assert s["P808"] == pytest.approx(4.22, abs=0.05)
    record = s.to_record()
    assert record["model"] == "dnsmos" and record["scale"] == "1-5" and record["domain"] == "speech only"


def test_unknown_peer_is_named_with_the_known_ones():
    with pytest.raises(ModelLoadError, match="known: audiobox, dnsmos"):
        load_peer("distillmos")


@pytest.mark.skipif(not speech.available(), reason="silero-vad not installed")
def test_speech_gate_tells_speech_from_music_and_sound(clips):
    verdict = {c.name: speech.detect_speech(load_audio(c)).is_speech for c in clips}
    assert all(v for name, v in verdict.items() if name.startswith("speech_"))
    assert not any(v for name, v in verdict.items()
                   if name.startswith("sound_") or name in ("music_tabla_solo.wav", "music_trumpet_jazz_phrase.wav",
                                                            "music_brahms_hungarian_dance5_strings.wav"))


def test_speech_gate_says_no_for_digital_silence():
    audio = load_audio((16000, np.zeros(16000 * 3, dtype=np.float32)))
    assert speech.detect_speech(audio).is_speech is False


def test_cli_adds_a_dnsmos_reference_block(clips, capsys, shared_recordings):
    from mmmos_core.cli import main

    clip = next(c for c in clips if c.name.startswith("speech_vctk"))
    assert main(["predict", "--reference", "dnsmos", "--quiet", str(clip)]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["reference"]["model"] == "dnsmos"
    assert 1.0 <= record["reference"]["OVRL"] <= 5.0


def test_a_capped_score_says_how_much_was_heard(peer, ljspeech):
    capped = peer.score([ljspeech], max_s=5.0)[0]
    assert capped.to_record()["scored_s"] == 5.0
    whole = peer.score([ljspeech], max_s=60.0)[0]  # the clip is shorter than the cap: scored whole, nothing said
    assert "scored_s" not in whole.to_record() and whole["OVRL"] == pytest.approx(3.30, abs=0.05)
