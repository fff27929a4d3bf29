"""Issue 11's acceptance checks, measured on one split of the real-audio corpus.

``scripts/lite_card.py --split check`` runs them once on the held-out sources, after a
build, for the model card; ``--split val`` runs the same on the validation sources while
developing (those guide choices, so their numbers are not evidence of generalisation).

Every clip is at most 10 s, transformed at its own sample rate. A transformation that
leaves the samples as they were (8-bit quantisation of an 8-bit file) is no pair. What is measured:
- degradation: PQ(clean) > PQ(degraded) for white noise 20/10/0 dB, babble 10 dB, reverb
  (RT60 0.8 s, DRR 0 dB), hard clipping at 30% of the peak, a 3 kHz low-pass, 8-bit
  quantisation and a codec stand-in (3.5 kHz band, 20 dB holes); noise 20 > 10 > 0 dB;
- complexity: PC of a mixture of three recordings of different sources > each alone;
- stability: 16/22.05/44.1/48 kHz, ±6 dB, stereo vs mono move no axis by more than 0.3;
- speech: rank correlation of PQ with DNSMOS OVRL and P.808 (first 9.01 s window, as the
  package scores it) over the speech clips and their degraded versions, pooled and within
  clip; the mean PQ cost of the reverb against white noise at 10 dB;
- content: rank correlation of CE with PQ over every clip and version;
- produced music: mean PQ and CE of the music recordings of produced soundtracks, and
  PC of mixtures of three of them against each alone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from mmmos_core.axes import AXES
from mmmos_core.model.audio import Audio, resample

from . import degradations as dg
from .property_checks import CheckResult, ScoreFn, _with, complexity_check, degraded_versions, stability_check

BABBLE_SNR = 10.0
REVERB = (0.8, 0.0)
CODEC = (3500.0, 20.0)
MIX_MIN_S = 2.0
# The versions of each clip, in the order the report lists them.
VERSIONS = ("clean", "noise20", "noise10", "noise0", "babble10", "reverb0.8", "clip", "lowpass3k", "quant8", "codec")


@dataclass
class SplitClip:
    audio: Audio
    domain: str
    source: str
    content: str = ""  # "produced-music" for the produced-music check


def versions(clip: Audio, babble_pool: list[np.ndarray], seed: int = 0) -> dict[str, Audio]:
    """`property_checks.degraded_versions` and, from the same random stream, babble, a room and a codec."""
    x, sr = clip.samples, clip.sample_rate
    rng = np.random.default_rng(seed)
    out = degraded_versions(clip, rng=rng)
    talkers = [resample(t, 16000, sr) for t in babble_pool[:5]]
    out["babble10"] = _with(clip, dg.add_noise(x, dg.babble(len(x), talkers, rng), BABBLE_SNR), "babble10")
    out["reverb0.8"] = _with(clip, dg.reverb(x, sr, *REVERB, rng), "reverb0.8")
    out["codec"] = _with(clip, dg.codec(x, sr, min(CODEC[0], 0.45 * sr), CODEC[1], rng), "codec")
    return {name: out[name] for name in VERSIONS}


def _srcc(a, b) -> float:
    return float(spearmanr(a, b)[0]) if len(a) > 2 else float("nan")


def run_split_checks(score: ScoreFn, clips: list[SplitClip], babble_pool: list[np.ndarray], teacher=None,
                     stereo: dict[str, tuple[int, np.ndarray]] | None = None, mixtures: int = 150,
                     seed: int = 0) -> dict[str, Any]:
    pairs, mono, rows = [], [], []
    for i, c in enumerate(clips):
        vs = versions(c.audio, babble_pool, seed + i)
        scores = dict(zip(vs, score(list(vs.values()))))
        for name, s in scores.items():
            row = {"clip": c.audio.source, "domain": c.domain, "version": name, **{a: s[a] for a in AXES}}
            if teacher is not None and c.domain == "speech":
                t = teacher.peer.first_window(resample(vs[name].samples, vs[name].sample_rate, 16000))
                row.update({"OVRL": t["OVRL"], "P808": t["P808"]})
            rows.append(row)
        for name in list(vs)[1:]:
            if np.array_equal(vs[name].samples, c.audio.samples):
                continue  # e.g. 8-bit quantisation of an 8-bit file: nothing was degraded
            pairs.append({"clip": c.audio.source, "domain": c.domain, "degradation": name,
                          "clean": scores["clean"]["PQ"], "degraded": scores[name]["PQ"],
                          "ok": bool(scores["clean"]["PQ"] > scores[name]["PQ"])})
        chain = [scores[f"noise{s:g}"]["PQ"] for s in (20.0, 10.0, 0.0)]
        mono.append({"clip": c.audio.source, "pq": chain, "ok": bool(chain[0] > chain[1] > chain[2])})
    out: dict[str, Any] = {
        "degradation": CheckResult("PQ(clean) > PQ(degraded)", sum(p["ok"] for p in pairs), len(pairs), pairs),
        "monotonic": CheckResult("noise 20 > 10 > 0 dB", sum(m["ok"] for m in mono), len(mono), mono),
        "rows": rows,
    }
    # complexity: three recordings of three different sources, each at least MIX_MIN_S long
    rng = np.random.default_rng(seed)
    long = [c for c in clips if c.audio.duration_s >= MIX_MIN_S]
    out["complexity"] = _mixture_check(score, long, rng, mixtures, "PC(mix of three) > each alone")
    produced = [c for c in long if c.content == "produced-music"]
    out["produced_complexity"] = _mixture_check(score, produced, rng, mixtures,
                                                "PC(mix of three produced tracks) > each alone")
    clean = {r["clip"]: r for r in rows if r["version"] == "clean"}
    prod_rows = [clean[c.audio.source] for c in clips if c.content == "produced-music"]
    out["produced_music"] = {"clips": len(prod_rows),
                             "mean_PQ": float(np.mean([r["PQ"] for r in prod_rows])) if prod_rows else None,
                             "mean_CE": float(np.mean([r["CE"] for r in prod_rows])) if prod_rows else None}
    out["stability"] = stability_check(score, [c.audio for c in clips], stereo=stereo)
    out["ce_pq_srcc"] = _srcc([r["CE"] for r in rows], [r["PQ"] for r in rows])
    out["cu_pq_srcc"] = _srcc([r["CU"] for r in rows], [r["PQ"] for r in rows])
    speech = [r for r in rows if "OVRL" in r]
    if speech:
        out["speech"] = _speech_agreement(speech)
    return out


def _mixture_check(score: ScoreFn, pool: list[SplitClip], rng, count: int, name: str) -> CheckResult:
    """`property_checks.complexity_check` over up to ``count`` triples of three different sources."""
    triples = [t for t in itertools.combinations(range(len(pool)), 3)
               if len({pool[i].source for i in t}) == 3 or len({c.source for c in pool}) < 3]
    if len(triples) > count:
        triples = [triples[i] for i in sorted(rng.choice(len(triples), size=count, replace=False))]
    return complexity_check(score, [c.audio for c in pool], combos=triples, name=name)


def _speech_agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"versions": len(rows)}
    by_clip: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_clip.setdefault(r["clip"], []).append(r)
    for judge in ("OVRL", "P808"):
        out[f"pooled_{judge}"] = _srcc([r["PQ"] for r in rows], [r[judge] for r in rows])
        within = [_srcc([r["PQ"] for r in rs], [r[judge] for r in rs]) for rs in by_clip.values()]
        within = [w for w in within if np.isfinite(w)]
        out[f"within_{judge}"] = float(np.mean(within)) if within else float("nan")
    out["judges_pooled"] = _srcc([r["OVRL"] for r in rows], [r["P808"] for r in rows])
    clean = {c: next(r["PQ"] for r in rs if r["version"] == "clean") for c, rs in by_clip.items()}

    def cost(version):
        return float(np.mean([clean[r["clip"]] - r["PQ"] for r in rows if r["version"] == version]))

    out["pq_cost_reverb0.8"] = cost("reverb0.8")
    out["pq_cost_noise10"] = cost("noise10")
    out["pq_cost_babble10"] = cost("babble10")
    out["pq_cost_noise20"] = cost("noise20")
    return out
