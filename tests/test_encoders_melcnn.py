"""The learned log-mel encoder: frames line up with the descriptors', padding and gain are
invisible, and its trained weights travel with the model folder and are checked on load."""

import numpy as np
import pytest
import torch

from mmmos_core.encoders import build_encoder
from mmmos_core.encoders.acoustic import AcousticEncoder
from mmmos_core.encoders.melcnn import WEIGHTS, MelCNNEncoder
from mmmos_core.errors import ModelLoadError


@pytest.fixture(scope="module")
def enc():
    torch.manual_seed(0)
    return MelCNNEncoder().freeze()


def _noise(seconds, seed=0, scale=0.1):
    samples = np.random.default_rng(seed).standard_normal(int(16000 * seconds)).astype(np.float32)
    return torch.from_numpy(samples * scale)


def test_frames_line_up_with_the_descriptors(enc):
    x = _noise(10.0)[None]
    out = enc.encode(x, torch.tensor([160000]))
    assert out.frames.shape == (1, 1, 500, enc.dim) and enc.dim == 65
    assert enc.frame_rate == AcousticEncoder().frame_rate == 50.0
    assert torch.all(out.frames[0, 0, :, -1] == enc.constant)  # the constant channel keeps the length


def test_zero_padding_and_batch_companions_are_invisible(enc):
    x = _noise(3.0)
    alone = enc.encode(x[None], torch.tensor([48000]))
    batch = torch.zeros(2, 160000)
    batch[0, :48000] = x
    batch[1] = _noise(10.0, seed=1)
    together = enc.encode(batch, torch.tensor([48000, 160000]))
    n = int(alone.mask.sum())
    assert n == 150 and int(together.mask[0].sum()) == 150
    # Batched kernels round differently; nothing more than that may differ.
    assert torch.allclose(alone.frames[0, 0, :n], together.frames[0, 0, :n], atol=1e-5)
    assert torch.all(together.frames[0, 0, n:] == 0)


def test_six_decibels_change_nothing(enc):
    x = _noise(4.0)[None]
    lengths = torch.tensor([64000])
    base = enc.encode(x, lengths).frames
    for gain in (0.5, 2.0):
        assert torch.allclose(enc.encode(x * gain, lengths).frames, base, atol=1e-4)


def test_weights_travel_with_the_model_folder_and_are_checked(enc, tmp_path):
    standardised = enc.with_statistics(torch.zeros(64), torch.zeros(64))  # a dead unit's std 0 must not give NaN
    standardised.save(tmp_path)
    loaded = build_encoder("melcnn", standardised.config(), tmp_path)
    x = _noise(2.0)[None]
    frames = loaded.encode(x, torch.tensor([32000])).frames
    assert torch.equal(frames, standardised.encode(x, torch.tensor([32000])).frames)
    assert not torch.isnan(frames).any()
    assert loaded.cache_id == standardised.cache_id

    other = MelCNNEncoder()
    assert other.cache_id != enc.cache_id  # other weights, other cached embeddings

    with pytest.raises(ModelLoadError, match="model folder"):
        build_encoder("melcnn", standardised.config(), None)
    with pytest.raises(ModelLoadError, match="missing"):
        build_encoder("melcnn", standardised.config(), tmp_path / "elsewhere")
    other.save(tmp_path)  # the right shapes, but not the weights the config was saved with
    with pytest.raises(ModelLoadError, match="checksum") as info:
        build_encoder("melcnn", standardised.config(), tmp_path)
    assert WEIGHTS in str(info.value)
    (tmp_path / WEIGHTS).write_bytes(b"not safetensors")
    with pytest.raises(ModelLoadError, match="melcnn"):
        build_encoder("melcnn", standardised.config(), tmp_path)
