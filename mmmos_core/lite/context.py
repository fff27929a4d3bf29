"""The recordings a built model is placed among: real recordings it never trained on, scored once.

A visitor's "PQ 6.1" reads better as "between the distant phone call and the studio
audiobook of the recordings this model never trained on". The lite build passes validation
recordings (the card's held-out sources stay for the card alone) and ships the scores, not
the audio, beside its members. Their rows keep the set name "held-out" (held out of training)
that earlier builds wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from mmmos_core.axes import AXES
from mmmos_core.errors import AudioInputError
from mmmos_core.model.mmmos_model import CONTEXT_CLIPS
from mmmos_core.tables import write_records

from .corpus import Recording


def write_context_clips(model, recordings: Iterable[Recording], model_dir: str | Path) -> Path:
    """Score each recording whole with ``model`` and write ``context_clips.jsonl`` into ``model_dir``."""
    rows = []
    for rec in recordings:
        try:
            prediction = model.predict(str(rec.path), name=rec.path.name)
        except AudioInputError:
            continue  # a recording the model cannot read is no reference point
        rows.append({"path": rec.path.name, "domain": rec.domain, "set": "held-out",
                     **{a: round(float(prediction.scores[a]), 4) for a in AXES}})
    return write_records(Path(model_dir) / CONTEXT_CLIPS, rows)
