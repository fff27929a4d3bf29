import io

import numpy as np
import pytest
import soundfile as sf

from mmmos_core.errors import AudioInputError
from mmmos_core.model.audio import load_audio, resample


def tone(sr=16000, seconds=1.0, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    return x if channels == 1 else np.stack([x] * channels, axis=1)


@pytest.mark.parametrize("fmt,subtype,ext", [("WAV", "PCM_16", "wav"), ("FLAC", "PCM_16", "flac"),
                                             ("OGG", "VORBIS", "ogg"), ("MP3", "MPEG_LAYER_III", "mp3")])
def test_reads_every_container(tmp_path, fmt, subtype, ext):
    path = tmp_path / f"a.{ext}"
    sf.write(path, tone(44100, 1.0, 2), 44100, format=fmt, subtype=subtype)
    audio = load_audio(path)
    assert audio.sample_rate == 44100 and audio.channels == 2
    assert abs(audio.duration_s - 1.0) < 0.06  # mp3 adds encoder delay
    assert audio.samples.ndim == 1 and audio.samples.dtype == np.float32


def test_gradio_tuple_int16_and_float_agree():
    x = tone()
    as_int16 = (x * 32767).astype(np.int16)
    a = load_audio((16000, as_int16))
    b = load_audio((16000, x))
    assert np.max(np.abs(a.samples - b.samples)) < 1e-4


def test_int32_and_stereo_downmix():
    x = tone(channels=2)
    x[:, 1] = 0.0
    a = load_audio((16000, (x * 2 ** 31 * 0.99).astype(np.int32)))
    assert a.channels == 2
    np.testing.assert_allclose(a.samples, x[:, 0] * 0.5 * 0.99, atol=1e-6)


def test_raw_bytes(tmp_path):
    buf = io.BytesIO()
    sf.write(buf, tone(), 16000, format="WAV")
    audio = load_audio(buf.getvalue(), name="upload.wav")
    assert audio.source == "upload.wav" and audio.sample_rate == 16000


def test_span_selection(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(16000, 3.0), 16000)
    audio = load_audio(path, start_time=1.0, end_time=2.5)
    assert audio.duration_s == pytest.approx(1.5)


@pytest.mark.parametrize("data,problem", [
    ((16000, np.zeros(0, dtype=np.float32)), "empty"),
    ((16000, np.zeros((100, 0), dtype=np.float32)), "no channels"),
    ((16000, np.array([0.1, np.nan, 0.2], dtype=np.float32)), "NaN or Inf"),
    ((16000, np.array([0.1, np.inf], dtype=np.float32)), "NaN or Inf"),
    ((0, np.zeros(10, dtype=np.float32)), "sample rate"),
    (b"this is not audio", "cannot decode"),
    (b"", "no data"),
])
def test_bad_input_names_source_and_problem(data, problem):
    with pytest.raises(AudioInputError) as err:
        load_audio(data, name="clip-7")
    assert str(err.value).startswith("clip-7: ") and problem in str(err.value)


def test_bad_files(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + b"\x00" * 50)
    for path, problem in [(empty, "empty"), (corrupt, "cannot decode"), (tmp_path / "nope.wav", "not found"),
                          (tmp_path, "folder")]:
        with pytest.raises(AudioInputError, match=problem) as err:
            load_audio(path)
        assert str(path) in str(err.value)


def test_too_long_is_rejected_with_the_limit():
    with pytest.raises(AudioInputError, match="over the maximum of 60 s"):
        load_audio((1000, np.zeros(61_000, dtype=np.float32) + 0.1), max_duration_s=60)


def test_silence_is_flagged_not_rejected():
    audio = load_audio((16000, np.zeros(16000, dtype=np.int16)))
    assert "silent" in audio.flags


def test_resample_keeps_a_tone():
    x = tone(48000)
    y = resample(x, 48000, 16000)
    assert len(y) == 16000
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) == 440
