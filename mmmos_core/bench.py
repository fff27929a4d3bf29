"""`mmmos bench`: speed and memory of a model, measured the same way every time.

A benchmark, not a test: it prints numbers and asserts nothing. The probe is a fixed
synthetic 10 s stereo-free clip at 44.1 kHz (tones, a noise floor and clicks), so the
full front door (decode-free input, resampling, windowing) is in the measured path.
Every ``*_mb`` field is in MiB (2^20 bytes).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np
import torch

from mmmos_core.model.cache import EmbeddingCache

PROBE_SR = 44100
PROBE_S = 10.0


def probe_clip(seconds: float = PROBE_S, sr: int = PROBE_SR, seed: int = 0) -> tuple[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    x = x + 0.01 * rng.standard_normal(len(t))
    x[:: sr // 4] += 0.5  # clicks every 250 ms: onsets for rhythm-sensitive encoders
    return sr, (x / np.abs(x).max() * 0.8).astype(np.float32)


def median_time(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm-up: first calls pay one-off allocation and kernel selection
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def rss_mb() -> float | None:
    """Resident memory of this process now (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20
    except OSError:
        return None


def corpus_lengths(count: int = 32, seed: int = 0) -> list[float]:
    """``count`` clip lengths from 2 to 30 s: short clips, full windows and ragged tails."""
    rng = np.random.default_rng(seed)
    return [round(float(s), 2) for s in rng.uniform(2.0, 30.0, count)]


def corpus_throughput(model, count: int = 32, windows_per_forward: int | None = None,
                      chunk: int = 8) -> dict[str, Any]:
    """Clips per minute over ``count`` mixed-length clips, one at a time and then batched.

    Single: each clip scored on its own. Batched: ``chunk`` clips per call, as
    `predict_many` and the batch engines send them, run as the product runs them: with
    ``windows_per_forward`` None each encoder forward takes the device-aware default (one
    window on a CPU, 8 on a GPU; `windows_per_forward` in the result says which). Same
    clips, same run, cache off; the scores of the two must agree within 1e-4.
    ``rss_after_batch_growth_mb``: resident memory after the batched pass minus before it.
    """
    from .model.cache import EmbeddingCache

    audios = [model.load(probe_clip(s, seed=i + 100), name=f"corpus_{i}") for i, s in enumerate(corpus_lengths(count))]
    model.cache = EmbeddingCache(max_items=0)

    def sync():
        if model.device.type == "cuda":
            torch.cuda.synchronize(model.device)

    model.predict_audio(audios[:1])  # warm-up
    t = time.perf_counter()
    single = [model.predict_audio([a])[0] for a in audios]
    sync()
    single_s = time.perf_counter() - t
    before = rss_mb()
    previous = model.windows_per_forward
    if windows_per_forward is not None:
        model.windows_per_forward = windows_per_forward
    used = model.encoder_windows_per_forward()
    try:
        t = time.perf_counter()
        batched = [p for i in range(0, count, chunk) for p in model.predict_audio(audios[i:i + chunk])]
        sync()
        batched_s = time.perf_counter() - t
    finally:
        model.windows_per_forward = previous
    after = rss_mb()
    diff = max(abs(a.scores[k] - b.scores[k]) for a, b in zip(single, batched) for k in a.scores)
    out = {
        "corpus_clips": count,
        "corpus_audio_s": round(sum(a.duration_s for a in audios), 2),
        "clips_per_min_single": round(60 * count / single_s, 3),
        "clips_per_min_batched": round(60 * count / batched_s, 3),
        "batched_over_single": round(single_s / batched_s, 4),
        "batched_max_abs_score_diff": float(f"{diff:.3g}"),
        "clips_per_call": chunk,
        "windows_per_forward": max(used.values()),
        "windows_per_forward_by_encoder": used,
    }
    if before is not None and after is not None:
        out["rss_after_batch_growth_mb"] = round(after - before, 1)
    return out


def autocast_check(model, precision: str, clip) -> dict[str, Any]:
    """Latency under autocast at ``precision`` and the largest score change from fp32."""
    from .encoders.checkpoints import set_autocast

    encoders = list(model.encoders.values())
    reference = model.predict(clip)
    set_autocast(encoders, precision)
    try:
        mixed = model.predict(clip)
        latency = median_time(lambda: model.predict(clip), 3)
    finally:
        set_autocast(encoders, None)
    diff = max(abs(reference.scores[k] - mixed.scores[k]) for k in reference.scores)
    return {"autocast": precision, "autocast_latency_s": round(latency, 5),
            "autocast_max_abs_score_diff": float(f"{diff:.3g}")}


# Runs in a fresh interpreter so that nothing this process already loaded or freed skews
# the numbers. Memory is read from /proc (Linux); elsewhere those fields are absent.
_FRESH_PROBE = r"""
import gc, json, resource, sys, time
t = time.perf_counter()
from mmmos_core import load_model
from mmmos_core.bench import probe_clip
from mmmos_core.model.cache import EmbeddingCache
from mmmos_core.encoders.checkpoints import release_freed_heap
model = load_model(sys.argv[1], device=sys.argv[2] or None)
out = {"cold_start_s": time.perf_counter() - t}

def rss_mb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20
    except OSError:
        return None

def peak_rss_mb():
    # This process's own peak (VmHWM). Not ru_maxrss: a child started by fork/vfork + exec
    # inherits its parent's peak there, so the bench's own ~4 GB would read as this probe's.
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

tensors = [*model.parameters(), *model.buffers()]
out["weights_mb"] = sum(x.numel() * x.element_size() for x in tensors) / 2 ** 20
model.cache = EmbeddingCache(max_items=0)
model.predict(probe_clip())
# A server sees clips of every length; memory that each new length strands must not pile up.
before = rss_mb()
for i, seconds in enumerate((1.3, 7.9, 4.1, 9.6, 2.2, 6.4, 3.7, 8.8)):
    model.predict(probe_clip(seconds, seed=i + 1))
after = rss_mb()
out["peak_rss_mb"] = peak_rss_mb()
out["rss_growth_8_mixed_clips_mb"] = None if before is None else after - before
del model, tensors
gc.collect()
release_freed_heap()  # so what stays is code and libraries, not garbage
out["rss_libraries_mb"] = rss_mb()
print(json.dumps(out))
"""


def fresh_process_probe(spec: str, device: str | None = None) -> dict[str, float]:
    """Cold start and memory of ``spec`` in a fresh interpreter: import + load time, then
    one 10 s prediction, then 8 clips of mixed lengths, then the model freed.

    ``model_peak_mb`` is the probe process's own peak RSS (VmHWM: the bench's own peak
    would leak in through ru_maxrss) minus what stays resident once the model
    is gone (the interpreter, torch and every library the model's code imported), i.e.
    the memory the loaded model itself needs, weights plus its working set.
    ``rss_growth_8_mixed_clips_mb``: how much resident memory the mixed clips left behind.
    """
    out = subprocess.run([sys.executable, "-c", _FRESH_PROBE, spec, device or ""], capture_output=True,
                         text=True, env=os.environ.copy())
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "fresh probe failed")
    raw = json.loads(out.stdout.strip().splitlines()[-1])
    result = {"cold_start_s": round(raw["cold_start_s"], 3), "weights_mb": round(raw["weights_mb"], 1),
              "peak_rss_mb": round(raw["peak_rss_mb"], 1)}
    if raw.get("rss_libraries_mb") is not None:
        libraries = raw["rss_libraries_mb"]
        result["rss_libraries_mb"] = round(libraries, 1)
        result["model_peak_mb"] = round(raw["peak_rss_mb"] - libraries, 1)
        result["rss_growth_8_mixed_clips_mb"] = round(raw["rss_growth_8_mixed_clips_mb"], 1)
    return result


def encoder_times(model, runs: int) -> dict[str, float]:
    """Each encoder's bare forward on one 10 s window at its own sample rate."""
    sr, x = probe_clip()
    times = {}
    for name, encoder in model.encoders.items():
        from .model.audio import resample

        wav = torch.from_numpy(resample(x, sr, encoder.sample_rate))[None].to(model.device)
        lengths = torch.tensor([wav.shape[1]], device=model.device)

        def run(encoder=encoder, wav=wav, lengths=lengths):
            with torch.inference_mode():
                encoder.encode(wav, lengths)
            if model.device.type == "cuda":
                torch.cuda.synchronize()
        times[name] = round(median_time(run, runs), 5)
    return times


def run_bench(spec: str, runs: int = 5, device: str | None = None, with_cold_start: bool = True,
              corpus_clips: int = 32, autocast: str | None = None) -> dict[str, Any]:
    """Every bench key for ``spec``; ``corpus_clips=0`` skips the corpus throughput,
    ``autocast`` ("fp16"/"bf16") adds a mixed-precision run checked against fp32."""
    from mmmos_core import load_model

    from .arithmetic_floor import arithmetic_floor

    model = load_model(spec, device=device)
    model.cache = EmbeddingCache(max_items=0)  # every run pays the encoders, as a new clip would
    clip = probe_clip()

    def predict(m=model):
        m.predict(clip)
        if m.device.type == "cuda":
            torch.cuda.synchronize()

    latency = median_time(predict, runs)
    one = model.with_members([0])
    eight = model.with_members([i % len(model.members) for i in range(8)])
    one.cache = eight.cache = EmbeddingCache(max_items=0)
    t1, t8 = [], []
    predict(one), predict(eight)
    for _ in range(runs):  # interleaved, so drift in machine load hits both alike
        t = time.perf_counter(); predict(one); t1.append(time.perf_counter() - t)
        t = time.perf_counter(); predict(eight); t8.append(time.perf_counter() - t)
    enc = encoder_times(model, runs)
    result: dict[str, Any] = {
        "model": model.name,
        "members": len(model.members),
        "latency_s": round(latency, 5),
        "ensemble_ratio_8v1": round(statistics.median(t8) / statistics.median(t1), 4),
        "latency_1_member_s": round(statistics.median(t1), 5),
        "latency_8_members_s": round(statistics.median(t8), 5),
        "encoders_s": enc,
        "pipeline_over_encoders": round(latency / max(sum(enc.values()), 1e-9), 4),
        "device": str(model.device),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "runs": runs,
        "clip_s": PROBE_S,
    }
    floor = arithmetic_floor(dict(model.encoders.items()), model.device)
    if floor:  # encoders that multiply matrices
        result["latency_over_floor"] = float(f"{latency / max(floor['floor_s'], 1e-12):.5g}")
        result["encoders_over_floor"] = float(f"{sum(enc.values()) / max(floor['floor_s'], 1e-12):.5g}")
        result.update(floor)
    if corpus_clips:
        result.update(corpus_throughput(model, corpus_clips))
    if autocast:
        result.update(autocast_check(model, autocast, clip))
    if model.device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(model.device)
        result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(model.device) / 2 ** 20, 1)
    if with_cold_start:
        result.update(fresh_process_probe(spec, device))
        if "model_peak_mb" in result:
            result["model_peak_over_weights_mb"] = round(result["model_peak_mb"] - result["weights_mb"], 1)
    else:
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    return result


def visitor_bench(spec: str, device: str | None) -> dict[str, float]:
    """The Predict tab's long paths, one timed run each after a warm-up:
    ``timeline_10min_s``: a 10-minute probe (44.1 kHz) scored with its timeline, in chunks as the app does;
    ``ab_pair_s``: two fresh 10 s probes scored with timelines and compared (the /compare_clips work)."""
    from mmmos_core import load_model

    from .ab import compare_records
    from .model.audio import load_audio
    from .model.timeline import predict_timeline

    model = load_model(spec, device=device, max_duration_s=None)
    model.predict(probe_clip(seed=99), timeline=True)  # warm-up
    long = load_audio(probe_clip(seconds=600.0, seed=1), max_duration_s=None)
    t = time.perf_counter()
    predict_timeline(model, long)
    timeline_s = time.perf_counter() - t
    t = time.perf_counter()
    a, b = (model.predict(probe_clip(seed=s), timeline=True).to_record() for s in (2, 3))  # new seeds: no cache hits
    compare_records(a, b)
    return {"timeline_10min_s": round(timeline_s, 3), "ab_pair_s": round(time.perf_counter() - t, 3)}


def main_json(spec: str, runs: int, device: str | None, engine: str, corpus_clips: int = 32,
              autocast: str | None = None) -> str:
    result = run_bench(spec, runs, device, corpus_clips=corpus_clips, autocast=autocast)
    result.update(visitor_bench(spec, device))
    if engine == "ray":
        from .batch.ray_engine import ray_bench

        result.update(ray_bench(model_spec=spec))
    return json.dumps(result)
