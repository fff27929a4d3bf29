"""WavLM Base+ (`microsoft/wavlm-base-plus`) through transformers' `WavLMModel`.

16 kHz in, 768-d frames at 50 Hz out, all 13 hidden states (the CNN features after the
encoder's input layer norm, then each of the 12 transformer layers) as L=13: members
learn a softmax-weighted sum over them, as SUPERB-style probes do.
"""

from __future__ import annotations

import json
import math
import types
from pathlib import Path
from typing import Any

import torch

from mmmos_core.errors import ModelLoadError

from .checkpoints import PretrainedEncoder, WeightsSource, weights_fingerprint

SOURCE = WeightsSource(
    label="WavLM Base+",
    local_name="microsoft--wavlm-base-plus",
    hub_repo="microsoft/wavlm-base-plus",
    hub_files=("config.json", "preprocessor_config.json", "pytorch_model.bin", "model.safetensors"),
    license="MIT (the microsoft/unilm licence the model card points to)",
)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

# WavLM Base+ as published (the fields that shape the network; the rest are defaults).
BASE_PLUS_ARCH: dict[str, Any] = {
    "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
    "hidden_act": "gelu", "layer_norm_eps": 1e-5, "feat_extract_norm": "group", "feat_extract_activation": "gelu",
    "conv_dim": [512] * 7, "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_bias": False, "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16,
    "num_buckets": 320, "max_bucket_distance": 800, "do_stable_layer_norm": False,
}

# Old torch weight-norm names, as in the hub's pytorch_model.bin, and what torch's
# parametrised weight norm calls the same tensors today.
_OLD_TO_NEW = {".weight_g": ".parametrizations.weight.original0", ".weight_v": ".parametrizations.weight.original1"}


def fused_self_attention(attention, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None,
                         gated_position_bias: torch.Tensor) -> tuple[torch.Tensor, None]:
    """WavLMAttention's multi-head attention through torch's fused kernel.

    transformers calls ``F.multi_head_attention_forward(..., need_weights=True)``, which
    rules out the fused path: it materialises the scores with baddbmm, softmaxes them
    apart, multiplies again and averages the weights over heads for a caller that never
    reads them. Here the same projections, scaling (1/sqrt(head_dim)) and additive gated
    position bias go through ``scaled_dot_product_attention``; no weights are returned.
    A key padding mask (never passed here: every window is cropped to its real length)
    falls back to the package's own path.
    """
    if attention_mask is not None:
        return type(attention).torch_multi_head_self_attention(attention, hidden_states, attention_mask,
                                                                gated_position_bias)
    batch, length, dim = hidden_states.shape
    heads = attention.num_heads

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(batch, length, heads, dim // heads).transpose(1, 2)

    query, key, value = (split(p(hidden_states)) for p in (attention.q_proj, attention.k_proj, attention.v_proj))
    bias = gated_position_bias.view(batch, heads, length, length).to(query.dtype)
    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=bias)
    return attention.out_proj(out.transpose(1, 2).reshape(batch, length, dim)), None


def use_fused_attention(model) -> None:
    """Route every attention layer of a transformers `WavLMModel` through `fused_self_attention`
    (an attribute on each layer instance: the class and other models are untouched)."""
    for layer in model.encoder.layers:
        layer.attention.torch_multi_head_self_attention = types.MethodType(fused_self_attention, layer.attention)


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def _load_pretrained(folder: Path):
    from transformers import WavLMModel
    from transformers.utils import logging as hf_logging

    weights = next(folder / f for f in WEIGHT_FILES if (folder / f).exists())
    # A progress bar per encoder load would be noise in `mmmos predict` output and app logs.
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with torch.random.fork_rng(devices=[]):  # any init of unloaded tensors must not draw from ours
            model, info = WavLMModel.from_pretrained(str(folder), output_loading_info=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"{folder}: cannot load WavLM weights ({exc})") from None
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    # The SpecAugment mask vector is only used in training mode; a file without it is complete.
    missing = set(info.get("missing_keys", ())) - {"masked_spec_embed"}
    if missing or info.get("mismatched_keys"):
        # Some transformers releases never mapped weight_g/weight_v onto the parametrised
        # positional conv and left it randomly initialised: copy those tensors in by hand.
        state = _read_state(weights)
        prefix = "wavlm." if any(k.startswith("wavlm.") for k in state) else ""
        params = dict(model.named_parameters())
        for key, value in state.items():
            name = key[len(prefix):]
            for old, new in _OLD_TO_NEW.items():
                if name.endswith(old):
                    name = name[:-len(old)] + new
            if name in missing and name in params and params[name].shape == value.shape:
                with torch.no_grad():
                    params[name].copy_(value)
                missing.discard(name)
        if missing or info.get("mismatched_keys"):
            mismatched = [str(m[0]) if isinstance(m, tuple) else str(m) for m in info.get("mismatched_keys", ())]
            bad = sorted(missing) + mismatched
            raise ModelLoadError(f"{weights}: not a complete WavLM checkpoint; these tensors are missing or "
                                 f"have the wrong shape: {', '.join(bad[:12])}{' ...' if len(bad) > 12 else ''}")
    normalize = False
    pre = folder / "preprocessor_config.json"
    if pre.exists():
        try:
            normalize = bool(json.loads(pre.read_text()).get("do_normalize", False))
        except ValueError:
            raise ModelLoadError(f"{pre}: not valid JSON") from None
    return model, normalize, weights


class WavLMEncoder(PretrainedEncoder):
    kind = "wavlm"
    source = SOURCE
    default_arch = BASE_PLUS_ARCH
    required_files = ("config.json",)
    weight_files = WEIGHT_FILES

    def __init__(self, model, settings: dict[str, Any], normalize: bool = False, weights_id: str = "",
                 resolved: Path | None = None):
        super().__init__(settings, weights_id, resolved)
        use_fused_attention(model)
        self.model = model
        self.normalize = normalize
        cfg = model.config
        self.sample_rate = 16000
        self.frame_rate = self.sample_rate / math.prod(cfg.conv_stride)
        self.dim = cfg.hidden_size
        self.num_layers = cfg.num_hidden_layers + 1

    # ---- construction ----------------------------------------------------------------
    @classmethod
    def load(cls, found: Path, settings: dict[str, Any]) -> "WavLMEncoder":
        model, normalize, weights = _load_pretrained(found)
        return cls(model, settings, normalize, weights_fingerprint(weights), found)

    @classmethod
    def build_random(cls, arch: dict[str, Any], settings: dict[str, Any]) -> "WavLMEncoder":
        from transformers import WavLMConfig, WavLMModel

        return cls(WavLMModel(WavLMConfig(**arch)), settings)

    # ---- inference -------------------------------------------------------------------
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x = (x - x.mean(dim=1, keepdim=True)) / torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + 1e-7)
        out = self.model(x, output_hidden_states=True)
        return torch.stack(out.hidden_states, dim=1)  # [b, 13, t, 768]
