"""What a prediction returns: typed in Python, one JSON record on the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mmmos_core.axes import AXES

if TYPE_CHECKING:  # the reference module imports torch; results stay light
    from mmmos_core.peers.audiobox import ReferenceScores
    from mmmos_core.peers.dnsmos import PeerScores


@dataclass
class AxisSpread:
    std: float
    min: float
    max: float


@dataclass
class MemberScores:
    name: str
    scores: dict[str, float]


@dataclass
class WindowScores:
    """One window of a long clip's timeline: its span, the ensemble mean and the members' std per axis."""

    start: float
    end: float
    scores: dict[str, float]
    spread: dict[str, float]

    def to_record(self) -> dict[str, Any]:
        return {"start": round(self.start, 4), "end": round(self.end, 4),
                **{a: round(self.scores[a], 6) for a in AXES}, "spread": {a: round(self.spread[a], 6) for a in AXES}}


@dataclass
class Prediction:
    path: str
    model: str
    scores: dict[str, float]  # ensemble mean per axis
    members: list[MemberScores]
    spread: dict[str, AxisSpread]
    duration_s: float
    flags: list[str] = field(default_factory=list)
    model_note: str = ""
    reference: "ReferenceScores | PeerScores | None" = None  # the optional peer's scores, never in the mean
    windows: list[WindowScores] | None = None  # the timeline, when asked for (`predict(..., timeline=True)`)

    def __getitem__(self, axis: str) -> float:
        return self.scores[axis]

    @classmethod
    def from_member_scores(cls, path: str, model: str, names: list[str], member_scores: np.ndarray,
                           duration_s: float, flags: list[str], model_note: str = "") -> "Prediction":
        """member_scores: [M, 4] on the 1-10 scale, AXES order."""
        mean = member_scores.mean(axis=0)
        spread = {a: AxisSpread(float(member_scores[:, i].std()), float(member_scores[:, i].min()),
                                float(member_scores[:, i].max())) for i, a in enumerate(AXES)}
        members = [MemberScores(n, {a: float(s[i]) for i, a in enumerate(AXES)}) for n, s in zip(names, member_scores)]
        return cls(path, model, {a: float(mean[i]) for i, a in enumerate(AXES)}, members, spread,
                   float(duration_s), list(flags), model_note)

    def to_record(self) -> dict[str, Any]:
        """The JSONL record of `mmmos predict` (top-level axes are Audiobox-compatible)."""
        record: dict[str, Any] = {"path": self.path}
        record.update({a: round(self.scores[a], 6) for a in AXES})
        record["model"] = self.model
        if self.model_note:
            record["model_note"] = self.model_note
        record["members"] = [{"name": m.name, **{a: round(m.scores[a], 6) for a in AXES}} for m in self.members]
        record["spread"] = {a: {"std": round(s.std, 6), "min": round(s.min, 6), "max": round(s.max, 6)}
                            for a, s in self.spread.items()}
        record["duration_s"] = round(self.duration_s, 4)
        record["flags"] = list(self.flags)
        if self.reference is not None:
            record["reference"] = self.reference.to_record()
        if self.windows is not None:
            record["windows"] = [w.to_record() for w in self.windows]
        return record


def error_record(path: str, message: str) -> dict[str, Any]:
    return {"path": path, "error": message}
