"""Results of the other test designs (A/B preference, MUSHRA-style), recognised by their columns.

Lets Compare take a results file from this project's format (or another tool's export
mapped onto these columns), or this app's ratings CSV with the answers of A/B and MUSHRA
playlists run in the Listening tab (studies.trials), and give its tables, with the
model's mean score per system beside the listeners' where predictions with a ``system``
are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mmmos_core.axes import AXES
from mmmos_core.errors import ManifestError
from mmmos_core.labels import read_predictions
from mmmos_core.tables import DEFAULT_MAX_BYTES, read_records

from .mushra import MushraScore, condition_means, read_mushra
from .preference import PreferenceAnswer, analyse_preferences, read_preferences
from .ratings import is_ratings_csv, parse_ratings_csv
from .trials import mushra_scores, preference_answers

DESIGN_NAMES = {"ab": "A/B", "mushra": "MUSHRA"}


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


def answers_in_ratings_csv(path: Path, design: str | None = None, playlists: list[str] | None = None,
                           max_bytes: int = DEFAULT_MAX_BYTES
                           ) -> tuple[str, list[PreferenceAnswer] | list[MushraScore]] | None:
    """(design, answers) from this app's ratings CSV, or None when ``path`` is not one.
    ``design``: which to take when the file holds both; ``playlists``: only these (empty = all)."""
    if path.stat().st_size > max_bytes:
        raise ManifestError(f"{path.name}: {path.stat().st_size / 2**20:.0f} MB is over the "
                            f"{max_bytes / 2**20:.0f} MB limit for a results file")
    raw = path.read_bytes()
    if not is_ratings_csv(raw[:4096]):
        return None
    rows = [r for r in parse_ratings_csv(raw, path.name).answers if not playlists or r["playlist"] in playlists]
    found = {"ab": preference_answers(rows), "mushra": mushra_scores(rows)}
    present = [d for d, answers in found.items() if answers]
    if design:
        if design not in found:
            raise ManifestError(f"design {design!r} is not one of {', '.join(found)}")
        present = [design] if found[design] else []
    if not present:
        wanted = DESIGN_NAMES.get(design or "", "A/B or MUSHRA")
        raise ManifestError(f"{path.name}: no {wanted} answers yet"
                            + (f" in playlist(s) {', '.join(playlists)}" if playlists else ""))
    if len(present) > 1:
        raise ManifestError(f"{path.name}: holds both A/B and MUSHRA answers; choose which to analyse")
    return present[0], found[present[0]]


def analyse_design(path: str | Path, predictions: str | Path | None = None, design: str | None = None,
                   playlists: list[str] | None = None) -> DesignResults:
    """A results file (A/B or MUSHRA columns) or this app's ratings CSV (its A/B or MUSHRA answers)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path.name}: file not found")
    stored = answers_in_ratings_csv(path, design, playlists)
    if stored is None:
        design = detect_design(path)
        answers = read_preferences(path) if design == "ab" else read_mushra(path)
    else:
        design, answers = stored
    notes = []
    if design == "ab":
        model = model_means_by_system(predictions) if predictions else None
        if predictions and not model:
            notes.append("The predictions have no 'system' field, so the model's scores cannot be shown per system.")
        pairs, scale = analyse_preferences(answers, model)
        notes.append("Win rate of A over B among decisive answers, Wilson 95% CI; 'no preference' counted beside. "
                     "Bradley–Terry log-strengths per axis (0 = average; +1 = e ≈ 2.7 times the odds).")
        return DesignResults("ab", {"pairs": pairs, "scale": scale}, notes)
    means, screening = condition_means(answers)
    excluded = screening[screening.excluded]
    if len(excluded):
        notes.append(f"{excluded.rater.nunique()} rater(s) excluded by BS.1534 post-screening (hidden reference "
                     "below 90 in more than 15% of trials): " + ", ".join(sorted(set(excluded.rater))) + ".")
    notes.append("Per condition: mean over kept raters (each rater's own mean first), t-based 95% CI.")
    return DesignResults("mushra", {"conditions": means, "screening": screening}, notes)
