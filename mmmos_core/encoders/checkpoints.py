"""Where pretrained encoder weights come from, and how a model directory refers to them.

Lookup order for every encoder: the explicit ``path`` in its config (relative paths are
relative to the model directory), then ``$MMMOS_HOME/encoders/<name>``, then the Hugging
Face cache, then the hub itself unless ``HF_HUB_OFFLINE`` is set. When all of them fail,
the `ModelLoadError` names the checkpoint and the one command that fetches it.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import json
import math
import os
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch

from mmmos_core.errors import ModelLoadError
from mmmos_core.paths import mmmos_home

from .base import Encoder, EncoderOutput
from .cropping import encode_at_real_length


@dataclass(frozen=True)
class WeightsSource:
    """One published checkpoint: what it is called, where it is published, how to get it."""

    label: str  # what a user reads in an error, e.g. "WavLM Base+"
    local_name: str  # folder under $MMMOS_HOME/encoders
    hub_repo: str | None = None
    hub_files: tuple[str, ...] = ()  # what to fetch from the hub (allow patterns)
    fetch_command: str = ""  # for sources that are not on the hub; "{dest}" is the target folder
    license: str = ""
    required: tuple[str, ...] = field(default_factory=tuple)  # file names a usable folder holds

    def home_dir(self) -> Path:
        return mmmos_home() / "encoders" / self.local_name

    def fetch_hint(self) -> str:
        dest = self.home_dir()
        if self.hub_repo:
            # Only the files the loader reads: a hub repository can hold several formats.
            include = "".join(f" --include {f}" for f in self.hub_files)
            return f"hf download {self.hub_repo}{include} --local-dir {dest}"
        return self.fetch_command.format(dest=dest, parent=dest.parent)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_path(path: str | os.PathLike, model_dir: Path | None) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute() and model_dir is not None:
        p = Path(model_dir) / p
    return p


def find_weights(source: WeightsSource, explicit: str | None, model_dir: Path | None,
                 missing_in: Callable[[Path], list[str]]) -> Path:
    """The folder (or file) holding ``source``'s weights.

    ``missing_in(path)`` lists what a candidate lacks (empty when it is usable), so a
    half-copied folder is reported as such instead of failing later inside a loader.
    """
    if explicit:
        path = resolve_path(explicit, model_dir)
        if not path.exists():
            raise ModelLoadError(f"{path}: {source.label} weights not found (the encoder config's 'path' "
                                 f"points here). Where a network exists: `{source.fetch_hint()}`")
        lacking = missing_in(path)
        if lacking:
            raise ModelLoadError(f"{path}: not a complete {source.label} checkpoint, missing {', '.join(lacking)}")
        return path

    looked = []
    home = source.home_dir()
    if home.exists():
        lacking = missing_in(home)
        if not lacking:
            return home
        looked.append(f"{home} (incomplete: missing {', '.join(lacking)})")
    else:
        looked.append(str(home))

    if source.hub_repo:
        from huggingface_hub import snapshot_download

        patterns = list(source.hub_files) or None
        try:
            cached = Path(snapshot_download(source.hub_repo, allow_patterns=patterns, local_files_only=True))
            if not missing_in(cached):
                return cached
            looked.append(f"the Hugging Face cache ({cached} is incomplete)")
        except Exception:  # not cached: the hub's own exception types vary between releases
            looked.append("the Hugging Face cache")
        if hub_offline():
            looked.append("not the hub (HF_HUB_OFFLINE is set)")
        else:
            try:
                fetched = Path(snapshot_download(source.hub_repo, allow_patterns=patterns))
                if not missing_in(fetched):
                    return fetched
                looked.append(f"the hub ({source.hub_repo} lacks {', '.join(missing_in(fetched))})")
            except Exception as exc:
                looked.append(f"the hub ({type(exc).__name__})")

    name = source.hub_repo or source.local_name
    raise ModelLoadError(f"{source.label} weights ({name}) are missing; looked in: {'; '.join(looked)}. "
                         f"Where a network exists, fetch them with: `{source.fetch_hint()}` "
                         "(or point the encoder config's 'path' at a copy, or set MMMOS_HOME)")


def missing_in_folder(path: Path, required: tuple[str, ...], one_of: tuple[str, ...] = ()) -> list[str]:
    """What a checkpoint folder lacks: each of ``required``, and at least one of ``one_of``."""
    wanted = [*required, *([" or ".join(one_of)] if one_of else [])]
    if not path.is_dir():
        return [f"a folder with {' and '.join(wanted)}"]
    missing = [f for f in required if not (path / f).exists()]
    if one_of and not any((path / f).exists() for f in one_of):
        missing.append(" or ".join(one_of))
    return missing


def weights_fingerprint(path: Path) -> str:
    """Cheap identity of a weights file: size plus hashes of its first and last MiB.

    Hashing a whole 1.3 GB checkpoint on every load would cost seconds; a different
    checkpoint differs in size or in its header (safetensors, zip) almost surely.
    """
    h = hashlib.sha1()
    size = path.stat().st_size
    h.update(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if size > (2 << 20):
            f.seek(size - (1 << 20))
            h.update(f.read())
    return h.hexdigest()[:16]


_SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
                       "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                       "U8": torch.uint8, "BOOL": torch.bool}


class SafetensorsReader:
    """Reads a .safetensors file tensor by tensor with plain reads, straight into the
    destination tensor where dtype and layout allow.

    safetensors' own reader maps the whole file: every page it touches then counts in the
    process's resident memory until the file is closed, so loading a 1.3 GB checkpoint into
    an already allocated model would show as twice the model. Reads never map the file.
    (safetensors is little-endian, as are the platforms torch ships for.)
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = open(self.path, "rb")
        try:
            (size,) = struct.unpack("<Q", self._file.read(8))
            header = json.loads(self._file.read(size))
        except (struct.error, ValueError, UnicodeDecodeError) as exc:
            self._file.close()
            raise ValueError(f"not a safetensors file ({exc})") from None
        header.pop("__metadata__", None)
        self.entries: dict[str, dict] = header
        self._base = 8 + size

    def keys(self) -> set[str]:
        return set(self.entries)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self.entries[key]["shape"])

    def read_into(self, key: str, out: torch.Tensor) -> None:
        """Copy tensor ``key`` into ``out`` (same shape; converted if the file's dtype differs)."""
        entry = self.entries[key]
        dtype = _SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"{key}: unsupported dtype {entry['dtype']}")
        begin, end = entry["data_offsets"]
        shape = tuple(entry["shape"])
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"{key}: {end - begin} bytes do not hold {entry['dtype']} {list(shape)}")
        self._file.seek(self._base + begin)
        direct = out.dtype == dtype and out.device.type == "cpu" and out.is_contiguous() and dtype != torch.bool
        target = out.detach() if direct else torch.empty(shape, dtype=dtype)
        if target.numel():
            buffer = memoryview(target.reshape(-1).view(torch.uint8).numpy())
            if self._file.readinto(buffer) != end - begin:
                raise ValueError(f"{key}: the file ends inside this tensor")
        if not direct:
            out.copy_(target)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "SafetensorsReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def copy_into_model_dir(resolved: Path, relative: str, model_dir: Path) -> None:
    """Keep a model directory self-contained when its encoder weights live inside it.

    A relative ``path`` means "inside the model directory"; saving the model elsewhere
    must bring those files along or the new directory would not load.
    """
    target = Path(model_dir) / relative
    if target.exists() and target.resolve() == resolved.resolve():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if resolved.is_dir():
        shutil.copytree(resolved, target, dirs_exist_ok=True)
    else:
        shutil.copy2(resolved, target)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: its allocator returns memory its own way
        return None


def release_freed_heap() -> None:
    """Give the pages freed by a forward pass back to the operating system.

    glibc keeps freed blocks of up to 32 MB in its heap, and a pass over a clip of a new
    length rarely fits the holes the last one left: measured here, serving clips of mixed
    lengths let TriEnc's resident memory creep by ~1 GB within 40 clips. Trimming after
    each encoder pass holds it at the loaded size; it costs a millisecond against seconds
    of forward pass, and was not slower in our runs.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class PretrainedEncoder(Encoder):
    """An encoder built from a published checkpoint that `find_weights` located.

    Subclasses set ``source`` (where the checkpoint is published), ``default_arch`` and the
    files a checkpoint folder holds, and implement ``load`` (a located checkpoint ->
    encoder), ``build_random`` (the architecture with random weights) and ``_forward``:
    unpadded audio ``[b, n]`` -> frames ``[b, L, t, D]``. Every instance keeps
    ``settings`` (its JSON config), ``resolved`` (the checkpoint found, or None for random
    weights) and ``weights_id`` (a fingerprint of that checkpoint).
    """

    source: ClassVar[WeightsSource]
    default_arch: ClassVar[dict[str, Any]] = {}  # the published architecture, for `random`
    required_files: ClassVar[tuple[str, ...]] = ()  # a checkpoint folder holds all of these
    weight_files: ClassVar[tuple[str, ...]] = ()  # and at least one of these
    # Every window in a batch adds its own front-end activations (about 150 MB per 10 s
    # window for WavLM's and MuQ's first conv layers): by default one window per forward
    # on a CPU keeps the peak memory of a long clip, or of a batch of clips, that of a 10 s
    # one (`features.windows_per_forward`); a caller may still ask for more.
    cpu_max_batch: ClassVar[int | None] = 1
    # torch.float16 / torch.bfloat16 runs the forward under autocast (`set_autocast`); None: fp32.
    autocast_dtype: torch.dtype | None = None

    def __init__(self, settings: dict[str, Any], weights_id: str = "", resolved: Path | None = None):
        super().__init__()
        self.settings = settings
        self.weights_id = weights_id
        self.resolved = resolved

    # ---- construction ----------------------------------------------------------------
    @classmethod
    def missing_files(cls, path: Path) -> list[str]:
        """What a candidate checkpoint lacks (empty when usable); by default a folder check."""
        return missing_in_folder(path, cls.required_files, cls.weight_files)

    @classmethod
    def load(cls, found: Path, settings: dict[str, Any]) -> "PretrainedEncoder":
        raise NotImplementedError

    @classmethod
    def build_random(cls, arch: dict[str, Any], settings: dict[str, Any]) -> "PretrainedEncoder":
        """The encoder of architecture ``arch``, initialised from torch's generator as it stands."""
        raise NotImplementedError

    @classmethod
    def random(cls, arch: dict[str, Any] | None = None, seed: int = 0) -> "PretrainedEncoder":
        """Architecture-true encoder with random weights (benchmarks and tests only)."""
        arch = json.loads(json.dumps(cls.default_arch if arch is None else arch))  # callers keep theirs
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls.build_random(arch, {"init": "random", "seed": seed, "arch": arch})

    @classmethod
    def random_from_settings(cls, settings: dict[str, Any]) -> "PretrainedEncoder":
        return cls.random(settings.get("arch"), seed=int(settings.get("seed", 0)))

    @classmethod
    def source_for(cls, settings: dict[str, Any]) -> WeightsSource:
        """The published checkpoint, or another hub repo of the same format named by ``repo``."""
        repo = settings.get("repo")
        if not repo or repo == cls.source.hub_repo:
            return cls.source
        return dataclasses.replace(cls.source, label=f"{cls.source.label} ({repo})",
                                   local_name=repo.replace("/", "--"), hub_repo=repo)

    @classmethod
    def from_config(cls, config: dict[str, Any], model_dir: Path | None = None) -> "PretrainedEncoder":
        settings = {k: v for k, v in config.items() if k != "license"}  # the licence is stated, not a setting
        if settings.get("init") == "random":
            return cls.random_from_settings(settings)
        if not settings.get("path") and cls.source.hub_repo:
            settings.setdefault("repo", cls.source.hub_repo)
        found = find_weights(cls.source_for(settings), settings.get("path"), model_dir, cls.missing_files)
        return cls.load(found, settings)

    def config(self) -> dict[str, Any]:
        return {**self.settings, "license": self.source.license}

    def describe(self) -> dict[str, Any]:
        weights = (self.settings.get("init") or self.settings.get("path") or self.settings.get("repo")
                   or self.source.local_name)
        return {**super().describe(), "weights": weights, "license": self.source.license}

    # ---- inference -------------------------------------------------------------------
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()  # not inference_mode: callers may feed these frames to trainable heads
    def encode(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        forward = self._forward
        if self.autocast_dtype is not None:
            def forward(x: torch.Tensor) -> torch.Tensor:
                # mixed precision inside the encoder only: what leaves it, and everything after, is fp32
                with torch.autocast(x.device.type, dtype=self.autocast_dtype):
                    return self._forward(x).float()
        out = encode_at_real_length(waveforms.float(), lengths, forward, self.sample_rate, self.frame_rate)
        if waveforms.device.type == "cpu":
            release_freed_heap()
        return out

    def save(self, model_dir: Path) -> None:
        # A checkpoint named relative to the model directory travels with the model.
        path = self.settings.get("path")
        if path and not Path(path).expanduser().is_absolute() and self.resolved is not None:
            copy_into_model_dir(self.resolved, path, model_dir)

    @property
    def cache_id(self) -> str:
        base = super().cache_id
        base = f"{base}-{self.weights_id}" if self.weights_id else base
        # autocast changes the frames; cached fp32 features must not answer for it, nor the reverse
        return f"{base}-{str(self.autocast_dtype).removeprefix('torch.')}" if self.autocast_dtype else base


AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def set_autocast(encoders, precision: str | None) -> None:
    """Run every pretrained encoder among ``encoders`` under autocast at ``precision``
    ("fp16", "bf16"; None or "fp32": off). Others (the weight-free ones) stay fp32."""
    if precision not in (None, "fp32", *AUTOCAST_DTYPES):
        raise ValueError(f"precision must be fp32, fp16 or bf16, not {precision!r}")
    for encoder in encoders:
        if isinstance(encoder, PretrainedEncoder):
            encoder.autocast_dtype = AUTOCAST_DTYPES.get(precision or "fp32")
