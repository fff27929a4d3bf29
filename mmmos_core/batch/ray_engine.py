"""The Ray engine of `mmmos predict --engine ray`: corpus-scale scoring on Ray Data.

Each worker is a Ray actor (``map_batches`` over a callable class with a fixed-size
`ActorPoolStrategy`) that loads the model once and scores its batches with
`MMMOSModel.predict_many`, so the encoders run once per clip and are shared by the
ensemble members exactly as in a local run; the scores are the local scores. The driver
keeps the output: it writes the records that stream back as resumable parts and merges
them at the end (`batch.writer`), so a preempted job loses only the batches in flight.

Ray is an optional extra (``pip install -r requirements-ray.txt``); the core never needs it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from mmmos_core.errors import MMMOSError
from mmmos_core.model.audio import DEFAULT_MAX_DURATION_S
from mmmos_core.model.registry import model_name, portable_spec
from mmmos_core.paths import PACKAGE_DIR
from mmmos_core.peers.audiobox import NAME as REFERENCE_NAME

from .records import score_items
from .runner import BatchSummary, catch_sigterm, run_batch

RAY_HINT = "the Ray engine needs the optional extra: pip install -r requirements-ray.txt (or mmmos[ray])"
PACKAGE_PARENT = str(PACKAGE_DIR.parent)
# Fewer, larger blocks for a long corpus: a block is the unit the driver gets back, and
# Ray Data's per-block bookkeeping is not free.
MAX_BLOCKS = 2000


def _import_ray(local: bool = False):
    # Ray must not phone home; set before `import ray` reads it.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if local and "ray" not in sys.modules:
        # On Linux Ray gives its processes the machine's outward address even for a private
        # instance; in its single-machine mode (the macOS/Windows default) they talk over
        # 127.0.0.1 only. Read once, at import, so it only applies to runs that start here.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MMMOSError(RAY_HINT) from None
    return ray


def _quiet_ray_data(ray) -> None:
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # ours reports clips/s and ETA
    ctx.enable_operator_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # It would only say that we turned its bars off.
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    # A worker that fails (say, the model is missing on a node) would otherwise print its
    # traceback several times over, from the worker (log_to_driver) and from Ray Data; the
    # run stops with one MMMOSError naming the cause instead, and Ray's session logs keep
    # the full story.
    logging.getLogger("ray.data.exceptions").setLevel(logging.CRITICAL)


def start_local_ray(num_cpus: int, num_gpus: int | None = None):
    """A private Ray instance on this machine only: loopback, no dashboard, no usage stats,
    quiet. ``address="local"`` so that an unrelated cluster found on the machine is not joined."""
    ray = _import_ray(local=True)
    ray.init(
        address="local",
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        object_store_memory=512 * 1024 * 1024,
        # ERROR: a fresh instance would otherwise warn on every run that it enabled token
        # auth (which is what a private instance should do).
        logging_level=logging.ERROR,
        log_to_driver=False,  # see _quiet_ray_data
        # Workers find mmmos_core even when it runs from a checkout rather than an install.
        runtime_env={"env_vars": {"RAY_USAGE_STATS_ENABLED": "0",
                                  "PYTHONPATH": os.pathsep.join(
                                      p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p)}},
    )
    _quiet_ray_data(ray)
    return ray


class RayScorer:
    """One Ray actor: the model loaded once, then batches of items -> JSON records."""

    def __init__(self, model_spec: str, threads: int, base_dir: str, device: str | None,
                 max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
                 reference: tuple[str, str] | None = None):
        import torch

        torch.set_num_threads(max(1, threads))
        from mmmos_core import load_model

        # reference: (name, checkpoint path the driver resolved)
        self.model = load_model(model_spec, device=device, max_duration_s=max_duration_s,
                                reference=reference[0] if reference else None,
                                reference_path=reference[1] if reference else None)
        self.base_dir = base_dir

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        t0, c0 = time.perf_counter(), time.process_time()
        items = [json.loads(s) for s in batch["item"]]
        records = score_items(self.model, items, self.base_dir, chunk=max(1, len(items)))
        n = len(records)
        return {"record": np.array([json.dumps(r, ensure_ascii=False) for r in records], dtype=object),
                # who scored it, when, and how long it took: the bench's steady-state window
                "worker": np.full(n, os.getpid(), dtype=np.int64),
                "done_at": np.full(n, time.time(), dtype=np.float64),
                "busy_s": np.full(n, (time.perf_counter() - t0) / n, dtype=np.float64),
                "cpu_s": np.full(n, (time.process_time() - c0) / n, dtype=np.float64)}


def _session_logs(ray) -> str:
    try:
        return str(Path(ray._private.worker._global_node.get_session_dir_path()) / "logs")
    except Exception:  # noqa: BLE001 - only a hint in an error message
        return "/tmp/ray/session_latest/logs"



def _resolve_reference(reference: tuple[str, str | None] | None) -> tuple[str, str] | None:
    """Check the reference model here, before Ray starts: (spec, checkpoint path).
    The path is absolute, so a worker finds the file wherever it runs from (on a cluster, every
    node needs it at that path)."""
    if reference is None:
        return None
    from mmmos_core.peers.audiobox import REFERENCES, _package, find_checkpoint

    spec, path = reference
    if spec not in REFERENCES:
        raise MMMOSError(f"unknown reference model {spec!r}; known: {', '.join(REFERENCES)}")
    _package()
    return spec, str(find_checkpoint(path).resolve())


def _ray_batches(ray, todo: list[dict[str, Any]], model_spec: str, num_workers: int, batch_size: int,
                 cpus_per_worker: float, gpus_per_worker: float, max_duration_s: float | None,
                 timings: list[tuple] | None,
                 reference: tuple[str, str] | None = None) -> Iterator[list[dict[str, Any]]]:
    blocks = max(1, min(MAX_BLOCKS, math.ceil(len(todo) / batch_size)))
    ds = ray.data.from_items([{"item": json.dumps(it)} for it in todo], override_num_blocks=blocks)
    ds = ds.map_batches(
        RayScorer,
        fn_constructor_kwargs={"model_spec": model_spec, "threads": max(1, int(cpus_per_worker)),
                               "base_dir": os.getcwd(), "device": "cuda" if gpus_per_worker > 0 else None,
                               "max_duration_s": max_duration_s, "reference": reference},
        batch_size=batch_size,
        batch_format="numpy",
        # Two tasks queued per actor hide the hand-over between batches without leaving
        # one worker with a backlog while another has run dry at the end of the corpus.
        compute=ray.data.ActorPoolStrategy(size=num_workers, max_tasks_in_flight_per_actor=2),
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker or None,
    )
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
        if timings is not None:
            timings.extend(zip(batch["worker"].tolist(), batch["done_at"].tolist(), [1] * len(batch["worker"]),
                               batch["busy_s"].tolist(), batch["cpu_s"].tolist()))
        yield [json.loads(s) for s in batch["record"]]


def _run(items, output, model_spec, address, num_workers, batch_size, gpus_per_worker, progress,
         cpus_per_worker=1.0, resume=True, max_duration_s=DEFAULT_MAX_DURATION_S, timings=None,
         reference=None) -> BatchSummary:
    ray = _import_ray(local=not address)
    if batch_size < 1:
        raise MMMOSError(f"--batch-size must be at least 1, got {batch_size}")
    if cpus_per_worker <= 0 or gpus_per_worker < 0:
        raise MMMOSError("a worker needs a positive CPU share and a non-negative GPU share")
    spec = portable_spec(model_spec)
    reference_job = _resolve_reference(reference)

    def scorer(todo: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        started_here = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                         runtime_env={"env_vars": {"RAY_USAGE_STATS_ENABLED": "0"}})
                _quiet_ray_data(ray)
            else:
                workers = num_workers if num_workers > 0 else (os.cpu_count() or 1)
                start_local_ray(max(1, math.ceil(workers * cpus_per_worker)))
            started_here = True
            catch_sigterm()  # Ray's core replaced it with one that dies without writing the parts
        else:
            _quiet_ray_data(ray)
        try:
            workers = num_workers
            if workers <= 0:  # one per CPU share the cluster has
                workers = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_worker))
            workers = min(workers, len(todo))
            if progress:
                where = f"cluster {address}" if address else "a local Ray instance"
                print(f"mmmos: scoring {len(todo)} inputs with {workers} Ray workers on {where}",
                      file=sys.stderr)
            try:
                yield from _ray_batches(ray, todo, spec, workers, batch_size, cpus_per_worker,
                                        gpus_per_worker, max_duration_s, timings, reference_job)
            except ray.exceptions.RayError as exc:
                # A worker could not start (model missing on a node, out of memory) or the
                # cluster went away: say so briefly; what finished is kept in the parts.
                lines = [ln for ln in str(exc).splitlines() if ln.strip()]
                cause = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "")
                raise MMMOSError(f"the Ray run stopped ({type(exc).__name__}: {cause.strip()}); finished "
                                 f"records are kept - rerun the same command to resume (Ray's logs: "
                                 f"{_session_logs(ray)})") from exc
        finally:
            if started_here:
                ray.shutdown()

    summary = run_batch(items, output, scorer, model_name=model_name(spec), progress=progress, resume=resume,
                        reference_name=REFERENCE_NAME if reference_job else None)
    if progress:
        print(summary.line(), file=sys.stderr)
    return summary


def run_ray_predict(items: list[dict[str, Any]], output: str, model_spec: str, address: str | None,
                    num_workers: int, batch_size: int, gpus_per_worker: float, progress: bool = True,
                    *, cpus_per_worker: float = 1.0, resume: bool = True,
                    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
                    reference: tuple[str, str | None] | None = None) -> BatchSummary:
    """Score ``items`` into ``output`` (JSONL, or CSV by extension) on Ray, resuming a previous
    run into the same output. Without ``address`` a private local Ray instance is started
    (and stopped) for the run; with one, the cluster is joined (``auto`` finds a local
    ``ray start``). ``num_workers`` <= 0 means one worker per ``cpus_per_worker`` CPUs.
    ``max_duration_s`` is the local engine's ``--max-duration`` (longer inputs are errors).
    ``reference``: ``(spec, checkpoint path or None)`` of a reference model every worker loads
    beside the ensemble (`mmmos_core.peers`), as ``--reference`` does locally.
    An already initialised Ray (a test, a notebook) is used as it is and left running."""
    return _run(items, output, model_spec, address, num_workers, batch_size, gpus_per_worker, progress,
                cpus_per_worker=cpus_per_worker, resume=resume, max_duration_s=max_duration_s,
                reference=reference)


# ---- bench ---------------------------------------------------------------------------------

def _bench_clips(folder: Path, n_clips: int, clip_s: float) -> list[dict[str, Any]]:
    """Short clips cut from the shared audio (varied content and sample rates), or
    synthetic tones and noise where the shared folder is absent."""
    import soundfile as sf

    from mmmos_core.paths import shared_audio_dir

    shared = shared_audio_dir()
    sources = []
    for path in sorted(shared.glob("*.wav")) if shared.is_dir() else []:
        try:
            data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        except (RuntimeError, OSError):
            continue
        if len(data) >= int(clip_s * sr):
            sources.append((data.mean(axis=1), sr))
    rng = np.random.default_rng(0)
    if not sources:
        t = np.arange(int(8 * 16000)) / 16000
        sources = [(0.3 * np.sin(2 * np.pi * f * t).astype(np.float32)
                    + 0.05 * rng.standard_normal(t.size).astype(np.float32), 16000) for f in (110, 440, 1500)]
    items = []
    for i in range(n_clips):
        samples, sr = sources[i % len(sources)]
        n = int(clip_s * sr)
        start = int(rng.integers(0, len(samples) - n + 1))
        path = folder / f"clip{i:05d}.wav"
        sf.write(str(path), samples[start:start + n], sr)
        items.append({"path": str(path)})
    return items


def steady_clips_per_s(timings: list[tuple]) -> float:
    """Clips/s while every worker is up and has work: from the moment the last worker to
    start finished its first batch to the moment the first worker to run dry finished its
    last, counting the clips finished in between. ``timings``: (worker, done_at, clips, ...)."""
    if not timings:
        return 0.0
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for worker, t, *_ in timings:
        first[worker] = min(first.get(worker, t), t)
        last[worker] = max(last.get(worker, t), t)
    # Too few batches for such a window (a worker ran dry before another had started):
    # widen it to the end of the run, then to its start.
    end = max(last.values())
    for t0, t1 in ((max(first.values()), min(last.values())), (max(first.values()), end), (min(first.values()), end)):
        if t1 > t0:
            return sum(n for _, t, n, *_ in timings if t0 < t <= t1) / (t1 - t0)
    return 0.0


def ray_bench(model_spec: str = "lite", n_clips: int = 300, clip_s: float = 2.0,
              batch_size: int = 8) -> dict[str, float]:
    """Steady-state clips/s with 1 and 2 workers (1 CPU and 1 torch thread each) on one
    local Ray instance with 2 CPUs; actor start-up and model loading are excluded.

    Also reported, to read the clip rates on a shared machine: the workers' own CPU
    milliseconds per clip (equal for 1 and 2 workers means the workers do not get in each
    other's way, whatever else runs) and the 1-minute load average at the end."""
    import tempfile

    ray = _import_ray(local=True)
    started_here = not ray.is_initialized()
    if started_here:
        start_local_ray(2)
    try:
        with tempfile.TemporaryDirectory(prefix="mmmos-ray-bench-") as tmp:
            items = _bench_clips(Path(tmp), n_clips, clip_s)
            rates, cpu_ms = {}, {}
            for workers in (1, 2):
                timings: list[tuple] = []
                _run(items, str(Path(tmp) / f"out{workers}.jsonl"), model_spec, None, workers, batch_size, 0.0,
                     progress=False, resume=False, timings=timings)
                rates[workers] = steady_clips_per_s(timings)
                cpu_ms[workers] = 1000.0 * sum(t[4] for t in timings) / max(1, len(timings))
    finally:
        if started_here:
            ray.shutdown()
    return {"ray_clips_per_s_1w": round(rates[1], 2), "ray_clips_per_s_2w": round(rates[2], 2),
            "ray_speedup_2v1": round(rates[2] / rates[1], 3) if rates[1] > 0 else 0.0,
            "ray_worker_cpu_ms_per_clip_1w": round(cpu_ms[1], 2),
            "ray_worker_cpu_ms_per_clip_2w": round(cpu_ms[2], 2),
            "ray_bench_loadavg_1m": round(os.getloadavg()[0], 2)}
