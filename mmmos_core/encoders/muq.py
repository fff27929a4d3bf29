"""MuQ (`OpenMuQ/MuQ-large-msd-iter`) through the `muq` package, fed 24 kHz audio.

24 kHz in (the rate MuQ was trained at; feeding it 16 kHz, as the paper's code did,
shifts every mel band), 1024-d frames at 25 Hz out, all 13 hidden states as L=13.

The weights are CC BY-NC 4.0: non-commercial use only. A model that uses this encoder
inherits that restriction.

Running muq 0.1.0 under transformers 5: MuQ builds its conformer as
``Wav2Vec2ConformerEncoder(EasyDict(w2v2_config))``. transformers 5 reads attributes a
plain dict does not have (``_attn_implementation``, the mask helpers' config fields) and
no longer returns ``hidden_states`` from the bare encoder, so MuQ's own forward fails.
We let muq build everything except that one submodule, build the conformer ourselves
from a real ``Wav2Vec2ConformerConfig`` with the same fields (the module tree and
therefore the checkpoint's tensor names are unchanged), and collect the hidden states
with hooks on the layers, exactly as transformers 4.x returned them: the input of each
of the 12 layers, then the final layer norm's output. Nothing global is patched.
"""

from __future__ import annotations

import dataclasses
import json
import random as _random
from pathlib import Path
from typing import Any

import torch

from mmmos_core.errors import ModelLoadError

from .checkpoints import PretrainedEncoder, SafetensorsReader, WeightsSource, weights_fingerprint

LICENSE = "CC BY-NC 4.0 (MuQ weights: non-commercial use only)"
SOURCE = WeightsSource(
    label="MuQ",
    local_name="OpenMuQ--MuQ-large-msd-iter",
    hub_repo="OpenMuQ/MuQ-large-msd-iter",
    hub_files=("config.json", "model.safetensors"),
    license=LICENSE,
)
SAMPLE_RATE = 24000  # fixed inside muq's MelSTFT
# The conv subsampling runs over mel frames in pieces of SUBSAMPLE_CHUNK (4 s) with
# SUBSAMPLE_MARGIN frames of context on each side: its first block alone holds about
# 190 MB of activations for a 10 s window in one piece. Each output frame sees 9 input
# frames either side (two residual blocks of 3x3 convs, each striding time by 2), so 12
# (a multiple of the total stride 4, to keep the output grid aligned) makes every piece's
# output equal to the one-piece result.
SUBSAMPLE_CHUNK = 400
SUBSAMPLE_MARGIN = 12

# MuQ-large as published (MuQConfig defaults plus the conformer fields of its w2v2_config).
LARGE_ARCH: dict[str, Any] = {
    "label_rate": 25, "num_codebooks": 1, "codebook_dim": 16, "codebook_size": 4096,
    "features": ["melspec_2048"], "hop_length": 240, "n_mels": 128, "conv_dim": 512,
    "encoder_dim": 1024, "encoder_depth": 12,
    "stat": {"melspec_2048_mean": 6.768444971712967, "melspec_2048_std": 18.417922652295623},
    "w2v2_config": {
        "hidden_act": "swish", "num_attention_heads": 16, "intermediate_size": 4096,
        "conv_depthwise_kernel_size": 31, "position_embeddings_type": "rotary", "rotary_embedding_base": 10000,
        "layer_norm_eps": 1e-5, "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16,
        "max_source_positions": 5000, "feat_extract_activation": "gelu",
    },
}



def muq_arch(w2v2_overrides: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """MuQ-large's architecture with some fields changed (a deep copy: callers may edit it)."""
    arch = json.loads(json.dumps(LARGE_ARCH))
    arch.update(overrides)
    arch["w2v2_config"].update(w2v2_overrides or {})
    return arch


# Config fields that describe a checkpoint file rather than the network.
_CONFIG_METADATA = {"architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "_name_or_path"}


def conformer_config(muq_config: dict[str, Any]):
    """The real transformers config for MuQ's conformer, from MuQ's own config dict."""
    from transformers import Wav2Vec2ConformerConfig

    fields = {k: v for k, v in dict(muq_config.get("w2v2_config") or {}).items() if k not in _CONFIG_METADATA}
    # MuQModel overrides these two on the EasyDict; do the same.
    fields["num_hidden_layers"] = int(muq_config["encoder_depth"])
    fields["hidden_size"] = int(muq_config["encoder_dim"])
    cfg = Wav2Vec2ConformerConfig(**fields)
    # MuQ ran with the eager attention of transformers 4.x (scores, softmax and weighted
    # sum as three separate ops). Its rotary embedding is applied before the projections
    # and no bias enters the scores, so torch's fused kernel computes the same thing in
    # one pass; a test holds it within 1e-4 of the eager forward.
    cfg._attn_implementation = "sdpa"
    return cfg


def _muq_fields(config: dict[str, Any]) -> dict[str, Any]:
    from muq import MuQConfig

    names = {f.name for f in dataclasses.fields(MuQConfig)}
    return {k: v for k, v in config.items() if k in names}


def build_muq(config: dict[str, Any]):
    """muq's `MuQ` with a transformers-5-ready conformer and without its pre-training parts.

    Weights are random until loaded.
    """
    from muq import MuQ
    from transformers.models.wav2vec2_conformer.modeling_wav2vec2_conformer import (
        Wav2Vec2ConformerEncoder,
    )

    config = _muq_fields(config)
    real = conformer_config(config)
    # muq still builds its own conformer from an EasyDict of these fields before we replace
    # it: hand it every field transformers reads (a hub w2v2_config may hold only some),
    # and depth 0 so that throwaway costs nothing. No rvq checkpoint path: the quantiser
    # only makes training targets.
    fields = {k: v for k, v in real.to_dict().items() if not isinstance(v, dict)}  # EasyDict wants str keys
    outer = {**config, "w2v2_config": fields, "encoder_depth": 0, "is_flash": False, "rvq_ckpt_path": None}
    # MuQModel reseeds torch's and Python's global generators while it builds; keep ours.
    py_state = _random.getstate()
    with torch.random.fork_rng(devices=[]):
        muq = MuQ(outer)
    _random.setstate(py_state)
    inner = muq.model
    inner.conformer = Wav2Vec2ConformerEncoder(real)
    # Pre-training only: the token classifier, target quantisers, CLS token, and the
    # positional conv transformers builds but never calls in this encoder's forward.
    # Dropping them saves ~51 MB at full size; a forward that needed them fails loudly.
    for name in ["linear", "rvq", "cls_token", *[f"quantizer_{f}" for f in inner.features]]:
        if hasattr(inner, name):
            delattr(inner, name)
    del inner.conformer.pos_conv_embed
    return muq


def subsample(conv, mel: torch.Tensor, chunk: int = SUBSAMPLE_CHUNK, margin: int = SUBSAMPLE_MARGIN) -> torch.Tensor:
    """MuQ's ``Conv2dSubsampling`` over ``mel`` [b, n_mels, T] -> [b, ceil(T / 4), D], in pieces."""
    total = mel.shape[-1]
    if total <= chunk + 2 * margin:
        return conv(mel)
    pieces = []
    for start in range(0, total, chunk):
        lo, end = max(0, start - margin), min(total, start + chunk)
        out = conv(mel[..., lo:min(total, end + margin)])
        first = (start - lo) // 4
        pieces.append(out[:, first:first + (end - start + 3) // 4])
    return torch.cat(pieces, dim=1)


def feature_keys(muq) -> list[str]:
    """Every tensor the feature path reads, as named in MuQ's model.safetensors.

    Rotary frequencies (a constant recomputed on construction) and BatchNorm step
    counters (unused in eval) may be absent from a file.
    """
    return [k for k in muq.state_dict() if not k.endswith(("num_batches_tracked", "inv_freq"))]


def load_muq(folder: Path):
    config_path, weights = folder / "config.json", folder / "model.safetensors"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{config_path}: not a readable MuQ config ({exc})") from None
    stat = config.get("stat") or {}
    if not {"melspec_2048_mean", "melspec_2048_std"} <= set(stat):
        raise ModelLoadError(f"{config_path}: lacks the mel normalisation stats "
                             "(stat.melspec_2048_mean / stat.melspec_2048_std)")
    for field in ("encoder_dim", "encoder_depth"):
        config.setdefault(field, LARGE_ARCH[field])
    with torch.random.fork_rng(devices=[]):  # the random init about to be overwritten must not draw from ours
        muq = build_muq(config)
    own = muq.state_dict()
    # Like MuQ.from_pretrained we accept extra tensors (the pre-training parts); unlike it
    # (strict=False, silently) we insist on every tensor the features need. Read straight
    # into the model, so loading never holds a second copy of the 1.3 GB of weights.
    try:
        with SafetensorsReader(weights) as f:
            present = f.keys()
            missing = [k for k in feature_keys(muq) if k not in present]
            if missing:
                raise ModelLoadError(
                    f"{weights}: not a complete MuQ checkpoint; {len(missing)} tensors the encoder needs are "
                    f"missing: {', '.join(missing[:12])}{' ...' if len(missing) > 12 else ''}")
            with torch.no_grad():
                for key in own:
                    if key not in present:
                        continue
                    if f.shape(key) != tuple(own[key].shape):
                        raise ModelLoadError(f"{weights}: {key} has shape {f.shape(key)}, the config in "
                                             f"{config_path} gives {tuple(own[key].shape)}")
                    f.read_into(key, own[key])
    except ModelLoadError:
        raise
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{weights}: not a readable safetensors file ({exc})") from None
    return muq, _muq_fields(config), weights


def save_muq_checkpoint(muq, config: dict[str, Any], folder: Path) -> Path:
    """Write MuQ's on-disk format: config.json + model.safetensors with MuQ's tensor names.

    The pre-training parts the encoder drops are not written; the loader never needs them.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(_muq_fields(config), indent=2) + "\n")
    state = {k: v.detach().cpu().contiguous() for k, v in muq.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


class MuQEncoder(PretrainedEncoder):
    kind = "muq"
    source = SOURCE
    default_arch = LARGE_ARCH
    required_files = ("config.json", "model.safetensors")

    def __init__(self, muq, muq_config: dict[str, Any], settings: dict[str, Any], weights_id: str = "",
                 resolved: Path | None = None):
        super().__init__(settings, weights_id, resolved)
        self.muq = muq
        self.muq_config = muq_config
        inner = muq.model
        self.sample_rate = SAMPLE_RATE
        self.frame_rate = SAMPLE_RATE / (inner.hop_length * inner.n_fold)
        self.dim = int(muq_config["encoder_dim"])
        self.num_layers = int(muq_config["encoder_depth"]) + 1

    # ---- construction ----------------------------------------------------------------
    @classmethod
    def build_random(cls, arch: dict[str, Any], settings: dict[str, Any]) -> "MuQEncoder":
        return cls(build_muq(arch), _muq_fields(arch), settings)

    @classmethod
    def load(cls, found: Path, settings: dict[str, Any]) -> "MuQEncoder":
        muq, muq_config, weights = load_muq(found)
        return cls(muq, muq_config, settings, weights_fingerprint(weights), found)

    # ---- inference -------------------------------------------------------------------
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        inner = self.muq.model
        mel = inner.normalize(inner.preprocessing(x, features=["melspec_2048"]))["melspec_2048"]
        hidden = subsample(inner.conv, mel)
        conformer = inner.conformer
        if hasattr(conformer.embed_positions, "cached_sequence_length"):
            # its cache is keyed on length only; a model moved between devices must not reuse it
            conformer.embed_positions.cached_sequence_length = None
        states: list[torch.Tensor] = []

        def keep_input(module, args, kwargs):
            states.append(args[0] if args else kwargs["hidden_states"])

        hooks = [layer.register_forward_pre_hook(keep_input, with_kwargs=True) for layer in conformer.layers]
        try:
            out = conformer(hidden)
        finally:
            for h in hooks:
                h.remove()
        states.append(out.last_hidden_state)
        return torch.stack(states, dim=1)  # [b, 13, t, 1024]
