"""The paper's open experiments, each one command over a trained sweep directory.

A sweep directory is what ``mmmos train`` writes: the model plus ``sweep_report.json``
(every member's configuration and metrics) and ``sweep_predictions.json`` (every
member's predictions on the natural and the proxy (PAM) validation set, with ids,
systems and gold labels). The experiments only re-read those predictions, so they
cost seconds, and each writes a CSV table and a PNG plot:

- ``ablation``: WavLM only vs M2D only vs WavLM+M2D vs TriEnc on the proxy (PAM) set,
  per axis (the paper reports only the axis average), MLP members, one row per loss and
  the four-loss average. Needs ``mmmos train --with-ablation``.
- ``losses``: UTMOS vs DCQ (and the other two losses), natural vs PAM SRCC for every
  encoder subset x aggregator, with a paired bootstrap CI of DCQ − UTMOS on each set:
  does DCQ generalise from natural to synthetic audio better, as the paper reports?
- ``ensembles``: PAM top-4 vs the paper's 8-member ensemble. The PAM validation set
  both selects and evaluates here, so the comparison is cross-fitted: the set is split
  in two by id hash, each half is scored by ensembles selected on the other half, and
  the difference top-4 − top-8 gets a paired bootstrap CI over clips (and over systems
  when the set has more than two).
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mmmos_core.axes import AXES
from mmmos_core.errors import MMMOSError

from .metrics import METRIC_FUNCTIONS, system_means
from .selection import select

EXPERIMENTS = ("ablation", "losses", "ensembles")
ABLATION_SUBSETS = (("wavlm",), ("m2d",), ("wavlm", "m2d"), ("wavlm", "muq", "m2d"))
LOSS_ORDER = ("utmos", "dcq", "contrastive", "ccc")


@dataclass
class Sweep:
    members: list[dict[str, Any]]  # sweep_report.json's member entries
    sets: dict[str, dict[str, Any]]  # natural / proxy -> ids, systems, gold [N, 4]
    predictions: dict[str, dict[str, np.ndarray]]  # member -> set -> [N, 4]
    select_metric: str = "SRCC"

    def member(self, encoders: Sequence[str], aggregator: str, loss: str) -> str | None:
        return next((m["name"] for m in self.members if tuple(m["encoders"]) == tuple(encoders)
                     and m["aggregator"] == aggregator and m["loss"] == loss), None)


def load_sweep(folder: str | Path) -> Sweep:
    folder = Path(folder)
    report_path, pred_path = folder / "sweep_report.json", folder / "sweep_predictions.json"
    for path in (report_path, pred_path):
        if not path.is_file():
            raise MMMOSError(f"{folder}: not a sweep directory ({path.name} is missing; `mmmos train` writes it)")
    try:
        report, preds = json.loads(report_path.read_text()), json.loads(pred_path.read_text())
        sets = {k: {**v, "gold": np.asarray(v["gold"], dtype=np.float64)} for k, v in preds["sets"].items()}
        predictions = {m: {k: np.asarray(v, dtype=np.float64) for k, v in by_set.items()}
                       for m, by_set in preds["members"].items()}
        metric = report.get("config", {}).get("selection", {}).get("metric", "SRCC")
        return Sweep(report["members"], sets, predictions, metric)
    except (KeyError, TypeError, ValueError) as exc:
        raise MMMOSError(f"{folder}: the sweep files are not in the expected format ({exc})") from None


def _metric(name: str, pred: np.ndarray, gold: np.ndarray) -> float:
    """Mean over the axes where it is defined (a constant resample has no correlation); pred, gold [N, 4]."""
    values = np.array([METRIC_FUNCTIONS[name](pred[:, a], gold[:, a]) for a in range(len(AXES))])
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def paired_bootstrap(stat: Callable[[np.ndarray], float], n: int, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> list[float] | None:
    """Percentile CI of ``stat(indices)`` over resamples of n units with replacement."""
    rng = np.random.default_rng(seed)
    values = np.array([stat(rng.integers(0, n, n)) for _ in range(n_boot)])
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    return [float(np.percentile(values, (1 - level) / 2 * 100)), float(np.percentile(values, (1 + level) / 2 * 100))]


# ---- 1. encoder ablation on PAM -------------------------------------------------------
def ablation(sweep: Sweep, aggregator: str = "mlp") -> list[dict[str, Any]]:
    missing = [s for s in (("wavlm",), ("m2d",), ("wavlm", "muq", "m2d"))
               if not any(sweep.member(s, aggregator, loss) for loss in LOSS_ORDER)]
    if missing:
        raise MMMOSError("the sweep has no " + ", ".join("+".join(s) for s in missing) + f" {aggregator} members; "
                         "train it with `mmmos train --recipe paper --with-ablation`")
    gold = sweep.sets["proxy"]["gold"]
    rows = []
    for subset in ABLATION_SUBSETS:
        names = {loss: sweep.member(subset, aggregator, loss) for loss in LOSS_ORDER}
        names = {k: v for k, v in names.items() if v}
        if not names:
            continue
        entries = [(loss, sweep.predictions[name]["proxy"]) for loss, name in names.items()]
        entries.append(("mean of losses", np.mean([p for _, p in entries], axis=0)))
        for loss, pred in entries:
            row = {"encoders": "+".join(subset), "aggregator": aggregator, "loss": loss}
            row.update({f"SRCC_{a}": METRIC_FUNCTIONS["SRCC"](pred[:, i], gold[:, i]) for i, a in enumerate(AXES)})
            row.update({"SRCC_mean": _metric("SRCC", pred, gold), "MSE_mean": _metric("MSE", pred, gold)})
            rows.append(row)
    return rows


# ---- 2. UTMOS vs DCQ: natural -> PAM generalisation ------------------------------------
def loss_generalisation(sweep: Sweep, n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    groups = sorted({(tuple(m["encoders"]), m["aggregator"]) for m in sweep.members})
    rows = []
    for encoders, aggregator in groups:
        names = {loss: sweep.member(encoders, aggregator, loss) for loss in LOSS_ORDER}
        if not (names["utmos"] and names["dcq"]):
            continue
        row: dict[str, Any] = {"encoders": "+".join(encoders), "aggregator": aggregator}
        for label in ("natural", "proxy"):
            gold = sweep.sets[label]["gold"]
            for loss, name in names.items():
                if name:
                    row[f"{loss}_{label}"] = _metric("SRCC", sweep.predictions[name][label], gold)
            dcq, utm = sweep.predictions[names["dcq"]][label], sweep.predictions[names["utmos"]][label]
            row[f"dcq_minus_utmos_{label}"] = row[f"dcq_{label}"] - row[f"utmos_{label}"]
            row[f"dcq_minus_utmos_{label}_ci"] = paired_bootstrap(
                lambda i: _metric("SRCC", dcq[i], gold[i]) - _metric("SRCC", utm[i], gold[i]), len(gold), n_boot, seed)
        rows.append(row)
    if not rows:
        raise MMMOSError("the sweep has no encoder subset x aggregator trained with both the utmos and the dcq loss")
    return rows


# ---- 3. PAM top-4 vs the 8-member ensemble ----------------------------------------------
def _halves(ids: Sequence[str]) -> np.ndarray:
    return np.array([int(hashlib.sha256(i.encode("utf-8")).hexdigest(), 16) % 2 for i in ids])


def _system_level(pred: np.ndarray, gold: np.ndarray, systems: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    cols_p, cols_g = [], []
    for a in range(len(AXES)):
        cols_p.append(system_means(pred[:, a], systems)[1])
        cols_g.append(system_means(gold[:, a], systems)[1])
    return np.stack(cols_p, axis=1), np.stack(cols_g, axis=1)


def ensemble_comparison(sweep: Sweep, n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    eligible = [m for m in sweep.members if m.get("selectable", True)]
    if len(eligible) < 8:
        raise MMMOSError(f"the sweep has {len(eligible)} selectable members; comparing with the 8-member "
                         "ensemble needs at least 8")
    names = [m["name"] for m in eligible]
    proxy, natural = sweep.sets["proxy"], sweep.sets["natural"]
    half = _halves(proxy["ids"])
    if min((half == 0).sum(), (half == 1).sum()) < 2:
        raise MMMOSError("the proxy set is too small to split into two halves of at least 2 clips")
    sign = -1.0 if sweep.select_metric == "MSE" else 1.0
    nat_scores = [sign * _metric(sweep.select_metric, sweep.predictions[n]["natural"], natural["gold"]) for n in names]
    gold = proxy["gold"]
    ens = {"top8": np.zeros_like(gold), "pam-top4": np.zeros_like(gold)}
    chosen: dict[str, list[list[str]]] = {"top8": [], "pam-top4": []}
    for h in (0, 1):
        pick, score = half != h, half == h  # select on the other half, score this one
        pro_scores = [sign * _metric(sweep.select_metric, sweep.predictions[n]["proxy"][pick], gold[pick])
                      for n in names]
        for key, rule, k in (("top8", "both-sets", 8), ("pam-top4", "proxy-only", 4)):
            members = [names[i] for i in select(rule, nat_scores, pro_scores, k)]
            chosen[key].append(members)
            ens[key][score] = np.mean([sweep.predictions[n]["proxy"][score] for n in members], axis=0)
    rows = []
    levels = [("utterance", ens["pam-top4"], ens["top8"], gold)]
    systems = proxy.get("systems") or []
    if systems and all(s is not None for s in systems) and len(set(systems)) > 2:
        p4, g = _system_level(ens["pam-top4"], gold, systems)
        p8, _ = _system_level(ens["top8"], gold, systems)
        levels.append(("system", p4, p8, g))
    for level, p4, p8, g in levels:
        for metric in ("SRCC", "LCC", "KTAU", "MSE"):
            a, b = _metric(metric, p4, g), _metric(metric, p8, g)
            ci = paired_bootstrap(lambda i: _metric(metric, p4[i], g[i]) - _metric(metric, p8[i], g[i]),
                                  len(g), n_boot, seed)
            rows.append({"level": level, "metric": metric, "pam_top4": a, "top8": b, "difference": a - b,
                         "difference_ci": ci, "units": len(g),
                         "pam_top4_members": " | ".join(";".join(m) for m in chosen["pam-top4"]),
                         "top8_members": " | ".join(";".join(m) for m in chosen["top8"])})
    return rows


# ---- tables and plots -------------------------------------------------------------------
def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if not np.isfinite(value) else round(value, 6)
    if isinstance(value, list):
        return " .. ".join(str(_cell(v)) for v in value)
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text  # never a spreadsheet formula


def write_table(rows: list[dict[str, Any]], path: Path) -> Path:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
    return path


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise MMMOSError("the experiment plots need matplotlib: pip install 'mmmos[experiments]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_ablation(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    rows = [r for r in rows if r["loss"] == "mean of losses"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / max(1, len(rows))
    for j, row in enumerate(rows):
        ax.bar(np.arange(len(AXES)) + j * width, [row[f"SRCC_{a}"] for a in AXES], width, label=row["encoders"])
    ax.set_xticks(np.arange(len(AXES)) + width * (len(rows) - 1) / 2, list(AXES))
    ax.set_ylabel("SRCC on the proxy (PAM) set")
    ax.set_title("Encoder ablation (MLP members, mean of the four losses' predictions)")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    return _saved(plt, fig, path)


def _saved(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)  # figures stay in pyplot's registry until closed
    return path


def plot_losses(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    colours = {"utmos": "tab:red", "dcq": "tab:blue", "contrastive": "tab:green", "ccc": "tab:purple"}
    for row in rows:
        for loss, colour in colours.items():
            if f"{loss}_natural" in row:
                ax.plot([0, 1], [row[f"{loss}_natural"], row[f"{loss}_proxy"]], marker="o", color=colour,
                        alpha=0.7, label=loss)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8)
    ax.set_xticks([0, 1], ["natural validation", "proxy (PAM) validation"])
    ax.set_ylabel("SRCC (mean over axes)")
    ax.set_title("Loss generalisation: one line per encoder subset x aggregator")
    return _saved(plt, fig, path)


def plot_ensembles(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    rows = [r for r in rows if r["metric"] != "MSE"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for j, row in enumerate(rows):
        lo, hi = row["difference_ci"] or [np.nan, np.nan]
        ax.errorbar(j, row["difference"], yerr=[[row["difference"] - lo], [hi - row["difference"]]], fmt="o",
                    capsize=4, color="tab:blue" if row["level"] == "utterance" else "tab:orange")
    ax.set_xticks(range(len(rows)), [f"{r['level']}\n{r['metric']}" for r in rows], fontsize=8)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel("PAM top-4 minus 8-member (95% CI)")
    ax.set_title("Ensembles, cross-fitted on the proxy (PAM) set")
    return _saved(plt, fig, path)


def run_experiment(name: str, sweep_dir: str | Path, output: str | Path, n_boot: int = 1000,
                   seed: int = 0) -> tuple[Path, Path]:
    """Run one experiment; write ``<output>/<name>.csv`` and ``<output>/<name>.png``."""
    if name not in EXPERIMENTS:
        raise MMMOSError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    sweep = load_sweep(sweep_dir)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    if name == "ablation":
        rows, plot = ablation(sweep), plot_ablation
    elif name == "losses":
        rows, plot = loss_generalisation(sweep, n_boot, seed), plot_losses
    else:
        rows, plot = ensemble_comparison(sweep, n_boot, seed), plot_ensembles
    return write_table(rows, out / f"{name}.csv"), plot(rows, out / f"{name}.png")
