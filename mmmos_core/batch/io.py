"""Corpus-scale scoring plumbing shared by the local and the Ray engine.

- `read_input_list`: an input list (Audiobox JSONL, plain paths, or CSV) -> item dicts.
- `ResumableWriter`: records go to ``OUTPUT.parts/part-*.jsonl`` (each written under a
  temporary name, then renamed), and `finalize` merges them into OUTPUT in input order
  (temporary file + ``os.replace``), so OUTPUT is never half written.
- `run_batch`: the driver loop both engines share (skip what is done, write parts,
  progress, summary); an engine only supplies a function that turns items into records.

Resuming: a rerun with the same OUTPUT keeps every successful record of the earlier run
(parts left by an interrupted run, or the finished OUTPUT) and scores the rest. Error
records are retried, because most input errors (a file still being copied, a mount that
was down) are transient, and a permanent one costs only its own load attempt.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from mmmos_core.axes import AXES
from mmmos_core.errors import AudioInputError, ManifestError, MMMOSError
from mmmos_core.model.audio import DEFAULT_MAX_DURATION_S
from mmmos_core.model.results import error_record

PARTS_SUFFIX = ".parts"
# Parts are cut by size or age, whichever comes first: a preempted run loses at most the
# batches in flight plus PART_SECONDS of finished work, and a long corpus makes few files.
PART_RECORDS = 256
PART_SECONDS = 10.0


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


# ---- input lists -----------------------------------------------------------------------

def _time_field(value: Any, where: str, field: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ManifestError(f"{where}: {field} {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds):
        raise ManifestError(f"{where}: {field} {value!r} is not a finite number of seconds")
    return seconds


def _item(path: Any, start: Any, end: Any, where: str) -> dict[str, Any]:
    if not isinstance(path, str) or not path.strip():
        raise ManifestError(f"{where}: missing or empty 'path'")
    item: dict[str, Any] = {"path": path.strip()}
    start_time = _time_field(start, where, "start_time")
    end_time = _time_field(end, where, "end_time")
    if start_time is not None:
        item["start_time"] = start_time
    if end_time is not None:
        item["end_time"] = end_time
    return item


def _sniff_format(path: Path, first_line: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if first_line.lstrip().startswith("{"):
        return "jsonl"
    header = [h.strip().lower() for h in first_line.split(",")]
    if "path" in header:
        return "csv"
    return "text"


def read_input_list(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Items ``{"path", "start_time"?, "end_time"?}`` from an input list, in file order.

    Formats: JSONL as Audiobox Aesthetics reads it (one ``{"path": ...}`` object per line;
    other keys are ignored), CSV/TSV with a ``path`` column (optional ``start_time``,
    ``end_time``), or plain text with one path per line (blank lines and ``#`` comments
    skipped). Paths are kept as written; relative ones are relative to the working
    directory, as in Audiobox. A malformed line raises `ManifestError` naming file and line.
    """
    src = Path(path)
    try:
        text = src.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"{src}: input list not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{src}: cannot read input list ({exc})") from None
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    fmt = _sniff_format(src, first)
    items: list[dict[str, Any]] = []
    if fmt == "jsonl":
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{src}:{n}"
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise ManifestError(f"{where}: not valid JSON ({exc.args[0] if exc.args else exc})") from None
            if not isinstance(obj, dict):
                raise ManifestError(f"{where}: expected an object like {{\"path\": ...}}, got {type(obj).__name__}")
            items.append(_item(obj.get("path"), obj.get("start_time"), obj.get("end_time"), where))
    elif fmt == "csv":
        delimiter = "\t" if src.suffix.lower() == ".tsv" else ","
        reader = csv.DictReader(lines, delimiter=delimiter)
        fields = {(f or "").strip().lower(): f for f in (reader.fieldnames or [])}
        if "path" not in fields:
            raise ManifestError(f"{src}: CSV input needs a 'path' column (found {reader.fieldnames})")
        for row in reader:
            where = f"{src}:{reader.line_num}"
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            items.append(_item(row.get(fields["path"]), row.get(fields.get("start_time", "")),
                               row.get(fields.get("end_time", "")), where))
    else:
        for n, line in enumerate(lines, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                items.append(_item(line, None, None, f"{src}:{n}"))
    if not items:
        raise ManifestError(f"{src}: the input list has no inputs")
    return items


def item_key(item: dict[str, Any]) -> str:
    """Identity of an input across runs: path plus the span (1 and 1.0 are the same span)."""
    def t(v: Any) -> float | None:
        return None if v is None else float(v)
    return json.dumps([str(item["path"]), t(item.get("start_time")), t(item.get("end_time"))])


# ---- records ---------------------------------------------------------------------------

def result_record(item: dict[str, Any], result: Any) -> dict[str, Any]:
    """The output record of one input: a `Prediction`'s record or an error record, with the
    input's span so that a record names exactly what was scored (and can be resumed)."""
    if isinstance(result, BaseException):
        body = error_record(item["path"], str(result))
    else:
        body = result.to_record()
    record: dict[str, Any] = {"path": item["path"]}
    for field in ("start_time", "end_time"):
        if item.get(field) is not None:
            record[field] = float(item[field])
    record.update((k, v) for k, v in body.items() if k != "path")
    return record


def load_request(item: dict[str, Any], base_dir: str | None = None) -> dict[str, Any]:
    """What `MMMOSModel.predict_many` gets for an item: the path made absolute against
    ``base_dir`` (a Ray worker's working directory is not the driver's), the name as written."""
    path = item["path"]
    request = {"path": os.path.join(base_dir, path) if base_dir and not os.path.isabs(path) else path,
               "name": path}
    for field in ("start_time", "end_time"):
        if item.get(field) is not None:
            request[field] = item[field]
    return request


def score_items(model, items: list[dict[str, Any]], base_dir: str | None = None,
                chunk: int = 8) -> list[dict[str, Any]]:
    """Records for ``items``, in order. An unexpected exception (a bug, not bad input) fails
    only the clip that raised it: the batch is rescored one clip at a time."""
    requests = [load_request(it, base_dir) for it in items]
    try:
        return [result_record(it, r) for it, r in zip(items, model.predict_many(requests, chunk=chunk))]
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception:  # noqa: BLE001 - find the clip that raised; the others still get scores
        pass
    records = []
    for it, req in zip(items, requests):
        try:
            records.append(result_record(it, next(iter(model.predict_many([req], chunk=1)))))
        except (KeyboardInterrupt, SystemExit, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - reported in the record, the corpus goes on
            records.append(result_record(it, AudioInputError(it["path"], f"internal error: "
                                                             f"{type(exc).__name__}: {exc}")))
    return records


# CSV output flattens a record with the names `mmmos predict` uses for a single run:
# ``{axis}_{std,min,max}`` for the spread and ``{member}:{axis}`` for each member. These
# columns come first, always, so CSVs of different shards line up; the rest follow.
# The optional reference block becomes ``reference:{model,PQ,...}`` columns, only in runs
# that asked for it, so the CSV of a plain run is unchanged.
CSV_HEAD = ["path", "start_time", "end_time", *AXES, "model", "duration_s", "flags", "error"]
REFERENCE_PREFIX = "reference:"
_CSV_TEXT = {"path", "model", "model_note", "flags", "error", REFERENCE_PREFIX + "model"}


def flatten_record(record: dict[str, Any]) -> dict[str, Any]:
    """A JSONL record as one CSV row (idempotent: a row read back from CSV stays as it is)."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if key == "members" and isinstance(value, list):
            for m in value:
                row.update((f"{m['name']}:{a}", m.get(a)) for a in AXES)
        elif key == "spread" and isinstance(value, dict):
            for axis, stats in value.items():
                row.update((f"{axis}_{stat}", x) for stat, x in stats.items())
        elif key == "flags" and isinstance(value, list):
            row[key] = ";".join(value)
        elif key == "reference" and isinstance(value, dict):
            row.update((REFERENCE_PREFIX + k, x) for k, x in value.items())
        else:
            row[key] = value
    return row


def reference_model(record: dict[str, Any]) -> str | None:
    """The reference model whose scores a record carries (JSONL block or CSV columns), if any."""
    block = record.get("reference")
    if isinstance(block, dict):
        return block.get("model")
    return record.get(REFERENCE_PREFIX + "model")


def csv_columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    columns = list(CSV_HEAD)
    seen = set(columns)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    return columns


def _row_to_record(row: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or value == "":
            continue
        if key in _CSV_TEXT:
            record[key] = value
            continue
        try:
            record[key] = float(value)
        except ValueError:
            record[key] = value
    return record


def read_output_records(output: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The records of a finished output file (JSONL or CSV by extension)."""
    path = Path(output)
    with open(path, encoding="utf-8", newline="") as f:
        if output_format(path) == "csv":
            for row in csv.DictReader(f):
                yield _row_to_record(row)
            return
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


# ---- resumable output --------------------------------------------------------------------

def output_format(output: str | os.PathLike) -> str:
    return "csv" if str(output).lower().endswith(".csv") else "jsonl"


class ResumableWriter:
    """Output written in parts and merged atomically; reruns skip what is already scored.

    ``with ResumableWriter(out) as w:`` - ``w.done_keys()``, ``w.add(records)`` (buffered,
    cut into parts by size/age) or ``w.write_part(records)`` (one part now), then
    ``w.finalize(items)``. Leaving the block without finalize (an error, Ctrl-C) still
    writes the buffered records as a part, so the next run resumes after them.
    One writer per output at a time (a lock in the parts folder says so).
    """

    def __init__(self, output: str | os.PathLike, fmt: str | None = None, *, resume: bool = True,
                 part_records: int = PART_RECORDS, part_seconds: float = PART_SECONDS):
        from filelock import FileLock, Timeout

        self.output = Path(output)
        self.fmt = fmt or output_format(output)
        if self.fmt not in ("jsonl", "csv"):
            raise MMMOSError(f"{self.output}: output format must be jsonl or csv, not {self.fmt!r}")
        if self.output.is_dir():
            raise MMMOSError(f"{self.output}: output is a folder; give a file name (.jsonl or .csv)")
        self.parts_dir = Path(str(self.output) + PARTS_SUFFIX)
        try:
            self.parts_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MMMOSError(f"{self.parts_dir}: cannot create the parts folder ({exc})") from None
        self._lock = FileLock(str(self.parts_dir / ".lock"))
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise MMMOSError(f"{self.output}: another run is writing this output "
                             f"(lock {self.parts_dir / '.lock'})") from None
        self.part_records = part_records
        self.part_seconds = part_seconds
        self._run_id = f"{time.time_ns():020d}-{os.getpid()}"
        self._seq = 0
        self._buffer: list[dict[str, Any]] = []
        self._buffer_since = time.monotonic()
        self._closed = False
        # key -> (is_success, model, JSON line, reference model); insertion order = first time seen.
        self._records: dict[str, tuple[bool, str | None, str, str | None]] = {}
        if resume:
            self._load_previous()
        else:
            for part in self.parts_dir.glob("part-*"):
                part.unlink()

    # -- state from earlier runs
    def _remember(self, record: dict[str, Any], line: str | None = None, earlier: bool = True) -> None:
        if "path" not in record:
            return
        key = item_key(record)
        ok = "error" not in record
        old = self._records.get(key)
        if earlier and old is not None and old[0] and not ok:
            return  # among earlier runs' records an error never replaces a success
        self._records[key] = (ok, record.get("model"), line or json.dumps(record, ensure_ascii=False),
                              reference_model(record))

    def _load_previous(self) -> None:
        for tmp in self.parts_dir.glob("*.tmp"):
            tmp.unlink()  # torn write of a crashed run: the records in it were never counted
        if self.output.is_file():
            try:
                with open(self.output, encoding="utf-8", newline="") as f:
                    if self.fmt == "csv":
                        for row in csv.DictReader(f):
                            self._remember(_row_to_record(row))
                    else:
                        for line in f:
                            self._remember_line(line)
            except (OSError, UnicodeDecodeError, csv.Error):
                pass  # not an output of ours: it is replaced at finalize
        for part in sorted(self.parts_dir.glob("part-*.jsonl")):
            with open(part, encoding="utf-8") as f:
                for line in f:
                    self._remember_line(line)

    def _remember_line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        try:
            record = json.loads(line)
        except ValueError:
            return
        if isinstance(record, dict):
            self._remember(record, line)

    def done_keys(self, model: str | None = None, reference: str | None = None) -> set[str]:
        """Keys (`item_key`) of inputs with a successful record; with ``model``, only records
        of that model count, so scoring with another model redoes everything; with ``reference``,
        only records that carry that reference model's scores."""
        return {k for k, (ok, m, _, ref) in self._records.items()
                if ok and (model is None or m == model) and (reference is None or ref == reference)}

    # -- writing
    def write_part(self, records: Iterable[dict[str, Any]]) -> Path | None:
        """Write ``records`` as one part file now (temporary name, fsync, rename)."""
        lines = []
        for r in records:
            line = json.dumps(r, ensure_ascii=False)
            lines.append(line)
            self._remember(r, line, earlier=False)  # this run scored it: its result stands
        if not lines:
            return None
        self._seq += 1
        final = self.parts_dir / f"part-{self._run_id}-{self._seq:06d}.jsonl"
        tmp = final.with_name(final.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        return final

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        self._buffer.extend(records)
        if (len(self._buffer) >= self.part_records
                or time.monotonic() - self._buffer_since >= self.part_seconds):
            self.flush()

    def flush(self) -> None:
        buffered, self._buffer = self._buffer, []
        self._buffer_since = time.monotonic()
        self.write_part(buffered)

    def finalize(self, items: list[dict[str, Any]] | None = None) -> Path:
        """Merge into OUTPUT atomically: with ``items``, exactly one record per item in
        their order (an item with no record is an error and OUTPUT is left untouched);
        without, every record known, each once. The parts folder is removed afterwards."""
        self.flush()
        if items is not None:
            keys = [item_key(it) for it in items]
            missing = [it["path"] for it, k in zip(items, keys) if k not in self._records]
            if missing:
                raise MMMOSError(f"{self.output}: {len(missing)} inputs have no record yet (first: "
                                 f"{missing[0]}); rerun to score them - the parts in {self.parts_dir} are kept")
            lines = [self._records[k][2] for k in keys]
        else:
            lines = [line for _, _, line, _ in self._records.values()]
        parent = self.output.parent
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{self.output.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                if self.fmt == "csv":
                    rows = [flatten_record(json.loads(line)) for line in lines]
                    writer = csv.DictWriter(f, fieldnames=csv_columns(rows))
                    writer.writeheader()
                    writer.writerows(rows)
                else:
                    for line in lines:
                        f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make a shared result private
            os.replace(tmp, self.output)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self._close(remove_parts=True)
        return self.output

    # -- lifetime
    def _close(self, remove_parts: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        self._lock.release()
        if remove_parts:
            shutil.rmtree(self.parts_dir, ignore_errors=True)

    def close(self) -> None:
        """Stop without merging: buffered records become a part, the parts stay for a rerun."""
        if not self._closed:
            self.flush()
            self._close()

    def __enter__(self) -> "ResumableWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
        with ResumableWriter(output, resume=resume) as writer:
            done = writer.done_keys(model=model_name, reference=reference_name)
            todo, seen = [], set(done)
            for it in items:
                k = item_key(it)
                if k not in seen:
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
                        str(output))


def model_name_of(spec: str) -> str | None:
    """The name a model's records carry, read from its manifest without loading it."""
    from mmmos_core.model.registry import resolve_model_dir

    try:
        manifest = resolve_model_dir(spec) / "mmmos.json"
        return json.loads(manifest.read_text()).get("name")
    except (MMMOSError, OSError, ValueError):
        return None


def run_local_predict(items: list[dict[str, Any]], output: str | os.PathLike, model_spec: str | None = None,
                      batch_size: int = 8, progress: bool = True, resume: bool = True, model=None,
                      max_duration_s: float | None = DEFAULT_MAX_DURATION_S, device: str | None = None,
                      reference=None) -> BatchSummary:
    """The local engine on the shared loop: one process, the model loaded once (or ``model``
    as given, with its own settings). ``reference``: a loaded `mmmos_core.reference` model
    whose scores each record carries as its ``reference`` block."""
    from mmmos_core import load_model

    if model is None:
        model = load_model(model_spec, device=device)
        model.max_duration_s = max_duration_s
    if reference is not None:
        model.reference = reference

    def scorer(todo: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        for i in range(0, len(todo), batch_size):
            yield score_items(model, todo[i:i + batch_size], chunk=batch_size)

    reference = getattr(model, "reference", None)
    return run_batch(items, output, scorer, model_name=model.name, progress=progress, resume=resume,
                     reference_name=reference.name if reference is not None else None)
