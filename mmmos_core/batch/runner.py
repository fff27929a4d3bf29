"""The driver loop both engines share: skip what is done, score the rest, write parts,
show progress, turn SIGTERM into a clean exit, sum up. An engine only supplies a function
that turns items into records; the local engine lives here too.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .inputs import item_key
from .records import score_items
from .writer import ResumableWriter, StreamWriter

# ---- summary ---------------------------------------------------------------------------

@dataclass
class BatchSummary:
    scored: int  # inputs scored successfully in this run
    failed: int  # inputs whose record is an error (tried in this run)
    skipped: int  # inputs already scored by an earlier run into the same output
    seconds: float  # wall time of this run
    clips_per_s: float  # (scored + failed) / seconds
    output: str = ""

    def line(self) -> str:
        return (f"mmmos: {self.scored} scored, {self.failed} failed, {self.skipped} skipped "
                f"(already in output) in {self.seconds:.1f} s, {self.clips_per_s:.2f} clips/s"
                + (f" -> {self.output}" if self.output else ""))


# ---- progress and the shared driver loop ---------------------------------------------------

def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Progress:
    """Items/s and ETA on stderr: redrawn in place on a terminal, a line every 10 s in a log."""

    def __init__(self, total: int, enabled: bool = True, stream=None):
        self.total = total
        self.enabled = enabled and total > 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = 1.0 if self.tty else 10.0
        self.start = time.monotonic()
        self.last = 0.0
        self.done = 0
        self.failed = 0
        self.first: tuple[float, int] | None = None  # when the first results came, and how many

    def update(self, done: int, failed: int) -> None:
        self.done += done
        self.failed += failed
        now = time.monotonic()
        if self.first is None:
            self.first = (now, self.done)
        if self.enabled and (now - self.last >= self.every or self.done >= self.total):
            self.last = now
            self._show(now)

    def rate(self, now: float) -> float:
        """Clips/s since the first results: start-up (workers loading the model) would
        otherwise make the early ETAs far too long."""
        if self.first is not None and now > self.first[0] and self.done > self.first[1]:
            return (self.done - self.first[1]) / (now - self.first[0])
        elapsed = now - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def _show(self, now: float) -> None:
        rate = self.rate(now)
        settled = self.first is not None and self.done > self.first[1]
        eta = (self.total - self.done) / rate if rate > 0 and settled else float("inf")
        text = (f"mmmos: {self.done}/{self.total} ({100.0 * self.done / self.total:.0f}%), "
                f"{self.failed} failed, {rate:.1f} clips/s, "
                f"ETA {_duration(eta) if math.isfinite(eta) else '?'}")
        self.stream.write(("\r" + text + "\033[K") if self.tty else text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()


Scorer = Callable[[list[dict[str, Any]]], Iterator[list[dict[str, Any]]]]


class _Terminated(SystemExit):
    pass


def _on_sigterm(signum, frame):
    raise _Terminated(128 + signum)


def catch_sigterm():
    """Make SIGTERM a clean exit (finished records are written) in the main thread; returns
    the handler it replaced, or None off the main thread. Engines that start a runtime
    which installs its own handler (Ray does) call it again afterwards."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_sigterm)


def run_batch(items: list[dict[str, Any]], output: str | os.PathLike, scorer: Scorer, *,
              model_name: str | None = None, progress: bool = True, resume: bool = True,
              reference_name: str | None = None) -> BatchSummary:
    """Score ``items`` into ``output`` with ``scorer`` (todo items -> batches of records, any
    order), resuming an earlier run. SIGTERM (a preempted job) is turned into a clean exit
    that keeps the finished records. With ``reference_name``, earlier records without that
    reference model's scores are scored again."""
    t0 = time.monotonic()
    previous = catch_sigterm()
    try:
        streaming = output in (None, "-")
        sink = StreamWriter(sys.stdout, errors=sys.stderr) if streaming else ResumableWriter(output, resume=resume)
        with sink as writer:
            done = writer.done_keys(model=model_name, reference=reference_name)
            todo, seen = [], set(done)
            for it in items:
                k = item_key(it)
                if streaming or k not in seen:  # a stream answers every input line, repeats too
                    seen.add(k)
                    todo.append(it)
            ok_keys: set[str] = set()
            failed_keys: set[str] = set()
            bar = Progress(len(todo), enabled=progress)
            try:
                if todo:
                    for records in scorer(todo):
                        writer.add(records)
                        bad = sum(1 for r in records if "error" in r)
                        for r in records:
                            (failed_keys if "error" in r else ok_keys).add(item_key(r))
                        bar.update(len(records), bad)
            finally:
                bar.close()
            writer.finalize(items)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    keys = [item_key(it) for it in items]
    scored = sum(k in ok_keys for k in keys)
    failed = sum(k in failed_keys for k in keys)
    skipped = sum(k in done for k in keys)
    seconds = time.monotonic() - t0
    return BatchSummary(scored, failed, skipped, seconds, (scored + failed) / seconds if seconds > 0 else 0.0,
                        "" if output in (None, "-") else str(output))



def run_local_predict(items: list[dict[str, Any]], output: str | os.PathLike | None, model, *,
                      batch_size: int = 8, progress: bool = True, resume: bool = True) -> BatchSummary:
    """The local engine on the shared loop: one process, ``model`` loaded once by the caller
    (with its options, see `mmmos_core.load_model`). ``output`` None or ``-``: records go to
    standard output as they are scored, in input order, with no resume."""

    def scorer(todo: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        for i in range(0, len(todo), batch_size):
            yield score_items(model, todo[i:i + batch_size], chunk=batch_size)

    return run_batch(items, output, scorer, model_name=model.name, progress=progress, resume=resume,
                     reference_name=model.reference.name if model.reference is not None else None)
