"""The speech peer: Microsoft's DNSMOS (P.835 SIG/BAK/OVRL and P.808), scored beside MMMOS.

The ``speechmos`` package (MIT) ships the published ONNX models inside its wheel, so this
peer runs offline with onnxruntime and needs no download. Its scale is 1–5 and its domain
is speech only: on music or sound effects its numbers mean nothing, which is why the app
shows it only for clips `looks_like_speech` accepts, and why its scores never enter the
ensemble or its radar.

Windowing is the package's own: 9.01 s windows at a 1 s hop (a shorter clip is repeated to
fill one window), the four scores averaged over windows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmmos_core.errors import AudioInputError, ModelLoadError
from mmmos_core.model.audio import Audio
from mmmos_core.model.results import PeerScores

from . import require_package

NAME = "dnsmos"
LABEL = "DNSMOS (Microsoft, P.835 + P.808)"
PACKAGE_PIN = "speechmos==0.0.1.1"
INSTALL_HINT = f"pip install {PACKAGE_PIN} onnxruntime"
LICENSE = "DNSMOS models and speechmos package (Microsoft): MIT"
SCALE = (1.0, 5.0)
DOMAIN = "speech only"
SAMPLE_RATE = 16_000
# Output keys, in the order shown; the record keys are these names.
SCORES = ("OVRL", "SIG", "BAK", "P808")
DESCRIPTIONS = {
    "OVRL": "overall quality (P.835)",
    "SIG": "speech signal distortion (P.835)",
    "BAK": "background noise intrusiveness (P.835)",
    "P808": "overall quality (P.808)",
}


def _package():
    return require_package("speechmos.dnsmos", "the DNSMOS peer needs the speechmos and onnxruntime packages",
                           INSTALL_HINT)


def available() -> bool:
    """Whether `load_dnsmos` can work here, without loading anything."""
    import importlib.util

    return all(importlib.util.find_spec(p) is not None for p in ("speechmos", "onnxruntime"))


class DNSMOSPeer:
    """DNSMOS as the speechmos package runs it, scoring MMMOS `Audio`."""

    name = NAME
    label = LABEL

    def __init__(self, dnsmos_module):
        folder = Path(dnsmos_module.__file__).resolve().parent / "dnsmos_models"
        primary, p808 = folder / "sig_bak_ovr.onnx", folder / "model_v8.onnx"
        for path in (primary, p808):
            if not path.is_file():
                raise ModelLoadError(f"{path}: the speechmos package is missing its DNSMOS model; "
                                     f"reinstall it ({INSTALL_HINT})")
        self.model = dnsmos_module.DNSMOS(str(primary), str(p808))

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "package": PACKAGE_PIN, "license": LICENSE,
                "scale": f"{SCALE[0]:g}-{SCALE[1]:g}", "domain": DOMAIN}

    def score_one(self, audio: Audio, max_s: float | None = None) -> PeerScores:
        """``max_s``: score only the first seconds. The package slides its 9 s window by 1 s, so a
        10-minute file costs ~590 passes (over a minute on 2 cores): the app caps it and says so."""
        samples = audio.resampled(SAMPLE_RATE)
        cut = max_s is not None and samples.size > max_s * SAMPLE_RATE
        if cut:
            samples = samples[: int(max_s * SAMPLE_RATE)]
        if samples.size < SAMPLE_RATE // 10:
            raise AudioInputError(audio.source, "too short for DNSMOS (under 0.1 s)")
        # The package refuses samples outside [-1, 1]; a loud float file is clipped, as playback would.
        samples = np.clip(samples, -1.0, 1.0).astype(np.float32)
        out = self.model(samples, SAMPLE_RATE, False)
        scores = {"OVRL": out["ovrl_mos"], "SIG": out["sig_mos"], "BAK": out["bak_mos"], "P808": out["p808_mos"]}
        return PeerScores(self.name, {k: float(v) for k, v in scores.items()}, SCALE, DOMAIN,
                          float(max_s) if cut else None)

    def first_window(self, samples: np.ndarray) -> dict[str, float]:
        """OVRL, SIG, BAK, P808 of 16 kHz samples from one 9.01 s window: what the package
        computes for its first window (a shorter clip repeated to fill it), without the
        package's doubling of short clips into several overlapping windows. A 4 s clip costs
        one pass instead of eight; for the lite model's teacher, which scores thousands."""
        m = self.model
        need = int(9.01 * SAMPLE_RATE)
        x = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
        if x.size < SAMPLE_RATE // 10:
            raise AudioInputError("<samples>", "too short for DNSMOS (under 0.1 s)")
        while x.size < need:
            x = np.append(x, x)
        x = x[:need]
        p808 = m.p808_onnx_sess.run(None, {"input_1": m.audio_melspec(audio=x[:-160]).astype("float32")[None]})
        sig, bak, ovr = m.onnx_sess.run(None, {"input_1": x[None]})[0][0]
        sig, bak, ovr = m.get_polyfit_val(sig, bak, ovr, False)
        return {"OVRL": float(ovr), "SIG": float(sig), "BAK": float(bak), "P808": float(p808[0][0][0])}

    def score(self, audios: list[Audio], max_s: float | None = None) -> list[PeerScores]:
        """Scores of already decoded clips (the ensemble's own `Audio`, so both hear the same samples)."""
        return [self.score_one(a, max_s) for a in audios]


def load_dnsmos(path=None, device=None) -> DNSMOSPeer:
    """The DNSMOS peer. ``path`` and ``device`` are accepted for the registry's sake: the
    models come from the installed package and run on the CPU."""
    return DNSMOSPeer(_package())
