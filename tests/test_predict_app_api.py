"""Predict and A/B through gradio_client: timeline, second opinions, bad input per clip."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from _app_harness import running_app

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from mmmos_core import load_model  # noqa: E402
from mmmos_core.axes import AXES  # noqa: E402
from mmmos_core.peers import dnsmos, speech  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory, logmel_model_dir, clips):
    with running_app(tmp_path_factory.mktemp("predict-app"), logmel_model_dir, clips) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory, clips):
    """35 s of real speech and music back to back: four windows."""
    parts = [sf.read(str(c), dtype="float32")[0] for c in clips if c.name.startswith(("speech_libri", "music_brahms"))]
    x = np.concatenate([p if p.ndim == 1 else p.mean(axis=1) for p in parts])
    sr = sf.info(str(clips[0])).samplerate
    path = tmp_path_factory.mktemp("long") / "long_take.wav"
    sf.write(str(path), x[: 35 * sr] if len(x) >= 35 * sr else np.tile(x, 3)[: 35 * sr], sr)
    return path


def test_predict_carries_the_timeline_the_cli_writes(client, long_clip, logmel_model_dir, shared_recordings):
    record = client.predict(handle_file(str(long_clip)), api_name="/predict")
    assert record["file"] == "long_take.wav" and "windowed" in record["flags"]
    assert [(w["start"], w["end"]) for w in record["windows"]] == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0),
                                                                  (30.0, 35.0)]
    cli = load_model(str(logmel_model_dir)).predict(str(long_clip), timeline=True).to_record()
    for w_app, w_cli in zip(record["windows"], cli["windows"]):
        for a in AXES:
            assert w_app[a] == pytest.approx(w_cli[a], abs=1e-6)
    for a in AXES:
        assert record[a] == pytest.approx(cli[a], abs=1e-6)


@pytest.mark.skipif(not (dnsmos.available() and speech.available()), reason="speechmos/silero-vad not installed")
def test_speech_gets_dnsmos_as_a_second_opinion_and_music_does_not(client, clips, shared_recordings):
    talk = next(c for c in clips if c.name.startswith("speech_ljspeech"))
    record = client.predict(handle_file(str(talk)), api_name="/predict")
    assert record["speech"]["is_speech"]
    (opinion,) = [o for o in record["second_opinions"] if o["model"] == "dnsmos"]
    assert opinion["scale"] == "1-5" and opinion["domain"] == "speech only" and 1 <= opinion["OVRL"] <= 5
    tabla = next(c for c in clips if c.name.startswith("music_tabla"))
    record = client.predict(handle_file(str(tabla)), api_name="/predict")
    assert not record["speech"]["is_speech"] and not any(o["model"] == "dnsmos" for o in record["second_opinions"])


def test_digital_silence_is_flagged_and_gets_no_second_opinion(client, tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(str(path), np.zeros(3 * 16000, dtype=np.float32), 16000)
    record = client.predict(handle_file(str(path)), api_name="/predict")
    assert "silent" in record["flags"] and record["second_opinions"] == []


def test_compare_clips_gives_a_sentence_and_an_interval_per_axis(client, clips, shared_recordings):
    a = next(c for c in clips if c.name.startswith("speech_librispeech_1320"))
    b = next(c for c in clips if c.name.startswith("speech_ljspeech"))
    result = client.predict(handle_file(str(a)), handle_file(str(b)), api_name="/compare_clips")
    comparison = result["comparison"]
    assert comparison["a"] == a.name and comparison["b"] == b.name and len(comparison["sentences"]) == 4
    for axis in AXES:
        d = comparison["differences"][axis]
        assert d["difference"] == pytest.approx(result["b"][axis] - result["a"][axis], abs=1e-5)
        assert d["low"] <= d["difference"] <= d["high"]


@pytest.mark.parametrize("bad", ["undecodable", "empty", "too_long"])
def test_a_bad_ab_clip_is_named_and_the_other_still_scores(client, clips, tmp_path, bad):
    path = tmp_path / f"{bad}.wav"
    if bad == "undecodable":
        path.write_text("text, not sound")
    elif bad == "empty":
        path.write_bytes(b"")
    else:  # 20 minutes at 4 kHz (the lowest rate accepted), 8-bit: over the 600 s limit yet small to upload
        sf.write(str(path), np.zeros(1200 * 4000, dtype=np.float32), 4000, subtype="PCM_U8")
    result = client.predict(handle_file(str(clips[0])), handle_file(str(path)), api_name="/compare_clips")
    assert result["comparison"] is None
    assert all(1 <= result["a"][a] <= 10 for a in AXES)
    problem = result["b"]["error"]
    assert problem.startswith(path.name) and "/tmp/gradio" not in problem
    assert {"undecodable": "decode", "empty": "empty", "too_long": "over the maximum"}[bad] in problem


def test_no_clip_at_all_is_a_titled_message(client):
    with pytest.raises(AppError, match="Give two clips"):
        client.predict(None, None, api_name="/compare_clips")
