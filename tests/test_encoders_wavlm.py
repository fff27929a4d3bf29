"""WavLM Base+ loader: a tiny WavLM of the real architecture, saved as a Hugging Face folder."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import assert_encode_alike, encode_alone_and_padded
from safetensors.torch import load_file, save_file

from mmmos_core.encoders import build_encoder
from mmmos_core.encoders.wavlm import WavLMEncoder
from mmmos_core.errors import ModelLoadError
from mmmos_core.model.trienc import TINY_WAVLM

SR = 16000


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wavlm") / "tiny-wavlm"
    original = WavLMEncoder.random(TINY_WAVLM, seed=3)
    original.model.save_pretrained(str(folder))
    return folder, original


@pytest.fixture(scope="module")
def encoder(saved):
    return build_encoder("wavlm", {"path": str(saved[0])})


def audio(seconds: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(int(seconds * SR), generator=g)


def test_shapes_and_frame_rate(encoder):
    assert (encoder.sample_rate, encoder.frame_rate) == (16000, 50.0)
    assert encoder.dim == TINY_WAVLM["hidden_size"]
    assert encoder.num_layers == TINY_WAVLM["num_hidden_layers"] + 1  # CNN output + every layer
    out = encoder.encode(audio(10)[None], torch.tensor([10 * SR]))
    assert out.frames.shape == (1, encoder.num_layers, 499, encoder.dim)  # 50 Hz, minus the 25 ms window
    assert out.mask.all()


def test_loaded_weights_equal_saved(saved, encoder):
    assert_encode_alike(encoder, saved[1].freeze(), audio(3))


def test_deterministic(encoder):
    assert_encode_alike(encoder, encoder, audio(4), exact=True)


def test_padding_is_invisible(encoder):
    n, together = encode_alone_and_padded(encoder, audio(3.3, seed=1), audio(10, seed=2))
    assert together.frames[0, :, n:].abs().max() == 0


def test_frozen(encoder):
    assert all(not p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training and not encoder.model.training


def test_old_weight_norm_names_are_loaded(tmp_path, saved):
    """The hub's pytorch_model.bin names the positional conv weight_g/weight_v."""
    folder, original = saved
    state = load_file(str(folder / "model.safetensors"))
    renamed = {k.replace("parametrizations.weight.original0", "weight_g")
                .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
    assert any(k.endswith("weight_g") for k in renamed)
    params = dict(original.model.named_parameters())
    for fmt in ("safetensors", "bin"):
        target = tmp_path / fmt
        target.mkdir()
        (target / "config.json").write_text((folder / "config.json").read_text())
        if fmt == "safetensors":
            save_file(renamed, str(target / "model.safetensors"), metadata={"format": "pt"})
        else:
            torch.save(renamed, target / "pytorch_model.bin")
        loaded = dict(build_encoder("wavlm", {"path": str(target)}).model.named_parameters())
        for name in ("encoder.pos_conv_embed.conv.parametrizations.weight.original0",
                     "encoder.pos_conv_embed.conv.parametrizations.weight.original1"):
            assert torch.equal(loaded[name], params[name]), (fmt, name)


def test_positional_conv_left_random_by_transformers_is_repaired(tmp_path, monkeypatch, saved):
    """Some transformers releases report the weight_g/weight_v tensors missing and leave them random."""
    from transformers import WavLMModel

    folder, original = saved
    state = load_file(str(folder / "model.safetensors"))
    old = {k.replace("parametrizations.weight.original0", "weight_g")
           .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    torch.save(old, tmp_path / "pytorch_model.bin")
    names = ["encoder.pos_conv_embed.conv.parametrizations.weight.original0",
             "encoder.pos_conv_embed.conv.parametrizations.weight.original1"]
    real = WavLMModel.from_pretrained.__func__

    def buggy(cls, *args, **kwargs):
        model, info = real(cls, *args, **kwargs)
        params = dict(model.named_parameters())
        with torch.no_grad():
            for n in names:
                params[n].normal_()
        info["missing_keys"] = set(names)
        return model, info

    monkeypatch.setattr(WavLMModel, "from_pretrained", classmethod(buggy))
    loaded = dict(build_encoder("wavlm", {"path": str(tmp_path)}).model.named_parameters())
    expected = dict(original.model.named_parameters())
    for n in names:
        assert torch.equal(loaded[n], expected[n]), n


def test_incomplete_checkpoint_names_missing_tensors(tmp_path, saved):
    folder, _ = saved
    state = load_file(str(folder / "model.safetensors"))
    dropped = "encoder.layers.1.feed_forward.output_dense.weight"
    assert dropped in state
    del state[dropped]
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=dropped.replace(".", r"\.")):
        build_encoder("wavlm", {"path": str(tmp_path)})


def test_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "wavlm"}))
    with pytest.raises(ModelLoadError, match="model.safetensors or pytorch_model.bin"):
        build_encoder("wavlm", {"path": str(tmp_path)})


def test_missing_weights_offline_says_what_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("MMMOS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError) as err:
        build_encoder("wavlm", {})
    message = str(err.value)
    assert "microsoft/wavlm-base-plus" in message
    assert "hf download microsoft/wavlm-base-plus --include config.json" in message
    assert f"--local-dir {tmp_path / 'home'}" in message


def test_weights_found_in_mmmos_home(tmp_path, monkeypatch, saved):
    import shutil

    monkeypatch.setenv("MMMOS_HOME", str(tmp_path))
    shutil.copytree(saved[0], tmp_path / "encoders" / "microsoft--wavlm-base-plus")
    enc = build_encoder("wavlm", {})
    assert enc.dim == TINY_WAVLM["hidden_size"]
    assert enc.config()["repo"] == "microsoft/wavlm-base-plus"


@pytest.mark.slow
def test_full_size_shapes():
    enc = WavLMEncoder.random().freeze()
    out = enc.encode(audio(1)[None], torch.tensor([SR]))
    assert out.frames.shape == (1, 13, 49, 768)


def test_loading_prints_no_progress_bar_and_leaves_the_setting_alone(saved, capfd):
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    build_encoder("wavlm", {"path": str(saved[0])})
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()


def package_forward(encoder, x: torch.Tensor) -> torch.Tensor:
    """All 13 hidden states exactly as transformers' own WavLMModel computes them."""
    from transformers import WavLMModel

    package = WavLMModel(encoder.model.config).eval()
    package.load_state_dict(encoder.model.state_dict())
    with torch.no_grad():
        return torch.stack(package(x, output_hidden_states=True).hidden_states, dim=1)


@pytest.mark.parametrize("seconds", [10.0, 3.7])
def test_fused_attention_equals_the_package_forward(encoder, seconds):
    """The encoder routes attention through torch's fused kernel; every hidden state stays
    within 1e-4 of transformers' own forward (which computes and averages the weights)."""
    x = audio(seconds, seed=11)[None]
    ours = encoder.encode(x, torch.tensor([x.shape[1]])).frames
    theirs = package_forward(encoder, x)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)


def test_fused_attention_never_takes_the_unfused_path(encoder, monkeypatch):
    def unfused(*args, **kwargs):
        raise AssertionError("F.multi_head_attention_forward was called")

    monkeypatch.setattr(torch.nn.functional, "multi_head_attention_forward", unfused)
    out = encoder.encode(audio(1.0)[None], torch.tensor([SR]))
    assert out.frames.shape[1] == TINY_WAVLM["num_hidden_layers"] + 1


@pytest.mark.slow
def test_full_size_fused_attention_equals_the_package_forward():
    enc = WavLMEncoder.random().freeze()
    x = audio(10.0, seed=12)[None]
    torch.testing.assert_close(enc.encode(x, torch.tensor([x.shape[1]])).frames, package_forward(enc, x),
                               atol=1e-4, rtol=0)
