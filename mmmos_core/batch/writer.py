"""`ResumableWriter`: batch output that survives interruption and is never half written.

Records go to ``OUTPUT.parts/part-*.jsonl`` (each written under a temporary name, then
renamed), and `finalize` merges them into OUTPUT in input order (temporary file +
``os.replace``). A rerun with the same OUTPUT keeps every successful record of the earlier
run (parts left by an interrupted run, or the finished OUTPUT) and scores the rest. Error
records are retried, because most input errors (a file still being copied, a mount that
was down) are transient, and a permanent one costs only its own load attempt.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

from mmmos_core.errors import MMMOSError
from mmmos_core.tables import TableError, csv_text

from .inputs import item_key
from .records import (
    csv_columns,
    flatten_record,
    output_format,
    read_output_records,
    reference_model,
)

PARTS_SUFFIX = ".parts"
# Parts are cut by size or age, whichever comes first: a preempted run loses at most the
# batches in flight plus PART_SECONDS of finished work, and a long corpus makes few files.
PART_RECORDS = 256
PART_SECONDS = 10.0


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
                for record in read_output_records(self.output):
                    self._remember(record)
            except (OSError, UnicodeDecodeError, TableError):
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
                if self.fmt == "csv":  # file names are user input: every cell is formula-safe
                    rows = [flatten_record(json.loads(line)) for line in lines]
                    f.write(csv_text(rows, csv_columns(rows)))
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


class StreamWriter:
    """The writer's interface for a stream (``mmmos predict`` without ``--output``): each
    record is written as a JSON line the moment it is added, nothing is resumed; each
    error record's message also goes to ``errors`` (standard error), as the user reads it."""

    def __init__(self, stream, errors=None):
        self.stream = stream
        self.errors = errors

    def done_keys(self, model: str | None = None, reference: str | None = None) -> set[str]:
        return set()

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        records = list(records)
        self.stream.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        self.stream.flush()
        if self.errors is not None:
            for r in records:
                if r.get("error"):
                    print(f"mmmos: {r['error']}", file=self.errors)

    def finalize(self, items: list[dict[str, Any]] | None = None) -> None:
        self.stream.flush()

    def __enter__(self) -> "StreamWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.stream.flush()
