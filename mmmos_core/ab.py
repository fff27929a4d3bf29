"""A/B: two clips scored by the same model, the difference per axis with an uncertainty interval
and one plain sentence per axis.

The interval (documented in docs/app.md):
- members: both clips are scored by the same members, so each member gives a paired
  difference d_m = B_m - A_m; their std is the model's own uncertainty about the difference
  (not divided by sqrt(M): members are trained on the same data and are not independent draws);
- windows: for a clip of several windows, the clip score is a length-weighted mean over
  windows, whose standard error sqrt(sum w_i^2 (x_i - mean)^2) / sum w_i says how much it
  depends on which stretch was heard; it is added for each long clip;
- interval = mean(d) ± 1.96 * sqrt(std_members(d)^2 + se_A^2 + se_B^2).
A difference is called "clearly" higher when the interval excludes 0 and the difference is
at least `CLEAR` points, "slightly" higher when the interval excludes 0 but it is smaller,
and "about the same" otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from mmmos_core.axes import AXES

Z95 = 1.96
CLEAR = 0.5  # points on the 1-10 scale


@dataclass
class AxisDifference:
    axis: str
    a: float
    b: float
    difference: float  # b - a
    low: float
    high: float
    verdict: str  # "higher", "slightly higher", "lower", "slightly lower", "same"
    sentence: str


@dataclass
class ABComparison:
    a: str
    b: str
    model: str
    axes: list[AxisDifference]

    def to_record(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "model": self.model,
                "differences": {d.axis: {k: (round(v, 6) if isinstance(v, float) else v)
                                         for k, v in asdict(d).items() if k != "axis"} for d in self.axes},
                "sentences": [d.sentence for d in self.axes]}


def window_standard_error(record: Mapping[str, Any], axis: str) -> float:
    """Standard error of a clip's length-weighted mean over its windows (0 for one window)."""
    windows = record.get("windows") or []
    if len(windows) < 2:
        return 0.0
    w = np.array([x["end"] - x["start"] for x in windows], dtype=float)
    v = np.array([x[axis] for x in windows], dtype=float)
    mean = float(np.dot(w, v) / w.sum())
    return float(np.sqrt(np.sum(w ** 2 * (v - mean) ** 2)) / w.sum())


def _sentence(axis: str, verdict: str, d: float, half: float) -> str:
    if verdict == "same":
        return f"{axis}: about the same (B − A = {d:+.1f} ± {half:.1f})."
    more = "more complex" if axis == "PC" else "higher"
    less = "less complex" if axis == "PC" else "lower"
    word = more if d > 0 else less
    strength = "clearly" if not verdict.startswith("slightly") else "slightly"
    tail = " (more complexity is not better)" if axis == "PC" else ""
    return f"{axis}: B is {strength} {word} than A ({d:+.1f} ± {half:.1f}){tail}."


def compare_records(a: Mapping[str, Any], b: Mapping[str, Any]) -> ABComparison:
    """Compare two `mmmos predict` records of the same model (members in the same order)."""
    if a.get("model") != b.get("model"):
        raise ValueError(f"the clips were scored by different models ({a.get('model')} and {b.get('model')})")
    out = []
    for axis in AXES:
        paired = np.array([mb[axis] - ma[axis] for ma, mb in zip(a["members"], b["members"])], dtype=float)
        d = float(b[axis] - a[axis])
        spread = float(paired.std()) if paired.size > 1 else 0.0
        half = Z95 * float(np.sqrt(spread ** 2 + window_standard_error(a, axis) ** 2 +
                                   window_standard_error(b, axis) ** 2))
        low, high = d - half, d + half
        if low > 0 or high < 0:
            direction = "higher" if d > 0 else "lower"
            verdict = direction if abs(d) >= CLEAR else f"slightly {direction}"
        else:
            verdict = "same"
        out.append(AxisDifference(axis, float(a[axis]), float(b[axis]), d, low, high, verdict,
                                  _sentence(axis, verdict, d, half)))
    name = lambda r: str(r.get("file") or r.get("path"))  # noqa: E731 - app records say file, CLI ones path
    return ABComparison(name(a), name(b), str(a.get("model")), out)


def compare_clips(model, path_a: str, path_b: str) -> tuple[dict[str, Any], dict[str, Any], ABComparison | None]:
    """Score two clips (with timelines) and compare them. A clip that cannot be scored gets an
    error record naming it and the problem; the other clip's record still comes back."""
    from mmmos_core.errors import AudioInputError
    from mmmos_core.model.results import error_record

    records = []
    for path in (path_a, path_b):
        try:
            records.append(model.predict(path, timeline=True).to_record())
        except AudioInputError as exc:
            records.append(error_record(path, str(exc)))
    ra, rb = records
    both = not ra.get("error") and not rb.get("error")
    return ra, rb, compare_records(ra, rb) if both else None
