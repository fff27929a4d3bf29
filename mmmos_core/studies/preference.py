"""A/B preference results: win rates with CIs and a Bradley–Terry scale per axis, beside the model.

One answer is: a rater heard versions A and B of the same content and, for one axis,
preferred A, B or neither ("none"), optionally saying how strongly (slight / clear /
strong). Read from CSV/JSONL with columns ``rater, item, axis, system_a, system_b,
choice`` and optional ``strength``.

- Win rate of A over B: the share of decisive answers (ties left out and counted
  beside) preferring A, with a Wilson 95% interval (`scipy.stats.binomtest`).
- Bradley–Terry: P(i beats j) = p_i / (p_i + p_j), fitted per axis by Hunter's (2004)
  minorise-maximise iterations with a "no preference" counted as half a win for each
  side; reported as log-strengths centred on 0 (a difference of 1.0 means odds of
  e ≈ 2.7 to 1). Systems that never won or never lost have no finite strength; the
  fit adds a small prior (one half-win each way against a virtual average system) so
  every system gets a number, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from mmmos_core.axes import AXES
from mmmos_core.errors import ManifestError
from mmmos_core.tables import read_rows

CHOICES = {"a": "A", "b": "B", "none": "none", "no preference": "none", "tie": "none", "=": "none"}
STRENGTHS = ("slight", "clear", "strong")
PRIOR_WINS = 0.5  # half a win and half a loss against a virtual average system, per system


@dataclass(frozen=True)
class PreferenceAnswer:
    rater: str
    item: str
    axis: str
    system_a: str
    system_b: str
    choice: str  # "A" | "B" | "none"
    strength: str = ""


def read_preferences(path: str | Path) -> list[PreferenceAnswer]:
    """A/B answers from a CSV/TSV/JSONL file; a bad row is an error naming the file and line."""
    path = Path(path)
    out = []
    required = ("rater", "item", "axis", "system_a", "system_b", "choice")
    for where, f in read_rows(path, what="A/B results", required=required):
        if f["axis"] not in AXES:
            raise ManifestError(f"{where}: axis {f['axis']!r} is not one of {', '.join(AXES)}")
        choice = CHOICES.get(f["choice"].lower())
        if choice is None:
            raise ManifestError(f"{where}: choice {f['choice']!r} is not A, B or none")
        strength = f.get("strength", "").lower()
        if strength and strength not in STRENGTHS:
            raise ManifestError(f"{where}: strength {strength!r} is not one of {', '.join(STRENGTHS)}")
        if f["system_a"] == f["system_b"]:
            raise ManifestError(f"{where}: A and B are the same system {f['system_a']!r}")
        out.append(PreferenceAnswer(f["rater"], f["item"], f["axis"], f["system_a"], f["system_b"], choice,
                                    strength))
    if not out:
        raise ManifestError(f"{path.name}: no A/B answers")
    return out


def bradley_terry(systems: Sequence[str], wins: np.ndarray, *, iterations: int = 500,
                  tol: float = 1e-10) -> np.ndarray:
    """Log-strengths (centred) from ``wins[i, j]`` = times i beat j (half-wins allowed), by MM.
    Each system gets `PRIOR_WINS` wins and losses against a virtual system of strength 1."""
    w = np.asarray(wins, dtype=float)
    games = w + w.T
    total_wins = w.sum(axis=1) + PRIOR_WINS
    p = np.ones(len(systems))
    for _ in range(iterations):
        # The virtual system (strength 1) anchors the scale, so no renormalising inside the loop.
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1) + 2 * PRIOR_WINS / (p + 1.0)
        new = total_wins / denom
        if np.max(np.abs(np.log(new) - np.log(p))) < tol:
            p = new
            break
        p = new
    logs = np.log(p)
    return logs - logs.mean()


def analyse_preferences(answers: Iterable[PreferenceAnswer],
                        model_scores: Mapping[str, Mapping[str, float]] | None = None
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pairs, scale). pairs: per axis and system pair, wins, ties, win rate of A with a Wilson CI.
    scale: per axis and system, Bradley–Terry log-strength, and the model's mean score where given
    (``model_scores``: system -> axis -> mean predicted score)."""
    answers = list(answers)
    pair_rows, scale_rows = [], []
    for axis in AXES:
        sel = [a for a in answers if a.axis == axis]
        if not sel:
            continue
        systems = sorted({a.system_a for a in sel} | {a.system_b for a in sel})
        idx = {s: k for k, s in enumerate(systems)}
        wins = np.zeros((len(systems), len(systems)))
        counts: dict[tuple[str, str], list[int]] = {}
        for a in sel:
            lo, hi = sorted((a.system_a, a.system_b))
            c = counts.setdefault((lo, hi), [0, 0, 0])  # lo wins, hi wins, ties
            winner = a.system_a if a.choice == "A" else a.system_b if a.choice == "B" else None
            if winner is None:
                c[2] += 1
                wins[idx[lo], idx[hi]] += 0.5
                wins[idx[hi], idx[lo]] += 0.5
            else:
                loser = a.system_b if winner == a.system_a else a.system_a
                c[0 if winner == lo else 1] += 1
                wins[idx[winner], idx[loser]] += 1
        for (lo, hi), (w_lo, w_hi, ties) in sorted(counts.items()):
            decisive = w_lo + w_hi
            ci = binomtest(w_lo, decisive).proportion_ci(0.95, method="wilson") if decisive else None
            pair_rows.append({"axis": axis, "system_a": lo, "system_b": hi, "a_wins": w_lo, "b_wins": w_hi,
                              "no_preference": ties, "win_rate_a": w_lo / decisive if decisive else float("nan"),
                              "ci_low": ci.low if ci else float("nan"), "ci_high": ci.high if ci else float("nan")})
        strength = bradley_terry(systems, wins)
        for s, bt in zip(systems, strength):
            model = (model_scores or {}).get(s, {}).get(axis, float("nan"))
            scale_rows.append({"axis": axis, "system": s, "bradley_terry": float(bt), "model_mean": model})
    return pd.DataFrame(pair_rows), pd.DataFrame(scale_rows)
