"""Adaptive playlists: the most informative clips first, so a short session still counts.

The rule (docs/app.md, "Adaptive order"): a clip's priority is
    mean over axes of the ensemble members' SD on the clip        (the model is unsure)
  + mean over axes of |human mean - ensemble mean|, once rated    (humans and model disagree)
both in points of the 1-10 scale. Clips are sorted by priority, highest first, in
steps of `PRIORITY_STEP` points: clips within one step count as tied, and ties are
shuffled per rater (seeded by playlist and rater, like the plain order), so raters do
not all hear the same clip first; for the same priorities a rater always gets the same
order. Clips already rated are skipped on resume whatever the order.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Callable, Mapping, Sequence, TypeVar

from mmmos_core.axes import AXES

PRIORITY_STEP = 0.1  # points; finer differences are noise in a member SD
T = TypeVar("T")


def clip_priority(spread_std: Mapping[str, float], ensemble: Mapping[str, float] | None = None,
                  human: Mapping[str, float] | None = None) -> float:
    """Priority of one clip from the members' SD per axis, and the human/model gap where rated."""
    unsure = sum(float(spread_std[a]) for a in AXES) / len(AXES)
    if human and ensemble and all(a in human for a in AXES):
        gap = sum(abs(float(human[a]) - float(ensemble[a])) for a in AXES) / len(AXES)
        return unsure + gap
    return unsure


def rater_seed(playlist: str, rater: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{playlist}\x00{rater}".encode()).digest()[:8], "big")


def adaptive_order(items: Sequence[T], key: Callable[[T], str], priorities: Mapping[str, float], seed: int) -> list[T]:
    """``items`` sorted by priority (highest first, `PRIORITY_STEP` bins), ties shuffled by ``seed``;
    items without a priority go last, shuffled too."""
    rng = random.Random(seed)
    shuffled = list(items)
    rng.shuffle(shuffled)  # a stable sort keeps this order within a bin: the per-rater tie-break

    def bin_of(item: T) -> float:
        p = priorities.get(key(item))
        return -math.inf if p is None or not math.isfinite(p) else math.floor(p / PRIORITY_STEP)

    return sorted(shuffled, key=bin_of, reverse=True)


def priorities_from_records(records: Mapping[str, Mapping], human_means: Mapping[str, Mapping[str, float]]
                            | None = None) -> dict[str, float]:
    """clip id -> priority from `mmmos predict` records (``spread[axis]["std"]`` and the axes)."""
    human_means = human_means or {}
    out = {}
    for clip_id, rec in records.items():
        out[clip_id] = clip_priority({a: rec["spread"][a]["std"] for a in AXES}, rec, human_means.get(clip_id))
    return out
