"""`mmmos evaluate`: the challenge metrics of predictions against labels, with the ensemble's uncertainty."""

from __future__ import annotations

import json
import sys

from mmmos_core.axes import AXES
from mmmos_core.errors import MMMOSError


def cmd_evaluate(args) -> int:
    from mmmos_core.labels import join, read_labels, read_predictions
    from mmmos_core.training.metrics import METRICS, metric_table

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
        from mmmos_core.training.uncertainty import ensemble_uncertainty

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


def add_parsers(sub) -> None:
    ev = sub.add_parser("evaluate", help="metrics of predictions against labels")
    ev.add_argument("predictions")
    ev.add_argument("labels")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--system-column")
    ev.add_argument("--system-regex")
    ev.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the 95%% CIs (0: none)")
    ev.add_argument("--seed", type=int, default=0)
    ev.set_defaults(func=cmd_evaluate)
