"""M2D-CLAP ViT-B fine-tuned on AudioSet (`m2d_clap_vit_base-80x1001p16x16-240128_AS-FT_enconly`).

16 kHz in; a log-mel front end (n_fft 400, hop 160, 80 mels, 50-8000 Hz) normalised with
the checkpoint's own ``norm_stats``; 16x16 patches; the five frequency patches of one
time step concatenated to a 3840-d frame at 6.25 Hz. Inputs longer than the model's
1001 frames are encoded in consecutive 1001-frame chunks, as the official runtime does.

The official `.pth` is a flat state dict written by the EVAR fine-tuner: the ViT under
``module.ar.runtime.backbone.`` (``norm_stats`` among it), the mel front end's buffers
under ``module.ar.runtime.to_spec.`` and an AudioSet head under ``module.head.``; we read
only the ViT. Its input and patch sizes are not stored in the file: as in the official
loader they come from the folder name (``...-80x1001p16x16-...``).

Weights: NTT's licence (LICENSE.pdf in github.com/nttcslab/m2d), which grants a
non-commercial licence to test, analyse and evaluate the method. Read it before use.
"""

from __future__ import annotations

import pickle
import re
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmmos_core.errors import ModelLoadError

from .checkpoints import PretrainedEncoder, WeightsSource, weights_fingerprint

OFFICIAL_NAME = "m2d_clap_vit_base-80x1001p16x16-240128_AS-FT_enconly"
LICENSE = "NTT licence for non-commercial testing and evaluation (LICENSE.pdf in nttcslab/m2d)"
SOURCE = WeightsSource(
    label="M2D-CLAP ViT-B (AudioSet fine-tuned)",
    local_name=OFFICIAL_NAME,
    fetch_command=("mkdir -p {parent} && cd {parent} && curl -LO https://github.com/nttcslab/m2d/releases/download/"
                   f"v0.3.0/{OFFICIAL_NAME}.zip && unzip {OFFICIAL_NAME}.zip"),
    license=LICENSE,
)
BACKBONE_PREFIXES = ("module.ar.runtime.backbone.", "backbone.")
DEFAULT_NORM_STATS = (-7.1, 4.2)  # what the official loader assumes for checkpoints without norm_stats

VIT_BASE: dict[str, Any] = {"embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_ratio": 4.0}

# Front end per sample rate, as the official runtime sets it up.
FRONT_ENDS = {
    16000: {"n_fft": 400, "hop": 160, "n_mels": 80, "f_min": 50.0, "f_max": 8000.0},
    32000: {"n_fft": 800, "hop": 320, "n_mels": 80, "f_min": 50.0, "f_max": 16000.0},
}

_NAME = re.compile(r"^[^-]+-(\d+)x(\d+)p(\d+)x(\d+)(?:p(\d+)k)?(?:[-p_]|$)")


def parse_name(name: str) -> tuple[tuple[int, int], tuple[int, int], int]:
    """``m2d_..._base-80x1001p16x16[p32k]-...`` -> ((80, 1001), (16, 16), 16000)."""
    m = _NAME.match(name)
    if not m:
        raise ModelLoadError(f"{name}: M2D checkpoints are identified by their folder name, like "
                             f"{OFFICIAL_NAME}; this one does not follow it (input and patch sizes unknown)")
    f, t, pf, pt, sr = m.groups()
    return (int(f), int(t)), (int(pf), int(pt)), int(sr or 16) * 1000


class LogMel(nn.Module):
    """Power mel spectrogram (centred, reflect-padded STFT; Slaney mel filters), then log(x + eps)."""

    def __init__(self, sample_rate: int, n_fft: int, hop: int, n_mels: int, f_min: float, f_max: float):
        super().__init__()
        import librosa

        self.n_fft, self.hop = n_fft, hop
        fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max,
                                 htk=False, norm="slaney")
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        self.register_buffer("fb", torch.from_numpy(fb).float(), persistent=False)  # [n_mels, n_freq]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x, self.n_fft, self.hop, self.n_fft, self.window, center=True, pad_mode="reflect",
                          return_complex=True)
        power = spec.real.square() + spec.imag.square()  # [B, n_freq, T]
        mel = torch.matmul(self.fb, power)
        return torch.log(mel + torch.finfo(torch.float32).eps)


class _PatchEmbed(nn.Module):
    def __init__(self, patch: tuple[int, int], dim: int):
        super().__init__()
        self.proj = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)


class M2DBackbone(nn.Module):
    """The M2D ViT with the official tensor names (cls_token, pos_embed, patch_embed.proj, blocks, norm)."""

    def __init__(self, input_size: tuple[int, int], patch: tuple[int, int], embed_dim: int = 768, depth: int = 12,
                 num_heads: int = 12, mlp_ratio: float = 4.0):
        super().__init__()
        from timm.models.vision_transformer import Block

        self.input_size, self.patch = tuple(input_size), tuple(patch)
        self.grid = (input_size[0] // patch[0], input_size[1] // patch[1])
        self.patch_embed = _PatchEmbed(self.patch, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1], embed_dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList([
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6))
            for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.register_buffer("norm_stats", torch.tensor(DEFAULT_NORM_STATS))

    def encode_chunk(self, lms: torch.Tensor) -> torch.Tensor:
        """[B, 1, F, t] normalised log-mel (t <= input frames) -> [B, t // patch_t, F/patch_f * D]."""
        x = self.patch_embed.proj(lms)  # [B, D, f, t']
        batch, dim, fbins, frames = x.shape
        x = x.flatten(2).transpose(1, 2)  # patches ordered frequency-major: index = f * t' + t
        # A shorter input keeps the first t' time positions of every frequency row.
        pos = self.pos_embed[:, 1:, :].reshape(1, self.grid[0], self.grid[1], dim)[:, :, :frames, :]
        x = x + pos.reshape(1, fbins * frames, dim)
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(batch, -1, -1)
        x = torch.cat([cls, x], dim=1)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)[:, 1:, :]  # the CLS token is not a time step
        return x.reshape(batch, fbins, frames, dim).permute(0, 2, 1, 3).reshape(batch, frames, fbins * dim)


def _torch_load(path: Path, weights_only: bool) -> Any:
    """Memory-mapped where the file is in torch's zip format (what `torch.save` writes since
    torch 1.6): the tensors the ViT adopts are then the file's own pages, shared by every
    process that loads the same file and dropped by the kernel under pressure instead of
    swapped. Resident memory is the same once a forward has touched every weight; the load
    itself is faster and holds only what it touches. A legacy-format file is read whole."""
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
    return torch.load(path, map_location="cpu", weights_only=weights_only)


def _load_pth(path: Path) -> dict[str, Any]:
    try:
        return _torch_load(path, weights_only=True)
    except pickle.UnpicklingError:
        # Some official files also pickle the training arguments (argparse.Namespace),
        # which only the unrestricted unpickler reads; the official loader does the same.
        pass
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise ModelLoadError(f"{path}: not a readable PyTorch checkpoint ({exc})") from None
    try:
        return _torch_load(path, weights_only=False)
    except Exception as exc:  # any unpickling failure means the same to the user
        raise ModelLoadError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None


def backbone_state(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else {}
    for prefix in BACKBONE_PREFIXES:
        if any(k.startswith(prefix) for k in state):
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


def _weights_file(path: Path) -> Path | None:
    if path.is_file():
        return path if path.suffix == ".pth" else None
    files = sorted(path.glob("*.pth")) if path.is_dir() else []
    return files[0] if len(files) == 1 else None


class M2DEncoder(PretrainedEncoder):
    kind = "m2d"
    source = SOURCE

    def __init__(self, backbone: M2DBackbone, sample_rate: int, settings: dict[str, Any], weights_id: str = "",
                 resolved: Path | None = None):
        super().__init__(settings, weights_id, resolved)
        self.backbone = backbone
        front = FRONT_ENDS.get(sample_rate)
        if front is None:
            raise ModelLoadError(f"M2D at {sample_rate} Hz is not supported (known: {sorted(FRONT_ENDS)})")
        if front["n_mels"] != backbone.input_size[0]:
            raise ModelLoadError(f"M2D input has {backbone.input_size[0]} frequency bins; the front end makes "
                                 f"{front['n_mels']}")
        self.to_spec = LogMel(sample_rate, **front)
        self.sample_rate = sample_rate
        self.frame_rate = sample_rate / front["hop"] / backbone.patch[1]
        self.dim = backbone.patch_embed.proj.out_channels * backbone.grid[0]
        self.num_layers = 1

    # ---- construction ----------------------------------------------------------------
    @classmethod
    def missing_files(cls, path: Path) -> list[str]:
        if path.is_dir() and len(list(path.glob("*.pth"))) > 1:
            return ["a single .pth file (found several: point 'path' at one)"]
        return [] if _weights_file(path) is not None else ["a .pth weights file"]

    @classmethod
    def random_from_settings(cls, settings: dict[str, Any]) -> "M2DEncoder":
        return cls.random(settings.get("name", OFFICIAL_NAME), settings.get("arch"), seed=int(settings.get("seed", 0)))

    @classmethod
    def load(cls, found: Path, settings: dict[str, Any]) -> "M2DEncoder":
        weights = _weights_file(found)
        input_size, patch, sample_rate = parse_name(weights.parent.name)
        arch = {**VIT_BASE, **(settings.get("arch") or {})}
        # Built without storage, then the checkpoint's own tensors become its parameters: a
        # random init and a loaded copy are never both in memory (350 MB at full size).
        with torch.device("meta"):
            backbone = M2DBackbone(input_size, patch, **arch)
        state = backbone_state(_load_pth(weights))
        if "norm_stats" not in state:
            state["norm_stats"] = torch.tensor(DEFAULT_NORM_STATS)
        expected = backbone.state_dict()
        missing = [k for k in expected if k not in state]
        if missing:
            raise ModelLoadError(f"{weights}: not a complete M2D checkpoint for a {arch['depth']}-block ViT "
                                 f"({len(missing)} tensors missing: {', '.join(missing[:12])}"
                                 f"{' ...' if len(missing) > 12 else ''})")
        wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
                 if tuple(state[k].shape) != tuple(v.shape)]
        if wrong:
            raise ModelLoadError(f"{weights}: tensors do not fit {weights.parent.name} with arch {arch}: "
                                 f"{'; '.join(wrong[:6])}")
        backbone.load_state_dict({k: state[k].float() if state[k].is_floating_point() else state[k]
                                  for k in expected}, assign=True)
        unset = [n for n, t in [*backbone.named_parameters(), *backbone.named_buffers()] if t.is_meta]
        if unset:  # a tensor the checkpoint format does not carry would otherwise fail at first use
            raise ModelLoadError(f"{weights}: no values for {', '.join(unset[:6])}")
        return cls(backbone, sample_rate, settings, weights_fingerprint(weights), found)

    @classmethod
    def random(cls, name: str = OFFICIAL_NAME, arch: dict[str, Any] | None = None, seed: int = 0) -> "M2DEncoder":
        """Architecture-true M2D with random weights (benchmarks and tests only)."""
        input_size, patch, sample_rate = parse_name(name)
        arch = {**VIT_BASE, **(arch or {})}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            backbone = M2DBackbone(input_size, patch, **arch)
        return cls(backbone, sample_rate, {"init": "random", "seed": seed, "name": name, "arch": arch})

    # ---- inference -------------------------------------------------------------------
    def normalised_log_mel(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.backbone.norm_stats[0], self.backbone.norm_stats[1]
        return ((self.to_spec(x) - mean) / std).unsqueeze(1)  # [B, 1, F, T]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        lms = self.normalised_log_mel(x)
        unit = self.backbone.input_size[1]
        patch_t = self.backbone.patch[1]
        total = lms.shape[-1]
        # Only the last chunk is padded up to whole patches; a full 1001-frame chunk drops its
        # last 9 frames (1001 = 62 * 16 + 9), exactly as the official runtime does.
        pad = (patch_t - (total % unit % patch_t)) % patch_t
        if pad:
            lms = nn.functional.pad(lms, (0, pad))
        chunks = [self.backbone.encode_chunk(lms[..., i:i + unit]) for i in range(0, total, unit)]
        return torch.cat(chunks, dim=1).unsqueeze(1)  # [B, 1, T, 3840]


def save_m2d_checkpoint(encoder: M2DEncoder, parent: Path, name: str = OFFICIAL_NAME,
                        head_classes: int = 527) -> Path:
    """Write the official EVAR fine-tuned layout: ``<parent>/<name>/weights_*.pth``."""
    folder = Path(parent) / name
    folder.mkdir(parents=True, exist_ok=True)
    state: dict[str, torch.Tensor] = {}
    for k, v in encoder.backbone.state_dict().items():
        state["module.ar.runtime.backbone." + k] = v.detach().cpu().clone()
    state["module.ar.runtime.to_spec.mel_basis"] = encoder.to_spec.fb.detach().cpu().clone()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        state["module.head.norm.running_mean"] = torch.zeros(encoder.dim)
        state["module.head.norm.running_var"] = torch.ones(encoder.dim)
        state["module.head.mlp.mlp.0.weight"] = torch.randn(head_classes, encoder.dim) * 2e-5
        state["module.head.mlp.mlp.0.bias"] = torch.zeros(head_classes)
    path = folder / "weights_ep0it0-0.00000.pth"
    torch.save(state, path)
    return path

