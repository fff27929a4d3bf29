"""Measure MMMOS-lite on a split of the real-audio corpus and write its MODEL_CARD.md.

    python -m scripts.lite_card                      # held-out sources: checks + card (after a build)
    python -m scripts.lite_card --split val          # validation sources, printed only (development)
    python -m scripts.lite_card MODEL_DIR --no-card  # print the checks of another model directory
    python -m scripts.lite_card --previous OLD_DIR   # compare with the replaced model on these clips

The held-out ("check") split is measured once per build, for the card; its numbers guided
nothing. The validation split guides choices (and selects the members), so its numbers are
not evidence of generalisation. `mmmos_core.lite.split_checks` says what is measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "mmmos_core" / "assets" / "mmmos-lite"
REPORT = "check_report.json"
# The targets, by summary key: (comparison, value).
TARGETS = {
    "degradation_rate": (">=", 0.97), "monotonic_rate": (">=", 0.98), "complexity_rate": (">=", 0.90),
    "stability_rate": (">=", 0.95), "speech_pooled_OVRL": (">=", 0.75), "speech_pooled_P808": (">=", 0.75),
    "speech_within_OVRL": (">=", 0.75), "speech_within_P808": (">=", 0.75), "ce_pq_srcc": ("<=", 0.90),
    "produced_mean_PQ": (">=", 6.5), "produced_CE_gap": ("<=", 1.0), "produced_complexity_rate": (">=", 0.90),
    "reverb_minus_noise10_cost": (">=", 0.0),
}


def split_clips(split: str, root: Path | None = None):
    """The split's recordings as `SplitClip`s (first 10 s), a babble pool of fit-source
    speech, and the stereo files (for the stereo-vs-mono check)."""
    import numpy as np
    import soundfile as sf

    from mmmos_core.lite.property_checks import load_clip
    from mmmos_core.lite.real_corpus import profile_of, source_splits
    from mmmos_core.lite.sources import corpus_dir, read_manifest
    from mmmos_core.lite.split_checks import SplitClip
    from mmmos_core.model.audio import resample

    manifest = read_manifest()
    root = root or corpus_dir()
    splits = source_splits(manifest)
    clips, stereo, pool = [], {}, []
    for r in manifest.records:
        path = root / r.file_name
        if splits[r.source] == split:
            audio = load_clip(path)
            clips.append(SplitClip(audio, r.domain, r.source, profile_of(r).content))
            if r.channels == 2:
                data, sr = sf.read(str(path), dtype="float32", always_2d=True)
                stereo[audio.source] = (sr, data)
        elif splits[r.source] == "fit" and r.domain == "speech" and r.duration_s >= 3.0 and len(pool) < 5:
            a = load_clip(path)
            pool.append(resample(a.samples, a.sample_rate, 16000).astype(np.float32))
    return clips, pool, stereo


def clips_sha256(split: str, manifest=None) -> str:
    """Which recordings a split's checks ran on (the manifest's ids and audio checksums): two
    reports compare clip for clip only when these agree, and a re-pick changes them."""
    import hashlib

    from mmmos_core.lite.real_corpus import source_splits
    from mmmos_core.lite.sources import read_manifest

    manifest = manifest or read_manifest()
    splits = source_splits(manifest)
    rows = sorted(f"{r.id}:{r.sha256}" for r in manifest.records if splits[r.source] == split)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def summarise(result: dict[str, Any], music_ce_mean: float) -> dict[str, Any]:
    s: dict[str, Any] = {}
    for key in ("degradation", "monotonic", "complexity", "stability", "produced_complexity"):
        r = result[key]
        s[f"{key}_rate"], s[f"{key}_passed"], s[f"{key}_total"] = r.rate, r.passed, r.total
    by_kind: dict[str, list[bool]] = {}
    for d in result["degradation"].details:
        by_kind.setdefault(d["degradation"], []).append(d["ok"])
    s["degradation_by_kind"] = {k: f"{sum(v)}/{len(v)}" for k, v in by_kind.items()}
    by_domain: dict[str, list[bool]] = {}
    for d in result["degradation"].details:
        by_domain.setdefault(d["domain"], []).append(d["ok"])
    s["degradation_by_domain"] = {k: f"{sum(v)}/{len(v)}" for k, v in by_domain.items()}
    s["stability_worst"] = max(d["worst"] for d in result["stability"].details)
    s["ce_pq_srcc"], s["cu_pq_srcc"] = result["ce_pq_srcc"], result["cu_pq_srcc"]
    pm = result["produced_music"]
    s["produced_clips"], s["produced_mean_PQ"], s["produced_mean_CE"] = pm["clips"], pm["mean_PQ"], pm["mean_CE"]
    s["produced_CE_gap"] = abs(pm["mean_CE"] - music_ce_mean) if pm["mean_CE"] is not None else None
    sp = result.get("speech")
    if sp:
        for k, v in sp.items():
            s[f"speech_{k}"] = v
        s["reverb_minus_noise10_cost"] = sp["pq_cost_reverb0.8"] - sp["pq_cost_noise10"]
    clean = [r for r in result["rows"] if r["version"] == "clean"]
    for domain in ("speech", "music", "sound"):
        rows = [r for r in clean if r["domain"] == domain]
        if rows:
            s[f"clean_{domain}"] = {a: [round(min(r[a] for r in rows), 2), round(sum(r[a] for r in rows) / len(rows), 2),
                                        round(max(r[a] for r in rows), 2)] for a in ("PQ", "PC", "CE", "CU")}
    s["met"] = {k: _met(s.get(k), *TARGETS[k]) for k in TARGETS}
    return s


def _met(value, op, target) -> bool | None:
    if value is None:
        return None
    return bool(value >= target) if op == ">=" else bool(value <= target)


def measure(model_dir: Path, split: str, root: Path | None = None, progress=print) -> dict[str, Any]:
    import torch

    from mmmos_core.lite.corpus import DEFAULT_LABELS_DIR
    from mmmos_core.lite.priors import compute_priors
    from mmmos_core.lite.split_checks import run_split_checks
    from mmmos_core.lite.teacher import SpeechTeacher
    from mmmos_core.model.mmmos_model import MMMOSModel

    torch.set_num_threads(1)
    model = MMMOSModel.from_pretrained(model_dir)
    priors = compute_priors(DEFAULT_LABELS_DIR)
    t0 = time.time()
    clips, pool, stereo = split_clips(split, root)
    progress(f"{split}: {len(clips)} recordings")

    def score(audios):
        return [p.scores for p in model.predict_audio(audios)]

    teacher = SpeechTeacher(priors["speech"].pq_percentiles[75])
    result = run_split_checks(score, clips, pool, teacher=teacher, stereo=stereo)
    summary = summarise(result, priors["music"].mean["CE"])
    summary.update({"split": split, "recordings": len(clips), "sources": sorted({c.source for c in clips}),
                    "clips_sha256": clips_sha256(split), "seconds": round(time.time() - t0, 1)})
    return summary


def resources(model_dir: Path) -> dict[str, Any]:
    """The `mmmos bench` keys the issue names: latency, cold start and peak memory."""
    import torch

    from mmmos_core.bench import fresh_process_probe, median_time, probe_clip
    from mmmos_core.model.cache import EmbeddingCache
    from mmmos_core.model.mmmos_model import MMMOSModel

    model = MMMOSModel.from_pretrained(model_dir)
    model.cache = EmbeddingCache(max_items=0)
    clip = probe_clip()
    out = {"latency_s": round(median_time(lambda: model.predict(clip), 5), 4), "torch_threads": torch.get_num_threads(),
           "machine": platform.machine()}
    out.update(fresh_process_probe(str(model_dir)))
    return out


def model_name(model_dir: Path) -> str:
    """"MMMOS-lite 2.4" from its description, "MMMOS-lite 2.4: an ensemble ..."."""
    return json.loads((model_dir / "mmmos.json").read_text())["description"].split(":")[0]


def members_sha256(model_dir: Path) -> str:
    """One hash over a model's manifest and member weights: which build a report belongs to."""
    import hashlib

    h = hashlib.sha256((model_dir / "mmmos.json").read_bytes())
    for p in sorted((model_dir / "members").glob("*.safetensors")):
        h.update(p.read_bytes())
    return h.hexdigest()


def previous_report(model_dir: Path, build: str) -> dict[str, Any] | None:
    """The held-out numbers of the model this build replaces, from the report still in its
    folder (measured on the same check clips when that model was built), or None. A report of
    this same build keeps the previous it already names."""
    path = model_dir / REPORT
    if not path.is_file():
        return None
    old = json.loads(path.read_text())
    if old.get("build") == build:
        return old.get("previous")
    keep = {k: v for k, v in old.items() if k not in ("previous", "lite1", "resources")}
    keep.setdefault("model", "the previous shipped model")
    return keep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.lite_card", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", nargs="?", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--split", choices=("check", "val"), default="check")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: `make lite-corpus`'s)")
    parser.add_argument("--no-card", action="store_true", help="print the numbers; write nothing")
    parser.add_argument("--previous", type=Path, default=None,
                        help="the model this build replaces (a copy of its folder): measured on the same clips "
                             "for the card's comparison column, instead of the numbers its old report holds")
    args = parser.parse_args(argv)
    summary = measure(args.model_dir, args.split, args.corpus, progress=lambda m: print(m, file=sys.stderr))
    print(json.dumps(summary, indent=1, default=float))
    if args.split == "check" and not args.no_card:
        from scripts.lite_card_text import write_card

        summary["resources"] = resources(args.model_dir)
        summary["model"] = model_name(args.model_dir)
        summary["build"] = members_sha256(args.model_dir)
        previous_build = members_sha256(args.previous) if args.previous else None
        if previous_build and previous_build != summary["build"]:
            previous = measure(args.previous, args.split, args.corpus, progress=lambda m: print(m, file=sys.stderr))
            previous.update(model=model_name(args.previous), build=previous_build, measured="after this build")
        else:
            previous = previous_report(args.model_dir, summary["build"])
        if previous:
            summary["previous"] = previous
        (args.model_dir / REPORT).write_text(json.dumps(summary, indent=1, default=float) + "\n")
        write_card(args.model_dir, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
