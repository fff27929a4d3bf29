"""Context for a score: where a clip falls among clips the visitor can hear for themselves.

"6.1" means little alone; "above 4 of the 6 example clips, closest to the clean audiobook
(6.0)" says what 6.1 sounds like. The reference set is whatever clips the caller scored
with the same model (the app uses its bundled examples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from mmmos_core.axes import AXES


@dataclass
class AxisContext:
    axis: str
    score: float
    percentile: float  # share of the reference clips scoring below this clip, 0-100
    below: int  # how many reference clips score lower
    total: int
    nearest: str  # the reference clip closest on this axis
    nearest_score: float

    def sentence(self) -> str:
        return (f"{self.axis} {self.score:.1f}: above {self.below} of {self.total} examples; "
                f"closest: {self.nearest} ({self.nearest_score:.1f})")


def readable_name(name: str) -> str:
    """'speech_ljspeech_audiobook.wav' -> 'speech ljspeech audiobook' (as the examples are labelled)."""
    stem = name.rsplit(".", 1)[0]
    return stem.replace("_", " ")


def context_strip(record: Mapping[str, Any], references: Sequence[Mapping[str, Any]]) -> list[AxisContext]:
    """Per axis, this clip against ``references`` (records of the same model); a reference that is
    the clip itself (same name) is left out. Empty when there is nothing to compare with."""
    name = record.get("file") or record.get("path")
    others = [r for r in references if (r.get("file") or r.get("path")) != name and not r.get("error")]
    if not others:
        return []
    out = []
    for a in AXES:
        score = float(record[a])
        below = sum(1 for r in others if r[a] < score)
        nearest = min(others, key=lambda r: abs(r[a] - score))
        out.append(AxisContext(a, score, 100.0 * below / len(others), below, len(others),
                               readable_name(str(nearest.get("file") or nearest.get("path"))), float(nearest[a])))
    return out
