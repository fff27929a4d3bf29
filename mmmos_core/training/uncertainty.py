"""How sure the ensemble is, per axis (the paper reports no uncertainty).

Two views, both from the members' predictions on a labelled set:

- member spread: the standard deviation across members of each clip's prediction,
  averaged over clips (rating points): how much the members disagree;
- a bootstrap over members: resample the members with replacement, average them,
  score the resampled ensemble; the percentile interval says how much the ensemble's
  metric depends on which members it happened to get (not on which clips were rated,
  which `metrics.bootstrap_ci` covers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmmos_core.axes import AXES

from .metrics import compute_metrics


def ensemble_uncertainty(member_preds: np.ndarray, gold: np.ndarray, n_boot: int = 200, seed: int = 0,
                         level: float = 0.95) -> dict[str, Any]:
    """member_preds [M, N, A], gold [N, A] -> {axis: {member_spread, SRCC, SRCC_ci, MSE, MSE_ci}}."""
    member_preds = np.asarray(member_preds, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.float64)
    m = member_preds.shape[0]
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, m, m) for _ in range(n_boot)] if m > 1 else []
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    out: dict[str, Any] = {"members": m, "n_boot": len(draws)}
    for a, axis in enumerate(AXES):
        preds = member_preds[:, :, a]
        point = compute_metrics(preds.mean(axis=0), gold[:, a])
        entry: dict[str, Any] = {"member_spread": float(preds.std(axis=0).mean()) if m > 1 else 0.0}
        resampled = [compute_metrics(preds[d].mean(axis=0), gold[:, a]) for d in draws]
        for metric in ("SRCC", "MSE"):
            values = np.array([r[metric] for r in resampled])
            values = values[np.isfinite(values)]
            entry[metric] = point[metric]
            entry[f"{metric}_ci"] = ([float(np.percentile(values, lo)), float(np.percentile(values, hi))]
                                     if len(values) else None)
        out[axis] = entry
    return out
