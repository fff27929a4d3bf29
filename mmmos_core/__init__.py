"""MMMOS: multi-domain, multi-axis audio quality assessment (PQ, PC, CE, CU on 1-10)."""

from __future__ import annotations

__version__ = "0.1.0"

from .audio import Audio, load_audio
from .axes import AXES, AXIS_DEFINITIONS, AXIS_NAMES
from .errors import AudioInputError, ManifestError, MMMOSError, ModelLoadError
from .results import AxisSpread, MemberScores, Prediction


def load_model(spec: str | None = None, device: str | None = None):
    """Load a model by name (``lite``, ``trienc-random``), folder, or hub id; default ``lite``."""
    from .hub import DEFAULT_MODEL
    from .model import MMMOSModel

    spec = spec or DEFAULT_MODEL
    if spec == "trienc-random":
        from .trienc import build_random_trienc

        return build_random_trienc(device=device)
    return MMMOSModel.from_pretrained(spec, device=device)


__all__ = ["AXES", "AXIS_DEFINITIONS", "AXIS_NAMES", "Audio", "AudioInputError", "AxisSpread", "ManifestError",
           "MMMOSError", "MemberScores", "ModelLoadError", "Prediction", "__version__", "load_audio", "load_model"]
