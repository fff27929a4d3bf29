"""Encoder registry. Kinds are imported lazily so the lite model never imports transformers."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from mmmos_core.errors import ModelLoadError

from .base import Encoder, EncoderOutput

# kind -> "module:Class", relative to this package
REGISTRY: dict[str, str] = {
    "logmel": ".logmel:LogMelEncoder",
    "acoustic": ".acoustic:AcousticEncoder",
    "wavlm": ".wavlm:WavLMEncoder",
    "muq": ".muq:MuQEncoder",
    "m2d": ".m2d:M2DEncoder",
    "melcnn": ".melcnn:MelCNNEncoder",
}


def encoder_class(kind: str) -> type[Encoder]:
    if kind not in REGISTRY:
        raise ModelLoadError(f"unknown encoder kind {kind!r}; known: {', '.join(sorted(REGISTRY))}")
    module_name, class_name = REGISTRY[kind].split(":")
    module = importlib.import_module(module_name, __name__)
    return getattr(module, class_name)


def build_encoder(kind: str, config: dict[str, Any] | None = None, model_dir: Path | None = None) -> Encoder:
    return encoder_class(kind).from_config(dict(config or {}), model_dir).freeze()


__all__ = ["Encoder", "EncoderOutput", "REGISTRY", "build_encoder", "encoder_class"]
