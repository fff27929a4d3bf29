"""The arithmetic floor of a model's encoders: their FLOPs over this machine's matmul rate.

FLOPs are counted, not estimated: one 10 s window goes through each encoder under
torch's `FlopCounterMode`, which adds up every matrix multiply, batched matmul,
convolution and fused attention the forward actually dispatches, from the shapes of its
operands (2 FLOPs per multiply-add; a k x k convolution counts as the direct method
would compute it, so a Winograd kernel can beat the floor; fused attention counts its two
matmuls). Element-wise work (norms,
activations, softmax, the STFT) is not counted: the floor is the time the multiplies
alone would take.

The rate is measured, not quoted: a plain fp32 ``torch.mm`` of each encoder's dominant
shape (the (M, K, N) that carries most of its FLOPs in that same forward), timed on the
model's device. ``floor_s`` is the sum over encoders of FLOPs / that encoder's rate, and
``gemm_gflops`` the one rate that gives the same floor.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from .encoders.base import Encoder

# torch counts the fused attention kernels of CUDA but not the one a CPU runs (timm's ViT,
# hence M2D, takes it): the same formula, 2 x 2 x B x H x Lq x Lk x E, applies.
def _sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


_CPU_SDPA = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
_EXTRA_FORMULAS = {_CPU_SDPA: _sdpa_flops} if _CPU_SDPA is not None else {}

_MATMULS = {torch.ops.aten.mm.default: (0, 1), torch.ops.aten.addmm.default: (1, 2)}


class _GemmShapes(TorchDispatchMode):
    """Records the FLOPs each matmul shape (M, K, N) carries in a forward pass.

    Under inference mode a linear layer reaches dispatch whole (``aten.linear``, weight
    [N, K]) rather than as the ``mm`` it becomes, so both spellings are read.
    """

    def __init__(self):
        super().__init__()
        self.flops: Counter[tuple[int, int, int]] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        shape = None
        if func is torch.ops.aten.linear.default:
            x, weight = args[0], args[1]
            shape = (x.numel() // max(x.shape[-1], 1), x.shape[-1], weight.shape[0])
        elif func in _MATMULS:
            a, b = (args[i] for i in _MATMULS[func])
            shape = (a.shape[0], a.shape[1], b.shape[1])
        if shape is not None:
            self.flops[shape] += 2 * shape[0] * shape[1] * shape[2]
        return func(*args, **(kwargs or {}))


@dataclass
class EncoderFlops:
    flops: int  # one window, everything FlopCounterMode counts
    gemm_shape: tuple[int, int, int]  # (M, K, N) carrying the most matmul FLOPs


def count_encoder_flops(encoder: Encoder, seconds: float = 10.0, device: torch.device | str = "cpu") -> EncoderFlops:
    """FLOPs of one ``seconds``-long window through ``encoder``, from the shapes it really runs."""
    samples = int(round(seconds * encoder.sample_rate))
    generator = torch.Generator().manual_seed(0)
    x = (0.1 * torch.randn(1, samples, generator=generator)).to(device)
    lengths = torch.tensor([samples], device=device)
    counter, shapes = FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS), _GemmShapes()
    with torch.inference_mode(), counter, shapes:
        encoder.encode(x, lengths)
    dominant = max(shapes.flops, key=shapes.flops.get) if shapes.flops else (1, 1, 1)
    return EncoderFlops(int(counter.get_total_flops()), dominant)


def matmul_gflops(shape: tuple[int, int, int], device: torch.device | str = "cpu", min_s: float = 0.3,
                  runs: int = 3) -> float:
    """Median GFLOP/s of a plain fp32 ``a @ b`` with ``a`` [M, K] and ``b`` [K, N]."""
    m, k, n = shape
    device = torch.device(device)
    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    torch.mm(a, b)  # warm-up: first call pays kernel selection and allocation
    sync()
    t = time.perf_counter()
    torch.mm(a, b)
    sync()
    reps = max(1, int(min_s / max(time.perf_counter() - t, 1e-6)))
    rates = []
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        sync()
        rates.append(2 * m * k * n * reps / (time.perf_counter() - t) / 1e9)
    return statistics.median(rates)


def arithmetic_floor(encoders: dict[str, Encoder], device: torch.device | str = "cpu",
                     seconds: float = 10.0) -> dict[str, object]:
    """Bench keys: ``gemm_gflops``, ``floor_s`` and their per-encoder parts, for one window.

    Only encoders that multiply matrices have a matmul floor: one that runs on FFTs and
    statistics (the lite model's acoustic encoder) would get a meaningless one, so it is
    left out, and a model of such encoders alone gets no floor keys at all."""
    counted = {name: count_encoder_flops(enc, seconds, device) for name, enc in encoders.items()}
    counted = {name: c for name, c in counted.items() if c.gemm_shape != (1, 1, 1)}
    if not counted:
        return {}
    rates = {name: matmul_gflops(c.gemm_shape, device) for name, c in counted.items()}
    floors = {name: c.flops / 1e9 / rates[name] for name, c in counted.items()}
    total_gflop = sum(c.flops for c in counted.values()) / 1e9
    floor_s = sum(floors.values())
    return {
        "gemm_gflops": _sig(total_gflop / max(floor_s, 1e-12)),
        "floor_s": _sig(floor_s),
        "encoder_gflop": {n: _sig(c.flops / 1e9) for n, c in counted.items()},
        "gemm_shapes": {n: list(c.gemm_shape) for n, c in counted.items()},
        "gemm_gflops_by_encoder": {n: _sig(r) for n, r in rates.items()},
        "floor_s_by_encoder": {n: _sig(f) for n, f in floors.items()},
    }


def _sig(x: float, digits: int = 5) -> float:
    """Rounded to significant digits: a floor of 2 s and one of 0.7 ms keep the same precision."""
    return float(f"{x:.{digits}g}")
