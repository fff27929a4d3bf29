"""`MMMOSModel`: shared frozen encoders + an ensemble of members, stored as a directory.

A model directory holds ``mmmos.json`` (the manifest: encoders, window settings,
target statistics, and per member its encoder subset, aggregator, loss, weights file
and validation metrics), ``members/*.safetensors``, ``router.safetensors`` when some
members serve only some domains (`mmmos_core.model.router`), and whatever files the
encoders save. `save_pretrained` / `from_pretrained` round-trip it exactly.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mmmos_core.axes import AXES, SCALE_MAX, SCALE_MIN
from mmmos_core.encoders import Encoder, build_encoder
from mmmos_core.encoders.checkpoints import release_freed_heap
from mmmos_core.errors import AudioInputError, ModelLoadError
from mmmos_core.tables import read_records

from .audio import DEFAULT_MAX_DURATION_S, Audio, AudioLike, load_audio
from .cache import EmbeddingCache
from .features import ClipFeatures, WindowSettings, extract_features, extract_features_many, windows_per_forward
from .member import FeatureBatch, Member, MemberConfig
from .results import Prediction
from .router import DomainRouter, RouterConfig, axis_weights, check_routing
from .timeline import attach_windows

CONTEXT_CLIPS = "context_clips.jsonl"
MANIFEST = "mmmos.json"
# 2: members may serve chosen domains, weighed by a router. A model without a router is
# still written as 1, so that an older MMMOS reads it; an older MMMOS refuses a routed
# model rather than average its members as equals.
FORMAT_VERSION = 2
SHORT_CLIP_S = 1.0
# Precisions member weights may be stored in. They are always computed in float32: a
# CPU without AVX-512 runs half-precision matmuls hundreds of times slower.
WEIGHTS_DTYPES = {"float32": torch.float32, "float16": torch.float16}


@dataclass
class ModelConfig:
    name: str
    encoders: dict[str, dict[str, Any]]  # name -> {"kind": ..., "config": {...}}
    members: list[MemberConfig]
    target_mean: list[float] = field(default_factory=lambda: [5.5] * len(AXES))
    target_std: list[float] = field(default_factory=lambda: [1.0] * len(AXES))
    windows: WindowSettings = field(default_factory=WindowSettings)
    description: str = ""
    note: str = ""  # shown with every prediction, e.g. that this is the offline demo model
    licenses: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    weights_dtype: str = "float32"  # how members/*.safetensors store the weights (see `store_weights_as`)
    router: RouterConfig | None = None  # present when some members serve only some domains
    format_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["members"] = [m.to_dict() for m in self.members]
        d["axes"] = list(AXES)
        if self.router is None:
            del d["router"]
            d["format_version"] = 1
        else:
            d["router"] = self.router.to_dict()
            d["format_version"] = FORMAT_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        if d.get("format_version", 1) > FORMAT_VERSION:
            raise ModelLoadError(f"model format {d['format_version']} is newer than this MMMOS understands")
        if list(d.get("axes", AXES)) != list(AXES):
            raise ModelLoadError(f"model axes {d.get('axes')} differ from {list(AXES)}")
        if d.get("weights_dtype", "float32") not in WEIGHTS_DTYPES:
            raise ModelLoadError(f"member weights stored as {d['weights_dtype']!r}; "
                                 f"this MMMOS reads {', '.join(WEIGHTS_DTYPES)}")
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["members"] = [MemberConfig.from_dict(m) for m in d["members"]]
        known["windows"] = WindowSettings(**d.get("windows", {}))
        if d.get("router") is not None:
            known["router"] = RouterConfig.from_dict(d["router"])
        return cls(**known)


class MMMOSModel(nn.Module):
    # Windows per encoder forward (None: `features.windows_per_forward`'s device-aware
    # default, one window at a time for the pretrained encoders on a CPU, 8 on a GPU).
    # Several clips scored together share decoding, window cutting and the members either way.
    windows_per_forward: int | None = None

    def __init__(self, config: ModelConfig, encoders: dict[str, Encoder], members: list[Member],
                 cache: EmbeddingCache | None = None, router: DomainRouter | None = None):
        super().__init__()
        if not members:
            raise ModelLoadError(f"model {config.name!r} has no members")
        if router is not None and router.config.encoder not in encoders:
            raise ModelLoadError(f"the router reads encoder {router.config.encoder!r}, which the model does not load")
        check_routing([m.config.domains for m in members], router.config if router is not None else None)
        self.config = config
        self.config.router = router.config if router is not None else None
        self.encoders = nn.ModuleDict(encoders)
        self.members = nn.ModuleList(members)
        self.router = router
        self.cache = cache if cache is not None else EmbeddingCache()
        self.register_buffer("target_mean", torch.tensor(config.target_mean, dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor(config.target_std, dtype=torch.float32))
        self.max_duration_s: float | None = DEFAULT_MAX_DURATION_S
        # Optional peer (`mmmos_core.peers`), scored on the same decoded audio as the ensemble.
        self.reference = None
        self.eval()

    def configure(self, *, max_duration_s: float | None = DEFAULT_MAX_DURATION_S, reference=None) -> "MMMOSModel":
        """Run-time options, set once while loading (see `mmmos_core.load_model`)."""
        self.max_duration_s = max_duration_s
        self.reference = reference
        return self

    # ---- construction -------------------------------------------------------------
    @staticmethod
    def encoder_shapes(encoders: dict[str, Encoder]) -> dict[str, tuple[int, int]]:
        return {n: (e.num_layers, e.dim) for n, e in encoders.items()}

    @classmethod
    def from_pretrained(cls, path_or_id: str | os.PathLike, device: str | torch.device | None = None,
                        cache: EmbeddingCache | None = None, *,
                        max_duration_s: float | None = DEFAULT_MAX_DURATION_S, reference=None) -> "MMMOSModel":
        from .registry import resolve_model_dir

        model_dir = resolve_model_dir(path_or_id)
        manifest = model_dir / MANIFEST
        try:
            config = ModelConfig.from_dict(json.loads(manifest.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"{manifest}: not a readable MMMOS manifest ({exc})") from None
        encoders = {name: build_encoder(spec["kind"], spec.get("config", {}), model_dir)
                    for name, spec in config.encoders.items()}
        shapes = cls.encoder_shapes(encoders)
        members = []
        for mc in config.members:
            member = Member(mc, shapes)
            weights = model_dir / mc.weights
            if not weights.exists():
                raise ModelLoadError(f"{weights}: weights of member {mc.name!r} are missing")
            state = load_file(str(weights))
            result = member.load_state_dict(state, strict=False)
            if result.missing_keys or result.unexpected_keys:
                raise ModelLoadError(f"{weights}: does not match member {mc.name!r} "
                                     f"(missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]})")
            members.append(member.eval())
        router = DomainRouter.load(config.router, model_dir) if config.router is not None else None
        model = cls(config, encoders, members, cache, router).configure(max_duration_s=max_duration_s,
                                                                        reference=reference)
        model.model_dir = model_dir
        return model.to(device) if device is not None else model

    def store_weights_as(self, dtype: str) -> "MMMOSModel":
        """Store member weights in ``dtype`` ("float32" or "float16") from now on.

        The weights in memory are rounded to it too, so that this model already predicts
        exactly what its saved copy will once loaded; computation stays in float32.
        float16 halves the files (the shipped lite model must stay a few MB) at a relative
        rounding error of about 2**-11 per weight; a weight beyond its range is an error.
        """
        if dtype not in WEIGHTS_DTYPES:
            raise ValueError(f"weights dtype {dtype!r}: choose one of {', '.join(WEIGHTS_DTYPES)}")
        with torch.no_grad():
            for member in self.members:
                for name, tensor in member.state_dict().items():
                    if tensor.is_floating_point():
                        rounded = tensor.to(WEIGHTS_DTYPES[dtype])
                        if not torch.isfinite(rounded).all() and torch.isfinite(tensor).all():
                            raise ValueError(f"member {member.config.name!r}: {name} does not fit in {dtype}")
                        tensor.copy_(rounded)
        self.config.weights_dtype = dtype
        return self

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        directory = Path(directory)
        (directory / "members").mkdir(parents=True, exist_ok=True)
        stored = WEIGHTS_DTYPES[self.config.weights_dtype]
        for member in self.members:
            rel = member.config.weights or f"members/{member.config.name}.safetensors"
            member.config.weights = rel
            # Loading copies them back into the float32 parameters.
            state = {k: (v.to(stored) if v.is_floating_point() else v).detach().cpu().contiguous()
                     for k, v in member.state_dict().items()}
            save_file(state, str(directory / rel))
        if self.router is not None:
            self.router.save(directory)
        for name, encoder in self.encoders.items():
            encoder.save(directory)
            self.config.encoders[name]["config"] = encoder.config()
        self.config.members = [m.config for m in self.members]
        tmp = directory / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        os.replace(tmp, directory / MANIFEST)
        return directory

    def with_members(self, indices: Iterable[int]) -> "MMMOSModel":
        """A model over the same encoder instances with a chosen list of members (repeats allowed)."""
        chosen = [self.members[i] for i in indices]
        config = ModelConfig.from_dict(self.config.to_dict())
        config.members = [m.config for m in chosen]
        router = self.router if any(m.config.domains for m in chosen) else None
        model = MMMOSModel(config, dict(self.encoders.items()), chosen, self.cache, router)
        return model.to(self.device)

    # ---- properties ---------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name

    @property
    def device(self) -> torch.device:
        return self.target_mean.device

    @property
    def member_names(self) -> list[str]:
        return [m.config.name for m in self.members]

    @property
    def needs_sequence(self) -> bool:
        return any(m.uses_sequence for m in self.members)

    # ---- inference ----------------------------------------------------------------
    def load(self, x: AudioLike, name: str | None = None, start_time: float | None = None,
             end_time: float | None = None) -> Audio:
        audio = load_audio(x, name=name, max_duration_s=self.max_duration_s,
                           start_time=start_time, end_time=end_time)
        if audio.duration_s < SHORT_CLIP_S and "short_padded" not in audio.flags:
            audio.flags.append("short_padded")
        return audio

    def features(self, audio: Audio) -> ClipFeatures:
        return extract_features(dict(self.encoders.items()), audio, self.config.windows, self.cache)

    def denormalise(self, z: torch.Tensor) -> torch.Tensor:
        return (z * self.target_std + self.target_mean).clamp(SCALE_MIN, SCALE_MAX)

    @torch.inference_mode()
    def member_scores(self, clips: list[ClipFeatures]) -> torch.Tensor:
        """[M, clips, 4] scores on the 1-10 scale; the encoders already ran once per clip."""
        batch = FeatureBatch.from_clips(clips, with_sequence=self.needs_sequence, device=self.device)
        windows = self.denormalise(torch.stack([member(batch) for member in self.members]))  # [M, B, 4]
        # Each window is put on the 1-10 scale before the length-weighted mean, so a clip's
        # score is exactly the mean of the window scores its timeline shows (a member far below
        # 1 in one noisy window cannot pull the other windows down).
        return torch.stack([batch.clip_average(w) for w in windows])

    @torch.inference_mode()
    def domain_probabilities(self, clips: list[ClipFeatures]) -> torch.Tensor | None:
        """[clips, domains] as the router hears them, or None for a model without a router."""
        return self.router.probabilities(clips).cpu() if self.router is not None else None

    def member_weights(self, probabilities: torch.Tensor) -> torch.Tensor:
        """[M, clips, axes]: how much each member's scores count in each clip's score (sums to 1
        over members), from the router's [clips, domains] probabilities."""
        return axis_weights([m.config.domains for m in self.members], probabilities, self.router.config)

    def predict(self, x: AudioLike, *, name: str | None = None, start_time: float | None = None,
                end_time: float | None = None, timeline: bool = False) -> Prediction:
        """Score one clip. Raises `AudioInputError` for input that cannot be scored.
        ``timeline``: also give each window's scores as ``Prediction.windows``."""
        audio = self.load(x, name, start_time, end_time)
        return self.predict_audio([audio], timeline=timeline)[0]

    def encoder_windows_per_forward(self) -> dict[str, int]:
        """Windows each encoder's forward takes here, as `predict_audio` runs it."""
        return {name: windows_per_forward(encoder, self.windows_per_forward)
                for name, encoder in self.encoders.items()}

    def predict_audio(self, audios: list[Audio], timeline: bool = False) -> list[Prediction]:
        # Windows of several clips may share encoder forwards (`windows_per_forward`).
        clips = extract_features_many(dict(self.encoders.items()), audios, self.config.windows, self.cache,
                                      self.windows_per_forward)
        predictions = self.predict_features(audios, clips, timeline=timeline)
        del clips
        if self.device.type == "cpu":
            # The encoders trim after each pass, but the features of a batch and the members'
            # work on them come after: without this a batch of 8 clips left ~200 MB resident.
            release_freed_heap()
        return predictions

    def predict_features(self, audios: list[Audio], clips: list[ClipFeatures],
                         timeline: bool = False) -> list[Prediction]:
        """Predictions from features already extracted (`mmmos_core.model.timeline` extracts them in
        chunks, with progress)."""
        scores = self.member_scores(clips).cpu().numpy()  # [M, C, 4]
        if self.router is None:
            predictions = [Prediction.from_member_scores(a.source, self.name, self.member_names, scores[:, i, :],
                                                         a.duration_s, a.flags, self.config.note)
                           for i, a in enumerate(audios)]
        else:
            probabilities = self.domain_probabilities(clips)
            weights = self.member_weights(probabilities).numpy()
            predictions = [Prediction.from_member_scores(
                a.source, self.name, self.member_names, scores[:, i, :], a.duration_s, a.flags, self.config.note,
                weights=weights[:, i, :], domains=dict(zip(self.router.domains, probabilities[i].tolist())),
                routed_axes=list(self.router.config.axes))
                for i, a in enumerate(audios)]
        if timeline:
            attach_windows(self, clips, predictions)
        if self.reference is not None:
            for prediction, reference in zip(predictions, self.reference.score(audios)):
                prediction.reference = reference
        return predictions

    def predict_many(self, items: Iterable[dict[str, Any]], chunk: int = 8) -> Iterator[Prediction | AudioInputError]:
        """items: dicts with ``path`` and optional ``start_time``/``end_time``. Yields in order;
        an input that cannot be scored yields its `AudioInputError` instead of stopping the run."""
        pending: list[tuple[int, Audio]] = []
        results: dict[int, Prediction | AudioInputError] = {}
        next_out = 0
        for i, item in enumerate(items):
            try:
                audio = self.load(item["path"], item.get("name"), item.get("start_time"), item.get("end_time"))
                pending.append((i, audio))
            except AudioInputError as exc:
                results[i] = exc
            if len(pending) >= chunk:
                results.update(zip([j for j, _ in pending], self.predict_audio([a for _, a in pending])))
                pending = []
            while next_out in results:
                yield results.pop(next_out)
                next_out += 1
        if pending:
            results.update(zip([j for j, _ in pending], self.predict_audio([a for _, a in pending])))
        while next_out in results:
            yield results.pop(next_out)
            next_out += 1

    def context_records(self) -> list[dict[str, Any]]:
        """Named recordings this model scored when it was built (``context_clips.jsonl`` in its
        directory, e.g. the lite model's validation recordings): what a new clip's scores can be
        placed among. Empty for a model without them."""
        path = getattr(self, "model_dir", None)
        if path is None or not (Path(path) / CONTEXT_CLIPS).is_file():
            return []
        return [r.fields for r in read_records(Path(path) / CONTEXT_CLIPS, what="context clips")]

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.config.description,
            "note": self.config.note,
            "licenses": self.config.licenses,
            "encoders": {n: e.describe() for n, e in self.encoders.items()},
            "members": [{"name": m.config.name, "encoders": m.config.encoders, "aggregator": m.config.aggregator,
                         "loss": m.config.loss, "validation": m.config.validation,
                         **({"domains": m.config.domains} if m.config.domains else {})} for m in self.members],
            **({"router": self.router.config.to_dict()} if self.router is not None else {}),
        }


def build_model(config: ModelConfig, encoders: dict[str, Encoder] | None = None, seed: int | None = None) -> MMMOSModel:
    """A fresh (untrained) model from a config; used by training and tests."""
    if encoders is None:
        encoders = {n: build_encoder(s["kind"], s.get("config", {})) for n, s in config.encoders.items()}
    if seed is not None:
        torch.manual_seed(seed)
    shapes = MMMOSModel.encoder_shapes(encoders)
    router = None
    if config.router is not None:
        router = DomainRouter(config.router, encoders[config.router.encoder].dim)
    return MMMOSModel(config, encoders, [Member(mc, shapes) for mc in config.members], router=router)
