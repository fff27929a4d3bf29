"""Where model directories come from: named shipped models, local folders, hub ids."""

from __future__ import annotations

import os
from pathlib import Path

from mmmos_core.errors import ModelLoadError
from mmmos_core.paths import PACKAGE_ASSETS, mmmos_home

# Names a user may pass to --model; each maps to a directory of the package's assets.
NAMED_MODELS = {"lite": "mmmos-lite"}
DEFAULT_MODEL = "lite"



def resolve_model_dir(spec: str | os.PathLike) -> Path:
    """A named model, an existing folder, or a Hugging Face hub id (cache first, then hub)."""
    spec_str = str(spec)
    if spec_str in NAMED_MODELS:
        env = os.environ.get(f"MMMOS_{spec_str.upper()}_DIR")
        path = Path(env) if env else PACKAGE_ASSETS / NAMED_MODELS[spec_str]
        if not (path / "mmmos.json").exists():
            raise ModelLoadError(f"the shipped model {spec_str!r} is missing at {path}; rebuild it with "
                                 "`make lite-model` or pass --model DIR")
        return path
    path = Path(spec_str).expanduser()
    if path.exists():
        if not (path / "mmmos.json").exists():
            raise ModelLoadError(f"{path}: not an MMMOS model directory (no mmmos.json)")
        return path
    if spec_str.count("/") == 1 and not spec_str.startswith((".", "/")):
        local = mmmos_home() / "models" / spec_str.replace("/", "--")
        if (local / "mmmos.json").exists():
            return local
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(spec_str))
        except Exception as exc:  # offline, unknown repo, no permission: all the same to the user
            raise ModelLoadError(
                f"model {spec_str!r} is not in {local} nor the Hugging Face cache, and the hub could not be "
                f"reached ({type(exc).__name__}). Where a network exists: "
                f"`hf download {spec_str} --local-dir {local}`") from None
    raise ModelLoadError(f"{spec_str!r} is neither a known model name ({', '.join(NAMED_MODELS)}), "
                         "a model directory, nor a hub id")
