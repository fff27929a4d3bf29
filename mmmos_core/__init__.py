"""MMMOS: multi-domain, multi-axis audio quality assessment (PQ, PC, CE, CU on 1-10)."""

from __future__ import annotations

__version__ = "0.1.0"

from .axes import AXES, AXIS_DEFINITIONS, AXIS_NAMES
from .errors import AudioInputError, ManifestError, MMMOSError, ModelLoadError
from .model.audio import DEFAULT_MAX_DURATION_S, Audio, load_audio
from .model.results import AxisSpread, MemberScores, Prediction


def load_model(spec=None, *, device=None, max_duration_s=DEFAULT_MAX_DURATION_S, reference=None,
               reference_path=None):
    """Load a model by name (``lite``, ``trienc-random``), folder or hub id; default ``lite``.

    Every run-time option is given here, none is set on the model afterwards:
    ``max_duration_s`` refuses longer clips (None: no limit); ``reference`` is a peer scored
    beside the ensemble on the same decoded audio, loaded or by name (``audiobox``, ``dnsmos``;
    from ``reference_path`` or the usual places).
    """
    from .model import registry

    if isinstance(reference, str):
        from .peers import load_peer

        reference = load_peer(reference, reference_path, device=device)
    return registry.load_model(spec, device=device, max_duration_s=max_duration_s, reference=reference)


__all__ = ["AXES", "AXIS_DEFINITIONS", "AXIS_NAMES", "Audio", "AudioInputError", "AxisSpread", "ManifestError",
           "MMMOSError", "MemberScores", "ModelLoadError", "Prediction", "__version__", "load_audio", "load_model"]
