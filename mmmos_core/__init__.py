"""MMMOS: multi-domain, multi-axis audio quality assessment (PQ, PC, CE, CU on 1-10)."""

from __future__ import annotations

__version__ = "0.1.0"

from .axes import AXES, AXIS_DEFINITIONS, AXIS_NAMES
from .errors import AudioInputError, ManifestError, MMMOSError, ModelLoadError
from .model.audio import Audio, load_audio
from .model.results import AxisSpread, MemberScores, Prediction


def load_model(spec: str | None = None, device: str | None = None):
    """Load a model by name (``lite``, ``trienc-random``), folder, or hub id; default ``lite``."""
    from .model.mmmos_model import MMMOSModel
    from .model.registry import DEFAULT_MODEL

    spec = spec or DEFAULT_MODEL
    if spec == "trienc-random":
        from .model.trienc import build_random_trienc

        return build_random_trienc(device=device)
    return MMMOSModel.from_pretrained(spec, device=device)


__all__ = ["AXES", "AXIS_DEFINITIONS", "AXIS_NAMES", "Audio", "AudioInputError", "AxisSpread", "ManifestError",
           "MMMOSError", "MemberScores", "ModelLoadError", "Prediction", "__version__", "load_audio", "load_model"]
