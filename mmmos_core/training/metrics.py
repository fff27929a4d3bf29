"""Challenge metrics (MSE, LCC, SRCC, KTAU) at utterance and system level, with bootstrap CIs.

System level follows the AudioMOS convention: average predictions and labels per
system first, then compare the system means.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy import stats

METRICS: tuple[str, ...] = ("MSE", "LCC", "SRCC", "KTAU")


def _mse(p: np.ndarray, g: np.ndarray) -> float:
    return float(np.mean((p - g) ** 2))


def _corr(fn: Callable) -> Callable[[np.ndarray, np.ndarray], float]:
    def f(p: np.ndarray, g: np.ndarray) -> float:
        # A constant input has no correlation; say NaN rather than let scipy warn.
        if len(p) < 2 or np.ptp(p) == 0 or np.ptp(g) == 0:
            return float("nan")
        return float(fn(p, g)[0])
    return f


METRIC_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "MSE": _mse,
    "LCC": _corr(stats.pearsonr),
    "SRCC": _corr(stats.spearmanr),
    "KTAU": _corr(stats.kendalltau),
}


def compute_metrics(pred: Sequence[float], gold: Sequence[float]) -> dict[str, float]:
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gold, dtype=np.float64)
    if p.shape != g.shape:
        raise ValueError(f"prediction and label counts differ: {p.shape} vs {g.shape}")
    return {name: fn(p, g) for name, fn in METRIC_FUNCTIONS.items()}


def system_means(values: np.ndarray, systems: Sequence[str]) -> tuple[list[str], np.ndarray]:
    names = sorted(set(systems))
    index = {s: i for i, s in enumerate(names)}
    idx = np.array([index[s] for s in systems])
    sums = np.zeros(len(names))
    np.add.at(sums, idx, values)
    counts = np.bincount(idx, minlength=len(names))
    return names, sums / counts


def bootstrap_ci(pred: np.ndarray, gold: np.ndarray, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict[str, list[float]]:
    """Percentile intervals from resampling items with replacement (the unit of the level)."""
    rng = np.random.default_rng(seed)
    n = len(pred)
    draws = {m: [] for m in METRICS}
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        for m, fn in METRIC_FUNCTIONS.items():
            draws[m].append(fn(pred[i], gold[i]))
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    out = {}
    for m, values in draws.items():
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        out[m] = [float(np.percentile(v, lo)), float(np.percentile(v, hi))] if len(v) else [float("nan")] * 2
    return out


def metric_table(pred: Sequence[float], gold: Sequence[float], systems: Sequence[str] | None = None,
                 n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, dict[str, object]]]:
    """One axis: {"utterance": {metric: {"value", "ci"}}, "system": {...} when systems are given}.

    ``n_boot=0`` skips the confidence intervals (they are then ``None``).
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gold, dtype=np.float64)
    levels = {"utterance": (p, g)}
    if systems is not None:
        if len(systems) != len(p):
            raise ValueError("one system id per item is needed")
        _, sp = system_means(p, systems)
        _, sg = system_means(g, systems)
        levels["system"] = (sp, sg)
    table: dict[str, dict[str, dict[str, object]]] = {}
    for level, (a, b) in levels.items():
        values = compute_metrics(a, b)
        cis = bootstrap_ci(a, b, n_boot, seed) if n_boot > 0 and len(a) > 1 else {m: None for m in METRICS}
        table[level] = {m: {"value": values[m], "ci": cis[m]} for m in METRICS}
    return table
