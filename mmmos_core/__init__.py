"""MMMOS: multi-domain, multi-axis audio quality assessment (PQ, PC, CE, CU on 1-10)."""

from __future__ import annotations

__version__ = "0.1.0"

from .axes import AXES, AXIS_DEFINITIONS, AXIS_NAMES
from .errors import AudioInputError, ManifestError, MMMOSError, ModelLoadError
from .model.audio import Audio, load_audio
from .model.registry import load_model
from .model.results import AxisSpread, MemberScores, Prediction

__all__ = ["AXES", "AXIS_DEFINITIONS", "AXIS_NAMES", "Audio", "AudioInputError", "AxisSpread", "ManifestError",
           "MMMOSError", "MemberScores", "ModelLoadError", "Prediction", "__version__", "load_audio", "load_model"]
