"""How many ratings the adaptive order saves: a simulation on real multi-rater data.

What it simulates (docs/app.md, "Adaptive order: what the simulation shows"):
- Data: a multi-rater label file (e.g. the Audiobox Aesthetics releases: every clip has
  ~10 individual ratings per axis). Each run subsamples ``items`` clips and, per clip,
  ``raters`` of its individual ratings (in random order): the pool a test could collect.
- A test is a series of rater sessions of ``session_clips`` clips each; a session takes
  its clips in the order the app would give at the start of that session, skipping
  clips whose pool is used up, and each rating draws the clip's next pooled rating.
  *random*: the plain per-rater shuffle. *adaptive*: `adaptive.adaptive_order` (the
  app's own code: 0.1-point bins, seeded tie shuffle) on a priority recomputed at every
  session start, like the app does from the ratings CSV.
- The priority is a stand-in: the audio of these clips is not available, so the rule's
  model terms (the members' SD and |human mean - model mean|) cannot be computed. In
  their place the priority is the clip's current 95% CI half-width on the human mean
  (mean over axes, points), i.e. "ask where the humans are still unsure"; clips with
  fewer than 2 ratings come first. So the numbers show what ordering by uncertainty
  saves when the uncertainty estimate is right; they do NOT show how well the model's
  spread predicts human disagreement, which the real rule relies on.
- Stop: for each target full CI width, the number of ratings given when every clip's
  95% t-interval (mean over axes) is at most the target or its pool is used up.
  Both orders see the same subsample in a run (a paired comparison); runs are seeded by
  ``seed`` so the table is the same every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mmmos_core.axes import AXES
from mmmos_core.errors import ManifestError
from mmmos_core.labels import read_labels

from .adaptive import adaptive_order

FIRST = 100.0  # priority of a clip with under 2 ratings (no interval yet): before any real half-width
ORDERS = ("random", "adaptive")


@dataclass
class SimulationSettings:
    items: int = 50
    raters: int = 10  # pooled ratings per clip
    session_clips: int = 10
    targets: tuple[float, ...] = (3.0, 2.5, 2.0, 1.5)  # full width of the 95% CI, points on 1-10
    runs: int = 20
    seed: int = 0

    def check(self) -> None:
        if self.items < 2 or self.raters < 3 or self.session_clips < 1 or self.runs < 1:
            raise ManifestError("simulation: use at least 2 clips, 3 raters per clip, 1 clip per session and 1 run")
        if not self.targets or any(not 0 < t < 20 for t in self.targets):
            raise ManifestError("simulation: target CI widths must be between 0 and 20 points")


@dataclass
class SimulationResult:
    summary: pd.DataFrame  # per target: ratings needed by each order (median, IQR) and ratings saved
    runs: pd.DataFrame  # per run, target and order: ratings needed
    settings: SimulationSettings
    notes: list[str] = field(default_factory=list)


def multi_rater_pools(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """(ratings[item, rater, axis], notes) from a label file with individual ratings per axis.
    Clips are cut to the rater count they all have on every axis."""
    labels = read_labels(path)
    rows = [r for r in labels.rows if r.ratings and all(a in r.ratings for a in AXES)]
    if len(rows) < 2:
        raise ManifestError(f"{Path(path).name}: needs individual ratings per axis (lists, as in the Audiobox "
                            "Aesthetics files) for 2 or more clips")
    depth = min(len(r.ratings[a]) for r in rows for a in AXES)
    pools = np.array([[[r.ratings[a][k] for a in AXES] for k in range(depth)] for r in rows], dtype=float)
    return pools, list(labels.notes)


def _widths(pool: np.ndarray) -> np.ndarray:
    """widths[n] = full 95% t-CI width (mean over axes) after the first n ratings; inf for n < 2."""
    out = np.full(len(pool) + 1, np.inf)
    for n in range(2, len(pool) + 1):
        sd = pool[:n].std(axis=0, ddof=1)
        out[n] = float(np.mean(2 * stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)))
    return out


def _ratings_needed(widths: np.ndarray, order: str, settings: SimulationSettings, seed: int) -> dict[float, int]:
    """Ratings given until each target is met (every clip within it or out of pooled ratings)."""
    items, depth = widths.shape[0], widths.shape[1] - 1
    counts = np.zeros(items, dtype=int)
    needed: dict[float, int] = {}
    rng = random.Random(seed)
    given = 0
    ids = [str(i) for i in range(items)]
    while len(needed) < len(settings.targets):
        open_ids = [i for i in ids if counts[int(i)] < depth]
        if order == "random":
            rng.shuffle(open_ids)
            sequence = open_ids
        else:
            priorities = {i: FIRST if counts[int(i)] < 2 else widths[int(i), counts[int(i)]] / 2 for i in open_ids}
            sequence = adaptive_order(open_ids, str, priorities, rng.getrandbits(64))
        for i in sequence[:settings.session_clips]:
            counts[int(i)] += 1
            given += 1
            current = widths[np.arange(items), counts]
            spent = counts >= depth
            for t in settings.targets:
                if t not in needed and bool(np.all((current <= t) | spent)):
                    needed[t] = given
    return needed


def simulate(pools: np.ndarray, settings: SimulationSettings | None = None) -> SimulationResult:
    """Ratings needed for each target CI width, random vs adaptive order (see the module docstring)."""
    settings = settings or SimulationSettings()
    settings.check()
    n_items, depth = pools.shape[0], pools.shape[1]
    items, raters = min(settings.items, n_items), min(settings.raters, depth)
    notes = []
    if items < settings.items or raters < settings.raters:
        notes.append(f"The file has {n_items} clips with {depth} ratings each: simulated {items} clips x {raters} "
                     "raters.")
    rows = []
    for run in range(settings.runs):
        rng = np.random.default_rng([settings.seed, run])
        chosen = rng.choice(n_items, size=items, replace=False)
        sub = np.stack([pools[i][rng.permutation(depth)[:raters]] for i in chosen])
        widths = np.stack([_widths(p) for p in sub])
        for order in ORDERS:  # same subsample and session seeds for both: a paired comparison
            for target, n in _ratings_needed(widths, order, settings, settings.seed * 100_003 + run).items():
                rows.append({"run": run, "target_width": target, "order": order, "ratings": n})
    runs = pd.DataFrame(rows)
    return SimulationResult(_summary(runs, items * raters), runs, settings, notes)


def _summary(runs: pd.DataFrame, pooled: int) -> pd.DataFrame:
    out = []
    for target, group in runs.groupby("target_width", sort=False):
        wide = group.pivot(index="run", columns="order", values="ratings")
        saved = wide["random"] - wide["adaptive"]
        row = {"target_width": target}
        for order in ORDERS:
            q1, med, q3 = np.percentile(wide[order], [25, 50, 75])
            row[f"{order}_median"], row[f"{order}_iqr"] = float(med), f"{q1:.0f}–{q3:.0f}"
        row["saved_median"] = float(np.median(saved))
        row["saved_share"] = float(np.median(saved / wide["random"]))
        row["runs_adaptive_fewer"] = int((saved > 0).sum())
        row["runs"] = len(wide)
        row["pooled_ratings"] = pooled
        out.append(row)
    return pd.DataFrame(out)


def simulate_file(path: str | Path, settings: SimulationSettings | None = None) -> SimulationResult:
    pools, notes = multi_rater_pools(path)
    result = simulate(pools, settings)
    result.notes = notes + result.notes
    return result


def parse_targets(text: str | Sequence[float]) -> tuple[float, ...]:
    """"3, 2.5, 2" -> (3.0, 2.5, 2.0); a clear error for anything else."""
    parts = text if not isinstance(text, str) else [p for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        return tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise ManifestError(f"target CI widths {text!r}: give numbers separated by commas, e.g. 3, 2.5, 2") from None
