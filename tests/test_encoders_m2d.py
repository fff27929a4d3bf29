"""M2D loader: a tiny M2D ViT of the real layout, saved as an official EVAR-style `.pth`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import assert_encode_alike, encode_alone_and_padded

from mmmos_core.encoders import build_encoder
from mmmos_core.encoders.m2d import OFFICIAL_NAME, M2DEncoder, parse_name, save_m2d_checkpoint
from mmmos_core.errors import ModelLoadError
from mmmos_core.model.trienc import TINY_M2D, TINY_M2D_NAME

SR = 16000


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    parent = tmp_path_factory.mktemp("m2d")
    original = M2DEncoder.random(TINY_M2D_NAME, TINY_M2D, seed=7)
    original.backbone.norm_stats.copy_(torch.tensor([-5.0, 3.0]))  # not the default: must come from the file
    path = save_m2d_checkpoint(original, parent, TINY_M2D_NAME, head_classes=8)
    return path, original


@pytest.fixture(scope="module")
def encoder(saved):
    return build_encoder("m2d", {"path": str(saved[0].parent), "arch": TINY_M2D})


def audio(seconds: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(int(seconds * SR), generator=g)


def test_official_file_layout(saved):
    state = torch.load(saved[0], map_location="cpu", weights_only=True)
    assert "module.ar.runtime.backbone.norm_stats" in state
    assert "module.ar.runtime.backbone.blocks.0.attn.qkv.weight" in state
    assert any(k.startswith("module.ar.runtime.to_spec.") for k in state)
    assert any(k.startswith("module.head.") for k in state)


def test_name_gives_input_and_patch_size():
    assert parse_name(OFFICIAL_NAME) == ((80, 1001), (16, 16), 16000)
    assert parse_name("m2d_as_vit_base-80x1001p16x16p32k-240413_AS-FT_enconly") == ((80, 1001), (16, 16), 32000)
    with pytest.raises(ModelLoadError, match="folder name"):
        parse_name("weights")


def test_shapes_and_frame_rate(encoder):
    assert (encoder.sample_rate, encoder.frame_rate) == (16000, 6.25)
    assert encoder.dim == 5 * TINY_M2D["embed_dim"]  # five frequency patches per time step
    assert encoder.num_layers == 1
    out = encoder.encode(audio(10)[None], torch.tensor([10 * SR]))
    # 1001 frames -> 62 patches of 16 frames (the last 9 frames fall off, as in the official runtime)
    assert out.frames.shape == (1, 1, 62, encoder.dim)
    assert out.mask.all()


def test_long_input_is_chunked(encoder):
    out = encoder.encode(audio(25)[None], torch.tensor([25 * SR]))
    assert out.frames.shape[2] == 62 + 62 + 32  # 2501 frames: 1001 + 1001 + 499 (padded to 512)


def test_norm_stats_come_from_checkpoint(encoder):
    torch.testing.assert_close(encoder.backbone.norm_stats, torch.tensor([-5.0, 3.0]))
    x = audio(1)[None]
    raw = encoder.to_spec(x)
    torch.testing.assert_close(encoder.normalised_log_mel(x)[:, 0], (raw + 5.0) / 3.0)


def test_front_end_matches_nnaudio():
    nnaudio = pytest.importorskip("nnAudio.features")
    reference = nnaudio.MelSpectrogram(sr=16000, n_fft=400, win_length=400, hop_length=160, n_mels=80, fmin=50,
                                       fmax=8000, center=True, power=2, verbose=False)
    enc = M2DEncoder.random(TINY_M2D_NAME, TINY_M2D)
    x = audio(2)[None]
    expected = torch.log(reference(x) + torch.finfo().eps)
    torch.testing.assert_close(enc.to_spec(x), expected, atol=1e-4, rtol=1e-5)


def test_loaded_weights_equal_saved(saved, encoder):
    assert_encode_alike(encoder, saved[1].freeze(), audio(3))


def test_weights_are_the_files_own_pages_and_equal_a_plain_load(saved, encoder, tmp_path):
    """The zip-format .pth is memory-mapped and its tensors adopted: no private copy, the same
    values as reading the file whole. A legacy-format file (no mmap possible) is read whole."""
    import sys

    plain = torch.load(saved[0], map_location="cpu", weights_only=True)
    prefix = "module.ar.runtime.backbone."
    state = encoder.backbone.state_dict()
    assert set(state) == {k[len(prefix):] for k in plain if k.startswith(prefix)}
    for key, value in state.items():
        assert torch.equal(value, plain[prefix + key]), key
    if sys.platform.startswith("linux"):
        maps = Path("/proc/self/maps").read_text()
        assert str(saved[0].resolve()) in maps  # held by the encoder's parameters

    folder = tmp_path / TINY_M2D_NAME
    folder.mkdir()
    torch.save(plain, folder / "weights.pth", _use_new_zipfile_serialization=False)
    legacy = build_encoder("m2d", {"path": str(folder), "arch": TINY_M2D})
    for key, value in legacy.backbone.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_deterministic(encoder):
    assert_encode_alike(encoder, encoder, audio(4), exact=True)


def test_padding_is_invisible(encoder):
    n, _ = encode_alone_and_padded(encoder, audio(3.3, seed=1), audio(10, seed=2))
    assert n == 21  # ceil(3.3 s * 6.25 Hz)


def test_frozen(encoder):
    assert all(not p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training and not encoder.backbone.training


def test_incomplete_checkpoint_names_missing_tensors(tmp_path, saved):
    state = torch.load(saved[0], map_location="cpu", weights_only=True)
    dropped = "module.ar.runtime.backbone.blocks.1.mlp.fc2.weight"
    del state[dropped]
    folder = tmp_path / TINY_M2D_NAME
    folder.mkdir()
    torch.save(state, folder / "weights.pth")
    with pytest.raises(ModelLoadError, match=r"blocks\.1\.mlp\.fc2\.weight"):
        build_encoder("m2d", {"path": str(folder), "arch": TINY_M2D})


def test_checkpoint_of_another_size_is_refused(saved):
    """The same tiny file read as ViT-B (the default arch) misses blocks 2-11."""
    with pytest.raises(ModelLoadError, match=r"blocks\.2\."):
        build_encoder("m2d", {"path": str(saved[0])})


def test_half_precision_checkpoint_runs_in_fp32_and_leaves_random_state_alone(tmp_path, saved):
    state = torch.load(saved[0], map_location="cpu", weights_only=True)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    folder = tmp_path / TINY_M2D_NAME
    folder.mkdir()
    torch.save(half, folder / "weights.pth")
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    enc = build_encoder("m2d", {"path": str(folder), "arch": TINY_M2D})
    assert torch.equal(torch.rand(3), expected_draw)
    tensors = [*enc.backbone.parameters(), *enc.backbone.buffers()]
    assert all(t.dtype == torch.float32 and not t.is_meta for t in tensors)
    key = "module.ar.runtime.backbone.blocks.0.attn.qkv.weight"
    assert torch.equal(enc.backbone.blocks[0].attn.qkv.weight, half[key].float())


def test_extra_pickled_arguments_are_read(tmp_path, saved):
    """Some official files pickle the training arguments next to the weights."""
    import argparse

    state = torch.load(saved[0], map_location="cpu", weights_only=True)
    folder = tmp_path / TINY_M2D_NAME
    folder.mkdir()
    torch.save({"model": state, "args": argparse.Namespace(lr=1e-3)}, folder / "weights.pth")
    enc = build_encoder("m2d", {"path": str(folder / "weights.pth"), "arch": TINY_M2D})
    assert enc.dim == 5 * TINY_M2D["embed_dim"]


def test_missing_weights_say_what_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("MMMOS_HOME", str(tmp_path))
    with pytest.raises(ModelLoadError) as err:
        build_encoder("m2d", {})
    message = str(err.value)
    assert OFFICIAL_NAME in message
    assert f"releases/download/v0.3.0/{OFFICIAL_NAME}.zip" in message
    assert str(tmp_path / "encoders") in message


@pytest.mark.slow
def test_full_size_shapes():
    enc = M2DEncoder.random().freeze()
    out = enc.encode(audio(1)[None], torch.tensor([SR]))
    assert out.frames.shape == (1, 1, 7, 3840)  # 101 frames padded to 112: 7 patches
