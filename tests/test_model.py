import json

import numpy as np
import pytest
import torch
from conftest import logmel_config

from mmmos_core import load_model
from mmmos_core.encoders import build_encoder
from mmmos_core.errors import ModelLoadError
from mmmos_core.model.cache import EmbeddingCache
from mmmos_core.model.mmmos_model import MMMOSModel, build_model

SR = 16000


def noise(seconds, seed=0, sr=SR):
    rng = np.random.default_rng(seed)
    return (sr, (0.1 * rng.standard_normal(int(seconds * sr))).astype(np.float32))


def test_logmel_frame_rate_and_padding_invisible():
    enc = build_encoder("logmel")
    short = torch.randn(16000 * 3) * 0.1
    long = torch.randn(16000 * 10) * 0.1
    alone = enc.encode(short[None], torch.tensor([len(short)]))
    batch = torch.zeros(2, len(long))
    batch[0, :len(short)] = short
    batch[1] = long
    both = enc.encode(batch, torch.tensor([len(short), len(long)]))
    assert both.frames.shape[2] == 500  # 50 frames per second over a 10 s window
    assert int(both.mask[0].sum()) == 150 and int(both.mask[1].sum()) == 500
    n = int(alone.mask[0].sum())
    torch.testing.assert_close(both.frames[0, :, :n], alone.frames[0, :, :n], atol=1e-5, rtol=0)
    assert all(not p.requires_grad for p in enc.parameters()) and not enc.training


def test_save_and_load_round_trip_exactly(tmp_path, clips):
    model = build_model(logmel_config(), seed=1)
    before = model.predict(str(clips[0]))
    model.save_pretrained(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "mmmos.json").read_text())
    assert [m["aggregator"] for m in manifest["members"]] == ["mlp", "blstm", "mlp", "blstm_t"]
    assert all((tmp_path / "m" / m["weights"]).exists() for m in manifest["members"])
    after = load_model(str(tmp_path / "m")).predict(str(clips[0]))
    assert after.scores == before.scores
    assert [m.scores for m in after.members] == [m.scores for m in before.members]


def test_float16_storage_halves_the_files_and_predicts_what_was_saved(tmp_path, clips):
    full = build_model(logmel_config(), seed=1)
    full.save_pretrained(tmp_path / "f32")
    model = build_model(logmel_config(), seed=1).store_weights_as("float16")
    before = model.predict(str(clips[0]))
    model.save_pretrained(tmp_path / "f16")
    loaded = load_model(str(tmp_path / "f16"))
    after = loaded.predict(str(clips[0]))
    # Rounded in memory before saving: the loaded copy predicts exactly the same.
    assert after.scores == before.scores
    assert [m.scores for m in after.members] == [m.scores for m in before.members]
    # ... and close to the float32 model it was rounded from.
    reference = full.predict(str(clips[0]))
    assert max(abs(after.scores[a] - reference.scores[a]) for a in after.scores) < 0.01
    assert all(p.dtype == torch.float32 for p in loaded.parameters())  # computed in float32
    assert json.loads((tmp_path / "f16" / "mmmos.json").read_text())["weights_dtype"] == "float16"
    sizes = {d: sum(p.stat().st_size for p in (tmp_path / d / "members").iterdir()) for d in ("f32", "f16")}
    assert 0.45 < sizes["f16"] / sizes["f32"] < 0.55
    # A loaded float16 model saves the same bytes again.
    loaded.save_pretrained(tmp_path / "again")
    for f in (tmp_path / "f16" / "members").iterdir():
        assert f.read_bytes() == (tmp_path / "again" / "members" / f.name).read_bytes()


def test_unknown_weights_dtype_is_a_clear_error(tmp_path):
    build_model(logmel_config(), seed=1).save_pretrained(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "mmmos.json").read_text())
    manifest["weights_dtype"] = "int4"
    (tmp_path / "m" / "mmmos.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="stored as 'int4'"):
        load_model(str(tmp_path / "m"))
    with pytest.raises(ValueError, match="choose one of float32, float16"):
        build_model(logmel_config(), seed=1).store_weights_as("int4")
    huge = build_model(logmel_config(), seed=1)
    next(huge.members[0].parameters()).data[0] = 1e6  # past float16's 65504
    with pytest.raises(ValueError, match="does not fit in float16"):
        huge.store_weights_as("float16")


def test_missing_or_mismatched_weights_are_clear_errors(tmp_path):
    model = build_model(logmel_config(), seed=1)
    model.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "members" / "m0-mlp.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="weights of member 'm0-mlp' are missing"):
        load_model(str(tmp_path / "m"))
    with pytest.raises(ModelLoadError, match="not an MMMOS model directory"):
        load_model(str(tmp_path))


def test_every_member_shares_one_encoder_pass():
    model = build_model(logmel_config(aggregators=["mlp", "blstm", "blstm_t", "mlp"] * 2), seed=0)
    encoder = model.encoders["logmel"]
    calls = []
    original = encoder.encode
    encoder.encode = lambda *a, **k: calls.append(1) or original(*a, **k)
    prediction = model.predict(noise(4.0))
    assert len(prediction.members) == 8
    assert len(calls) == 1
    model.predict(noise(4.0))  # the same audio again: served from the embedding cache
    assert len(calls) == 1
    model.predict(noise(4.0, seed=1))
    assert len(calls) == 2


def test_long_audio_is_a_length_weighted_average_of_windows():
    model = build_model(logmel_config(), seed=2)
    model.cache = EmbeddingCache(0)
    a, b = noise(10.0, seed=3)[1], noise(5.0, seed=4)[1] * 3
    joined = model.predict((SR, np.concatenate([a, b])))
    pa, pb = model.predict((SR, a)), model.predict((SR, b))
    for axis in ("PQ", "PC", "CE", "CU"):
        for mj, ma, mb in zip(joined.members, pa.members, pb.members):
            assert mj.scores[axis] == pytest.approx((10 * ma.scores[axis] + 5 * mb.scores[axis]) / 15, abs=1e-4)


def test_blstm_member_ignores_batch_padding():
    """A short clip scored with a long one (packed, padded sequences) scores as it does alone."""
    model = build_model(logmel_config(aggregators=["blstm", "blstm_t"]), seed=3)
    short, long = model.load(noise(3.0, seed=5)), model.load(noise(10.0, seed=6))
    together = model.member_scores([model.features(short), model.features(long)])
    alone = model.member_scores([model.features(short)])
    torch.testing.assert_close(together[:, 0], alone[:, 0], atol=1e-5, rtol=0)


def test_record_has_ensemble_members_and_spread():
    model = build_model(logmel_config(), seed=4)
    model.config.note = "offline demo model"
    record = model.predict(noise(2.0)).to_record()
    assert set(["path", "PQ", "PC", "CE", "CU", "members", "spread", "model", "model_note"]) <= set(record)
    assert len(record["members"]) == 4
    for axis in ("PQ", "PC", "CE", "CU"):
        values = [m[axis] for m in record["members"]]
        assert record[axis] == pytest.approx(np.mean(values), abs=1e-5)
        assert record["spread"][axis]["min"] == pytest.approx(min(values), abs=1e-5)
        assert record["spread"][axis]["std"] == pytest.approx(np.std(values), abs=1e-5)


def test_scores_stay_on_the_scale():
    config = logmel_config()
    config.target_mean, config.target_std = [9.5, 1.2, 9.9, 1.0], [40.0, 40.0, 40.0, 40.0]
    prediction = build_model(config, seed=5).predict(noise(2.0))
    assert all(1.0 <= s <= 10.0 for m in prediction.members for s in m.scores.values())


def test_short_and_silent_clips_are_scored_and_flagged():
    model = build_model(logmel_config(), seed=6)
    short = model.predict(noise(0.2))
    assert "short_padded" in short.flags
    silent = model.predict((SR, np.zeros(SR * 2, dtype=np.int16)))
    assert "silent" in silent.flags and all(1 <= v <= 10 for v in silent.scores.values())


def test_predict_many_isolates_bad_inputs(tmp_path, clips):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    model = build_model(logmel_config(), seed=7)
    items = [{"path": str(clips[0])}, {"path": str(bad)}, {"path": str(clips[1])}]
    results = list(model.predict_many(items, chunk=2))
    assert [type(r).__name__ for r in results] == ["Prediction", "AudioInputError", "Prediction"]
    assert str(bad) in str(results[1])
    assert results[2].path == str(clips[1])


def test_unknown_model_spec_is_a_clear_error():
    with pytest.raises(ModelLoadError, match="neither a known model name"):
        load_model("no-such-thing")
    with pytest.raises(ModelLoadError, match="hub could not be reached|not in"):
        load_model("nobody/nothing-here")


def test_with_members_reuses_encoder_instances():
    model = build_model(logmel_config(), seed=8)
    eight = model.with_members([i % 4 for i in range(8)])
    assert eight.encoders["logmel"] is model.encoders["logmel"]
    assert len(eight.members) == 8 and isinstance(eight, MMMOSModel)


def test_embedding_cache_survives_concurrent_use():
    import threading

    model = build_model(logmel_config(), seed=9)
    model.cache = EmbeddingCache(max_items=2)  # tiny: constant eviction under contention
    clips = [noise(1.0, seed=s) for s in range(4)]
    expected = [model.predict(c).scores for c in clips]
    errors = []

    def worker(k):
        try:
            for i in range(12):
                assert model.predict(clips[(i + k) % 4]).scores == expected[(i + k) % 4]
        except Exception as exc:  # surfaced below: a race shows as KeyError or wrong scores
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_context_clips_are_written_scored_and_read_back(tmp_path, logmel_model_dir, clips):
    import shutil

    from mmmos_core import load_model
    from mmmos_core.lite.context import write_context_clips
    from mmmos_core.lite.corpus import Recording

    folder = tmp_path / "model"
    shutil.copytree(logmel_model_dir, folder)
    model = load_model(str(folder))
    assert model.context_records() == []  # a model without them has no context, not an error
    write_context_clips(model, [Recording(c.stem, c, c.name.split("_")[0]) for c in clips[:2]], folder)
    again = load_model(str(folder)).context_records()
    assert [r["path"] for r in again] == [c.name for c in clips[:2]]
    assert again[0]["PQ"] == pytest.approx(model.predict(str(clips[0])).scores["PQ"], abs=1e-4)
