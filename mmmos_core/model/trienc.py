"""TriEnc: the paper's three frozen encoders (WavLM Base+, MuQ-large, M2D ViT-B) in one model.

Two builders that need no downloaded weights:

- `build_random_trienc`: the FULL-SIZE architecture with random weights, for memory and
  speed benchmarks and for tests of the plumbing. Its scores mean nothing; it is never
  a default and says so with every prediction.
- `build_trienc_dir`: a tiny (tests) or full-size (memory bench) model of the same
  architecture whose encoders are saved in the real on-disk formats (a Hugging Face folder
  for WavLM, MuQ's config.json + model.safetensors, the official EVAR-style `.pth` inside
  an officially named folder for M2D) and loaded back through the same loaders as the
  published weights.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch

from mmmos_core.encoders import Encoder, build_encoder
from mmmos_core.encoders.m2d import OFFICIAL_NAME, M2DEncoder, save_m2d_checkpoint
from mmmos_core.encoders.muq import MuQEncoder, muq_arch, save_muq_checkpoint
from mmmos_core.encoders.wavlm import BASE_PLUS_ARCH, WavLMEncoder

from .member import MemberConfig
from .mmmos_model import MMMOSModel, ModelConfig, build_model

ENCODER_KINDS = ("wavlm", "muq", "m2d")
RANDOM_NOTE = "random weights: for benchmarks and tests only, scores are meaningless"

# The encoder subsets and heads the paper's top ensemble draws from.
SUBSETS = (["wavlm", "muq", "m2d"], ["wavlm", "m2d"])
AGGREGATORS = ("mlp", "blstm", "blstm_t")
LOSSES = ("utmos", "contrastive", "dcq", "ccc")

# Tiny but architecture-true settings: every structural choice of the real encoders
# (group-norm CNN + gated relative attention; mel + conv subsampling + rotary conformer;
# 80x1001 input with 16x16 patches) is kept, only widths and depths shrink.
TINY_WAVLM = {
    **BASE_PLUS_ARCH, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
    "conv_dim": [16] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4,
    "num_buckets": 32, "max_bucket_distance": 80,
}
TINY_MUQ = muq_arch(
    {"num_attention_heads": 4, "intermediate_size": 64, "conv_depthwise_kernel_size": 5,
     "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4},
    codebook_size=64, conv_dim=8, encoder_dim=32, encoder_depth=2)
TINY_M2D = {"embed_dim": 32, "depth": 2, "num_heads": 2, "mlp_ratio": 2.0}
TINY_M2D_NAME = "m2d_clap_vit_tiny-80x1001p16x16-test_enconly"


def member_configs(count: int, hidden: int = 256) -> list[MemberConfig]:
    """``count`` members cycling through the paper's subsets, aggregators and losses."""
    combos = itertools.cycle(itertools.product(SUBSETS, AGGREGATORS))
    losses = itertools.cycle(LOSSES)
    members = []
    for i in range(count):
        subset, aggregator = next(combos)
        loss = next(losses)
        name = f"{'+'.join(subset)}-{aggregator}-{loss}-{i}"
        members.append(MemberConfig(name=name, encoders=list(subset), aggregator=aggregator, loss=loss,
                                    hidden=hidden))
    return members


def _model(name: str, encoders: dict[str, Encoder], members: int, seed: int, note: str, description: str,
           licenses: list[str], hidden: int = 256) -> MMMOSModel:
    config = ModelConfig(
        name=name,
        encoders={n: {"kind": e.kind, "config": e.config()} for n, e in encoders.items()},
        members=member_configs(members, hidden),
        description=description,
        note=note,
        licenses=licenses,
    )
    return build_model(config, encoders, seed=seed)


def build_random_trienc(device: str | torch.device | None = None, members: int = 8, seed: int = 0) -> MMMOSModel:
    """FULL-SIZE TriEnc with architecture-true random weights. Never use its scores."""
    encoders: dict[str, Encoder] = {
        "wavlm": WavLMEncoder.random(seed=seed).freeze(),
        "muq": MuQEncoder.random(seed=seed + 1).freeze(),
        "m2d": M2DEncoder.random(seed=seed + 2).freeze(),
    }
    model = _model("trienc-random", encoders, members, seed, RANDOM_NOTE,
                   "WavLM Base+ + MuQ-large + M2D ViT-B at full size with RANDOM weights (architecture only)", [])
    return model.to(device) if device is not None else model


def build_trienc_dir(folder: str | Path, size: str = "tiny", members: int = 8, seed: int = 0) -> MMMOSModel:
    """Save a TriEnc with random weights to ``folder`` in the real on-disk formats and return it.

    ``size="tiny"``: narrow, shallow encoders of the real architectures, for the tests.
    ``size="full"``: the published sizes (about 1.9 GB on disk), to measure loading and
    memory through exactly the path real checkpoints take.

    The encoders are written first (``folder/encoders/...``), then loaded back through
    the public loaders with paths relative to ``folder``, so the returned model is
    exactly what `MMMOSModel.from_pretrained(folder)` rebuilds.
    """
    if size not in ("tiny", "full"):
        raise ValueError(f"size must be 'tiny' or 'full', not {size!r}")
    tiny = size == "tiny"
    folder = Path(folder)
    store = folder / "encoders"
    wavlm = WavLMEncoder.random(TINY_WAVLM if tiny else None, seed=seed)
    wavlm.model.save_pretrained(str(store / "wavlm"))
    muq = MuQEncoder.random(TINY_MUQ if tiny else None, seed=seed + 1)
    save_muq_checkpoint(muq.muq, muq.muq_config, store / "muq")
    m2d_name = TINY_M2D_NAME if tiny else OFFICIAL_NAME
    m2d = M2DEncoder.random(m2d_name, TINY_M2D if tiny else None, seed=seed + 2)
    save_m2d_checkpoint(m2d, store, m2d_name, head_classes=8 if tiny else 527)
    del wavlm, muq, m2d  # the loaders below build their own copies

    m2d_config = {"path": f"encoders/{m2d_name}", **({"arch": TINY_M2D} if tiny else {})}
    loaded = {
        "wavlm": build_encoder("wavlm", {"path": "encoders/wavlm"}, folder),
        "muq": build_encoder("muq", {"path": "encoders/muq"}, folder),
        "m2d": build_encoder("m2d", m2d_config, folder),
    }
    model = _model(f"trienc-{size}-saved", loaded, members, seed, RANDOM_NOTE,
                   f"{size} WavLM + MuQ + M2D of the real architectures with random weights, saved in the "
                   "published formats", [], hidden=32 if tiny else 256)
    model.save_pretrained(folder)
    return model
