"""What a prediction returns: typed in Python, one JSON record on the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmmos_core.axes import AXES


@dataclass
class ReferenceScores:
    """A reference peer's (`mmmos_core.peers`) four scores for one clip, keyed by MMMOS axis names."""

    model: str
    scores: dict[str, float]  # AXES order
    windows: int  # 10 s windows the clip was cut into

    def __getitem__(self, axis: str) -> float:
        return self.scores[axis]

    def to_record(self) -> dict[str, Any]:
        """The ``reference`` block of a `mmmos predict` record."""
        return {"model": self.model, **{a: round(self.scores[a], 6) for a in AXES}}


@dataclass
class PeerScores:
    """A peer's scores for one clip, on the peer's own scale, under the peer's own names."""

    model: str
    scores: dict[str, float]
    scale: tuple[float, float]
    domain: str
    scored_s: float | None = None  # seconds from the start that were scored, when not the whole clip

    def __getitem__(self, key: str) -> float:
        return self.scores[key]

    def to_record(self) -> dict[str, Any]:
        """The ``reference`` block of a `mmmos predict` record."""
        record = {"model": self.model, "scale": f"{self.scale[0]:g}-{self.scale[1]:g}", "domain": self.domain,
                  **{k: round(v, 6) for k, v in self.scores.items()}}
        if self.scored_s is not None:
            record["scored_s"] = round(self.scored_s, 3)
        return record


@dataclass
class AxisSpread:
    std: float
    min: float
    max: float


@dataclass
class MemberScores:
    name: str
    scores: dict[str, float]
    weight: float | None = None  # its share of this clip's score on the routed axes, when the model routes


# A routed member whose share of a clip is below this fraction of an equal share is left out
# of the clip's spread (min, max): it was not asked about such clips, so its disagreement
# says nothing about how sure the ensemble is.
COUNTED_SHARE = 0.25


def counted(weights, members: int):
    """Whether a routed member with share ``weights`` (a number or an array) of a clip counts in
    its spread, among ``members`` members (`COUNTED_SHARE`)."""
    return weights >= COUNTED_SHARE / members


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
    reference: ReferenceScores | PeerScores | None = None  # the optional peer's scores, never in the mean
    windows: list[WindowScores] | None = None  # the timeline, when asked for (`predict(..., timeline=True)`)
    # What the model's router heard: domain -> probability; None for a model without one.
    domains: dict[str, float] | None = None
    # The axes the router weighs (members' ``weight``); on the others the general members count equally.
    routed_axes: list[str] | None = None

    def __getitem__(self, axis: str) -> float:
        return self.scores[axis]

    @property
    def counted_members(self) -> list[MemberScores]:
        """The members this clip's spread is taken over (all of them unless the model routes)."""
        if not self.members or self.members[0].weight is None:
            return list(self.members)
        return [m for m in self.members if counted(m.weight, len(self.members))]

    @classmethod
    def from_member_scores(cls, path: str, model: str, names: list[str], member_scores: np.ndarray,
                           duration_s: float, flags: list[str], model_note: str = "",
                           weights: np.ndarray | None = None, domains: dict[str, float] | None = None,
                           routed_axes: list[str] | None = None) -> "Prediction":
        """member_scores: [M, 4] on the 1-10 scale, AXES order. weights: [M, 4], each member's
        share of this clip's score per axis, summing to 1 over members (routed models); None:
        the members count equally."""
        if weights is None:
            members = [MemberScores(n, {a: float(s[i]) for i, a in enumerate(AXES)})
                       for n, s in zip(names, member_scores)]
            mean = member_scores.mean(axis=0)
            spread = {a: AxisSpread(float(member_scores[:, i].std()), float(member_scores[:, i].min()),
                                    float(member_scores[:, i].max())) for i, a in enumerate(AXES)}
            return cls(path, model, {a: float(mean[i]) for i, a in enumerate(AXES)}, members, spread,
                       float(duration_s), list(flags), model_note)
        routed_axes = list(routed_axes or AXES)
        shown = weights[:, AXES.index(routed_axes[0])]
        members = [MemberScores(n, {a: float(s[i]) for i, a in enumerate(AXES)}, float(shown[k]))
                   for k, (n, s) in enumerate(zip(names, member_scores))]
        mean = (weights * member_scores).sum(axis=0)
        spread = {}
        for i, a in enumerate(AXES):
            # Members with next to no share of this axis were not asked about such clips.
            keep = counted(weights[:, i], len(weights))
            x, w = member_scores[keep, i], weights[keep, i] / weights[keep, i].sum()
            spread[a] = AxisSpread(float(np.sqrt((w * (x - x @ w) ** 2).sum())), float(x.min()), float(x.max()))
        return cls(path, model, {a: float(mean[i]) for i, a in enumerate(AXES)}, members, spread,
                   float(duration_s), list(flags), model_note, domains=domains, routed_axes=routed_axes)

    def to_record(self) -> dict[str, Any]:
        """The JSONL record of `mmmos predict` (top-level axes are Audiobox-compatible)."""
        record: dict[str, Any] = {"path": self.path}
        record.update({a: round(self.scores[a], 6) for a in AXES})
        record["model"] = self.model
        if self.model_note:
            record["model_note"] = self.model_note
        record["members"] = [{"name": m.name, **{a: round(m.scores[a], 6) for a in AXES},
                              **({"weight": round(m.weight, 6)} if m.weight is not None else {})}
                             for m in self.members]
        if self.domains is not None:
            record["domain"] = {d: round(p, 6) for d, p in self.domains.items()}
        if self.routed_axes is not None:
            record["routed_axes"] = list(self.routed_axes)
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
