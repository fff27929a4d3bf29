import numpy as np
import torch

from mmmos_core import load_model
from mmmos_core.encoders import build_encoder
from mmmos_core.training.sweep import SweepSettings, TrainItem, select_members, train_ensemble

SR = 16000


def tone_item(i: int, rng) -> TrainItem:
    """A tone in white noise whose noise level sets PQ: a learnable, checkable relation."""
    t = np.arange(SR * 2) / SR
    noise_level = 0.002 * 3.0 ** (i % 8)
    noise = np.random.default_rng(i).standard_normal(len(t))
    x = (0.1 * np.sin(2 * np.pi * (300 + 20 * i) * t) + noise_level * noise).astype(np.float32)
    from mmmos_core.model.audio import Audio

    pq = 9 - (i % 8)
    return TrainItem(f"tone{i}", Audio(x, SR, f"tone{i}"), {"PQ": pq, "PC": 3.0 + (i % 3), "CE": 5.0, "CU": 5.0})


def small_sweep(seed=0, **kw):
    rng = np.random.default_rng(0)
    items = [tone_item(i, rng) for i in range(40)]
    settings = SweepSettings(subsets=[["logmel"]], aggregators=["mlp", "blstm"], losses=["utmos", "ccc"],
                             top_k=2, epochs=kw.pop("epochs", 15), lr=3e-3, batch_size=8, hidden=32, seed=seed, **kw)
    return train_ensemble({"logmel": build_encoder("logmel")}, items[:24], items[24:32], items[32:], settings,
                          name="tones", progress=lambda m: None)


def test_selection_prefers_members_good_on_both_sets():
    natural = [0.9, 0.8, 0.7, 0.1, 0.6]
    proxy = [0.1, 0.7, 0.8, 0.9, 0.6]
    # member 0 is best on natural only and member 3 best on proxy only; 1, 2 and 4 rank well on both
    assert sorted(select_members(natural, proxy, 3)) == [1, 2, 4]
    assert select_members(natural, proxy, 10) == select_members(natural, proxy, 5)


def test_training_is_seeded_and_learns(tmp_path):
    model_a, report = small_sweep(seed=0)
    model_b, _ = small_sweep(seed=0)
    for ma, mb in zip(model_a.members, model_b.members):
        for (ka, va), (kb, vb) in zip(ma.state_dict().items(), mb.state_dict().items()):
            assert ka == kb and torch.equal(va, vb)
    assert len(report.members) == 4 and len(report.selected) == 2
    selected = [m for m in report.members if m.selected]
    assert all(m.natural["utterance"]["PQ"]["SRCC"] > 0.5 for m in selected)
    names = [m.config.name for m in model_a.members]
    assert set(names) == set(report.selected)

    model_a.save_pretrained(tmp_path / "tones")
    loaded = load_model(str(tmp_path / "tones"))
    clean, noisy = tone_item(40, None), tone_item(47, None)
    assert loaded.predict(clean.audio)["PQ"] > loaded.predict(noisy.audio)["PQ"]
    assert loaded.config.members[0].validation["rank_natural"] >= 1


def test_unreadable_training_clips_are_skipped_and_reported(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"nope")
    rng = np.random.default_rng(0)
    items = [tone_item(i, rng) for i in range(12)] + [TrainItem("bad", str(bad), {a: 5.0 for a in ("PQ", "PC", "CE", "CU")})]
    settings = SweepSettings(subsets=[["logmel"]], aggregators=["mlp"], losses=["ccc"], top_k=1, epochs=1,
                             batch_size=4, hidden=16)
    _, report = train_ensemble({"logmel": build_encoder("logmel")}, items[4:], items[:2], items[2:4], settings,
                               name="x", progress=lambda m: None)
    assert len(report.skipped_items) == 1 and "bad.wav" in report.skipped_items[0]
