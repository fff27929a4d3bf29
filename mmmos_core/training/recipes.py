"""Named training recipes: every choice that changes results is a named option.

`SweepSettings` holds the options; a recipe is a named set of values for them:

- ``paper``: the MMMOS paper (arXiv 2507.04094), and the authors' public training code
  (github robert0518/MMMOS) wherever the paper is silent; the few places we cannot or
  will not follow the code are listed in ``PAPER_DEVIATIONS`` and docs/reproduce.md.
- ``mmmos``: this project's own first choices (AdamW, cosine, 30 epochs, all windows,
  an MLP trunk, learned layer mixing, rating-point losses, the 2 x 3 x 4 sweep).

`resolved_config` turns settings into the JSON that ``mmmos train --print-config``
shows, so what a run will do can be read before it starts.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mmmos_core.model.features import WindowSettings

from .losses import AUTHORS, LOSSES, UNITS, LossConventions, OrderTerm

OPTIMISERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine")
CROPS = ("random-window", "all-windows")
KEEP_EPOCH = ("best-validation", "last")
# "grouped": the items of one group (versions of one recording's crop) share a batch, so the
# pairwise losses compare them directly; "shuffled": every item on its own.
BATCHINGS = ("shuffled", "grouped")
SELECTIONS = ("both-sets", "proxy-only")
DATA_SPLITS = ("paper", "natural-only")
ENSEMBLES = {  # --ensemble NAME -> (selection rule, members kept)
    "top8": ("both-sets", 8),  # the paper's submitted system
    "pam-top4": ("proxy-only", 4),  # the paper's better post-hoc variant (system SRCC 0.923 vs 0.910)
}


@dataclass(frozen=True)
class Configuration:
    """One sweep member: encoder subset x aggregator x loss."""

    encoders: tuple[str, ...]
    aggregator: str
    loss: str

    @property
    def name(self) -> str:
        return f"{'+'.join(self.encoders)}-{self.aggregator}-{self.loss}"


def grid(subsets, aggregators, losses) -> list[Configuration]:
    return [Configuration(tuple(s), a, l) for s, a, l in itertools.product(subsets, aggregators, losses)]


@dataclass
class SweepSettings:
    subsets: list[list[str]]
    aggregators: list[str] = field(default_factory=lambda: ["mlp", "blstm", "blstm_t"])
    losses: list[str] = field(default_factory=lambda: list(LOSSES))
    top_k: int = 8
    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    hidden: int = 256
    dropout: float = 0.1
    seed: int = 0
    cache_dir: str | None = None
    select_metric: str = "SRCC"  # mean over axes, utterance level; MSE is minimised, others maximised
    device: str = "cpu"
    windows: WindowSettings = field(default_factory=WindowSettings)
    # ---- the options the two recipes set differently ----
    recipe: str = "custom"
    optimiser: str = "adamw"
    schedule: str = "cosine"
    grad_clip: float | None = 5.0
    batch_size_by_aggregator: dict[str, int] = field(default_factory=dict)  # overrides batch_size
    crop: str = "all-windows"  # "random-window": one random 10 s window per clip per step
    batching: str = "shuffled"  # "grouped": a group's items (TrainItem.group) share a batch
    # Weight of pairs of different groups in the pairwise losses (within a group: 1);
    # 1 is the paper's plain mean over a batch's pairs. See losses.pair_weights.
    cross_group_pair_weight: float = 1.0
    order_term: OrderTerm | None = None  # an extra loss on the order of a group's versions (losses.OrderTerm)
    keep_epoch: str = "last"
    loss_units: str = "rating"
    loss_conventions: LossConventions = field(default_factory=LossConventions)
    heads: str = "mlp"
    layers: dict[str, str] = field(default_factory=dict)  # encoder -> "mix" | "last"
    data_split: str = "natural-only"
    selection: str = "both-sets"
    # An explicit member list replaces the subsets x aggregators x losses grid.
    configurations_override: list[Configuration] | None = None
    # Trained and reported for the experiments, never eligible for the ensemble.
    extra_configurations: list[Configuration] = field(default_factory=list)

    def __post_init__(self):
        for value, allowed, what in ((self.optimiser, OPTIMISERS, "optimiser"), (self.schedule, SCHEDULES, "schedule"),
                                     (self.crop, CROPS, "crop"), (self.batching, BATCHINGS, "batching"),
                                     (self.keep_epoch, KEEP_EPOCH, "keep_epoch"),
                                     (self.loss_units, UNITS, "loss_units"), (self.selection, SELECTIONS, "selection"),
                                     (self.data_split, DATA_SPLITS, "data_split")):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
        if not 0.0 <= self.cross_group_pair_weight <= 1.0:
            raise ValueError(f"cross_group_pair_weight must lie in [0, 1], not {self.cross_group_pair_weight}")

        from mmmos_core.model.aggregators import AGGREGATORS, HEADS
        from mmmos_core.model.member import LAYER_CHOICES

        if self.heads not in HEADS or any(v not in LAYER_CHOICES for v in self.layers.values()):
            raise ValueError(f"heads must be one of {', '.join(HEADS)} and each layer choice one of "
                             f"{', '.join(LAYER_CHOICES)}")

        if self.order_term is not None and not set(self.order_term.aggregators) <= set(AGGREGATORS):
            raise ValueError(f"order_term.aggregators must name aggregators among {', '.join(AGGREGATORS)}, "
                             f"not {list(self.order_term.aggregators)}")
        for configuration in self.configurations() + list(self.extra_configurations):
            if configuration.loss not in LOSSES or configuration.aggregator not in AGGREGATORS:
                raise ValueError(f"configuration {configuration.name}: the loss must be one of {', '.join(LOSSES)} "
                                 f"and the aggregator one of {', '.join(AGGREGATORS)}")

    def configurations(self) -> list[Configuration]:
        if self.configurations_override is not None:
            return list(self.configurations_override)
        return grid(self.subsets, self.aggregators, self.losses)

    def batch_size_for(self, aggregator: str) -> int:
        return self.batch_size_by_aggregator.get(aggregator, self.batch_size)

    def with_ensemble(self, ensemble: str) -> "SweepSettings":
        if ensemble not in ENSEMBLES:
            raise ValueError(f"unknown ensemble {ensemble!r}; choose from {', '.join(ENSEMBLES)}")
        selection, top_k = ENSEMBLES[ensemble]
        return replace(self, selection=selection, top_k=top_k)


TRIENC = ("wavlm", "muq", "m2d")
# Which 16: the paper trains 16 configurations "using different encoder combinations,
# aggregation strategies, and loss functions" without listing them. Its result tables
# compare the three aggregators and the four losses on the full TriEnc, and the encoder
# combinations against WavLM+M2D; so TriEnc x {MLP, BLSTM, BLSTM(t)} x 4 losses (12)
# plus WavLM+M2D x MLP x 4 losses (4). This is our reading, not a list from the paper.
PAPER_CONFIGURATIONS = grid([TRIENC], ["mlp", "blstm", "blstm_t"], LOSSES) + grid([("wavlm", "m2d")], ["mlp"], LOSSES)
# The encoder ablation (WavLM only, M2D only) next to TriEnc-MLP: trained with
# --with-ablation, reported, never selected into the ensemble.
ABLATION_CONFIGURATIONS = grid([("wavlm",), ("m2d",)], ["mlp"], LOSSES)

PAPER_DEVIATIONS = (
    "encoders stay frozen (the paper says frozen; the authors' code fine-tunes MuQ and M2D)",
    "the random 10 s crop is a random cached 10 s window of the clip per step (clips of up to "
    "10 s are used whole), so embeddings are extracted once rather than every step",
    "the best epoch is chosen by the loss on whole validation clips (all windows); the authors' "
    "validation loader crops at random like training",
    "targets are z-scored with the population spread (1/N); the authors' pandas std is 1/(N-1), "
    "a 0.01% difference on 3,500 clips",
    "batch sizes are the paper's (32, 16 for the BLSTMs); the authors' script defaults to 8 per GPU",
    "MuQ is fed 24 kHz audio, its training rate (the authors' code fed 16 kHz)",
    "the 16 configurations are our reading of the paper (it does not list them)",
)


def paper_recipe() -> SweepSettings:
    return SweepSettings(
        subsets=[list(TRIENC), ["wavlm", "m2d"]], aggregators=["mlp", "blstm", "blstm_t"], losses=list(LOSSES),
        top_k=8, epochs=10, lr=1e-4, weight_decay=0.0, batch_size=32, hidden=256, dropout=0.0, seed=42,
        recipe="paper", optimiser="adam", schedule="constant", grad_clip=None,
        # The paper: the BLSTM runs needed a smaller batch (32 -> 16) to fit in memory.
        batch_size_by_aggregator={"mlp": 32, "blstm": 16, "blstm_t": 16},
        crop="random-window", keep_epoch="best-validation", loss_units="zscore", loss_conventions=AUTHORS,
        heads="linear", layers={"wavlm": "mix", "muq": "last", "m2d": "last"}, data_split="paper",
        selection="both-sets",
        configurations_override=list(PAPER_CONFIGURATIONS),
    )


def mmmos_recipe(subsets: list[list[str]] | None = None) -> SweepSettings:
    return SweepSettings(subsets=subsets or [list(TRIENC), ["wavlm", "m2d"]], recipe="mmmos")


RECIPES = {"paper": paper_recipe, "mmmos": mmmos_recipe}


def get_recipe(name: str) -> SweepSettings:
    try:
        return RECIPES[name]()
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}") from None


def resolved_config(settings: SweepSettings) -> dict[str, Any]:
    """Everything a run will do, as plain JSON-able values."""
    selectable = settings.configurations()
    rule = (f"the smallest k' >= {settings.top_k} whose top-k' lists by {settings.select_metric} on the natural "
            f"and the proxy validation sets share {settings.top_k} members, ordered by summed rank"
            if settings.selection == "both-sets" else
            f"the top {settings.top_k} members by {settings.select_metric} on the proxy (PAM) validation set")
    return {
        "recipe": settings.recipe,
        "optimiser": {"name": settings.optimiser, "lr": settings.lr, "weight_decay": settings.weight_decay,
                      "grad_clip": settings.grad_clip},
        "schedule": settings.schedule,
        "epochs": settings.epochs,
        "keep_epoch": settings.keep_epoch,
        "seed": settings.seed,
        "batch_size": {a: settings.batch_size_for(a) for a in sorted({c.aggregator for c in selectable})},
        "crop": {"mode": settings.crop, "window_s": settings.windows.window_s},
        "loss": {"units": settings.loss_units, **asdict(settings.loss_conventions),
                 "cross_group_pair_weight": settings.cross_group_pair_weight,
                 **({"order_term": settings.order_term.record()} if settings.order_term is not None else {}),
                 "tau_margin_units": "standard deviations per axis" if settings.loss_units == "zscore"
                 else "rating points"},
        "heads": settings.heads,
        "hidden": {"size": settings.hidden, "used_by": "the BLSTM width" + (" and the MLP trunk"
                                                                           if settings.heads == "mlp" else "")},
        "dropout": settings.dropout,
        "layers": {e: settings.layers.get(e, "mix") for e in sorted({e for c in selectable for e in c.encoders})},
        "data_split": settings.data_split,
        "configurations": [c.name for c in selectable],
        "extra_configurations": [c.name for c in settings.extra_configurations],
        "selection": {"rule": settings.selection, "top_k": settings.top_k, "metric": settings.select_metric,
                      "description": rule},
        "deviations_from_authors": list(PAPER_DEVIATIONS) if settings.recipe == "paper" else [],
    }


def default_recipe(encoder_kinds: list[str]) -> str:
    """``paper`` when the three TriEnc encoders are loaded, else ``mmmos`` (the paper has no other)."""
    return "paper" if set(TRIENC) <= set(encoder_kinds) else "mmmos"


def settings_for(recipe: str, encoder_kinds: list[str], *, subsets: list[list[str]] | None = None,
                 aggregators: list[str] | None = None, losses: list[str] | None = None,
                 ensemble: str | None = None, with_ablation: bool = False, **overrides: Any) -> SweepSettings:
    """The named recipe, then each explicitly given option on top (None means "the recipe's").

    Giving subsets, aggregators or losses replaces the recipe's member list by their grid
    (each unset one taken from the recipe's own grid).
    """
    if recipe == "mmmos":
        # With the three TriEnc encoders, the project's own sweep (both subsets); otherwise all loaded together.
        settings = mmmos_recipe(subsets or (None if set(TRIENC) <= set(encoder_kinds) else [list(encoder_kinds)]))
    else:
        settings = get_recipe(recipe)
    changes = {k: v for k, v in overrides.items() if v is not None}
    if subsets or aggregators or losses:
        changes["configurations_override"] = grid(subsets or settings.subsets, aggregators or settings.aggregators,
                                                  losses or settings.losses)
        changes.update({k: v for k, v in (("subsets", subsets), ("aggregators", aggregators), ("losses", losses))
                        if v})
    if with_ablation:
        changes["extra_configurations"] = list(ABLATION_CONFIGURATIONS)
    settings = replace(settings, **changes)
    return settings.with_ensemble(ensemble) if ensemble else settings
