"""`mmmos predict --timeline`: every record gains its ``windows`` list (start, end, four scores,
member spread). JSONL only: a list of windows has no honest place in a CSV row."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mmmos_core.errors import AudioInputError, MMMOSError

from .records import result_record


def run_timeline_predict(items: list[dict[str, Any]], model, output: str | None) -> int:
    """Score ``items`` one by one with their timelines with ``model`` (loaded with its options);
    returns the number that failed."""
    if output not in (None, "-") and Path(output).suffix.lower() not in (".jsonl", ".json"):
        raise MMMOSError(f"{output}: --timeline writes JSONL (a list of windows per clip), not "
                         f"{Path(output).suffix or 'this format'}")
    lines, failed = [], 0
    for item in items:
        try:
            result = model.predict(item["path"], start_time=item.get("start_time"),
                                   end_time=item.get("end_time"), timeline=True)
        except AudioInputError as exc:
            result, failed = exc, failed + 1
            print(f"mmmos: {exc}", file=sys.stderr)
        line = json.dumps(result_record(item, result)) + "\n"
        if output in (None, "-"):
            sys.stdout.write(line)
            sys.stdout.flush()
        else:
            lines.append(line)
    if output not in (None, "-"):
        Path(output).write_text("".join(lines), encoding="utf-8")
    return failed
