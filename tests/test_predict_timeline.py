"""The timeline of a long clip: per-window scores, chunked extraction with progress and cancel."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmmos_core import load_model
from mmmos_core.axes import AXES
from mmmos_core.model.audio import Audio, load_audio
from mmmos_core.model.timeline import Cancelled, predict_timeline, worst_stretch

# The clips are shared recordings picked by length (long takes).
pytestmark = pytest.mark.usefixtures("shared_recordings")


@pytest.fixture(scope="module")
def lite():
    return load_model("lite")


@pytest.fixture(scope="module")
def long_audio(clips):
    """75 s of real recordings back to back: 8 windows, the last one 5 s long."""
    x = np.concatenate([load_audio(c).resampled(16000) for c in clips])[:75 * 16000]
    return Audio(np.ascontiguousarray(x), 16000, "long.wav")


def test_windows_cover_the_clip_and_average_to_its_score(lite, long_audio):
    record = lite.predict(long_audio, timeline=True).to_record()
    windows = record["windows"]
    assert [(w["start"], w["end"]) for w in windows] == [(10.0 * k, min(10.0 * k + 10, 75.0)) for k in range(8)]
    lengths = np.array([w["end"] - w["start"] for w in windows])
    for a in AXES:
        # The clip score is the length-weighted mean of the window scores the timeline shows.
        weighted = float(np.dot(lengths, [w[a] for w in windows]) / lengths.sum())
        assert record[a] == pytest.approx(weighted, abs=1e-4)
        assert all(w["spread"][a] >= 0 for w in windows)


def test_chunked_timeline_agrees_with_the_whole_clip_pass(lite, long_audio):
    progress = []
    chunked = predict_timeline(lite, long_audio, lambda f, text: progress.append(f)).to_record()
    whole = lite.predict(long_audio, timeline=True).to_record()
    for a in AXES:
        assert chunked[a] == pytest.approx(whole[a], abs=1e-6)
        for w1, w2 in zip(chunked["windows"], whole["windows"]):
            assert w1[a] == pytest.approx(w2[a], abs=1e-6)
    assert len(progress) == 2 and progress[-1] == 1.0  # 8 windows in chunks of 6


def test_a_long_run_stops_when_the_caller_cancels(lite, long_audio):
    def cancel(fraction, text):
        raise Cancelled("stopped by the visitor")

    with pytest.raises(Cancelled):
        predict_timeline(lite, long_audio, cancel)


def test_one_window_clip_has_one_window_and_no_worst_stretch(lite, clips):
    clip = next(c for c in clips if c.name.startswith("speech_vctk"))
    record = lite.predict(str(clip), timeline=True).to_record()
    assert len(record["windows"]) == 1 and record["windows"][0]["end"] == pytest.approx(record["duration_s"], abs=1e-3)
    assert worst_stretch(record) is None


def test_worst_stretch_names_the_axis_and_the_time(lite, long_audio):
    record = lite.predict(long_audio, timeline=True).to_record()
    worst = worst_stretch(record)
    assert worst.axis != "PC"
    window = next(w for w in record["windows"] if w["start"] == worst.start)
    assert worst.score == window[worst.axis]
    assert all(record[a] - w[a] <= record[worst.axis] - worst.score + 1e-9
               for w in record["windows"] for a in AXES if a != "PC")
    assert worst.sentence().startswith(f"{worst.axis} drops from ")


def test_cli_timeline_adds_windows_and_refuses_csv(clips, tmp_path, capsys):
    from mmmos_core.cli import main

    clip = next(c for c in clips if c.name.startswith("music_brahms"))  # 15 s: two windows
    out = tmp_path / "t.jsonl"
    assert main(["predict", "--timeline", "--output", str(out), str(clip)]) == 0
    record = json.loads(out.read_text().splitlines()[0])
    assert [(w["start"], w["end"]) for w in record["windows"]] == [(0.0, 10.0), (10.0, 15.0)]
    assert main(["predict", "--timeline", "--output", str(tmp_path / "t.csv"), str(clip)]) == 2
    assert "writes JSONL" in capsys.readouterr().err


def test_a_steady_long_clip_is_said_to_hold_steady():
    from mmmos_core.views.timeline import timeline_sentence

    windows = [{"start": 0.0, "end": 10.0, **dict.fromkeys(AXES, 5.0)},
               {"start": 10.0, "end": 20.0, **dict.fromkeys(AXES, 4.8)}]
    record = {**dict.fromkeys(AXES, 4.9), "windows": windows}
    assert timeline_sentence(record).startswith("no stretch falls more than 0.5")
    windows[1]["CE"] = 2.0
    assert timeline_sentence({**record, "CE": 3.5}) == "CE drops from 3.5 to 2.0 at 0:10–0:20"
