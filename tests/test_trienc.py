"""TriEnc end to end: tiny WavLM + MuQ + M2D in their real on-disk formats, saved, loaded, scored."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mmmos_core import load_model
from mmmos_core.axes import AXES
from mmmos_core.encoders import build_encoder
from mmmos_core.model.audio import load_audio
from mmmos_core.model.mmmos_model import MMMOSModel
from mmmos_core.model.trienc import RANDOM_NOTE, TINY_M2D, TINY_M2D_NAME, build_trienc_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trienc") / "tiny"
    return folder, build_trienc_dir(folder, members=8)


def scores(model: MMMOSModel, clip) -> np.ndarray:
    p = model.predict(clip)
    return np.array([[m.scores[a] for a in AXES] for m in p.members])


def test_saved_tiny_trienc_loads_and_scores_a_real_clip(tiny, clips):
    folder, built = tiny
    manifest = json.loads((folder / "mmmos.json").read_text())
    assert {n: e["kind"] for n, e in manifest["encoders"].items()} == {"wavlm": "wavlm", "muq": "muq", "m2d": "m2d"}
    assert (folder / "encoders" / "wavlm" / "config.json").exists()
    assert (folder / "encoders" / "muq" / "model.safetensors").exists()
    assert list((folder / "encoders" / TINY_M2D_NAME).glob("*.pth"))

    loaded = MMMOSModel.from_pretrained(folder)
    clip = next(c for c in clips if c.name.startswith("music_"))
    prediction = loaded.predict(clip)
    assert len(prediction.members) == 8
    assert all(1.0 <= prediction.scores[a] <= 10.0 for a in AXES)
    assert prediction.model_note == RANDOM_NOTE
    np.testing.assert_allclose(scores(loaded, clip), scores(built, clip), atol=1e-5)


def test_long_clip_is_scored_in_windows(tiny, clips):
    _, model = tiny
    audio = load_audio(clips[0])
    long = np.tile(audio.samples, int(np.ceil(25 * audio.sample_rate / len(audio.samples))))[:25 * audio.sample_rate]
    features = model.features(load_audio((audio.sample_rate, long), name="long"))
    assert features.num_windows == 3
    assert features.by_encoder["m2d"].pooled.shape == (3, 1, 5 * TINY_M2D["embed_dim"])
    prediction = model.predict((audio.sample_rate, long), name="long")
    assert all(1.0 <= prediction.scores[a] <= 10.0 for a in AXES)


def test_saving_elsewhere_carries_the_encoder_files(tiny, tmp_path, clips):
    folder, _ = tiny
    model = MMMOSModel.from_pretrained(folder)
    model.save_pretrained(tmp_path / "copy")
    copy = MMMOSModel.from_pretrained(tmp_path / "copy")
    assert (tmp_path / "copy" / "encoders" / "muq" / "model.safetensors").exists()
    np.testing.assert_allclose(scores(copy, clips[0]), scores(model, clips[0]), atol=1e-5)


def test_train_select_save_load_predict_with_all_three_encoders(tiny, tmp_path, clips, shared_recordings):
    from mmmos_core.training.sweep import SweepSettings, TrainItem, train_ensemble

    folder, _ = tiny
    encoders = {
        "wavlm": build_encoder("wavlm", {"path": "encoders/wavlm"}, folder),
        "muq": build_encoder("muq", {"path": "encoders/muq"}, folder),
        "m2d": build_encoder("m2d", {"path": f"encoders/{TINY_M2D_NAME}", "arch": TINY_M2D}, folder),
    }
    # Labels that only need to be learnable enough for the pipeline to run: domain -> PC.
    domain_pc = {"speech": 3.0, "music": 6.0, "sound": 4.5}
    items = [TrainItem(c.stem, str(c), {"PQ": 5.0 + (i % 3), "PC": domain_pc[c.stem.split("_")[0]],
                                        "CE": 5.0, "CU": 4.0 + (i % 2)})
             for i, c in enumerate(clips)]
    settings = SweepSettings(subsets=[["wavlm", "m2d"], ["wavlm", "muq", "m2d"]], aggregators=["mlp", "blstm_t"],
                             losses=["utmos", "ccc"], top_k=2, epochs=2, batch_size=4, hidden=16)
    model, report = train_ensemble(encoders, items[:12], items[12:16], items[16:], settings, name="trienc-test",
                                   progress=lambda m: None)
    assert len(report.members) == 8 and len(report.selected) == 2
    model.save_pretrained(tmp_path / "trained")
    loaded = load_model(str(tmp_path / "trained"))
    assert set(loaded.encoders) <= {"wavlm", "muq", "m2d"} and "wavlm" in loaded.encoders
    np.testing.assert_allclose(scores(loaded, clips[-1]), scores(model, clips[-1]), atol=1e-5)


@pytest.mark.slow
def test_full_size_random_trienc():
    model = load_model("trienc-random")
    assert model.name == "trienc-random" and model.config.note == RANDOM_NOTE
    assert len(model.members) == 8
    assert MMMOSModel.encoder_shapes(dict(model.encoders.items())) == {
        "wavlm": (13, 768), "muq": (13, 1024), "m2d": (1, 3840)}
    t = np.arange(16000) / 16000
    prediction = model.predict((16000, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)))
    assert prediction.model_note == RANDOM_NOTE and len(prediction.members) == 8


def mixed_lengths(clips, seconds=(2.0, 10.0, 13.5, 30.0, 10.0, 7.25)) -> list:
    """Real recordings tiled or cut to lengths that give full windows, tails and short clips."""
    from mmmos_core.model.audio import Audio

    out = []
    for i, s in enumerate(seconds):
        audio = load_audio(clips[i % len(clips)])
        n = int(s * audio.sample_rate)
        samples = np.tile(audio.samples, int(np.ceil(n / len(audio.samples))))[:n]
        out.append(Audio(samples, audio.sample_rate, f"mixed_{i}"))
    return out


def test_clips_batched_through_the_encoders_score_as_one_at_a_time(tiny, clips):
    """Windows of several clips sharing forwards must not change any clip's features or scores."""
    from mmmos_core.model.cache import EmbeddingCache
    from mmmos_core.model.features import encode_windows_of

    _, model = tiny
    audios = mixed_lengths(clips)
    settings = model.config.windows
    for name, encoder in model.encoders.items():
        together = encode_windows_of(encoder, audios, settings, max_batch=4)
        for audio, batched in zip(audios, together):
            alone = encode_windows_of(encoder, [audio], settings, max_batch=1)[0]
            assert batched.pooled.shape[0] == alone.pooled.shape[0] == len(batched.weights)
            for field in ("pooled", "sequence"):
                np.testing.assert_allclose(getattr(batched, field).numpy(), getattr(alone, field).numpy(),
                                           atol=1e-4, err_msg=f"{name} {field} of {audio.source}")
            assert np.array_equal(batched.sequence_mask.numpy(), alone.sequence_mask.numpy())

    cache, model.cache = model.cache, EmbeddingCache(max_items=0)  # the module's model is shared: restore it
    try:
        single = [model.predict_audio([a])[0] for a in audios]
        model.windows_per_forward = 4
        batched = model.predict_audio(audios)
    finally:
        model.__dict__.pop("windows_per_forward", None)
        model.cache = cache
    for one, many in zip(single, batched):
        for a in AXES:
            assert abs(one.scores[a] - many.scores[a]) < 1e-4


def test_cpu_default_takes_one_window_per_forward_and_gpus_keep_batching(tiny, clips, monkeypatch):
    """The device-aware default: on a CPU every pretrained encoder's forward takes one window
    (its activations are the peak; a second window adds them again and no speed), the clips
    of one call still share the call; an accelerator takes 8; an explicit setting wins."""
    from mmmos_core.model import features
    from mmmos_core.model.cache import EmbeddingCache

    _, model = tiny
    assert model.windows_per_forward is None
    assert model.encoder_windows_per_forward() == {"wavlm": 1, "muq": 1, "m2d": 1}
    seen: dict[str, list[int]] = {name: [] for name in model.encoders}
    for name, encoder in model.encoders.items():
        forward = encoder._forward
        monkeypatch.setattr(encoder, "_forward", lambda x, f=forward, n=name: seen[n].append(x.shape[0]) or f(x))
    audios = mixed_lengths(clips)  # 2 + 10 + 13.5 + 30 + 10 + 7.25 s: 9 windows, six of them full
    cache, model.cache = model.cache, EmbeddingCache(max_items=0)
    try:
        model.predict_audio(audios)
        assert all(sizes and max(sizes) == 1 and len(sizes) == 9 for sizes in seen.values()), seen
        for sizes in seen.values():
            sizes.clear()
        model.windows_per_forward = 4
        assert model.encoder_windows_per_forward() == {"wavlm": 4, "muq": 4, "m2d": 4}
        model.predict_audio(audios)
        assert all(max(sizes) == 4 for sizes in seen.values()), seen  # the six full windows: 4 + 2
    finally:
        model.__dict__.pop("windows_per_forward", None)
        model.cache = cache
    monkeypatch.setattr(features, "_device_of", lambda encoder: torch.device("cuda"))
    assert model.encoder_windows_per_forward() == {n: features.ACCELERATOR_WINDOWS_PER_FORWARD
                                                   for n in model.encoders}


def test_batched_scoring_with_the_default_equals_one_at_a_time_and_trims_the_heap(tiny, clips, monkeypatch):
    """What the batch engines run (several clips per call, default windows per forward) scores
    as one clip at a time, and the heap is trimmed once the call's features are gone."""
    from mmmos_core.model import mmmos_model
    from mmmos_core.model.cache import EmbeddingCache

    _, model = tiny
    audios = mixed_lengths(clips)
    cache, model.cache = model.cache, EmbeddingCache(max_items=0)
    try:
        single = [model.predict_audio([a])[0] for a in audios]
        trims = []
        monkeypatch.setattr(mmmos_model, "release_freed_heap", lambda: trims.append(1))
        batched = model.predict_audio(audios)
    finally:
        model.cache = cache
    assert trims == [1]
    for one, many in zip(single, batched):
        for a in AXES:
            assert abs(one.scores[a] - many.scores[a]) < 1e-4


def test_autocast_runs_the_encoders_in_bf16_and_stays_near_fp32(tiny, clips):
    """The mixed-precision option is device-agnostic: on a CPU it runs the same code path a
    GPU would (bf16 autocast), its scores stay near fp32, and switching it off restores fp32."""
    import torch

    from mmmos_core.encoders.checkpoints import set_autocast

    _, model = tiny
    clip = next(c for c in clips if c.name.startswith("speech_"))
    reference = scores(model, clip)
    seen = []
    hook = model.encoders["wavlm"].model.encoder.layers[0].feed_forward.output_dense.register_forward_hook(
        lambda module, args, out: seen.append(out.dtype))
    fp32_id = model.encoders["wavlm"].cache_id
    try:
        set_autocast(model.encoders.values(), "bf16")
        assert model.encoders["wavlm"].cache_id != fp32_id  # cached fp32 features cannot answer for bf16
        mixed = scores(model, clip)
        set_autocast(model.encoders.values(), None)
        restored = scores(model, clip)
    finally:
        hook.remove()
        set_autocast(model.encoders.values(), None)
    assert seen and set(seen) == {torch.bfloat16}
    assert np.abs(mixed - reference).max() < 0.25  # bf16 keeps ~3 significant digits
    np.testing.assert_array_equal(restored, reference)
    with pytest.raises(ValueError, match="fp32, fp16 or bf16"):
        set_autocast(model.encoders.values(), "int8")
