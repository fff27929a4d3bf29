"""Multi-stimulus (MUSHRA-style) results, analysed by ITU-R BS.1534-3 conventions.

One answer is a 0-100 score a rater gave one condition (system, version) of one trial
(item), on one axis, with the other conditions of the trial on the same screen. A
trial may hold a hidden reference (``role = reference``) and anchors (``role =
anchor``). Read from CSV/JSONL with columns ``rater, item, axis, condition, score``
and optional ``role``.

- Post-screening (BS.1534-3, 4.1.2): a rater who scores the hidden reference below 90
  in more than 15% of their trials is excluded; the report names them and why.
- Per condition and axis: the mean over the kept raters' scores with a 95% CI from
  the t distribution over raters (each rater's mean for the condition, so a rater
  who heard more trials does not count more), and n raters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from mmmos_core.errors import ManifestError
from mmmos_core.tables import read_rows

REFERENCE_FLOOR = 90.0  # a hidden reference scored below this counts as missed
MAX_MISSED_SHARE = 0.15  # more than this share of trials with the reference missed excludes the rater
ROLES = ("", "reference", "anchor")


@dataclass(frozen=True)
class MushraScore:
    rater: str
    item: str
    axis: str
    condition: str
    score: float
    role: str = ""  # "", "reference" or "anchor"


def read_mushra(path: str | Path) -> list[MushraScore]:
    """Scores from a CSV/TSV/JSONL file; a bad row is an error naming the file and line."""
    path = Path(path)
    out = []
    for where, f in read_rows(path, what="MUSHRA results", required=("rater", "item", "axis", "condition", "score")):
        try:
            score = float(f["score"])
        except ValueError:
            raise ManifestError(f"{where}: score {f['score']!r} is not a number") from None
        if not 0 <= score <= 100:
            raise ManifestError(f"{where}: score {score:g} is outside 0-100")
        role = f.get("role", "").lower()
        if role not in ROLES:
            raise ManifestError(f"{where}: role {role!r} is not reference, anchor or empty")
        out.append(MushraScore(f["rater"], f["item"], f["axis"], f["condition"], score, role))
    if not out:
        raise ManifestError(f"{path.name}: no MUSHRA scores")
    return out


def screen_mushra(scores: Iterable[MushraScore]) -> pd.DataFrame:
    """Per rater and axis: trials with a hidden reference, how many scored it below 90, excluded and why."""
    missed: dict[tuple[str, str], list[bool]] = {}
    for s in scores:
        if s.role == "reference":
            missed.setdefault((s.rater, s.axis), []).append(s.score < REFERENCE_FLOOR)
    rows = []
    for (rater, axis), flags in sorted(missed.items()):
        share = sum(flags) / len(flags)
        excluded = share > MAX_MISSED_SHARE
        rows.append({"rater": rater, "axis": axis, "reference_trials": len(flags), "reference_below_90": sum(flags),
                     "excluded": excluded,
                     "reason": (f"scored the hidden reference below {REFERENCE_FLOOR:g} in {sum(flags)} of "
                                f"{len(flags)} trials (more than {MAX_MISSED_SHARE:.0%})") if excluded else ""})
    return pd.DataFrame(rows, columns=["rater", "axis", "reference_trials", "reference_below_90", "excluded",
                                       "reason"])


def condition_means(scores: Iterable[MushraScore], level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(means, screening). means: per axis and condition, mean over kept raters with a t-based CI."""
    scores = list(scores)
    screening = screen_mushra(scores)
    out = set(zip(screening.loc[screening.excluded, "rater"], screening.loc[screening.excluded, "axis"]))
    per_rater: dict[tuple[str, str, str], list[float]] = {}
    roles: dict[tuple[str, str], str] = {}
    for s in scores:
        if (s.rater, s.axis) in out:
            continue
        per_rater.setdefault((s.axis, s.condition, s.rater), []).append(s.score)
        roles[(s.axis, s.condition)] = s.role or roles.get((s.axis, s.condition), "")
    groups: dict[tuple[str, str], list[float]] = {}
    for (axis, condition, _), values in per_rater.items():
        groups.setdefault((axis, condition), []).append(float(np.mean(values)))
    rows = []
    for (axis, condition), values in sorted(groups.items()):
        v = np.asarray(values)
        mean = float(v.mean())
        if len(v) >= 2 and v.std(ddof=1) > 0:
            half = float(stats.t.ppf((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
            lo, hi = mean - half, mean + half
        else:
            lo = hi = float("nan")
        rows.append({"axis": axis, "condition": condition, "role": roles[(axis, condition)], "mean": mean,
                     "ci_low": lo, "ci_high": hi, "raters": len(v)})
    return pd.DataFrame(rows), screening
