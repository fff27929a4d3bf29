"""`mmmos`: predict, train, evaluate, bench. A thin shell over the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable

from .axes import AXES
from .errors import MMMOSError


# ---- predict ---------------------------------------------------------------------
def _input_items(args) -> list[dict[str, Any]]:
    items = [{"path": p} for p in args.paths]
    if args.input:
        from .batch.io import read_input_list

        items += read_input_list(args.input)
    if not items:
        raise MMMOSError("nothing to score: give audio paths or --input LIST")
    return items


def _report_errors(records: Iterable[dict[str, Any]]) -> None:
    for record in records:
        if record.get("error"):
            print(f"mmmos: {record['error']}", file=sys.stderr)


def _load_reference(args):
    if args.reference_path and not args.reference:
        args.reference = "audiobox"  # the one reference there is; a path alone says which is meant
    if not args.reference or args.engine == "ray":  # Ray's workers load their own copy
        return None
    from .peers.audiobox import load_reference

    return load_reference(args.reference, args.reference_path, device=args.device)


def cmd_predict(args) -> int:
    from .batch.io import read_output_records, run_local_predict, score_items

    items = _input_items(args)
    to_file = args.output not in (None, "-")
    reference = _load_reference(args)
    if args.engine == "ray":
        if not to_file:
            raise MMMOSError("--engine ray needs --output FILE (results are written in resumable parts)")
        from .batch.ray_engine import run_ray_predict

        summary = run_ray_predict(items, args.output, args.model, args.address, args.num_workers,
                                  args.batch_size, args.gpus_per_worker, progress=not args.quiet,
                                  max_duration_s=args.max_duration,
                                  reference=(args.reference, args.reference_path) if args.reference else None)
    elif to_file:
        # Written in parts and merged atomically: a rerun into the same file resumes.
        summary = run_local_predict(items, args.output, args.model, args.batch_size, progress=not args.quiet,
                                    max_duration_s=args.max_duration, device=args.device, reference=reference)
        print(summary.line(), file=sys.stderr)
    else:
        from mmmos_core import load_model

        model = load_model(args.model, device=args.device)
        model.max_duration_s = args.max_duration
        model.reference = reference
        failed = 0
        for i in range(0, len(items), args.batch_size):
            records = score_items(model, items[i:i + args.batch_size], chunk=args.batch_size)
            _report_errors(records)
            failed += sum(1 for r in records if r.get("error"))
            sys.stdout.write("".join(json.dumps(r) + "\n" for r in records))
            sys.stdout.flush()
        if failed:
            print(f"mmmos: {failed} of {len(items)} inputs failed (see their error records)", file=sys.stderr)
        return 1 if failed else 0
    if summary.failed:
        _report_errors(read_output_records(args.output))
        print(f"mmmos: {summary.failed} of {len(items)} inputs failed (see their error records in "
              f"{args.output})", file=sys.stderr)
    return 1 if summary.failed else 0


# ---- train -----------------------------------------------------------------------
def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _items_from_manifest(path: str, root: str | None, system_regex: str | None, system_column: str | None):
    from .labels import read_labels
    from .training.sweep import TrainItem

    labels = read_labels(path, root, system_column=system_column, system_regex=system_regex)
    for note in labels.notes:
        print(f"mmmos: note: {note}", file=sys.stderr)
    missing = [r.id for r in labels.rows if not r.path]
    if missing:
        raise MMMOSError(f"{path}: {len(missing)} rows have no audio path (first: {missing[0]})")
    return [TrainItem(r.id, r.path, r.labels, r.system) for r in labels.rows]


def cmd_train(args) -> int:
    from .encoders import build_encoder
    from .training.sweep import SweepSettings, train_ensemble

    kinds = _split(args.encoders)
    configs = json.loads(Path(args.encoder_config).read_text()) if args.encoder_config else {}
    encoders = {k: build_encoder(k, configs.get(k, {})) for k in kinds}
    subsets = [s.split("+") for s in _split(args.subsets)] if args.subsets else [kinds]
    settings = SweepSettings(subsets=subsets, aggregators=_split(args.aggregators), losses=_split(args.losses),
                             top_k=args.top_k, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                             hidden=args.hidden, seed=args.seed, cache_dir=args.cache_dir,
                             select_metric=args.select_metric, device=args.device or "cpu")
    regex, column = args.system_regex, args.system_column
    train = _items_from_manifest(args.train, args.root, regex, column)
    natural = _items_from_manifest(args.natural, args.natural_root or args.root, regex, column)
    proxy = _items_from_manifest(args.proxy, args.proxy_root or args.root, regex, column)
    model, report = train_ensemble(encoders, train, natural, proxy, settings, name=args.name,
                                   description=args.description or "")
    out = model.save_pretrained(args.output)
    (out / "sweep_report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    if report.skipped_items:
        print(f"mmmos: {len(report.skipped_items)} clips could not be read and were skipped "
              f"(listed in {out / 'sweep_report.json'})", file=sys.stderr)
    print(f"mmmos: wrote {out} with {len(model.members)} members: {', '.join(report.selected)}", file=sys.stderr)
    return 0


# ---- evaluate --------------------------------------------------------------------
def cmd_evaluate(args) -> int:
    from .labels import join, read_labels, read_predictions
    from .training.metrics import METRICS, metric_table

    regex = args.system_regex
    labels = read_labels(args.labels, system_column=args.system_column, system_regex=regex)
    preds = read_predictions(args.predictions)
    joined = join(preds, labels.rows)
    if not joined.ids:
        raise MMMOSError(f"no prediction in {args.predictions} matches an id in {args.labels}")
    systems = joined.systems if (args.system_column or regex) else None
    if systems is not None and any(s is None for s in systems):
        bad = next(i for i, s in zip(joined.ids, systems) if s is None)
        raise MMMOSError(f"no system id for {bad!r} (check --system-regex / --system-column)")
    table = {a: metric_table(joined.pred[a], joined.gold[a], systems, n_boot=args.n_boot, seed=args.seed)
             for a in AXES}
    for note in labels.notes:
        print(f"mmmos: note: {note}", file=sys.stderr)
    if joined.unmatched_predictions:
        print(f"mmmos: {len(joined.unmatched_predictions)} predictions match no label "
              f"(first: {joined.unmatched_predictions[0]})", file=sys.stderr)
    if joined.unmatched_labels:
        print(f"mmmos: {len(joined.unmatched_labels)} labels have no prediction "
              f"(first: {joined.unmatched_labels[0]})", file=sys.stderr)
    if args.json:
        print(json.dumps(table))
        return 0
    print(f"{len(joined.ids)} matched items" + (f", {len(set(systems))} systems" if systems else ""))
    for level in ("utterance", "system"):
        if level not in table[AXES[0]]:
            continue
        print(f"\n{level} level" + ("" if args.n_boot else " (no confidence intervals)"))
        print(f"{'axis':<5}" + "".join(f"{m:>26}" for m in METRICS))
        for a in AXES:
            cells = []
            for m in METRICS:
                cell = table[a][level][m]
                ci = cell["ci"]
                cells.append(f"{cell['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
            print(f"{a:<5}" + "".join(f"{c:>26}" for c in cells))
    return 0


# ---- bench -----------------------------------------------------------------------
def cmd_bench(args) -> int:
    from .bench import main_json, run_bench

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


# ---- parser ----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmmos", description="Predict PQ, PC, CE and CU (1-10) for any audio.")
    sub = p.add_subparsers(dest="command", required=True)

    pr = sub.add_parser("predict", help="score audio files")
    pr.add_argument("paths", nargs="*", help="audio files (wav, flac, ogg, mp3)")
    pr.add_argument("--input", help="list of inputs: JSONL with {'path', 'start_time'?, 'end_time'?} per line")
    pr.add_argument("--output", help="JSONL (default, stdout) or .csv")
    pr.add_argument("--model", default="lite", help="'lite', 'trienc-random', a model directory or a hub id")
    pr.add_argument("--device", default=None, help="torch device, e.g. cuda")
    pr.add_argument("--max-duration", type=float, default=600.0, help="seconds; longer inputs are rejected")
    pr.add_argument("--batch-size", type=int, default=8, help="clips per member pass (ray: per worker batch)")
    pr.add_argument("--engine", choices=["local", "ray"], default="local")
    pr.add_argument("--address", default=None, help="ray: join this cluster instead of starting one")
    pr.add_argument("--num-workers", type=int, default=2, help="ray: model replicas (actors)")
    pr.add_argument("--gpus-per-worker", type=float, default=0.0, help="ray: GPUs per actor")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.add_argument("--reference", choices=["audiobox"], default=None,
                    help="also score with Meta's Audiobox Aesthetics (needs requirements-audiobox.txt); "
                         "adds a 'reference' block to each record")
    pr.add_argument("--reference-path", default=None,
                    help="the reference's checkpoint.pt (or its folder); default: $MMMOS_HOME/reference/"
                         "audiobox-aesthetics, then the Hugging Face cache")
    pr.set_defaults(func=cmd_predict)

    tr = sub.add_parser("train", help="train a sweep of members, select on two validation sets, export")
    tr.add_argument("--train", required=True, help="training manifest (CSV or JSONL)")
    tr.add_argument("--natural", required=True, help="natural validation manifest")
    tr.add_argument("--proxy", required=True, help="synthetic-proxy validation manifest (e.g. AES-PAM)")
    tr.add_argument("--root", help="folder the manifests' audio paths are relative to (replaces /your_path/)")
    tr.add_argument("--natural-root", help="root for the natural set, if different")
    tr.add_argument("--proxy-root", help="root for the proxy set, if different")
    tr.add_argument("--encoders", default="logmel", help="comma list of encoder kinds (wavlm,muq,m2d,acoustic,logmel)")
    tr.add_argument("--encoder-config", help="JSON file {kind: config} for the encoders (e.g. checkpoint paths)")
    tr.add_argument("--subsets", help="comma list of '+'-joined encoder subsets (default: all together)")
    tr.add_argument("--aggregators", default="mlp,blstm,blstm_t")
    tr.add_argument("--losses", default="utmos,contrastive,dcq,ccc")
    tr.add_argument("--top-k", type=int, default=8)
    tr.add_argument("--epochs", type=int, default=30)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--batch-size", type=int, default=32)
    tr.add_argument("--hidden", type=int, default=256)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--select-metric", default="SRCC", choices=["SRCC", "LCC", "KTAU", "MSE"])
    tr.add_argument("--system-regex", help="regex over ids whose first group is the system id")
    tr.add_argument("--system-column", help="manifest column holding the system id")
    tr.add_argument("--cache-dir", help="folder for cached embeddings (reused across runs)")
    tr.add_argument("--device", default=None)
    tr.add_argument("--name", default="mmmos-custom")
    tr.add_argument("--description", default="")
    tr.add_argument("--output", required=True, help="model directory to write")
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="metrics of predictions against labels")
    ev.add_argument("predictions")
    ev.add_argument("labels")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--system-column")
    ev.add_argument("--system-regex")
    ev.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the 95%% CIs (0: none)")
    ev.add_argument("--seed", type=int, default=0)
    ev.set_defaults(func=cmd_evaluate)

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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MMMOSError as exc:
        print(f"mmmos: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mmmos: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
