import time

import numpy as np
import pytest
import torch

from mmmos_core.encoders import build_encoder
from mmmos_core.encoders.acoustic import FEATURE_NAMES, AcousticEncoder
from mmmos_core.errors import ModelLoadError
from mmmos_core.lite import degradations as dg
from mmmos_core.model.audio import Audio
from mmmos_core.model.features import WindowSettings, encode_windows

SR = 16000
F = {name: i for i, name in enumerate(FEATURE_NAMES)}


def speechlike(seconds=4.0, seed=0):
    """Harmonic bursts with pauses: voiced, with a noise floor to find."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k ** 0.8 for k in range(1, 40))
    x *= (np.sin(2 * np.pi * 3 * t) > -0.2)  # syllables and pauses
    return (0.05 * x + 1e-4 * rng.standard_normal(len(t))).astype(np.float32)


def pooled(enc, x, sr=SR):
    """Raw (unstandardised) descriptors averaged over valid frames."""
    x = torch.as_tensor(x, dtype=torch.float32)
    raw, mask = enc.raw_features(x[None], torch.tensor([len(x)]))
    m = mask[0].float()[:, None]
    return ((raw[0] * m).sum(0) / m.sum()).numpy()


@pytest.fixture(scope="module")
def enc():
    return AcousticEncoder().freeze()


def test_shapes_frame_rate_and_registry(enc):
    built = build_encoder("acoustic")
    assert isinstance(built, AcousticEncoder)
    x = torch.zeros(2, 10 * SR)
    out = enc.encode(x, torch.tensor([10 * SR, 3 * SR]))
    assert enc.frame_rate == 50.0  # 16 frames tile one 0.32 s sequence bin
    assert out.frames.shape == (2, 1, 500, len(FEATURE_NAMES) + 1) == (2, 1, 500, enc.dim)
    assert out.mask.shape == (2, 500) and int(out.mask[1].sum()) == 150
    assert torch.isfinite(out.frames).all()  # all-silent input is still described, not NaN


def test_zero_padding_is_invisible(enc):
    short = torch.from_numpy(speechlike(3.0))
    other = torch.from_numpy(speechlike(10.0, seed=1)) * 3
    alone = enc.encode(short[None], torch.tensor([len(short)]))
    batch = torch.zeros(2, len(other))
    batch[0, :len(short)] = short
    batch[1] = other
    both = enc.encode(batch, torch.tensor([len(short), len(other)]))
    n = int(alone.mask[0].sum())
    assert int(both.mask[0].sum()) == n
    torch.testing.assert_close(both.frames[0, :, :n], alone.frames[0, :, :n], atol=1e-3, rtol=1e-3)
    pooled_alone = alone.frames[0, 0, :n].mean(0)
    pooled_batch = (both.frames[0, 0] * both.mask[0, :, None]).sum(0) / n
    torch.testing.assert_close(pooled_batch, pooled_alone, atol=1e-4, rtol=1e-4)
    assert both.frames[0, :, n:].abs().max() == 0


def test_gain_changes_nothing_but_the_level_of_very_quiet_clips(enc):
    x = speechlike()  # about -28 dBFS RMS
    base = pooled(enc, x)
    for db in (-6.0, 6.0, 20.0):  # +20 dB peaks far above full scale, as a float file may
        diff = np.abs(pooled(enc, x * 10 ** (db / 20)) - base)
        assert diff.max() < 1e-2, (db, FEATURE_NAMES[int(diff.argmax())])
    quiet = pooled(enc, x * 10 ** (-30 / 20))
    assert base[F["quiet_level_dbfs"]] == -40.0
    assert quiet[F["quiet_level_dbfs"]] == pytest.approx(-58.3, abs=0.1)


def test_sample_rate_of_the_input_barely_matters(enc):
    x = speechlike()
    base = pooled(enc, x)
    scale = np.maximum(np.abs(base), 1.0)
    for sr in (22050, 44100, 48000):
        up = Audio(dg.to_rate(x, SR, sr), sr).resampled(SR)
        rel = np.abs(pooled(enc, up) - base) / scale
        assert rel.max() < 0.05, (sr, FEATURE_NAMES[int(rel.argmax())], rel.max())


def test_descriptors_follow_what_they_describe(enc):
    rng = np.random.default_rng(0)
    x = speechlike()
    clean = pooled(enc, x)
    noisy = pooled(enc, dg.add_noise(x, dg.white_noise(len(x), rng), 10.0))
    assert noisy[F["snr_db"]] < clean[F["snr_db"]] - 10
    assert noisy[F["harmonicity"]] < clean[F["harmonicity"]]
    clipped = pooled(enc, dg.hard_clip(x, 0.2)[0])
    assert clipped[F["rail_pileup"]] > clean[F["rail_pileup"]] + 1
    assert clipped[F["near_peak_fraction"]] > clean[F["near_peak_fraction"]] + 1
    muffled = pooled(enc, dg.lowpass(x, SR, 2000.0))
    assert muffled[F["bandwidth_30db"]] < clean[F["bandwidth_30db"]] - 0.2
    assert muffled[F["rolloff_99"]] < clean[F["rolloff_99"]]
    holes = pooled(enc, dg.dropouts(x, SR, 6, rng, 0.06, 0.1))
    assert holes[F["gap_fraction"]] > clean[F["gap_fraction"]]
    padded = pooled(enc, np.concatenate([x, np.zeros(2 * SR, np.float32)]))
    assert padded[F["digital_silence"]] == pytest.approx(1 / 3, abs=0.03)
    assert padded[F["gap_fraction"]] == clean[F["gap_fraction"]]  # silence at the end is no dropout
    wet = pooled(enc, dg.reverb(x, SR, 1.5, -3.0, rng))
    assert wet[F["decay_mid"]] > clean[F["decay_mid"]]  # energy dies away more slowly


def test_complexity_descriptors_rise_with_simultaneous_sources(enc):
    from mmmos_core.lite.synth import SR as SYN_SR
    from mmmos_core.lite.synth import Timbre, midi_hz, note

    rng = np.random.default_rng(1)
    timbre = Timbre(8, 1.0, False, 0.0, 5.0, 0.0, 0.02, 0.1, 0.8, 0.1)
    one = note(midi_hz(60), 3.0, timbre, rng)
    chord = sum(note(midi_hz(m), 3.0, timbre, rng) for m in (60, 64, 67, 71))
    a, b = pooled(enc, one.astype(np.float32)), pooled(enc, chord.astype(np.float32))
    assert SYN_SR == SR
    assert b[F["peak_count"]] > a[F["peak_count"]]
    assert b[F["chroma_entropy"]] > a[F["chroma_entropy"]]


def test_statistics_standardise_and_round_trip_exactly(enc, tmp_path):
    x = torch.from_numpy(speechlike())[None]
    lengths = torch.tensor([x.shape[1]])
    raw, mask = enc.raw_features(x, lengths)
    mean, std = raw[0].mean(0), raw[0].std(0) + 0.5
    fitted = enc.with_statistics(mean, std)
    z = fitted.encode(x, lengths).frames[0, 0]
    assert z.shape[-1] == fitted.dim
    assert torch.all(z[:, -1] == fitted.constant)  # the channel that keeps the length through L2 norm
    assert z[:, :-1].abs().max() <= fitted.soft_limit
    again = build_encoder("acoustic", fitted.config())
    assert again.config() == fitted.config() and again.cache_id == fitted.cache_id
    torch.testing.assert_close(again.encode(x, lengths).frames, fitted.encode(x, lengths).frames, atol=0, rtol=0)
    assert fitted.cache_id != enc.cache_id


def test_incompatible_configs_fail_clearly():
    with pytest.raises(ModelLoadError, match="different descriptors"):
        build_encoder("acoustic", {"feature_names": ["level"]})
    with pytest.raises(ModelLoadError, match="feature version"):
        build_encoder("acoustic", {"version": 0})
    with pytest.raises(ModelLoadError, match="statistics"):
        build_encoder("acoustic", {"feature_mean": [0.0], "feature_std": [1.0]})


def test_ten_seconds_encode_quickly(enc):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        audio = Audio(speechlike(10.0), SR)
        settings = WindowSettings()
        encode_windows(enc, audio, settings)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            encode_windows(enc, audio, settings)
            times.append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(threads)
    # ~25 ms on one idle core; generous here because CI machines are shared.
    assert sorted(times)[2] < 0.3
