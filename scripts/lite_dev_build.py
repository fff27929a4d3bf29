"""A development build of MMMOS-lite: some members, trained exactly as `build_lite_model`
trains them, then measured on the validation sources (never the held-out ones).

A full build trains all twelve members and takes about an hour on two cores. The four MLP
members take about 7 minutes once the items are made, and they come out exactly as a full
build's MLPs do (each member's training depends on its own seed and settings only), so their
validation figures say what a setting does before a full build is spent on it. The
development builds in docs/lite-history.md were made this way.

Drawing the items again from the same corpus (another ``--corpus-seed``) moves the validation
checks by about 6 of 562 pairs on its own, so give a setting two draws before believing a
small gain. Items are made once per draw and kept in ``--items-cache`` (about 2.5 GB each;
making them, DNSMOS on the speech items included, takes about 6 minutes). The cache key
includes the manifest and the source of `mmmos_core.lite`, so a recipe change makes new items.

    python -m scripts.lite_dev_build --out /tmp/dev --corpus-seed 0 1
    python -m scripts.lite_dev_build --out /tmp/dev-r1 --order '{"weight": 1, "reach": 1, "aggregators": ["mlp"]}'
    python -m scripts.lite_dev_build --out /tmp/dev-none --order none --aggregators mlp blstm
    python -m scripts.lite_dev_build --out /tmp/dev-dom --order '{"weight": 1, "aggregators": ["mlp"],
        "by_domain": [["speech", 0.3, 0.5], ["music", 1, 1], ["sound", 0.3, 0.5]]}'
    python -m scripts.lite_dev_build --out /tmp/dev-fe --front-end    # members also read encoders.melcnn

With ``--general DIR`` the members trained become the music-and-sound members of a routed
model (`build_lite_model.with_router`) over DIR's members, and that model is measured. DIR must
read descriptors standardised on the same draw's training items (the shipped model: draw 0;
otherwise a development build of the draw). The order term defaults to the routed members'.

    python -m scripts.lite_dev_build --out /tmp/dev-routed --general mmmos_core/assets/mmmos-lite
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from pathlib import Path

from scripts.build_lite_model import (
    EPOCHS,
    ORDER_TERM,
    REPO,
    ROUTED_ORDER_TERM,
    WEIGHTS_DTYPE,
    corpus_sets,
    deterministic,
    member_encoders,
    sweep_settings,
    to_stderr,
    train_items,
    with_router,
)

DEFAULT_CACHE = Path.home() / ".cache" / "mmmos" / "lite-items"
# What a row of the summary shows, from `lite_card.measure`'s report.
COLUMNS = (("pairs", "degradation_passed"), ("noise steps", "monotonic_passed"), ("mix of 3", "complexity_passed"),
           ("produced PQ", "produced_mean_PQ"), ("produced CE", "produced_mean_CE"),
           ("reverb-noise10", "reverb_minus_noise10_cost"), ("OVRL pooled", "speech_pooled_OVRL"),
           ("OVRL within", "speech_within_OVRL"), ("P808 pooled", "speech_pooled_P808"),
           ("P808 within", "speech_within_P808"), ("CE vs PQ", "ce_pq_srcc"))


def items_key(seed: int) -> str:
    """Names a draw of the items: the corpus seed, the manifest and the lite package's code."""
    h = hashlib.sha256(f"seed {seed}\n".encode())
    lite = REPO / "mmmos_core" / "lite"
    for path in sorted(lite.glob("*.py")) + sorted(lite.glob("*.json")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"seed{seed}-{h.hexdigest()[:16]}"


def cached_sets(seed: int, cache: Path, labels_dir: Path, corpus_root: Path | None, say):
    path = cache / f"{items_key(seed)}.pkl"
    if path.is_file():
        say(f"items of corpus seed {seed} from {path}")
        with path.open("rb") as f:  # written by this script, on this machine
            return pickle.load(f)
    _, _, sets = corpus_sets(labels_dir, corpus_root, seed=seed, progress=say)
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as f:
        pickle.dump(sets, f, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)  # a build killed while writing leaves no half cache behind
    return sets


def dev_build(out_dir: Path, seed: int, aggregators: list[str], order_term: dict | None, epochs: int,
              cache: Path, labels_dir: Path, corpus_root: Path | None, say, general: Path | None = None,
              front_end: bool = False) -> Path:
    """Trains the chosen members on one draw of the items (as the domain members of a routed
    model over ``general``'s members, when given; reading the learned encoder too, with
    ``front_end``); returns the model directory."""
    from mmmos_core.training.sweep import train_ensemble

    deterministic()
    sets = cached_sets(seed, cache, labels_dir, corpus_root, say)
    train, natural, proxy = train_items(sets["train"]), train_items(sets["natural"]), train_items(sets["proxy"])
    encoders = member_encoders(sets["train"], train, front_end, say)
    encoder = encoders["acoustic"]
    sweep = sweep_settings(epochs, aggregators, order_term, top_k=4 * len(aggregators),  # keep every member
                           encoders=tuple(encoders))
    model, report = train_ensemble(encoders, train, natural, proxy, sweep, name="mmmos-lite-dev",
                                   description=f"MMMOS-lite development build (corpus seed {seed})",
                                   note="development build: not for use", progress=say)
    model.store_weights_as(WEIGHTS_DTYPE)  # scored as a shipped build would be
    if general is not None:
        from mmmos_core.model.mmmos_model import MMMOSModel

        model = with_router(MMMOSModel.from_pretrained(general), model, encoder, train, natural, say)
    for old in (out_dir / "members").glob("*.safetensors"):
        old.unlink()  # an earlier run's members (e.g. other aggregators) must not linger beside the new manifest
    model.save_pretrained(out_dir)
    report.write(out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.lite_dev_build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for one model per corpus seed")
    parser.add_argument("--corpus-seed", type=int, nargs="+", default=[0], help="draws of the items (default 0)")
    parser.add_argument("--aggregators", nargs="+", default=["mlp"], choices=["mlp", "blstm", "blstm_t"])
    parser.add_argument("--order", default=None,
                        help="the order term as JSON (OrderTerm's fields), or 'none'; default: the shipped build's")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--general", type=Path, default=None,
                        help="measure a routed model: DIR's members for every clip, the trained ones for "
                             "music and sound")
    parser.add_argument("--front-end", action="store_true",
                        help="members also read the learned log-mel encoder, trained first on the same items")
    parser.add_argument("--items-cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--labels-dir", type=Path, default=REPO.parent / "shared" / "aes_labels")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: make lite-corpus's)")
    args = parser.parse_args(argv)
    if args.front_end and args.general:
        parser.error("--front-end and --general are separate candidates (the router reads descriptors only)")
    try:
        default = ROUTED_ORDER_TERM if args.general else ORDER_TERM
        order = default if args.order is None else None if args.order == "none" else json.loads(args.order)
    except json.JSONDecodeError as exc:
        parser.error(f"--order: not JSON ({exc})")
    if order is not None:
        from mmmos_core.training.losses import OrderTerm

        try:
            OrderTerm(**order)
        except (TypeError, ValueError) as exc:
            parser.error(f"--order: {exc}")

    from mmmos_core.errors import MMMOSError
    from scripts.lite_card import measure

    def say(message: str) -> None:
        if not message.startswith("encoded "):  # one line per 50 clips is noise over 7 minutes
            to_stderr(message)

    rows = []
    try:
        for seed in args.corpus_seed:
            t0 = time.time()
            model_dir = dev_build(args.out / f"seed{seed}", seed, args.aggregators, order, args.epochs,
                                  args.items_cache, args.labels_dir, args.corpus, say, args.general,
                                  args.front_end)
            report = measure(model_dir, "val", args.corpus, progress=say)
            (model_dir / "val.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
            rows.append((seed, report))
            say(f"corpus seed {seed}: {time.time() - t0:.0f} s, validation report in {model_dir / 'val.json'}")
    except MMMOSError as exc:  # e.g. a corpus recording missing or different from its manifest
        print(f"lite_dev_build: {exc}", file=sys.stderr)
        return 1
    print("| corpus seed | " + " | ".join(name for name, _ in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for seed, report in rows:
        cells = [f"{report[key]:.3f}" if isinstance(report[key], float) else str(report[key]) for _, key in COLUMNS]
        print(f"| {seed} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
