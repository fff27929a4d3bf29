"""`mmmos bench`, `info`, `encoders` and `compare-clips`: measuring, describing, checking, comparing."""

from __future__ import annotations

import json
import sys

from mmmos_core.errors import MMMOSError

from .train import split_commas


def cmd_encoders(args) -> int:
    """Load each pretrained encoder once and report every one that is missing, not just the first."""
    from mmmos_core.encoders import build_encoder

    missing = 0
    for kind in split_commas(args.kinds):
        try:
            info = build_encoder(kind).describe()
        except MMMOSError as exc:
            missing += 1
            print(f"{kind}: MISSING - {exc}")
            continue
        print(f"{kind}: ok ({info['dim']}-d, {info['num_layers']} layers, {info['frame_rate']:g} frames/s)")
    return 1 if missing else 0


def cmd_bench(args) -> int:
    from mmmos_core.bench import main_json, run_bench

    if args.json:
        print(main_json(args.model, args.runs, args.device, args.engine, args.corpus_clips, args.autocast))
    else:
        for k, v in run_bench(args.model, args.runs, args.device, corpus_clips=args.corpus_clips,
                              autocast=args.autocast).items():
            print(f"{k:>24}: {v}")
    return 0


def cmd_info(args) -> int:
    from mmmos_core import load_model

    print(json.dumps(load_model(args.model).info(), indent=2))
    return 0


def cmd_compare_clips(args) -> int:
    """`mmmos compare-clips A B [--json]`: the logic is `mmmos_core.ab`."""
    from mmmos_core import load_model
    from mmmos_core.ab import compare_clips

    model = load_model(args.model, device=args.device, max_duration_s=args.max_duration)
    ra, rb, comparison = compare_clips(model, args.a, args.b)
    for r in (ra, rb):
        if r.get("error"):
            print(f"mmmos: {r['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps({"a": ra, "b": rb, "comparison": comparison.to_record() if comparison else None}))
    elif comparison is not None:
        print(f"A = {comparison.a}\nB = {comparison.b}\nmodel {comparison.model}")
        for d in comparison.axes:
            print(f"  {d.sentence}")
    return 0 if comparison is not None else 1


def _add_compare_clips(sub) -> None:
    """Registers `compare-clips` on the `mmmos` command line."""
    p = sub.add_parser("compare-clips", help="A/B: score two clips and say per axis how they differ")
    p.add_argument("a", help="clip A (e.g. before processing)")
    p.add_argument("b", help="clip B (e.g. after processing)")
    p.add_argument("--json", action="store_true", help="both records and the comparison as one JSON object")
    p.add_argument("--model", default="lite")
    p.add_argument("--device", default=None)
    p.add_argument("--max-duration", type=float, default=600.0, help="seconds; longer inputs are rejected")
    p.set_defaults(func=cmd_compare_clips)


def add_parsers(sub) -> None:
    _add_compare_clips(sub)
    be = sub.add_parser("bench", help="latency, cold start, memory, ensemble cost")
    be.add_argument("--json", action="store_true")
    be.add_argument("--model", default="lite")
    be.add_argument("--runs", type=int, default=5)
    be.add_argument("--device", default=None)
    be.add_argument("--engine", choices=["local", "ray"], default="local")
    be.add_argument("--corpus-clips", type=int, default=32,
                    help="mixed-length clips (2-30 s) for clips_per_min_single/_batched; 0 skips")
    be.add_argument("--autocast", choices=["fp16", "bf16"], default=None,
                    help="also time the encoders under autocast and report the score change from fp32")
    be.set_defaults(func=cmd_bench)

    inf = sub.add_parser("info", help="describe a model")
    inf.add_argument("--model", default="lite")
    inf.set_defaults(func=cmd_info)

    enc = sub.add_parser("encoders", help="check that the pretrained encoders' weights are in place")
    enc.add_argument("kinds", nargs="?", default="wavlm,muq,m2d", help="comma-separated encoder kinds")
    enc.set_defaults(func=cmd_encoders)
