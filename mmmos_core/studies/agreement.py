"""Rater statistics: agreement (Krippendorff's alpha), each rater against the others, screening.

Ratings are held as one raters x items matrix per axis with NaN where a rater did
not rate an item: listening tests are sparse (each rater hears part of the pool),
the Audiobox files are dense (10 ratings per clip).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import krippendorff
import numpy as np

from mmmos_core.axes import AXES

MIN_ITEMS_TO_SCREEN = 5  # fewer shared items than this says nothing about a rater


@dataclass
class RatingTable:
    raters: list[str]
    items: list[str]
    values: dict[str, np.ndarray]  # axis -> [raters, items], NaN = not rated

    @classmethod
    def from_long(cls, records: Iterable[tuple[str, str, Mapping[str, float]]]) -> "RatingTable":
        """records: (rater, item, {axis: score}). A rater rating an item twice counts once, averaged."""
        records = list(records)
        raters = sorted({r for r, _, _ in records})
        items = list(dict.fromkeys(i for _, i, _ in records))
        r_idx = {r: k for k, r in enumerate(raters)}
        i_idx = {i: k for k, i in enumerate(items)}
        sums = {a: np.zeros((len(raters), len(items))) for a in AXES}
        counts = np.zeros((len(raters), len(items)))
        for rater, item, scores in records:
            r, i = r_idx[rater], i_idx[item]
            counts[r, i] += 1
            for a in AXES:
                sums[a][r, i] += float(scores[a])
        with np.errstate(invalid="ignore", divide="ignore"):
            values = {a: np.where(counts > 0, sums[a] / counts, np.nan) for a in AXES}
        return cls(raters, items, values)

    def subset(self, raters: Iterable[str] | None = None, items: Iterable[str] | None = None) -> "RatingTable":
        r_keep = list(self.raters) if raters is None else [r for r in self.raters if r in set(raters)]
        i_keep = list(self.items) if items is None else [i for i in self.items if i in set(items)]
        r_idx = [self.raters.index(r) for r in r_keep]
        i_pos = {i: k for k, i in enumerate(self.items)}
        i_idx = [i_pos[i] for i in i_keep]
        return RatingTable(r_keep, i_keep, {a: v[np.ix_(r_idx, i_idx)] for a, v in self.values.items()})

    def n_ratings(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.values[AXES[0]])))

    def item_means(self, axis: str) -> np.ndarray:
        v = self.values[axis]
        with _quiet():
            return np.nanmean(v, axis=0) if v.size else np.full(len(self.items), np.nan)

    def z_normalised(self) -> "RatingTable":
        """Per rater and axis, z-scores mapped back onto the pooled mean and spread.

        Removes each rater's own offset and use of the scale, and keeps numbers on the
        1-10 scale so they still compare with model scores. A rater who gave one value
        throughout keeps their centred ratings (no spread to divide by).
        """
        out = {}
        for a, v in self.values.items():
            with _quiet():
                mu_all, sd_all = np.nanmean(v), np.nanstd(v)
                mu = np.nanmean(v, axis=1, keepdims=True)
                sd = np.nanstd(v, axis=1, keepdims=True)
            sd = np.where(sd > 0, sd, 1.0)
            out[a] = (v - mu) / sd * sd_all + mu_all
        return RatingTable(list(self.raters), list(self.items), out)


@contextmanager
def _quiet():
    """np.nanmean on an all-NaN slice warns; a rater with no ratings is not an error here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def krippendorff_alpha_interval(matrix: np.ndarray) -> float:
    """Krippendorff's alpha, interval metric, for a [raters, items] matrix with NaN = missing,
    by the `krippendorff` package. NaN when nothing is pairable (no item has two ratings) or
    there is no variation at all: the package refuses those, and they have no alpha."""
    v = np.asarray(matrix, dtype=np.float64)
    pairable = np.count_nonzero(~np.isnan(v), axis=0) >= 2
    if not pairable.any() or np.ptp(v[:, pairable][~np.isnan(v[:, pairable])]) == 0:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=v, level_of_measurement="interval"))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def rater_vs_others(table: RatingTable, axis: str) -> list[tuple[float, int]]:
    """Per rater: Pearson correlation with the mean of the other raters on shared items, and n items."""
    v = table.values[axis]
    present = ~np.isnan(v)
    total = np.where(present, v, 0.0).sum(axis=0)
    count = present.sum(axis=0)
    out = []
    for r in range(len(table.raters)):
        others_n = count - present[r]
        mask = present[r] & (others_n > 0)
        others_mean = (total[mask] - v[r, mask]) / others_n[mask]
        out.append((_pearson(v[r, mask], others_mean), int(mask.sum())))
    return out


@dataclass
class RaterScreen:
    rater: str
    n_items: int
    corr: dict[str, float]  # axis -> correlation with the mean of the others
    mean_corr: float
    gold_items: int = 0
    gold_failed: int = 0
    flagged: bool = False
    reasons: list[str] = field(default_factory=list)


def screen_raters(table: RatingTable, gold: Mapping[str, tuple[int, int]] | None = None,
                  min_corr: float = 0.25, max_gold_fail: float = 0.25) -> list[RaterScreen]:
    """Flag raters who fail gold items or disagree with everyone else.

    gold: rater -> (gold items rated, gold items failed). A rater is flagged when the
    failed share exceeds ``max_gold_fail``, or when their mean (over axes) correlation
    with the others is below ``min_corr`` on at least `MIN_ITEMS_TO_SCREEN` items.
    """
    gold = gold or {}
    per_axis = {a: rater_vs_others(table, a) for a in AXES}
    screens = []
    for k, rater in enumerate(table.raters):
        corr = {a: per_axis[a][k][0] for a in AXES}
        n_items = max(per_axis[a][k][1] for a in AXES)
        finite = [c for c in corr.values() if np.isfinite(c)]
        mean_corr = float(np.mean(finite)) if finite else float("nan")
        g_n, g_fail = gold.get(rater, (0, 0))
        s = RaterScreen(rater, n_items, corr, mean_corr, g_n, g_fail)
        if g_n and g_fail / g_n > max_gold_fail:
            s.reasons.append(f"failed {g_fail} of {g_n} gold items")
        if n_items >= MIN_ITEMS_TO_SCREEN and np.isfinite(mean_corr) and mean_corr < min_corr:
            s.reasons.append(f"correlation with the others {mean_corr:.2f} < {min_corr:.2f}")
        elif n_items >= MIN_ITEMS_TO_SCREEN and not finite:
            # One score throughout has no correlation at all; an empty number must not read as "fine".
            s.reasons.append("no correlation with the others can be computed: the rater's scores do not vary")
        s.flagged = bool(s.reasons)
        screens.append(s)
    return screens


@dataclass
class AgreementRow:
    axis: str
    alpha_all: float
    alpha_kept: float
    raters_all: int
    raters_kept: int
    items: int
    ratings: int


def agreement(table: RatingTable, kept_raters: Iterable[str]) -> list[AgreementRow]:
    kept = table.subset(raters=list(kept_raters))
    rows = []
    for a in AXES:
        v = table.values[a]
        rows.append(AgreementRow(
            a, krippendorff_alpha_interval(v), krippendorff_alpha_interval(kept.values[a]),
            len(table.raters), len(kept.raters), len(table.items), int(np.count_nonzero(~np.isnan(v)))))
    return rows
