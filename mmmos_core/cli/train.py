"""`mmmos train` and `mmmos experiments`: sweeps by named recipe, and the paper's open experiments."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mmmos_core.errors import MMMOSError


def split_commas(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _items_from_manifest(path: str, root: str | None, system_regex: str | None, system_column: str | None):
    from mmmos_core.labels import read_labels
    from mmmos_core.training.sweep import TrainItem

    labels = read_labels(path, root, system_column=system_column, system_regex=system_regex)
    for note in labels.notes:
        print(f"mmmos: note: {note}", file=sys.stderr)
    missing = [r.id for r in labels.rows if not r.path]
    if missing:
        raise MMMOSError(f"{path}: {len(missing)} rows have no audio path (first: {missing[0]})")
    return [TrainItem(r.id, r.path, r.labels, r.system) for r in labels.rows]


def cmd_train(args) -> int:
    from mmmos_core.training.recipes import default_recipe, resolved_config, settings_for
    from mmmos_core.training.sweep import train_ensemble

    if args.encoders:
        kinds = split_commas(args.encoders)
    else:  # the paper recipe means the paper's encoders; otherwise the offline default
        kinds = ["wavlm", "muq", "m2d"] if args.recipe == "paper" else ["logmel"]
    recipe = args.recipe or default_recipe(kinds)
    try:
        settings = settings_for(
            recipe, kinds, subsets=[s.split("+") for s in split_commas(args.subsets)] if args.subsets else None,
            aggregators=split_commas(args.aggregators) if args.aggregators else None,
            losses=split_commas(args.losses) if args.losses else None, ensemble=args.ensemble,
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
    from mmmos_core.encoders import build_encoder

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


def cmd_experiments(args) -> int:
    from mmmos_core.training.experiments import EXPERIMENTS, run_experiment

    sweep = args.sweep
    if args.name in ("demo", "all-demo"):
        from mmmos_core.training.demo_sweep import demo_sweep

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


def add_parsers(sub) -> None:
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
