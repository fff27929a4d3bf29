"""Training the learned encoder: it learns what damage costs, and a second run reproduces it."""

import numpy as np
import torch

from mmmos_core.model.audio import Audio
from mmmos_core.training.front_end import FrontEndSettings, train_front_end
from mmmos_core.training.sweep import TrainItem


def _tone(rng, seconds=3.0):
    t = np.arange(int(16000 * seconds)) / 16000
    f = rng.uniform(200, 800)
    return (0.1 * np.sin(2 * np.pi * f * t) + 0.05 * np.sin(2 * np.pi * 2.5 * f * t)).astype(np.float32)


def _versions(seed, groups):
    rng = np.random.default_rng(seed)
    items = []
    for g in range(groups):
        clean = _tone(rng)
        for k, snr in enumerate((None, 20.0, 0.0)):
            noise = rng.standard_normal(len(clean)).astype(np.float32) * 0.07 * 10 ** (-(snr or 0) / 20)
            x = clean if snr is None else clean + noise
            items.append(TrainItem(f"{seed}-{g}-{k}", Audio(x, 16000), {"PQ": 8.0 - 3 * k, "PC": 2.0, "CE": 6.0 - k,
                                                                         "CU": 5.0}, group=f"{seed}-{g}"))
    return items


def _pq(encoder, items):
    with torch.inference_mode():
        out = []
        for item in items:
            x = torch.from_numpy(item.audio.samples)[None]
            mel, mask = encoder.spectrogram(x, torch.tensor([x.shape[1]]))
            out.append(float(encoder.net(mel, mask)[0, 0]))
    return out


def test_it_learns_that_noise_costs_quality_on_clips_it_never_saw():
    settings = FrontEndSettings(epochs=6, groups_per_batch=4, crop_s=1.0)
    encoder = train_front_end(_versions(0, 12), settings)
    ordered = 0
    new = _versions(1, 5)
    pq = _pq(encoder, new)
    for g in range(5):
        clean, mild, heavy = pq[3 * g:3 * g + 3]
        ordered += clean > heavy and mild > heavy
    assert ordered >= 4
    assert not any(p.requires_grad for p in encoder.net.parameters())  # frozen for the members


def test_a_second_run_gives_the_same_weights_and_logs_each_epoch():
    settings = FrontEndSettings(epochs=2, groups_per_batch=2, crop_s=1.0)
    lines = []
    first = train_front_end(_versions(0, 3), settings, progress=lines.append)
    second = train_front_end(_versions(0, 3), settings)
    assert first.weights_sha256 == second.weights_sha256
    assert first.mel_mean == second.mel_mean and first.mel_std == second.mel_std
    assert [line.split(",")[0] for line in lines] == ["front end: epoch 1/2", "front end: epoch 2/2"]


def test_members_read_it_beside_another_encoder_and_the_model_folder_carries_it(tmp_path):
    from mmmos_core import load_model
    from mmmos_core.encoders import build_encoder
    from mmmos_core.training.sweep import SweepSettings, train_ensemble

    items = _versions(2, 8)
    front = train_front_end(items, FrontEndSettings(epochs=1, groups_per_batch=4, crop_s=1.0))
    front = front.with_statistics(torch.zeros(64), torch.ones(64))
    settings = SweepSettings(subsets=[["logmel", "melcnn"]], aggregators=["mlp", "blstm"], losses=["utmos"], top_k=2,
                             epochs=2, lr=3e-3, batch_size=8, hidden=16, seed=0)
    model, _ = train_ensemble({"logmel": build_encoder("logmel"), "melcnn": front}, items[:18], items[18:21],
                              items[21:], settings, name="two-encoders", progress=lambda m: None)
    assert all(m.config.encoders == ["logmel", "melcnn"] for m in model.members)
    model.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "encoders" / "melcnn.safetensors").is_file()
    again = load_model(str(tmp_path / "model"))
    clip = items[0].audio
    first, second = model.predict(clip), again.predict(clip)
    assert all(abs(first.scores[a] - second.scores[a]) < 1e-5 for a in first.scores)
