"""The reference peer: Meta's Audiobox Aesthetics, scored beside the MMMOS ensemble.

Optional. It needs the ``audiobox_aesthetics`` package (``pip install -r
requirements-audiobox.txt``) and the published ``checkpoint.pt`` of
``facebook/audiobox-aesthetics``. The package's own loader and model class build the
network; this module only finds the checkpoint, feeds the model MMMOS's decoded audio
and names the four scores with MMMOS's axes. Its scores are shown next to the ensemble's
and never enter them.

Checkpoint lookup (as for the encoders): an explicit path (the file, or a folder holding
``checkpoint.pt``), then ``$MMMOS_HOME/reference/audiobox-aesthetics``, then the Hugging
Face cache (where the package's own CLI puts it), then the hub unless ``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmmos_core.axes import AXES
from mmmos_core.encoders.checkpoints import (
    WeightsSource,
    find_weights,
    weights_fingerprint,
)
from mmmos_core.errors import AudioInputError, ModelLoadError
from mmmos_core.model.audio import DEFAULT_MAX_DURATION_S, Audio, AudioLike, load_audio
from mmmos_core.model.results import ReferenceScores
from mmmos_core.paths import mmmos_home

from . import require_package

PACKAGE = "audiobox_aesthetics"
PACKAGE_PIN = "audiobox_aesthetics==0.0.4"
INSTALL_HINT = f"pip install {PACKAGE_PIN} (or pip install -r requirements-audiobox.txt)"
CHECKPOINT = "checkpoint.pt"
NAME = "audiobox-aesthetics"
LICENSE = ("Audiobox Aesthetics (Meta, facebook/audiobox-aesthetics): code and weights CC-BY-4.0; "
           "its WavLM code comes from microsoft/unilm under MIT")
# Names `--reference` accepts; one peer today.
REFERENCES = ("audiobox",)

SAMPLE_RATE = 16_000  # what the published checkpoint was trained on
WINDOW_S = 10  # the package's inference windows: 10 s long, 10 s hop, the last one zero-padded
# Windows per forward pass. On a CPU a batch runs little faster than its windows one by one,
# while each window adds ~150 MB of first-conv activations: one at a time keeps a long
# clip's peak memory that of a 10 s one. A GPU gains from batches.
CPU_WINDOWS_PER_PASS = 1
GPU_WINDOWS_PER_PASS = 16


class _ReferenceWeights(WeightsSource):
    # A reference model is not an encoder: its checkpoint gets its own folder under MMMOS_HOME.
    def home_dir(self) -> Path:
        return mmmos_home() / "reference" / self.local_name


# The hub repo also holds a safetensors/config.json export, written by a later release of the
# package for a differently structured class; checkpoint.pt is the form the pinned package's
# own loader (`audiobox_aesthetics.utils.load_model`) fetches and reads.
WEIGHTS = _ReferenceWeights(
    label="Audiobox Aesthetics",
    local_name=NAME,
    hub_repo="facebook/audiobox-aesthetics",
    hub_files=(CHECKPOINT,),
    license="CC-BY-4.0",
    required=(CHECKPOINT,),
)


def _package():
    """The package's inference module, or a message saying how to install it."""
    return require_package("audiobox_aesthetics.infer", f"the reference model needs the {PACKAGE} package, "
                           "which is not installed", INSTALL_HINT)


def _missing_in(path: Path) -> list[str]:
    if path.is_file():
        return []
    return [] if (path / CHECKPOINT).is_file() else [CHECKPOINT]


def find_checkpoint(path: str | os.PathLike | None = None) -> Path:
    """The ``checkpoint.pt`` to load; `ModelLoadError` naming it and the fetch command if none is found."""
    try:
        found = find_weights(WEIGHTS, str(path) if path else None, None, _missing_in)
    except ModelLoadError as exc:
        # find_weights words its hints for encoder configs; here the explicit path is an option.
        raise ModelLoadError(str(exc).replace("the encoder config's 'path'", "--reference-path")) from None
    return found / CHECKPOINT if found.is_dir() else found


class AudioboxReference:
    """Audiobox Aesthetics as loaded by its own package, scoring MMMOS `Audio`."""

    name = NAME

    def __init__(self, predictor, checkpoint: Path, device: str | torch.device = "cpu"):
        axes = set(predictor.target_transform)
        if axes != set(AXES):
            raise ModelLoadError(f"{checkpoint}: the reference model predicts {sorted(axes)}, not {list(AXES)}")
        self.checkpoint = checkpoint
        self.device = torch.device(device)
        self.model = predictor.model.to(self.device).float().eval()
        # 0.0.4 never autocasts (its flag compares a dtype with strings), so the numbers it
        # gives are fp32; pinned here so that a release fixing the flag cannot move a CPU run
        # to bf16, which is hundreds of times slower there.
        self.model.enable_autocast = False
        self.denormalise = predictor.target_transform  # axis -> the package's Normalize
        self._make_windows = _package().make_inference_batch
        self.weights_id = weights_fingerprint(checkpoint)
        self.windows_per_pass = CPU_WINDOWS_PER_PASS if self.device.type == "cpu" else GPU_WINDOWS_PER_PASS

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "checkpoint": str(self.checkpoint), "weights_id": self.weights_id,
                "package": PACKAGE_PIN, "license": LICENSE}

    def predict(self, x: AudioLike, *, name: str | None = None, start_time: float | None = None,
                end_time: float | None = None,
                max_duration_s: float | None = DEFAULT_MAX_DURATION_S) -> ReferenceScores:
        """Score one input (path, bytes, ``(sr, ndarray)``); bad input is an `AudioInputError`."""
        audio = load_audio(x, name=name, max_duration_s=max_duration_s, start_time=start_time, end_time=end_time)
        return self.score([audio])[0]

    @torch.inference_mode()
    def score(self, audios: list[Audio]) -> list[ReferenceScores]:
        """Scores of already decoded clips (the ensemble's own `Audio`, so both see the same samples)."""
        if not audios:
            return []
        wavs = [torch.from_numpy(np.ascontiguousarray(a.resampled(SAMPLE_RATE)))[None] for a in audios]
        for audio, wav in zip(audios, wavs):
            if wav.shape[-1] == 0:
                raise AudioInputError(audio.source, "too short for the reference model")
        # The package's own windowing: same cut, padding mask and length weights as its CLI.
        windows, masks, weights, owners = self._make_windows(wavs, WINDOW_S, WINDOW_S, sample_rate=SAMPLE_RATE)
        raw: dict[str, list[torch.Tensor]] = {a: [] for a in AXES}
        step = self.windows_per_pass
        for i in range(0, len(windows), step):
            batch = {"wav": torch.stack(windows[i:i + step]).to(self.device),
                     "mask": torch.stack(masks[i:i + step]).to(self.device)}
            with warnings.catch_warnings():
                # The package's WavLM mixes a float attention bias with a bool padding mask.
                warnings.filterwarnings("ignore", message=".*mismatched key_padding_mask and attn_mask")
                out = self.model(batch)
            for a in AXES:
                raw[a].append(out[a].float().cpu())
        weight = torch.tensor(weights, dtype=torch.float64)
        owner = torch.tensor(owners)
        per_axis = {a: self.denormalise[a].inverse(torch.cat(raw[a]).double()) for a in AXES}
        results = []
        for k in range(len(audios)):
            mine = owner == k
            w = weight[mine]
            scores = {a: float((per_axis[a][mine] * w).sum() / w.sum()) for a in AXES}
            results.append(ReferenceScores(self.name, scores, int(mine.sum())))
        return results


def load_reference(spec: str = "audiobox", path: str | os.PathLike | None = None,
                   device: str | torch.device | None = None) -> AudioboxReference:
    """Load the reference model ``spec`` (``audiobox``) from ``path`` or the usual places.

    Raises `ModelLoadError` when the package is missing, the checkpoint cannot be found, or
    the file is not an Audiobox Aesthetics checkpoint.
    """
    if spec not in REFERENCES:
        raise ModelLoadError(f"unknown reference model {spec!r}; known: {', '.join(REFERENCES)}")
    infer = _package()
    checkpoint = find_checkpoint(path)
    try:
        # The package's loader: its `load_model` resolves the path, torch.load reads
        # state_dict/model_cfg/target_transform, and AesMultiOutput is built from model_cfg.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*weight_norm` is deprecated")  # the package's WavLM
            predictor = infer.AesPredictor(checkpoint_pth=str(checkpoint), precision="32")
    except Exception as exc:  # torch.load and load_state_dict fail in many types on a wrong or torn file
        raise ModelLoadError(f"{checkpoint}: not a usable Audiobox Aesthetics checkpoint "
                             f"({type(exc).__name__}: {str(exc)[:300]})") from None
    return AudioboxReference(predictor, checkpoint, device or "cpu")
