"""The same corpus of hostile files through every door: Python API, CLI, the app's upload,
batch upload and endpoints. Each file is scored (flagged where it is suspect) or refused with
one message naming the file and the problem; no traceback, no hang, and the app keeps serving."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import numpy as np
import pytest
from _app_harness import running_app
from hostile_corpus import CASES, build_corpus

from mmmos_core import load_model
from mmmos_core.cli import main as cli_main
from mmmos_core.errors import AudioInputError

pytestmark = [pytest.mark.faults,
              pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")]

MAX_SECONDS_PER_FILE = 5.0  # decode + score on a loaded 2-core machine; refusals take milliseconds
# Files a browser cannot upload: a device has no end, a folder is not a file.
NOT_UPLOADABLE = {"dev_zero.wav", "a_folder.wav"}


def shown_as(case_name: str, shown: str) -> bool:
    """Gradio strips shell and markup characters from upload names; the rest must survive."""
    if case_name.startswith("$("):
        return "touch pwned" in shown and not set("<>$\"") & set(shown)
    return shown == case_name


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, clips) -> dict[str, Path]:
    return build_corpus(tmp_path_factory.mktemp("hostile"), next(c for c in clips if "ljspeech" in c.name))


@pytest.fixture(scope="module")
def model(logmel_model_dir):
    return load_model(logmel_model_dir)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_python_api(model, corpus, case):
    start = time.monotonic()
    if case.refused:
        with pytest.raises(AudioInputError) as err:
            model.predict(corpus[case.name])
        assert case.refused in err.value.problem
        assert str(err.value).startswith(str(corpus[case.name]))
        assert "--max-duration" not in str(err.value)  # the CLI's advice is a hint, not the message
    else:
        prediction = model.predict(corpus[case.name])
        assert set(case.flags) <= set(prediction.flags)
        assert all(1.0 <= v <= 10.0 for v in prediction.scores.values())
    assert time.monotonic() - start < MAX_SECONDS_PER_FILE + 10  # a hang guard; speed is the bench's job


def test_a_decompression_bomb_is_refused_before_decoding(corpus):
    """A 0.4 MB FLAC that decodes to 127 M samples: refused from its header, in milliseconds and
    without the ~500 MB its samples would take."""
    from mmmos_core.model.audio import load_audio

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    for _ in range(3):
        with pytest.raises(AudioInputError, match="header says it is 660.0 s long"):
            load_audio(corpus["bomb_192k.flac"])
    assert time.monotonic() - start < 0.5
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 50  # MB of peak RSS


def _flac_of_unknown_length(clip: Path, seconds: int) -> bytes:
    """A FLAC as a streaming encoder writes it: STREAMINFO's total-samples field left at 0."""
    import io

    import soundfile as sf

    x, sr = sf.read(clip, dtype="float32", always_2d=False)
    x = x if x.ndim == 1 else x.mean(axis=1)
    buf = io.BytesIO()
    sf.write(buf, np.resize(x, sr * seconds), sr, format="FLAC")
    data = bytearray(buf.getvalue())
    data[8 + 13] &= 0xF0  # the 36-bit total sits in STREAMINFO's bytes 13 (low nibble) to 17
    data[8 + 14:8 + 18] = b"\0\0\0\0"
    return bytes(data)


def test_a_file_without_a_length_is_scored_and_the_limit_holds_while_decoding(clips):
    from mmmos_core.model.audio import load_audio

    data = _flac_of_unknown_length(clips[0], 5)
    audio = load_audio(data, name="stream.flac")
    assert audio.duration_s == pytest.approx(5.0, abs=0.25) and audio.flags == []  # libsndfile drops the last read
    with pytest.raises(AudioInputError, match="over the maximum of 2 s .decoding stopped at") as err:
        load_audio(data, name="stream.flac", max_duration_s=2.0)
    assert err.value.hint and "--max-duration" not in str(err.value)


def test_a_chunk_after_the_audio_is_not_a_lying_header(clips):
    """Tags (LIST, id3) often follow the data chunk; only bytes that are no chunk are flagged."""
    import struct

    from mmmos_core.model.audio import load_audio

    good = clips[0].read_bytes()
    tag = b"id3 " + struct.pack("<I", 10) + b"\0" * 10
    tagged = bytearray(good + tag)
    struct.pack_into("<I", tagged, 4, len(tagged) - 8)  # the RIFF size covers the tag
    assert load_audio(bytes(tagged), name="tagged.wav").flags == load_audio(good, name="plain.wav").flags
    assert "header_length_mismatch" in load_audio(good + b"\x01\x02" * 800, name="junk.wav").flags


def test_cli(logmel_model_dir, corpus, tmp_path, capsys):
    out = tmp_path / "scores.jsonl"
    code = cli_main(["predict", *map(str, corpus.values()), "--model", str(logmel_model_dir), "--output", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    records = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == {c.name for c in CASES}
    for case in CASES:
        record = records[case.name]
        if case.refused:
            assert case.refused in record["error"], record
            assert f"mmmos: {corpus[case.name]}: " in err  # one line per refused file, naming it
        else:
            assert "error" not in record and set(case.flags) <= set(record["flags"]), record
    assert code != 0  # some inputs failed, and the exit status says so
    assert "mmmos: hint: raise the limit with --max-duration" in err  # the CLI user gets the CLI's advice


@pytest.fixture(scope="module")
def server(tmp_path_factory, logmel_model_dir, clips):
    with running_app(tmp_path_factory.mktemp("app"), logmel_model_dir, clips) as running:
        yield running


def test_app_upload_and_batch_endpoints(server, corpus, clips):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server.url, verbose=False)
    # The first visit pays for warm-up (the example clips scored for the context strip, the
    # speech detector loaded): not what a hostile file costs.
    client.predict(handle_file(str(clips[0])), False, api_name="/predict")
    uploadable = [c for c in CASES if c.name not in NOT_UPLOADABLE]
    for case in uploadable:
        start = time.monotonic()
        if case.refused:
            with pytest.raises(AppError) as err:
                client.predict(handle_file(str(corpus[case.name])), False, api_name="/predict")
            message = str(err.value)
            assert case.refused in message and (case.name in message or case.name.startswith("$("))
            assert "--max-duration" not in message and "Traceback" not in message
            assert "/tmp/" not in message  # the server's upload path means nothing to a visitor
        else:
            record = client.predict(handle_file(str(corpus[case.name])), False, api_name="/predict")
            assert shown_as(case.name, record["file"]) and set(case.flags) <= set(record.get("flags", []))
        # A guard against hangs, not a speed target (the bench measures speed): alone the slowest
        # file takes 3.6 s here, but inside the full suite on the 2-core machine one file took
        # 21-26 s in three of six runs (one with the machine otherwise idle). A hang still fails.
        assert time.monotonic() - start < MAX_SECONDS_PER_FILE + 55
    records = client.predict([handle_file(str(corpus[c.name])) for c in uploadable], api_name="/predict_batch")
    assert len(records) == len(uploadable)
    for case, record in zip(uploadable, records):
        assert shown_as(case.name, record["file"])
        assert (case.refused in record.get("error", "")) if case.refused else "error" not in record, record
    # and the app still serves
    assert client.predict(handle_file(str(clips[0])), False, api_name="/predict")["file"] == clips[0].name


@pytest.mark.parametrize("scores", [("NaN", 5, 5, 5), (5, "inf", 5, 5), (5, 5, "-Infinity", 5), (5, 5, 5, "1e309")])
def test_rate_endpoint_refuses_non_finite_scores(server, scores):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(server.url, verbose=False)
    session = client.predict("nan-rater", "", api_name="/start_session")
    with pytest.raises(AppError, match="whole number from 1 to 10") as err:
        client.predict(session["session_id"], session["clip"]["clip_id"], *scores, "", api_name="/rate")
    assert "convert" not in str(err.value)
