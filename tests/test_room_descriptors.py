"""Feature version 2 (mmmos_core/encoders/room.py) on real speech: each descriptor follows the
room (RT60) or the babble it is there for, more than white noise at the same SNR where that
is its point, and does not move with sample rate or gain. Version 1 stays as it was."""

import json
import statistics
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REAL_AUDIO, REPO

from mmmos_core.encoders import build_encoder
from mmmos_core.encoders.acoustic import FEATURE_SETS, AcousticEncoder
from mmmos_core.encoders.room import ROOM_NAMES
from mmmos_core.lite import degradations as dg
from mmmos_core.model.audio import Audio, load_audio
from mmmos_core.paths import EXAMPLES_DIR

SR = 16000
RT60S = (0.3, 0.6, 0.8, 1.2)
SNRS = (20, 10, 0)
GOLDEN = Path(__file__).parent / "golden" / "acoustic_v1.json"
V1 = len(FEATURE_SETS[1])


@pytest.fixture(scope="module")
def enc():
    return AcousticEncoder().freeze()


def room(enc, x):
    """The version-2 descriptors of a 16 kHz clip (clip-wide, so any valid frame holds them)."""
    x = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32)
    raw, mask = enc.raw_features(x[None], torch.tensor([len(x)]))
    return dict(zip(ROOM_NAMES, raw[0, 0, V1:].tolist()))


@pytest.fixture(scope="module")
def table(enc):
    """Per real speech clip: its descriptors clean, in rooms, under babble and white noise, and moved."""
    paths = sorted(REAL_AUDIO.glob("speech_*.wav"))
    if len(paths) < 2:
        pytest.skip(f"needs two real speech recordings in {REAL_AUDIO}")
    clips = [load_audio(p).resampled(SR)[: 8 * SR] for p in paths]
    out = []
    for i, x in enumerate(clips):
        others = [c for j, c in enumerate(clips) if j != i]
        talkers = [others[k % len(others)] for k in range(4)]  # four voices (repeats start elsewhere)
        rng = np.random.default_rng(i)
        bab, white = dg.babble(len(x), talkers, rng), dg.white_noise(len(x), rng)
        versions = {"clean": x, "+6dB": dg.gain(x, 6.0), "-6dB": dg.gain(x, -6.0),
                    "44.1kHz": Audio(dg.to_rate(x, SR, 44100), 44100).resampled(SR)}
        for rt in RT60S:
            versions[f"rt{rt}"] = dg.reverb(x, SR, rt, 0.0, np.random.default_rng(i))
        for snr in SNRS:
            versions[f"babble{snr}"] = dg.add_noise(x, bab, snr)
            versions[f"white{snr}"] = dg.add_noise(x, white, snr)
        out.append({k: room(enc, v) for k, v in versions.items()})
    return out


def column(table, name, version):
    return np.array([row[version][name] for row in table])


def median_chain(table, name, versions):
    return [float(np.median(column(table, name, v))) for v in versions]


def increasing(values):
    return all(b > a for a, b in zip(values, values[1:]))


ROOM_CHAIN = ["clean"] + [f"rt{rt}" for rt in RT60S]
BABBLE_CHAIN = ["clean"] + [f"babble{s}" for s in SNRS]


@pytest.mark.parametrize("name, sign", [("decay_time", 1), ("mod_depth_syllabic_db", -1),
                                        ("mod_syllabic_share", -1), ("mod_fast_ratio_db", 1),
                                        ("mod_depth_power_db", -1)])
def test_room_descriptors_follow_rt60(table, name, sign):
    # These two follow RT60 from 0.3 s up; between a dry clip and a small room they can go either way.
    chain = ROOM_CHAIN[1:] if name in ("mod_fast_ratio_db", "mod_depth_power_db") else ROOM_CHAIN
    med = median_chain(table, name, chain)
    print(name, "median over clips:", dict(zip(chain, np.round(med, 3))))
    assert increasing([sign * v for v in med]), med
    # Clip by clip: the rank correlation with RT60 is high and a long room moves it far.
    from scipy.stats import spearmanr

    rhos = [sign * spearmanr(range(len(chain)), [row[v][name] for v in chain]).correlation for row in table]
    assert min(rhos) >= 0.7 and statistics.median(rhos) >= 0.9, rhos
    assert all(sign * (row["rt1.2"][name] - row[chain[0]][name]) > 0 for row in table)


@pytest.mark.parametrize("name, rt", [("decay_time", 0.8), ("mod_syllabic_share", 0.8), ("mod_fast_ratio_db", 1.2)])
def test_room_descriptors_hear_the_room_not_the_noise(table, name, rt):
    """A room (RT60 0.8 s; 1.2 s for the fast ratio, flat up to 0.3 s) moves them several times
    more than white noise at 10 dB SNR does."""
    clean = column(table, name, "clean")
    room_move = np.abs(column(table, name, f"rt{rt}") - clean)
    noise_move = np.abs(column(table, name, "white10") - clean)
    print(name, f"RT60 {rt} s:", np.round(room_move, 3), "white 10 dB:", np.round(noise_move, 3))
    assert np.mean(room_move > noise_move) >= 0.8
    assert np.median(room_move) > 3 * np.median(noise_move)


@pytest.mark.parametrize("name, sign", [("mod_depth_syllabic_db", -1), ("mod_depth_power_db", -1),
                                        ("floor_speech_shape", 1), ("background_voicing", 1)])
def test_talker_descriptors_follow_babble_snr(table, name, sign):
    med = median_chain(table, name, BABBLE_CHAIN)
    print(name, "median over clips:", dict(zip(BABBLE_CHAIN, np.round(med, 3))))
    assert increasing([sign * v for v in med]), med
    assert all(sign * (row["babble0"][name] - row["clean"][name]) > 0 for row in table)


def test_babble_is_told_from_white_noise_at_the_same_snr(table):
    """The power-envelope depth drops more for babble than for white noise at the same SNR;
    babble makes the floor speech-shaped and voiced, white noise makes it flat and unvoiced."""
    for snr in (10, 0):
        bab, white = f"babble{snr}", f"white{snr}"
        depth = {v: column(table, "mod_depth_power_db", v) - column(table, "mod_depth_power_db", "clean")
                 for v in (bab, white)}
        assert np.median(depth[bab]) < 1.5 * np.median(depth[white]) < 0, (snr, depth)
        if snr == 10:
            assert np.mean(depth[bab] < depth[white]) >= 0.8, depth
        for name in ("floor_speech_shape", "background_voicing"):
            assert np.all(column(table, name, bab) > column(table, name, white)), (name, snr)
        clean = column(table, "floor_speech_shape", "clean")
        assert (np.median(column(table, "floor_speech_shape", white) - clean) < 0
                < np.median(column(table, "floor_speech_shape", bab) - clean))


@pytest.mark.parametrize("name", ROOM_NAMES)
def test_sample_rate_and_gain_barely_move_them(table, name):
    """16 kHz vs via 44.1 kHz, and ±6 dB: a tenth of what RT60 1.2 s or babble at 0 dB does, at most."""
    clean = column(table, name, "clean")
    effect = max(np.median(np.abs(column(table, name, v) - clean)) for v in ("rt1.2", "babble0"))
    for version in ("44.1kHz", "+6dB", "-6dB"):
        moved = np.abs(column(table, name, version) - clean)
        print(name, version, f"largest move {moved.max():.4f} = {moved.max() / effect:.3f} of the effect {effect:.3f}")
        assert moved.max() <= 0.1 * effect, (version, moved, effect)


def test_padding_stays_invisible_for_short_and_long_real_clips(enc, clips):
    """A clip shorter than one modulation segment (1.28 s) and a longer one, alone and batched
    beside a 12 s clip: the room descriptors agree to float rounding (version 1's to 1e-3, as in
    test_encoders_acoustic)."""
    x = load_audio(clips[0]).resampled(SR)
    long = torch.from_numpy(np.resize(x[::-1], 12 * SR).astype(np.float32))
    for seconds in (0.7, 3.0):
        short = torch.from_numpy(x[: int(seconds * SR)].copy())
        alone, amask = enc.raw_features(short[None], torch.tensor([len(short)]))
        batch = torch.zeros(2, len(long))
        batch[0, :len(short)], batch[1] = short, long
        together, tmask = enc.raw_features(batch, torch.tensor([len(short), len(long)]))
        n = int(amask.sum())
        assert int(tmask[0].sum()) == n and together[0, n:].abs().max() == 0
        torch.testing.assert_close(together[0, :n, V1:], alone[0, :, V1:], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(together[0, :n], alone[0], atol=1e-3, rtol=1e-3)
    silent = enc.encode(torch.zeros(1, SR // 2), torch.tensor([SR // 2])).frames
    assert torch.isfinite(silent).all()


def test_version_1_is_computed_bit_for_bit_as_before(enc):
    """Version 1's descriptors equal what the code computed before version 2 existed, and version
    2's first channels are exactly version 1's."""
    golden = json.loads(GOLDEN.read_text())
    v1 = AcousticEncoder(version=1).freeze()
    for clip, rec in golden["clips"].items():
        x = torch.from_numpy(load_audio(EXAMPLES_DIR / clip).resampled(SR)[: 6 * SR].copy())
        lengths = torch.tensor([len(x)])
        raw1, mask = v1.raw_features(x[None], lengths)
        raw2, _ = enc.raw_features(x[None], lengths)
        assert raw1.shape[-1] == V1 and raw2.shape[-1] == V1 + len(ROOM_NAMES)
        assert torch.equal(raw2[..., :V1], raw1)
        pooled = raw1[0][mask[0]].double().mean(0).numpy()
        np.testing.assert_allclose(pooled, rec["v1_pooled"], rtol=1e-5, atol=1e-5, err_msg=clip)


def test_configs_name_their_version_and_caches_keep_them_apart():
    v1, v2 = build_encoder("acoustic", {"version": 1}), build_encoder("acoustic")
    assert v1.config()["version"] == 1 and v2.config()["version"] == 2
    assert v1.config()["feature_names"] == list(FEATURE_SETS[1]) and v1.dim == V1 + 1
    assert v2.config()["feature_names"] == list(FEATURE_SETS[1]) + list(ROOM_NAMES)
    assert v1.cache_id != v2.cache_id  # the embedding cache is keyed by it (model/features.py)
    again = build_encoder("acoustic", v1.config())
    assert again.version == 1 and again.cache_id == v1.cache_id


def test_the_shipped_model_computes_the_descriptors_its_config_names():
    """Lite 2 is a version-2 model; version 1 (lite 1) descriptors are pinned by the golden
    values above, so an old model directory still computes what it was trained on."""
    from mmmos_core import load_model

    path = REPO / "mmmos_core" / "assets" / "mmmos-lite" / "mmmos.json"
    config = json.loads(path.read_text())["encoders"]["acoustic"]["config"]
    model = load_model("lite")
    encoder = model.encoders["acoustic"]
    assert encoder.version == config["version"] and list(encoder.feature_names) == config["feature_names"]


def test_version_2_costs_little_time(enc):
    """The room descriptors add a few ms to a 10 s clip on one core (measured: ~2 ms of ~27 ms)."""
    v1 = AcousticEncoder(version=1).freeze()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(10 * SR).astype(np.float32) * 0.1)[None]
    lengths = torch.tensor([10 * SR])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times = {1: [], 2: []}
        for _ in range(7):
            for version, e in ((1, v1), (2, enc)):
                t = time.perf_counter()
                e.raw_features(x, lengths)
                times[version].append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(threads)
    extra = statistics.median(times[2]) - statistics.median(times[1])
    print(f"version 1 {1000 * statistics.median(times[1]):.1f} ms, version 2 adds {1000 * extra:.1f} ms")
    assert extra < 0.03  # generous: CI machines are shared
