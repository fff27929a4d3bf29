"""Results of the other test designs (A/B preference, MUSHRA-style), recognised by their columns.

Lets Compare take a results file from this project's format (or another tool's export
mapped onto these columns) and give its tables, with the model's mean score per
system beside the listeners' where predictions with a ``system`` are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mmmos_core.axes import AXES
from mmmos_core.errors import ManifestError
from mmmos_core.labels import read_predictions
from mmmos_core.tables import read_records

from .mushra import condition_means, read_mushra
from .preference import analyse_preferences, read_preferences


@dataclass
class DesignResults:
    design: str  # "ab" | "mushra"
    tables: dict[str, pd.DataFrame]
    notes: list[str] = field(default_factory=list)


def detect_design(path: str | Path) -> str:
    """``ab`` for files with a ``choice`` column, ``mushra`` for ``condition`` + ``score``."""
    records = read_records(path, what="results")
    columns = set(records[0].fields) if records else set()
    if "choice" in columns:
        return "ab"
    if {"condition", "score"} <= columns:
        return "mushra"
    raise ManifestError(f"{Path(path).name}: not A/B results (a 'choice' column) nor MUSHRA results "
                        "('condition' and 'score' columns)")


def model_means_by_system(path: str | Path) -> dict[str, dict[str, float]]:
    """system -> axis -> mean prediction, from a predictions file whose rows carry a ``system``."""
    sums: dict[str, list[dict[str, float]]] = {}
    for row in read_predictions(path):
        if row.system:
            sums.setdefault(str(row.system), []).append(row.scores)
    return {s: {a: float(np.mean([r[a] for r in rows])) for a in AXES} for s, rows in sums.items()}


def analyse_design(path: str | Path, predictions: str | Path | None = None) -> DesignResults:
    design = detect_design(path)
    notes = []
    if design == "ab":
        model = model_means_by_system(predictions) if predictions else None
        if predictions and not model:
            notes.append("The predictions have no 'system' field, so the model's scores cannot be shown per system.")
        pairs, scale = analyse_preferences(read_preferences(path), model)
        notes.append("Win rate of A over B among decisive answers, Wilson 95% CI; 'no preference' counted beside. "
                     "Bradley–Terry log-strengths per axis (0 = average; +1 = e ≈ 2.7 times the odds).")
        return DesignResults("ab", {"pairs": pairs, "scale": scale}, notes)
    means, screening = condition_means(read_mushra(path))
    excluded = screening[screening.excluded]
    if len(excluded):
        notes.append(f"{excluded.rater.nunique()} rater(s) excluded by BS.1534 post-screening (hidden reference "
                     "below 90 in more than 15% of trials): " + ", ".join(sorted(set(excluded.rater))) + ".")
    notes.append("Per condition: mean over kept raters (each rater's own mean first), t-based 95% CI.")
    return DesignResults("mushra", {"conditions": means, "screening": screening}, notes)
