"""Honest statistics for studies: minimum n, tie-exact means, pairwise system comparisons with Holm.

- Correlations of fewer than `MIN_N` units are not estimated: two clips always correlate
  perfectly, and a bootstrap of three systems says [1.00, 1.00] as if certain.
- Aggregated means are computed exactly (rational arithmetic, then one rounding), so
  two systems whose ratings have equal means get bit-identical floats: rank metrics
  (SRCC, KTAU) then see the tie, as scipy does on exact means.
- "Is system A better than B?" is answered per axis with a bootstrap CI of the
  difference and Holm-adjusted p-values over all pairs of the axis.
"""

from __future__ import annotations

import itertools
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np
from scipy import stats

# Smallest numbers of units a correlation is estimated on (docs/app.md, "Minimum n").
MIN_N = {"clips": 8, "systems": 5, "raters": 3}
TOO_FEW = "too few to estimate"


def exact_mean(values: Sequence[float]) -> float:
    """The mean of finite floats with one rounding at the end: equal exact means give equal floats."""
    vals = [Fraction(float(v)) for v in values if np.isfinite(v)]
    return float(sum(vals, Fraction(0)) / len(vals)) if vals else float("nan")


def column_means(matrix: np.ndarray) -> np.ndarray:
    """`exact_mean` of every column of a [raters, items] matrix (NaN = not rated). Whole-number
    ratings (the usual case) sum exactly in floats, so one division gives the same result fast."""
    m = np.asarray(matrix, dtype=float)
    finite = np.isfinite(m)
    if np.array_equal(m[finite], np.round(m[finite])) and (np.abs(m[finite]).sum() if finite.any() else 0) < 2**52:
        counts = finite.sum(axis=0)
        sums = np.where(finite, m, 0.0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return np.array([exact_mean(col) for col in m.T])


def group_means(values: Sequence[float], groups: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Exact mean per group, groups sorted by name."""
    names = sorted(set(groups))
    buckets: dict[str, list[float]] = {n: [] for n in names}
    for v, g in zip(values, groups):
        buckets[g].append(v)
    return names, np.array([exact_mean(buckets[n]) for n in names])


def too_few(n: int, level: str) -> str | None:
    """A note when ``n`` units of ``level`` ("clips", "systems", "raters") are too few to estimate from."""
    need = MIN_N[level]
    return None if n >= need else f"{TOO_FEW} ({n} {level} < {need})"


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order (NaN stays NaN and is not counted)."""
    p = np.asarray(p_values, dtype=float)
    finite = np.flatnonzero(np.isfinite(p))
    out = np.full(len(p), np.nan)
    m = len(finite)
    running = 0.0
    for rank, k in enumerate(finite[np.argsort(p[finite], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[k]))
        out[k] = running
    return out.tolist()


@contextmanager
def _quiet_bootstrap():
    """scipy warns when resamples are degenerate (constant); the callers drop those resamples
    from the distribution themselves, so the warning says nothing new."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _bootstrap_p(distribution: np.ndarray) -> float:
    """Two-sided bootstrap p-value of 'no difference': twice the smaller tail beyond zero."""
    d = distribution[np.isfinite(distribution)]
    if not len(d):
        return float("nan")
    return float(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))))


def mean_difference(a: Sequence[float], b: Sequence[float] | None = None, *, n_boot: int = 2000, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float, float, float]:
    """(difference, ci_low, ci_high, p). ``b=None``: ``a`` are paired differences already;
    otherwise mean(a) - mean(b) with each sample resampled on its own."""
    rng = np.random.default_rng(seed)
    a = np.asarray(a, dtype=float)
    if not len(a) or (b is not None and not len(b)):  # e.g. every rater of a system was flagged
        return (float("nan"),) * 4
    if b is None:
        data, stat = (a,), (lambda x, axis=-1: np.mean(x, axis=axis))
        value = float(np.mean(a))
    else:
        b = np.asarray(b, dtype=float)
        data = (a, b)
        stat = (lambda x, y, axis=-1: np.mean(x, axis=axis) - np.mean(y, axis=axis))
        value = float(np.mean(a) - np.mean(b))
    if n_boot <= 0 or min(len(x) for x in data) < 2:
        return value, float("nan"), float("nan"), float("nan")
    with _quiet_bootstrap():
        res = stats.bootstrap(data, stat, n_resamples=n_boot, confidence_level=level, method="percentile",
                              vectorized=True, paired=False, random_state=rng)
    return value, float(res.confidence_interval.low), float(res.confidence_interval.high), \
        _bootstrap_p(np.asarray(res.bootstrap_distribution))


@dataclass
class PairwiseRow:
    axis: str
    source: str  # "humans" | "model"
    system_a: str
    system_b: str
    difference: float  # mean(A) - mean(B) on the 1-10 scale
    ci_low: float
    ci_high: float
    p: float
    p_holm: float
    n: int  # raters (paired) or clips (unpaired) behind the difference
    unit: str

    @property
    def verdict(self) -> str:
        if not np.isfinite(self.p_holm):
            return TOO_FEW
        if self.p_holm >= 0.05:
            return "no clear difference"
        return f"{self.system_a} higher" if self.difference > 0 else f"{self.system_b} higher"


def _paired_by_rater(matrix: np.ndarray, sys_idx: np.ndarray, a: int, b: int) -> np.ndarray:
    """Per rater who heard both systems: their mean on A minus their mean on B."""
    out = []
    for row in matrix:
        ra = row[(sys_idx == a) & np.isfinite(row)]
        rb = row[(sys_idx == b) & np.isfinite(row)]
        if len(ra) and len(rb):
            out.append(exact_mean(ra) - exact_mean(rb))
    return np.array(out)


def pairwise_systems(axis: str, systems: Sequence[str], human_matrix: np.ndarray,
                     model: Sequence[float] | None = None, *, n_boot: int = 2000, seed: int = 0
                     ) -> list[PairwiseRow]:
    """Every pair of systems on one axis, humans and (when given) the model, Holm-adjusted per source.

    Humans: paired by rater (each rater's own A-minus-B mean), so a harsh rater does not
    blur the comparison, when at least ``MIN_N['raters']`` raters heard both systems;
    otherwise clip means of A against clip means of B. Model: clip predictions of A
    against those of B. ``human_matrix`` is raters x clips with NaN = not rated,
    ``systems`` the system of each clip, ``model`` one prediction per clip (NaN = none).
    """
    names = sorted(set(systems))
    sys_idx = np.array([names.index(s) for s in systems])
    clip_means = column_means(human_matrix)
    rows: list[PairwiseRow] = []
    for source in ("humans", "model"):
        if source == "model" and model is None:
            continue
        block = []
        for k, (a, b) in enumerate(itertools.combinations(range(len(names)), 2)):
            sub_seed = seed + 7919 * k
            if source == "humans":
                diffs = _paired_by_rater(human_matrix, sys_idx, a, b)
                if len(diffs) >= MIN_N["raters"]:
                    est, unit, n = mean_difference(diffs, n_boot=n_boot, seed=sub_seed), "raters (paired)", len(diffs)
                else:
                    xa, xb = clip_means[sys_idx == a], clip_means[sys_idx == b]
                    xa, xb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
                    est, unit, n = mean_difference(xa, xb, n_boot=n_boot, seed=sub_seed), "clips", len(xa) + len(xb)
            else:
                m = np.asarray(model, dtype=float)
                xa, xb = m[(sys_idx == a) & np.isfinite(m)], m[(sys_idx == b) & np.isfinite(m)]
                est, unit, n = mean_difference(xa, xb, n_boot=n_boot, seed=sub_seed), "clips", len(xa) + len(xb)
            block.append(PairwiseRow(axis, source, names[a], names[b], *est, float("nan"), n, unit))
        for row, adjusted in zip(block, holm([r.p for r in block])):
            row.p_holm = adjusted
        rows += block
    return rows



def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of every row pair of two [batch, n] arrays; NaN where a row is constant."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=-1) * (yc * yc).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc).sum(axis=-1) / den, np.nan)


def _kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    flat_x, flat_y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    out = [stats.kendalltau(a, b)[0] if np.ptp(a) and np.ptp(b) else np.nan for a, b in zip(flat_x, flat_y)]
    return np.array(out).reshape(x.shape[:-1])


# Each takes (pred, gold, axis) as scipy.stats.bootstrap passes resamples: rows along the last axis.
BOOTSTRAP_STATISTICS = {
    "MSE": lambda p, g, axis=-1: np.mean((p - g) ** 2, axis=axis),
    "LCC": lambda p, g, axis=-1: _pearson_rows(p, g),
    "SRCC": lambda p, g, axis=-1: _pearson_rows(stats.rankdata(p, axis=-1), stats.rankdata(g, axis=-1)),
    "KTAU": lambda p, g, axis=-1: _kendall_rows(p, g),
}


def metric_cis(pred: Sequence[float], gold: Sequence[float], n_boot: int = 1000, seed: int = 0,
               level: float = 0.95) -> dict[str, list[float] | None]:
    """Percentile bootstrap CIs of MSE, LCC, SRCC and KTAU by `scipy.stats.bootstrap` (pairs of
    prediction and label resampled together). Resamples where a correlation is undefined (all
    values equal) are left out, as the value itself would be; None when there is nothing to resample."""
    p, g = np.asarray(pred, dtype=float), np.asarray(gold, dtype=float)
    if n_boot <= 0 or len(p) < 2:
        return {m: None for m in BOOTSTRAP_STATISTICS}
    out = {}
    for k, (name, fn) in enumerate(BOOTSTRAP_STATISTICS.items()):
        with _quiet_bootstrap():
            res = stats.bootstrap((p, g), fn, n_resamples=n_boot, paired=True, vectorized=True,
                                  method="percentile", confidence_level=level,
                                  random_state=np.random.default_rng(seed + k))
        d = np.asarray(res.bootstrap_distribution, dtype=float)
        d = d[np.isfinite(d)]
        q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
        out[name] = [float(v) for v in np.percentile(d, q)] if len(d) else [float("nan")] * 2
    return out
