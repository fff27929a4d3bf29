"""MuQ loader: a tiny MuQ of the real architecture, in MuQ's config.json + model.safetensors format."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_encode_alike, encode_alone_and_padded
from safetensors.torch import load_file, save_file

from mmmos_core.encoders import build_encoder
from mmmos_core.encoders.muq import MuQEncoder, conformer_config, save_muq_checkpoint
from mmmos_core.errors import ModelLoadError
from mmmos_core.model.audio import Audio
from mmmos_core.model.features import WindowSettings, encode_windows
from mmmos_core.model.trienc import TINY_MUQ

SR = 24000


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("muq") / "tiny-muq"
    original = MuQEncoder.random(TINY_MUQ, seed=5)
    save_muq_checkpoint(original.muq, original.muq_config, folder)
    return folder, original


@pytest.fixture(scope="module")
def encoder(saved):
    return build_encoder("muq", {"path": str(saved[0])})


def audio(seconds: float, seed: int = 0, sr: int = SR) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(int(seconds * sr), generator=g)


def test_shapes_and_frame_rate(encoder):
    assert (encoder.sample_rate, encoder.frame_rate) == (24000, 25.0)
    assert encoder.dim == TINY_MUQ["encoder_dim"]
    assert encoder.num_layers == TINY_MUQ["encoder_depth"] + 1
    out = encoder.encode(audio(10)[None], torch.tensor([10 * SR]))
    assert out.frames.shape == (1, encoder.num_layers, 250, encoder.dim)
    assert out.mask.all()


def test_features_layer_feeds_24khz(encoder):
    """2 s of 16 kHz audio must reach MuQ as 48000 samples: 50 frames at 25 Hz, not 33."""
    clip = Audio(audio(2, sr=16000).numpy(), 16000, "two_seconds")
    encoded = encode_windows(encoder, clip, WindowSettings())
    assert int(encoded.sequence_mask.sum()) == 7  # 2 s / 0.32 s bins
    seen = []
    original = encoder._forward
    encoder._forward = lambda x: seen.append(x.shape[1]) or original(x)
    try:
        encode_windows(encoder, clip, WindowSettings())
    finally:
        del encoder._forward
    assert seen == [48000]


def test_hidden_states_are_transformers4_layout(encoder):
    """13 states = the input of each conformer layer, then the final layer norm's output."""
    x = audio(2)[None]
    frames = encoder.encode(x, torch.tensor([x.shape[1]])).frames[0]  # [L, T, D]
    inner = encoder.muq.model
    with torch.no_grad():
        mel = inner.normalize(inner.preprocessing(x, features=["melspec_2048"]))["melspec_2048"]
        h = inner.conv(mel)
        rel = inner.conformer.embed_positions(h)
        expected = []
        for layer in inner.conformer.layers:
            expected.append(h)
            h = layer(h, relative_position_embeddings=rel)
        expected.append(inner.conformer.layer_norm(h))
    torch.testing.assert_close(frames, torch.cat(expected), atol=1e-5, rtol=1e-5)


def test_loaded_weights_equal_saved(saved, encoder):
    assert_encode_alike(encoder, saved[1].freeze(), audio(3))


def test_checkpoint_written_by_the_muq_package_loads(tmp_path):
    """A file saved by muq's own MuQ class (hub mixin) has the names our loader reads."""
    from muq import MuQ

    fields = {k: v for k, v in conformer_config(TINY_MUQ).to_dict().items() if not isinstance(v, dict)}
    reference = MuQ({**TINY_MUQ, "w2v2_config": fields})
    reference.save_pretrained(str(tmp_path))
    enc = build_encoder("muq", {"path": str(tmp_path)})
    ref = reference.state_dict()
    for key, value in enc.muq.state_dict().items():
        assert torch.equal(value, ref[key]), key


def test_deterministic(encoder):
    assert_encode_alike(encoder, encoder, audio(4), exact=True)


def test_padding_is_invisible(encoder):
    n, _ = encode_alone_and_padded(encoder, audio(3.3, seed=1), audio(10, seed=2))
    assert n == 83  # 3.3 s at 25 Hz


def test_cpu_windows_go_one_at_a_time_unless_asked_without_changing_results(encoder):
    """On a CPU a long clip's windows go through one by one by default (peak memory of one
    window); asked for batches, its full windows share a forward, with the same results."""
    clip = Audio(audio(25).numpy(), SR, "twenty_five_seconds")
    seen = []
    original = encoder._forward
    encoder._forward = lambda w: seen.append(w.shape[0]) or original(w)
    try:
        alone = encode_windows(encoder, clip, WindowSettings())
        one_at_a_time, seen[:] = list(seen), []
        together = encode_windows(encoder, clip, WindowSettings(), max_batch=3)
    finally:
        del encoder._forward
    assert one_at_a_time == [1, 1, 1]
    assert seen == [2, 1]  # the two full windows together, then the 5 s tail at its own length
    torch.testing.assert_close(together.pooled, alone.pooled, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together.sequence, alone.sequence, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("frames", [1003, 1000, 437])
def test_subsampling_in_pieces_equals_one_piece(encoder, frames):
    """The conv subsampling is run in 4 s pieces to bound its activations; every output
    frame, at piece borders and at the ragged end, equals the one-piece result."""
    from mmmos_core.encoders.muq import subsample

    conv = encoder.muq.model.conv
    mel = torch.randn(2, 128, frames, generator=torch.Generator().manual_seed(frames))
    with torch.no_grad():
        whole = conv(mel)
        pieces = subsample(conv, mel, chunk=40)
    assert pieces.shape == whole.shape == (2, (frames + 3) // 4, whole.shape[-1])
    torch.testing.assert_close(pieces, whole, atol=1e-5, rtol=1e-5)
    # The margin is what makes it exact: too little context shows at the borders.
    with torch.no_grad():
        assert not torch.allclose(subsample(conv, mel, chunk=40, margin=4), whole, atol=1e-5, rtol=1e-5)


def test_frozen(encoder):
    assert all(not p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training and not encoder.muq.training


def test_loading_leaves_global_random_state_alone(saved):
    """muq reseeds torch and Python's generators while it builds; training must not notice."""
    torch.manual_seed(1234)
    random.seed(1234)
    expected_t, expected_p = torch.rand(3), random.random()
    torch.manual_seed(1234)
    random.seed(1234)
    build_encoder("muq", {"path": str(saved[0])})
    assert torch.equal(torch.rand(3), expected_t) and random.random() == expected_p


def test_incomplete_checkpoint_names_missing_tensors(tmp_path, saved):
    folder, _ = saved
    state = load_file(str(folder / "model.safetensors"))
    dropped = "model.conformer.layers.1.ffn1.intermediate_dense.weight"
    del state[dropped]
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=dropped.replace(".", r"\.")):
        build_encoder("muq", {"path": str(tmp_path)})


def test_wrong_file_is_not_loaded_silently(tmp_path, saved):
    """MuQ.from_pretrained loads with strict=False; a file of the inner model's keys would pass there."""
    folder, _ = saved
    state = {k[len("model."):]: v for k, v in load_file(str(folder / "model.safetensors")).items()}
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"model\.conv\."):
        build_encoder("muq", {"path": str(tmp_path)})


def test_config_without_normalisation_stats(tmp_path, saved):
    folder, _ = saved
    config = json.loads((folder / "config.json").read_text())
    del config["stat"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    with pytest.raises(ModelLoadError, match="melspec_2048_mean"):
        build_encoder("muq", {"path": str(tmp_path)})


def test_missing_weights_offline_says_what_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("MMMOS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError) as err:
        build_encoder("muq", {})
    message = str(err.value)
    assert "OpenMuQ/MuQ-large-msd-iter" in message
    assert "hf download OpenMuQ/MuQ-large-msd-iter --include config.json --include model.safetensors --local-dir" in message


def test_config_states_licence(encoder):
    assert "CC BY-NC 4.0" in encoder.config()["license"]
    assert "CC BY-NC 4.0" in encoder.describe()["license"]


@pytest.mark.slow
def test_full_size_shapes():
    enc = MuQEncoder.random().freeze()
    out = enc.encode(audio(1)[None], torch.tensor([SR]))
    assert out.frames.shape == (1, 13, 25, 1024)
    assert np.isfinite(out.frames.numpy()).all()


def test_loading_and_encoding_emit_no_future_warning(tmp_path):
    """MuQ's pre-training quantiser once printed a weight_norm FutureWarning on every run.

    A fresh interpreter, so that warnings raised while muq is first imported count too.
    """
    import subprocess
    import sys

    script = (
        "import torch\n"
        "from mmmos_core.encoders import build_encoder\n"
        "from mmmos_core.encoders.muq import MuQEncoder, save_muq_checkpoint\n"
        "from mmmos_core.model.trienc import TINY_MUQ\n"
        "built = MuQEncoder.random(TINY_MUQ)\n"
        f"save_muq_checkpoint(built.muq, built.muq_config, {str(tmp_path / 'muq')!r})\n"
        f"loaded = build_encoder('muq', {{'path': {str(tmp_path / 'muq')!r}}})\n"
        "loaded.encode(0.1 * torch.randn(1, 24000), torch.tensor([24000]))\n"
    )
    run = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", script], capture_output=True,
                         text=True, cwd=str(Path(__file__).resolve().parent.parent))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "FutureWarning" not in run.stderr


@pytest.mark.parametrize("seconds", [10.0, 3.3])
def test_fused_attention_equals_the_eager_forward_muq_ran_with(encoder, seconds):
    """The conformer's attention runs through torch's fused kernel; all 13 hidden states stay
    within 1e-4 of transformers' eager attention, the numerics MuQ was released with."""
    x = audio(seconds, seed=21)[None]
    lengths = torch.tensor([x.shape[1]])
    config = encoder.muq.model.conformer.config
    assert config._attn_implementation == "sdpa"
    fused = encoder.encode(x, lengths).frames
    config._attn_implementation = "eager"
    try:
        eager = encoder.encode(x, lengths).frames
    finally:
        config._attn_implementation = "sdpa"
    torch.testing.assert_close(fused, eager, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_full_size_fused_attention_equals_the_eager_forward():
    test_fused_attention_equals_the_eager_forward_muq_ran_with(MuQEncoder.random().freeze(), 10.0)
