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
        from .batch import read_input_list

        items += read_input_list(args.input)
    if not items:
        raise MMMOSError("nothing to score: give audio paths or --input LIST")
    return items


def _report_errors(records: Iterable[dict[str, Any]]) -> None:
    errors = [record["error"] for record in records if record.get("error")]
    for error in errors:
        print(f"mmmos: {error}", file=sys.stderr)
    _print_cli_hints(errors)


def _print_cli_hints(errors: list[str]) -> None:
    """Advice that only makes sense on the command line; the core's messages leave it out
    because the app shows them to web visitors too (see `AudioInputError.hint`)."""
    from .model.audio import CLI_DURATION_HINT, OVER_LENGTH_MARK

    if any(OVER_LENGTH_MARK in e for e in errors):
        print(f"mmmos: hint: {CLI_DURATION_HINT}", file=sys.stderr)


def cmd_predict(args) -> int:
    from .batch import read_output_records, run_local_predict

    items = _input_items(args)
    to_file = args.output not in (None, "-")
    if args.reference_path and not args.reference:
        args.reference = "audiobox"  # the one peer with a checkpoint path: a path alone says which is meant
    if args.engine == "ray" and args.reference not in (None, "audiobox"):
        raise MMMOSError(f"--engine ray supports --reference audiobox only, not {args.reference}")
    if args.engine == "ray":
        if args.timeline:
            raise MMMOSError("--timeline runs on the local engine (one record per clip with its windows)")
        if not to_file:
            raise MMMOSError("--engine ray needs --output FILE (results are written in resumable parts)")
        from .batch.ray_engine import run_ray_predict

        summary = run_ray_predict(items, args.output, args.model, args.address, args.num_workers,
                                  args.batch_size, args.gpus_per_worker, progress=not args.quiet,
                                  max_duration_s=args.max_duration,
                                  reference=(args.reference, args.reference_path) if args.reference else None)
    else:
        from mmmos_core import load_model

        model = load_model(args.model, device=args.device, max_duration_s=args.max_duration,
                           reference=args.reference, reference_path=args.reference_path)
        if args.timeline:
            from .batch.timeline import run_timeline_predict

            return 1 if run_timeline_predict(items, model, args.output) else 0
        # To a file: written in parts and merged atomically, so a rerun into the same file resumes.
        # To standard output: each record as soon as it is scored.
        summary = run_local_predict(items, args.output if to_file else None, model, batch_size=args.batch_size,
                                    progress=not args.quiet and to_file)
        if to_file:
            print(summary.line(), file=sys.stderr)
    if summary.failed:
        where = f"in {args.output}" if to_file else "on standard output"
        if to_file:
            _report_errors(read_output_records(args.output))
        print(f"mmmos: {summary.failed} of {len(items)} inputs failed (see their error records {where})",
              file=sys.stderr)
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
    from .training.recipes import default_recipe, resolved_config, settings_for
    from .training.sweep import train_ensemble

    if args.encoders:
        kinds = _split(args.encoders)
    else:  # the paper recipe means the paper's encoders; otherwise the offline default
        kinds = ["wavlm", "muq", "m2d"] if args.recipe == "paper" else ["logmel"]
    recipe = args.recipe or default_recipe(kinds)
    try:
        settings = settings_for(
            recipe, kinds, subsets=[s.split("+") for s in _split(args.subsets)] if args.subsets else None,
            aggregators=_split(args.aggregators) if args.aggregators else None,
            losses=_split(args.losses) if args.losses else None, ensemble=args.ensemble,
            with_ablation=args.with_ablation, top_k=args.top_k, epochs=args.epochs, lr=args.lr,
            batch_size=args.batch_size, hidden=args.hidden, seed=args.seed, cache_dir=args.cache_dir,
            select_metric=args.select_metric, device=args.device or "cpu")
    except ValueError as exc:  # an unknown option value: say which, without a traceback
        raise MMMOSError(f"train: {exc}") from None
    if args.batch_size is not None:
        settings.batch_size_by_aggregator = {}  # an explicit --batch-size is for every aggregator
    if args.print_config:
        print(json.dumps(resolved_config(settings), indent=2))
        return 0
    missing = [f"--{n}" for n in ("train", "natural", "proxy", "output") if not getattr(args, n)]
    if missing:
        raise MMMOSError(f"train needs {', '.join(missing)} (only --print-config runs without them)")
    from .encoders import build_encoder

    configs = json.loads(Path(args.encoder_config).read_text()) if args.encoder_config else {}
    encoders = {k: build_encoder(k, configs.get(k, {})) for k in kinds}
    regex, column = args.system_regex, args.system_column
    train = _items_from_manifest(args.train, args.root, regex, column)
    natural = _items_from_manifest(args.natural, args.natural_root or args.root, regex, column)
    proxy = _items_from_manifest(args.proxy, args.proxy_root or args.root, regex, column)
    model, report = train_ensemble(encoders, train, natural, proxy, settings, name=args.name,
                                   description=args.description or "")
    out = model.save_pretrained(args.output)
    report.write(out)
    if report.skipped_items:
        print(f"mmmos: {len(report.skipped_items)} clips could not be read and were skipped "
              f"(listed in {out / 'sweep_report.json'})", file=sys.stderr)
    print(f"mmmos: wrote {out} with {len(model.members)} members: {', '.join(report.selected)}", file=sys.stderr)
    return 0


# ---- encoders --------------------------------------------------------------------
def cmd_encoders(args) -> int:
    """Load each pretrained encoder once and report every one that is missing, not just the first."""
    from .encoders import build_encoder

    missing = 0
    for kind in _split(args.kinds):
        try:
            info = build_encoder(kind).describe()
        except MMMOSError as exc:
            missing += 1
            print(f"{kind}: MISSING - {exc}")
            continue
        print(f"{kind}: ok ({info['dim']}-d, {info['num_layers']} layers, {info['frame_rate']:g} frames/s)")
    return 1 if missing else 0


# ---- experiments -----------------------------------------------------------------
def cmd_experiments(args) -> int:
    from .training.experiments import EXPERIMENTS, run_experiment

    sweep = args.sweep
    if args.name in ("demo", "all-demo"):
        from .training.demo_sweep import demo_sweep

        sweep, _ = demo_sweep(Path(args.output) / "demo", progress=lambda m: print(f"mmmos: {m}", file=sys.stderr))
        print(f"mmmos: wrote a demo sweep (random encoders, synthetic data) to {sweep}", file=sys.stderr)
        if args.name == "demo":
            return 0
    if not sweep:
        raise MMMOSError("experiments needs --sweep DIR (a folder written by `mmmos train`)")
    for name in EXPERIMENTS if args.name in ("all", "all-demo") else [args.name]:
        table, plot = run_experiment(name, sweep, args.output, n_boot=args.n_boot, seed=args.seed)
        print(f"mmmos: {name}: wrote {table} and {plot}", file=sys.stderr)
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
    uncertainty = None
    members = joined.member_predictions()
    if members is not None:  # the paper reports none: how much the ensemble's numbers hang on its members
        from .training.uncertainty import ensemble_uncertainty

        gold = [[joined.gold[a][i] for a in AXES] for i in range(len(joined.ids))]
        uncertainty = ensemble_uncertainty(members[1], gold, n_boot=args.n_boot or 200, seed=args.seed)
    for note in labels.notes:
        print(f"mmmos: note: {note}", file=sys.stderr)
    if joined.unmatched_predictions:
        print(f"mmmos: {len(joined.unmatched_predictions)} predictions match no label "
              f"(first: {joined.unmatched_predictions[0]})", file=sys.stderr)
    if joined.unmatched_labels:
        print(f"mmmos: {len(joined.unmatched_labels)} labels have no prediction "
              f"(first: {joined.unmatched_labels[0]})", file=sys.stderr)
    if args.json:
        print(json.dumps({**table, "uncertainty": uncertainty} if uncertainty else table))
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
    if uncertainty:
        print(f"\nensemble uncertainty over its {uncertainty['members']} members (bootstrap over members, "
              f"{uncertainty['n_boot']} draws)")
        print(f"{'axis':<5}{'member spread':>15}{'SRCC [95% over members]':>30}{'MSE [95% over members]':>30}")
        for a in AXES:
            u = uncertainty[a]
            cells = [f"{u[m]:.3f}" + (f" [{u[m + '_ci'][0]:.3f}, {u[m + '_ci'][1]:.3f}]" if u[m + "_ci"] else "")
                     for m in ("SRCC", "MSE")]
            print(f"{a:<5}{u['member_spread']:>15.3f}{cells[0]:>30}{cells[1]:>30}")
    return 0


# ---- bench -----------------------------------------------------------------------
def cmd_bench(args) -> int:
    from .bench import main_json, run_bench

    if args.json:
        print(main_json(args.model, args.runs, args.device, args.engine))
    else:
        for k, v in run_bench(args.model, args.runs, args.device).items():
            print(f"{k:>24}: {v}")
    return 0


def cmd_info(args) -> int:
    from mmmos_core import load_model

    print(json.dumps(load_model(args.model).info(), indent=2))
    return 0


# ---- compare-clips ---------------------------------------------------------------
def cmd_compare_clips(args) -> int:
    """`mmmos compare-clips A B [--json]`: the logic is `mmmos_core.ab`."""
    from mmmos_core import load_model

    from .ab import compare_clips

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
    pr.add_argument("--reference", choices=["audiobox", "dnsmos"], default=None,
                    help="also score with a peer model, added as a 'reference' block to each record: "
                         "'audiobox' (Meta's Audiobox Aesthetics, 1-10, needs requirements-audiobox.txt) or "
                         "'dnsmos' (Microsoft's DNSMOS SIG/BAK/OVRL/P808, 1-5, speech only, offline)")
    pr.add_argument("--timeline", action="store_true",
                    help="add each clip's 'windows' (start, end, four scores, member spread); JSONL only")
    pr.add_argument("--reference-path", default=None,
                    help="the reference's checkpoint.pt (or its folder); default: $MMMOS_HOME/reference/"
                         "audiobox-aesthetics, then the Hugging Face cache")
    pr.set_defaults(func=cmd_predict)

    tr = sub.add_parser("train", help="train a sweep of members, select on two validation sets, export")
    tr.add_argument("--recipe", choices=["paper", "mmmos"], default=None,
                    help="named training recipe (default: paper with wavlm,muq,m2d, else mmmos); "
                         "see docs/reproduce.md")
    tr.add_argument("--print-config", action="store_true", help="print the resolved recipe as JSON and exit")
    tr.add_argument("--ensemble", choices=["top8", "pam-top4"], default=None,
                    help="top8: members good on both validation sets (the paper's submission); "
                         "pam-top4: the 4 best on the proxy (PAM) set, the paper's better variant")
    tr.add_argument("--with-ablation", action="store_true",
                    help="also train WavLM-only and M2D-only MLP members for `mmmos experiments ablation` "
                         "(never selected into the ensemble)")
    tr.add_argument("--train", help="training manifest (CSV or JSONL)")
    tr.add_argument("--natural", help="natural validation manifest")
    tr.add_argument("--proxy", help="synthetic-proxy validation manifest (e.g. AES-PAM; the paper recipe "
                                    "trains on 800 of its 1,000 clips)")
    tr.add_argument("--root", help="folder the manifests' audio paths are relative to (replaces /your_path/)")
    tr.add_argument("--natural-root", help="root for the natural set, if different")
    tr.add_argument("--proxy-root", help="root for the proxy set, if different")
    tr.add_argument("--encoders", help="comma list of encoder kinds (wavlm,muq,m2d,acoustic,logmel); default: "
                                       "wavlm,muq,m2d with --recipe paper, else logmel")
    tr.add_argument("--encoder-config", help="JSON file {kind: config} for the encoders (e.g. checkpoint paths)")
    tr.add_argument("--subsets", help="comma list of '+'-joined encoder subsets (default: all together)")
    tr.add_argument("--aggregators", help="comma list (default: the recipe's)")
    tr.add_argument("--losses", help="comma list (default: the recipe's)")
    tr.add_argument("--top-k", type=int, help="ensemble size (default: the recipe's)")
    tr.add_argument("--epochs", type=int, help="default: the recipe's")
    tr.add_argument("--lr", type=float, help="default: the recipe's")
    tr.add_argument("--batch-size", type=int, help="for every aggregator (default: the recipe's)")
    tr.add_argument("--hidden", type=int, help="default: the recipe's")
    tr.add_argument("--seed", type=int, help="default: the recipe's")
    tr.add_argument("--select-metric", default=None, choices=["SRCC", "LCC", "KTAU", "MSE"])
    tr.add_argument("--system-regex", help="regex over ids whose first group is the system id")
    tr.add_argument("--system-column", help="manifest column holding the system id")
    tr.add_argument("--cache-dir", help="folder for cached embeddings (reused across runs)")
    tr.add_argument("--device", default=None)
    tr.add_argument("--name", default="mmmos-custom")
    tr.add_argument("--description", default="")
    tr.add_argument("--output", help="model directory to write")
    tr.set_defaults(func=cmd_train)

    ex = sub.add_parser("experiments", help="the paper's open experiments over a trained sweep directory")
    ex.add_argument("name", choices=["ablation", "losses", "ensembles", "all", "demo", "all-demo"],
                    help="ablation: WavLM vs M2D vs TriEnc on PAM; losses: UTMOS vs DCQ natural->PAM; ensembles: "
                         "PAM top-4 vs top-8; demo: write an offline stand-in sweep; all-demo: demo, then all three")
    ex.add_argument("--sweep", help="the model directory `mmmos train` wrote (with sweep_predictions.json)")
    ex.add_argument("--output", required=True, help="folder for the tables (.csv) and plots (.png)")
    ex.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs")
    ex.add_argument("--seed", type=int, default=0)
    ex.set_defaults(func=cmd_experiments)

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
    be.set_defaults(func=cmd_bench)


    _add_compare_clips(sub)

    inf = sub.add_parser("info", help="describe a model")
    inf.add_argument("--model", default="lite")
    inf.set_defaults(func=cmd_info)

    enc = sub.add_parser("encoders", help="check that the pretrained encoders' weights are in place")
    enc.add_argument("kinds", nargs="?", default="wavlm,muq,m2d", help="comma-separated encoder kinds")
    enc.set_defaults(func=cmd_encoders)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MMMOSError as exc:
        print(f"mmmos: error: {exc}", file=sys.stderr)
        if getattr(exc, "hint", ""):
            print(f"mmmos: hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mmmos: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
