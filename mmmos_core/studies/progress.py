"""Live progress of a listening test for the experimenter: counts, timing and flags, never scores.

Read from the ratings CSV (the only truth), so it shows every process's raters and
survives restarts. Rows carry no rating values: an experimenter watching a session
must not see, or show a rater, what other raters answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlencode

import numpy as np

from .quality import QualitySettings, RatingEvent, check_raters
from .ratings import StoredRating


@dataclass
class RaterProgress:
    playlist: str
    rater: str
    done: int
    total: int | None  # None: the playlist is not configured in this app any more
    median_seconds: float | None
    gold_failed: int
    last_rating_utc: str
    flags: str

    def row(self) -> dict[str, object]:
        share = f"{self.done} / {self.total}" if self.total else f"{self.done} / ?"
        return {"playlist": self.playlist, "rater": self.rater, "done / total": share,
                "median s per clip": None if self.median_seconds is None else round(self.median_seconds, 1),
                "gold failed": self.gold_failed, "last rating (UTC)": self.last_rating_utc,
                "flags so far": self.flags or "none"}


def progress(rows: list[StoredRating], playlist_sizes: Mapping[str, int],
             durations: Mapping[tuple[str, str], float] | None = None,
             settings: QualitySettings | None = None) -> list[RaterProgress]:
    """One line per (playlist, rater), in order of first rating. ``playlist_sizes``: clips per
    playlist; ``durations``: (playlist, clip) -> seconds, for the too-fast check."""
    groups: dict[tuple[str, str], list[StoredRating]] = {}
    for r in rows:
        groups.setdefault((r["playlist"], r["rater_id"]), []).append(r)
    durations = durations or {}
    out = []
    for (playlist, rater), group in groups.items():
        # A/B and MUSHRA answers count as done; only 1-10 ratings feed the rater checks
        rated = [r for r in group if r["gold"] != "1" and r.scores]
        events = [RatingEvent(rater, r["clip_id"], r.scores, _seconds(r)) for r in rated]
        durs = {clip: d for (pl, clip), d in durations.items() if pl == playlist}
        finding = check_raters(events, durs, settings).get(rater)
        seconds = [s for s in (_seconds(r) for r in group) if s]
        out.append(RaterProgress(
            playlist, rater, len({r["clip_id"] for r in group}), playlist_sizes.get(playlist),
            float(np.median(seconds)) if seconds else None, sum(r["gold_pass"] == "0" for r in group),
            max(r["timestamp_utc"] for r in group), "; ".join(finding.reasons) if finding else ""))
    return out


def _seconds(row: StoredRating) -> float | None:
    try:
        value = float(row["seconds_spent"])
    except ValueError:
        return None
    return value if value > 0 else None


def share_query(playlist: str, rater: str | None = None) -> str:
    """The query string that opens the Listening test with this playlist (and rater id) chosen."""
    params = {"playlist": playlist}
    if rater:
        params["rater"] = rater
    return "?" + urlencode(params)
