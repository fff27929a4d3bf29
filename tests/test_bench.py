"""`mmmos bench`: the arithmetic floor is counted from real layer shapes, and every key a
reader of the model card relies on is computed (on small models; timings are not tested)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mmmos_core.arithmetic_floor import arithmetic_floor, count_encoder_flops
from mmmos_core.bench import corpus_lengths, run_bench
from mmmos_core.encoders.m2d import M2DEncoder
from mmmos_core.model.trienc import TINY_M2D, TINY_M2D_NAME


def test_encoder_flops_equal_the_sum_over_its_layer_shapes():
    """A tiny M2D on 10 s: mel filterbank matmul, 16x16 patch conv, then per ViT block the
    qkv, attention (scores and weighted sum), projection and MLP matmuls."""
    encoder = M2DEncoder.random(TINY_M2D_NAME, TINY_M2D).freeze()
    d, hidden = TINY_M2D["embed_dim"], int(TINY_M2D["embed_dim"] * TINY_M2D["mlp_ratio"])
    mels, bins, frames = 80, 201, 1001  # n_fft 400 -> 201 bins; 10 s at hop 160 -> 1001 frames
    patches = (mels // 16) * (frames // 16)  # the 9 frames past 62 whole patches are dropped
    tokens = patches + 1  # CLS
    block = (2 * tokens * d * 3 * d  # qkv
             + 2 * 2 * tokens * tokens * d  # q @ k^T and softmax @ v over all heads
             + 2 * tokens * d * d  # output projection
             + 2 * 2 * tokens * d * hidden)  # MLP in and out
    expected = 2 * mels * bins * frames + 2 * patches * 16 * 16 * d + TINY_M2D["depth"] * block
    counted = count_encoder_flops(encoder, seconds=10.0)
    assert counted.flops == expected
    assert counted.gemm_shape == (tokens, d, 3 * d)  # the qkv projection carries the most matmul FLOPs


def test_floor_is_the_counted_flops_over_the_measured_rates():
    encoder = M2DEncoder.random(TINY_M2D_NAME, TINY_M2D).freeze()
    floor = arithmetic_floor({"m2d": encoder})
    rate = floor["gemm_gflops_by_encoder"]["m2d"]
    assert rate > 0
    assert floor["floor_s"] == pytest.approx(floor["encoder_gflop"]["m2d"] / rate, rel=1e-2)
    assert floor["gemm_gflops"] == pytest.approx(rate, rel=1e-2)


def test_corpus_lengths_span_short_clips_to_three_windows():
    lengths = corpus_lengths(32)
    assert len(lengths) == 32 and all(2.0 <= s <= 30.0 for s in lengths)
    assert min(lengths) < 10.0 < max(lengths) and max(lengths) > 20.0
    assert corpus_lengths(32) == lengths  # same clips in every run


def test_bench_reports_floor_throughput_and_memory_keys(tmp_path):
    from mmmos_core.model.trienc import build_trienc_dir

    build_trienc_dir(tmp_path / "tiny", members=2)  # the real encoders' architectures, tiny: they multiply matrices
    result = run_bench(str(tmp_path / "tiny"), runs=1, with_cold_start=False, corpus_clips=4)
    for key in ("latency_s", "gemm_gflops", "floor_s", "latency_over_floor", "ensemble_ratio_8v1",
                "clips_per_min_single", "clips_per_min_batched", "batched_max_abs_score_diff"):
        assert key in result, key
    assert set(result["floor_s_by_encoder"]) == {"wavlm", "muq", "m2d"}
    assert result["latency_over_floor"] == pytest.approx(result["latency_s"] / result["floor_s"], rel=1e-2)
    assert result["batched_max_abs_score_diff"] <= 1e-4
    assert result["clips_per_min_single"] > 0 and result["clips_per_min_batched"] > 0
    assert "rss_after_batch_growth_mb" in result  # Linux CI; /proc is read
    # measured as the product runs it: the CPU default, one window per encoder forward
    assert result["windows_per_forward_by_encoder"] == {"wavlm": 1, "muq": 1, "m2d": 1}
    assert result["windows_per_forward"] == 1 and result["clips_per_call"] == 8


def test_fresh_probe_peak_is_its_own_not_the_benchs(tmp_path):
    """A child started by fork/vfork + exec inherits its parent's ru_maxrss: the probe must
    read its own peak, or the bench's loaded model would count as the probe's."""
    import numpy as np

    from mmmos_core.bench import fresh_process_probe, rss_mb
    from mmmos_core.model.trienc import build_trienc_dir

    if rss_mb() is None:
        pytest.skip("needs /proc")
    build_trienc_dir(tmp_path / "tiny", members=2)
    ballast = np.ones(2048 * 2 ** 20 // 8)  # 2 GiB, touched: this process's peak is now above it
    result = fresh_process_probe(str(tmp_path / "tiny"))
    del ballast
    assert result["peak_rss_mb"] < 2048
    assert 0 < result["model_peak_mb"] < result["peak_rss_mb"]


def test_encoder_code_names_no_device_literally():
    """The GPU path is device-agnostic: tensors follow the model's device, never a hard-coded one."""
    root = Path(__file__).resolve().parent.parent / "mmmos_core"
    files = [*(root / "encoders").glob("*.py"), root / "bench.py", root / "arithmetic_floor.py",
             root / "model" / "features.py"]
    offenders = [f"{f.name}:{i}" for f in files for i, line in enumerate(f.read_text().splitlines(), 1)
                 if re.search(r"\.cuda\(|device=['\"]cuda", line)]
    assert offenders == []


def test_an_encoder_without_matrix_products_gets_no_floor():
    """The lite model's acoustic encoder runs on FFTs and statistics: a matmul floor would mean nothing."""
    from mmmos_core.encoders import build_encoder

    assert arithmetic_floor({"acoustic": build_encoder("acoustic")}) == {}

