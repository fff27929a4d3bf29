"""Per-domain rating priors, computed from the AES-natural human ratings.

The lite model's labels for content axes (CE, CU) start from what human raters gave
natural speech, music and sound recordings on average, and move with production
quality as they do in those ratings (a least-squares slope of the clip-mean CE or CU
on the clip-mean PQ). These numbers are computed here from the files, never typed in.

0.0 ratings: the files hold some (most on sound CE), although the scale is 1-10. The
official AudioMOS 2025 track-2 lists average them in, so the priors do too; the
counts are reported (`DomainPrior.zeros`) and the means without them are kept beside
(`mean_nonzero`) so their effect is visible.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmmos_core.axes import AXES
from mmmos_core.errors import ManifestError

DOMAINS: tuple[str, ...] = ("speech", "music", "sound")
# Field names in the AES files, in AXES order.
AES_FIELDS: dict[str, str] = {
    "PQ": "Production_Quality",
    "PC": "Production_Complexity",
    "CE": "Content_Enjoyment",
    "CU": "Content_Usefulness",
}
AES_FILE = "AES_natural_{domain}.jsonl"


@dataclass
class DomainPrior:
    domain: str
    clips: int
    ratings_per_clip: int
    mean: dict[str, float]  # mean of every rating (zeros included, as the official lists do)
    mean_nonzero: dict[str, float]  # the same without the 0.0 ratings
    clip_sd: dict[str, float]  # spread of clip means between clips
    rater_sd: dict[str, float]  # mean within-clip spread between raters
    zeros: dict[str, int]  # how many 0.0 ratings each axis holds
    slope_on_pq: dict[str, float]  # d(clip-mean axis) / d(clip-mean PQ), least squares
    corr_with_pq: dict[str, float]
    # Percentiles (10/25/50/75/90) of clip-mean PQ: where a recording of known production sits.
    pq_percentiles: dict[int, float] = field(default_factory=dict)
    # Least-squares coefficients (on PQ, on PC) of clip-mean CE and CU, both fitted together:
    # enjoyment also follows how much is going on, not only how clean it is.
    on_pq_pc: dict[str, tuple[float, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_domain_ratings(path: str | Path) -> np.ndarray:
    """[clips, 4 axes, raters] ratings from one AES-natural JSONL file."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: ratings file not found")
    clips = []
    with path.open() as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                clips.append([[float(v) for v in row[AES_FIELDS[a]]] for a in AXES])
            except (ValueError, KeyError, TypeError) as exc:
                raise ManifestError(f"{path}:{line_no}: not an AES ratings row ({exc})") from None
    if not clips:
        raise ManifestError(f"{path}: no ratings")
    lengths = {len(r) for clip in clips for r in clip}
    if len(lengths) != 1:
        raise ManifestError(f"{path}: clips have different numbers of ratings {sorted(lengths)}")
    return np.asarray(clips, dtype=np.float64)


def domain_prior(domain: str, ratings: np.ndarray) -> DomainPrior:
    clip_means = ratings.mean(axis=2)  # [clips, axes]
    pq = clip_means[:, 0]
    mean, mean_nz, clip_sd, rater_sd, zeros, slope, corr = {}, {}, {}, {}, {}, {}, {}
    for i, a in enumerate(AXES):
        r = ratings[:, i, :]
        mean[a] = float(r.mean())
        mean_nz[a] = float(r[r > 0].mean())
        clip_sd[a] = float(clip_means[:, i].std())
        rater_sd[a] = float(r.std(axis=1).mean())
        zeros[a] = int((r == 0).sum())
        y = clip_means[:, i]
        if np.ptp(y) == 0 or np.ptp(pq) == 0:  # a constant axis has no slope or correlation
            slope[a], corr[a] = 0.0, float("nan")
        else:
            slope[a] = float(np.polyfit(pq, y, 1)[0])
            corr[a] = float(np.corrcoef(pq, y)[0, 1])
    percentiles = {q: float(np.percentile(pq, q)) for q in (10, 25, 50, 75, 90)}
    on_pq_pc = {}
    design = np.c_[np.ones(len(pq)), pq - pq.mean(), clip_means[:, 1] - clip_means[:, 1].mean()]
    for a in ("CE", "CU"):
        coef = np.linalg.lstsq(design, clip_means[:, AXES.index(a)], rcond=None)[0]
        on_pq_pc[a] = (float(coef[1]), float(coef[2]))
    return DomainPrior(domain, int(ratings.shape[0]), int(ratings.shape[2]), mean, mean_nz, clip_sd, rater_sd,
                       zeros, slope, corr, percentiles, on_pq_pc)


def compute_priors(labels_dir: str | Path) -> dict[str, DomainPrior]:
    """One `DomainPrior` per domain from ``AES_natural_{speech,music,sound}.jsonl``."""
    labels_dir = Path(labels_dir)
    return {d: domain_prior(d, load_domain_ratings(labels_dir / AES_FILE.format(domain=d))) for d in DOMAINS}


def describe_priors(priors: dict[str, DomainPrior]) -> str:
    """A small Markdown table (for the model card)."""
    lines = ["| domain | clips | " + " | ".join(f"{a} mean (sd)" for a in AXES) +
             " | CE slope on PQ | CU slope on PQ | 0.0 ratings (PQ/PC/CE/CU) |",
             "|---" * (len(AXES) + 5) + "|"]
    for d, p in priors.items():
        cells = [f"{p.mean[a]:.2f} ({p.clip_sd[a]:.2f})" for a in AXES]
        zeros = "/".join(str(p.zeros[a]) for a in AXES)
        lines.append(f"| {d} | {p.clips} | " + " | ".join(cells) +
                     f" | {p.slope_on_pq['CE']:.2f} | {p.slope_on_pq['CU']:.2f} | {zeros} |")
    return "\n".join(lines)
