"""Load test: N visitors through gradio_client against a freshly started app on 127.0.0.1.

    python -m scripts.loadtest --visitors 20 --duration 120      # or: make loadtest

Each visitor loops until the time is up: score a real clip (``/predict``), then rate the
clip its listening session serves (``/start_session`` once, ``/rate`` after). One JSON line
goes to stdout: requests, errors, p50/p95/p99 latency per endpoint, throughput, the app's
RSS at start / after warm-up / peak / end, its open file descriptors and threads at start and
end, and the size of its upload temp folder. The app runs in its own process (the same
``python app.py`` a Space runs) so that its memory and descriptors are measured alone; it
listens on the loopback interface only. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CLIPS = REPO.parent / "shared" / "audio"
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def study_files(folder: Path, clips: list[Path]) -> tuple[Path, Path]:
    """A playlist over ``clips`` (rating needs no play event through the API) and its config."""
    playlist = folder / "playlist.csv"
    playlist.write_text("id,path,system\n" + "".join(f"{c.stem},{c},{c.name.split('_')[0]}\n" for c in clips))
    config = folder / "listening.json"
    config.write_text(json.dumps({"title": "Load test", "instructions": "Rate each clip.", "consent": "I agree.",
                                  "playlists": {"Load": str(playlist)}, "require_play": False,
                                  # the clips stay where they are: the experimenter allows their folders
                                  "audio_roots": sorted({str(c.parent) for c in clips})}))
    return playlist, config


@dataclass
class AppProcess:
    url: str
    process: subprocess.Popen
    ratings_path: Path
    temp_dir: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def wait_until_up(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url + "config", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the app did not answer at {url} within {timeout_s:.0f} s")


def start_app(folder: Path, clips: list[Path], *, model: str = "", ratings_path: Path | None = None,
              concurrency: int = 1, startup_s: float = 180.0, log: Path | None = None,
              env: dict[str, str] | None = None) -> AppProcess:
    """Start ``python app.py`` on a free loopback port with its own ratings file and temp folder."""
    folder.mkdir(parents=True, exist_ok=True)
    _, config = study_files(folder, clips)
    ratings_path = ratings_path or folder / "ratings.csv"
    temp_dir = folder / "gradio-tmp"
    port = free_port()
    extra_env = env
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_TEMP_DIR": str(temp_dir), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "MMMOS_RATINGS_PATH": str(ratings_path),
           "MMMOS_LISTENING_CONFIG": str(config), "MMMOS_CONCURRENCY": str(concurrency),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), **(extra_env or {})}
    if model:
        env["MMMOS_MODEL"] = model
    out = open(log or folder / "app.log", "ab")
    process = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=str(REPO), env=env, stdout=out,
                               stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, process, startup_s)
    except BaseException:
        stop_app(process)
        raise
    return AppProcess(url, process, ratings_path, temp_dir)


def stop_app(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


@contextmanager
def running_app(folder: Path, clips: list[Path], **kwargs) -> Iterator[AppProcess]:
    app = start_app(folder, clips, **kwargs)
    try:
        yield app
    finally:
        stop_app(app.process)


# ---- measuring the app process -------------------------------------------------------
def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def folder_usage(folder: Path) -> tuple[int, float]:
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return len(files), sum(p.stat().st_size for p in files) / 1e6


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1))))], 3)


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, endpoint: str, fn, *args):
        start = time.monotonic()
        try:
            result = fn(*args, api_name=endpoint)
        except Exception as exc:  # noqa: BLE001 - every failure is counted and a few are shown
            with self.lock:
                self.errors[endpoint] = self.errors.get(endpoint, 0) + 1
                if len(self.examples) < 5:
                    self.examples.append(f"{endpoint}: {type(exc).__name__}: {exc}"[:300])
            return None
        with self.lock:
            self.latencies.setdefault(endpoint, []).append(time.monotonic() - start)
        return result


def visitor(k: int, url: str, clips: list[Path], deadline: float, tally: Tally) -> None:
    from gradio_client import Client, handle_file

    client = tally.call("connect", lambda api_name: Client(url, verbose=False))
    if client is None:
        return
    session, i = None, k
    while time.monotonic() < deadline:
        clip = clips[i % len(clips)]
        i += 1
        tally.call("/predict", client.predict, handle_file(str(clip)), False)
        if time.monotonic() >= deadline:
            break
        if session is None or session.get("finished"):
            session = tally.call("/start_session", client.predict, f"load-{k}-{i}", "")
            continue
        rated = tally.call("/rate", client.predict, session["session_id"], session["clip"]["clip_id"],
                           1 + k % 10, 5, 5, 5, "")
        session = rated if rated is not None else None


def run(visitors: int, duration_s: float, clips: list[Path], model: str = "", concurrency: int = 1,
        idle_s: float = 10.0, folder: Path | None = None) -> dict:
    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="mmmos-loadtest-")) if own else folder
    with running_app(folder, clips, model=model, concurrency=concurrency) as app:
        pid = app.pid
        start = {"rss_mb": rss_mb(pid), "fds": open_fds(pid), "threads": threads(pid)}
        warm = Tally()  # one visitor first: the model's first run, the client's first connection
        visitor(-1, app.url, clips, time.monotonic() + 1.0, warm)
        after_warmup, fds_after_warmup = rss_mb(pid), open_fds(pid)
        tally, peak, stop = Tally(), [after_warmup], threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                peak.append(rss_mb(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began = time.monotonic()
        deadline = began + duration_s
        crowd = [threading.Thread(target=visitor, args=(k, app.url, clips, deadline, tally)) for k in range(visitors)]
        for t in crowd:
            t.start()
        for t in crowd:
            t.join(duration_s + 300)  # bounded: a request in flight at the deadline may still finish
        elapsed = time.monotonic() - began
        time.sleep(idle_s)  # what the app gives back once the crowd has left
        stop.set()
        end = {"rss_mb": rss_mb(pid), "fds": open_fds(pid), "threads": threads(pid)}
        temp_files, temp_mb = folder_usage(app.temp_dir)
        ratings_ok = app.ratings_path.exists()
    requests = sum(len(v) for v in tally.latencies.values()) + sum(tally.errors.values())
    report = {
        "visitors": visitors, "duration_s": round(elapsed, 1), "requests": requests,
        "errors": sum(tally.errors.values()), "errors_by_endpoint": tally.errors, "error_examples": tally.examples,
        "throughput_rps": round(requests / elapsed, 2) if elapsed else 0.0,
        "latency_s": {ep: {"n": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95), "p99": percentile(v, 99)}
                      for ep, v in sorted(tally.latencies.items())},
        "rss_mb": {"start": round(start["rss_mb"], 1), "after_warmup": round(after_warmup, 1),
                   "peak": round(max(peak), 1), "end": round(end["rss_mb"], 1),
                   "growth_after_warmup": round(end["rss_mb"] - after_warmup, 1)},
        "fds": {"start": start["fds"], "after_warmup": fds_after_warmup, "end": end["fds"]}, "threads": {"start": start["threads"], "end": end["threads"]},
        "upload_temp": {"files": temp_files, "mb": round(temp_mb, 1)}, "ratings_written": ratings_ok,
        "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--visitors", type=int, default=20)
    p.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    p.add_argument("--clips", type=Path, default=DEFAULT_CLIPS if DEFAULT_CLIPS.is_dir() else REPO / "assets/examples")
    p.add_argument("--model", default="", help="MMMOS_MODEL for the app (default: the app's default, lite)")
    p.add_argument("--concurrency", type=int, default=1, help="MMMOS_CONCURRENCY for the app")
    p.add_argument("--idle", type=float, default=10.0, help="seconds to wait after the load before measuring")
    args = p.parse_args(argv)
    clips = sorted(c for c in args.clips.iterdir() if c.suffix.lower() in AUDIO_SUFFIXES)
    if not clips:
        print(f"loadtest: no audio files in {args.clips}", file=sys.stderr)
        return 2
    report = run(args.visitors, args.duration, clips, args.model, args.concurrency, args.idle)
    print(json.dumps(report))
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
