"""Which model a name means, and the one way to load a model with its run-time options.

A spec is a named model (`NAMED_MODELS`), a model directory, or a Hugging Face hub id.
Every option a caller may set (device, the longest clip, a reference peer) is given to
`load_model`, so no caller changes a model after loading it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mmmos_core.errors import MMMOSError, ModelLoadError
from mmmos_core.paths import PACKAGE_ASSETS, mmmos_home

from .audio import DEFAULT_MAX_DURATION_S

if TYPE_CHECKING:
    from .mmmos_model import MMMOSModel


@dataclass(frozen=True)
class NamedModel:
    """A model a user may name: shipped in the package's assets (``folder``) or built in
    memory (``build``: device -> model), never both."""

    name: str
    description: str
    folder: str | None = None
    build: Callable[[Any], "MMMOSModel"] | None = None


def _random_trienc(device):
    from .trienc import build_random_trienc

    return build_random_trienc(device=device)


NAMED_MODELS: dict[str, NamedModel] = {m.name: m for m in (
    NamedModel("lite", "MMMOS-lite, the offline default shipped with the package", folder="mmmos-lite"),
    NamedModel("trienc-random", "full-size TriEnc with random weights, for benchmarks only", build=_random_trienc),
)}
DEFAULT_MODEL = "lite"


def resolve_model_dir(spec: str | os.PathLike) -> Path:
    """A named shipped model, an existing folder, or a Hugging Face hub id (cache first, then hub)."""
    spec_str = str(spec)
    named = NAMED_MODELS.get(spec_str)
    if named is not None:
        if named.folder is None:
            raise ModelLoadError(f"{spec_str!r} is built in memory and has no model directory")
        env = os.environ.get(f"MMMOS_{spec_str.upper()}_DIR")
        path = Path(env) if env else PACKAGE_ASSETS / named.folder
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


def portable_spec(spec: str | None) -> str:
    """The spec checked here and written so another process finds the same model: a model
    directory as an absolute path (a worker need not share our working directory); a named
    model or hub id as it is, so each node resolves it in its own installation."""
    spec = spec or DEFAULT_MODEL
    if spec in NAMED_MODELS:
        if NAMED_MODELS[spec].folder is not None:
            resolve_model_dir(spec)
        return spec
    resolved = resolve_model_dir(spec)
    return str(resolved.resolve()) if Path(spec).expanduser().exists() else spec


def model_name(spec: str | None) -> str | None:
    """The name a model's records carry, read from its manifest without loading it."""
    spec = spec or DEFAULT_MODEL
    named = NAMED_MODELS.get(spec)
    if named is not None and named.build is not None:
        return named.name
    try:
        return json.loads((resolve_model_dir(spec) / "mmmos.json").read_text()).get("name")
    except (MMMOSError, OSError, ValueError):
        return None


def load_model(spec: str | os.PathLike | None = None, *, device: str | None = None,
               max_duration_s: float | None = DEFAULT_MAX_DURATION_S, reference: Any = None) -> "MMMOSModel":
    """Load a model by name (``lite``, ``trienc-random``), folder or hub id; default ``lite``.

    ``max_duration_s``: longer clips are refused (None: no limit). ``reference``: a loaded
    peer (`mmmos_core.peers`) scored beside the ensemble on the same decoded audio.
    `mmmos_core.load_model` also takes a peer's name.
    """
    from .mmmos_model import MMMOSModel

    spec = str(spec) if spec is not None else DEFAULT_MODEL
    named = NAMED_MODELS.get(spec)
    if named is not None and named.build is not None:
        model = named.build(device)
        model.configure(max_duration_s=max_duration_s, reference=reference)
        return model
    return MMMOSModel.from_pretrained(spec, device=device, max_duration_s=max_duration_s, reference=reference)
