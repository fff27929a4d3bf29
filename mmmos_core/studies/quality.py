"""Rater quality control beyond agreement: straight-lining, too-fast answers, inconsistent repeats.

Each check turns into a reason in words on the rater's row, so an experimenter can see
why a rater was flagged and decide; Compare then shows every metric with and without
the flagged raters. Agreement with the others and gold items live in `agreement`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from mmmos_core.axes import AXES

MIN_RATINGS_TO_JUDGE = 5  # fewer ratings than this say nothing about a rater's habits


@dataclass(frozen=True)
class RatingEvent:
    """One rating as given: who, which clip, the scores, and the seconds spent on it (None: unknown)."""

    rater: str
    item: str
    scores: Mapping[str, float]
    seconds: float | None = None
    when: str = ""


@dataclass(frozen=True)
class QualitySettings:
    """Thresholds of the rater checks; the defaults are documented in docs/app.md."""

    min_corr: float = 0.25  # mean correlation with the others below this flags (agreement.screen_raters)
    max_gold_fail: float = 0.25  # share of failed gold items above this flags
    max_flat_sd: float = 0.3  # every axis' SD over the rater's clips at or below this is straight-lining
    min_time_fraction: float = 1.0  # time on a clip below this share of its duration is too fast
    max_fast_share: float = 0.25  # more than this share of too-fast ratings flags
    max_repeat_diff: float = 2.0  # mean |difference| between a clip's repeated ratings above this flags

    def to_json(self) -> dict[str, float]:
        return dict(vars(self))


@dataclass
class QualityFinding:
    rater: str
    ratings: int
    flat_sd: float  # the largest per-axis SD: near 0 means one score throughout
    too_fast: int = 0
    timed: int = 0  # ratings whose time and clip duration are both known
    repeats: int = 0
    repeat_diff: float = float("nan")
    reasons: list[str] = field(default_factory=list)


def _straight_lining(finding: QualityFinding, settings: QualitySettings) -> None:
    if finding.ratings >= MIN_RATINGS_TO_JUDGE and finding.flat_sd <= settings.max_flat_sd:
        finding.reasons.append(
            f"straight-lining: the same score on every clip (largest SD over axes {finding.flat_sd:.2f} "
            f"≤ {settings.max_flat_sd:.2f} on {finding.ratings} ratings)")


def _too_fast(finding: QualityFinding, events: list[RatingEvent], durations: Mapping[str, float],
              settings: QualitySettings) -> None:
    timed = [(e.seconds, durations[e.item]) for e in events
             if e.seconds is not None and e.seconds > 0 and durations.get(e.item)]
    finding.timed = len(timed)
    finding.too_fast = sum(spent < settings.min_time_fraction * dur for spent, dur in timed)
    if finding.timed >= MIN_RATINGS_TO_JUDGE and finding.too_fast / finding.timed > settings.max_fast_share:
        finding.reasons.append(
            f"too fast: {finding.too_fast} of {finding.timed} ratings given in less than "
            f"{settings.min_time_fraction:.0%} of the clip's duration")


def _repeats(finding: QualityFinding, events: list[RatingEvent], settings: QualitySettings) -> None:
    by_item: dict[str, list[Mapping[str, float]]] = {}
    for e in events:
        by_item.setdefault(e.item, []).append(e.scores)
    diffs = [np.mean([abs(float(s[0][a]) - float(s[1][a])) for a in AXES])
             for s in by_item.values() if len(s) >= 2]
    finding.repeats = len(diffs)
    if diffs:
        finding.repeat_diff = float(np.mean(diffs))
        if finding.repeat_diff > settings.max_repeat_diff:
            finding.reasons.append(
                f"inconsistent repeats: a clip heard twice differs by {finding.repeat_diff:.1f} points on average "
                f"over {finding.repeats} repeated clip(s) (limit {settings.max_repeat_diff:.1f})")


def check_raters(events: Iterable[RatingEvent], durations: Mapping[str, float] | None = None,
                 settings: QualitySettings | None = None) -> dict[str, QualityFinding]:
    """Per rater: straight-lining, too-fast answers (where clip durations are known) and
    repeated clips rated inconsistently. ``events`` are the rater's non-gold ratings in
    the order given, repeats included."""
    settings = settings or QualitySettings()
    durations = durations or {}
    by_rater: dict[str, list[RatingEvent]] = {}
    for e in events:
        by_rater.setdefault(e.rater, []).append(e)
    out = {}
    for rater, rows in by_rater.items():
        sds = [float(np.std([float(e.scores[a]) for e in rows])) for a in AXES]
        finding = QualityFinding(rater, len(rows), max(sds))
        _straight_lining(finding, settings)
        _too_fast(finding, rows, durations, settings)
        _repeats(finding, rows, settings)
        out[rater] = finding
    return out


def flat_raters(table_values: Mapping[str, np.ndarray], raters: list[str],
                settings: QualitySettings | None = None) -> dict[str, QualityFinding]:
    """Straight-lining from a raters x items matrix, for files with no per-rating events."""
    settings = settings or QualitySettings()
    out = {}
    for k, rater in enumerate(raters):
        rows = {a: table_values[a][k][~np.isnan(table_values[a][k])] for a in AXES}
        n = len(rows[AXES[0]])
        finding = QualityFinding(rater, n, max(float(np.std(v)) if len(v) else float("nan") for v in rows.values()))
        _straight_lining(finding, settings)
        out[rater] = finding
    return out
