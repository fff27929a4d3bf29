"""Train a sweep of members on cached embeddings, select on two validation sets, export.

Every configuration (encoder subset x aggregator x loss) is trained on the same cached
encoder outputs; each is scored on a "natural" validation set and on a "synthetic
proxy" set; the ensemble keeps the members that rank well on BOTH (the smallest k'
whose top-k' lists on the two sets share ``top_k`` members, ordered by summed rank), or
with ``selection="proxy-only"`` the top ``top_k`` on the proxy set. How each member is
trained (optimiser, schedule, crop, loss units, heads, ...) is the named options of
`SweepSettings`, whose values the recipes in `recipes.py` set.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from mmmos_core.axes import AXES
from mmmos_core.encoders import Encoder
from mmmos_core.errors import AudioInputError, MMMOSError
from mmmos_core.model.audio import Audio, load_audio
from mmmos_core.model.cache import EmbeddingCache
from mmmos_core.model.features import ClipFeatures, EncodedWindows, WindowSettings, extract_features
from mmmos_core.model.member import FeatureBatch, Member, MemberConfig
from mmmos_core.model.mmmos_model import MMMOSModel, ModelConfig

from .losses import get_loss, loss_in_units, pair_weights, same_group
from .metrics import compute_metrics
from .paper_split import apply_paper_split
from .recipes import SweepSettings
from .selection import ranks, select, select_members  # noqa: F401 (select_members: the public rule)
from .uncertainty import ensemble_uncertainty

log = logging.getLogger(__name__)


@dataclass
class TrainItem:
    id: str
    audio: str | Audio
    labels: dict[str, float]
    system: str | None = None
    group: str | None = None  # versions of one recording (clean, degraded) share a group
    domain: str | None = None  # speech, music or sound, when the item is of one (for OrderTerm.by_domain)


@dataclass
class MemberReport:
    name: str
    encoders: list[str]
    aggregator: str
    loss: str
    natural: dict[str, Any]
    proxy: dict[str, Any]
    rank_natural: int = 0
    rank_proxy: int = 0
    selected: bool = False
    selectable: bool = True  # False for members trained only for the experiments
    best_epoch: int = 0


@dataclass
class SweepReport:
    members: list[MemberReport]
    selected: list[str]
    skipped_items: list[str]
    target_mean: list[float]
    target_std: list[float]
    config: dict[str, Any] = field(default_factory=dict)  # the resolved recipe
    split: dict[str, int] = field(default_factory=dict)  # clips per set after the recipe's split
    notes: list[str] = field(default_factory=list)
    uncertainty: dict[str, Any] = field(default_factory=dict)  # the ensemble's, per validation set
    # Not in sweep_report.json: per set, ids / systems / gold and each member's predictions.
    predictions: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("predictions")
        return d

    def write(self, folder: str | Path) -> Path:
        """sweep_report.json (metrics, ranks, selection) + sweep_predictions.json (for the experiments)."""
        folder = Path(folder)
        (folder / "sweep_report.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        (folder / "sweep_predictions.json").write_text(json.dumps(self.predictions) + "\n")
        return folder / "sweep_report.json"


def _set_seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))


def extract_items(encoders: dict[str, Encoder], items: list[TrainItem], windows: WindowSettings,
                  cache: EmbeddingCache, progress: Callable[[str], None] | None = None
                  ) -> tuple[list[ClipFeatures], list[TrainItem], list[str]]:
    """Encode every item once (cache first). Unreadable audio is skipped and reported."""
    clips, kept, skipped = [], [], []
    for n, item in enumerate(items, 1):
        try:
            audio = item.audio if isinstance(item.audio, Audio) else load_audio(item.audio, name=item.id)
        except AudioInputError as exc:  # named by its file: that is what the user fixes
            skipped.append(f"{item.id} ({item.audio}): {exc.problem}" if isinstance(item.audio, (str, Path)) else str(exc))
            continue
        clips.append(extract_features(encoders, audio, windows, cache))
        kept.append(item)
        if progress and n % 50 == 0:
            progress(f"encoded {n}/{len(items)}")
    return clips, kept, skipped


def _targets(items: list[TrainItem]) -> np.ndarray:
    return np.array([[item.labels[a] for a in AXES] for item in items], dtype=np.float64)


def predict_clips(member: Member, clips: list[ClipFeatures], mean: torch.Tensor, std: torch.Tensor,
                  device: str = "cpu", chunk: int = 64) -> np.ndarray:
    member.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(clips), chunk):
            batch = FeatureBatch.from_clips(clips[i:i + chunk], member.config.encoders,
                                            with_sequence=member.uses_sequence, device=device)
            z = batch.clip_average(member(batch))
            out.append((z * std + mean).clamp(1.0, 10.0).cpu())
    return torch.cat(out).numpy().astype(np.float64)


def evaluate(pred: np.ndarray, gold: np.ndarray, systems: list[str | None] | None = None) -> dict[str, Any]:
    """Per-axis utterance metrics (and system metrics when every item has a system), plus means."""
    result: dict[str, Any] = {"utterance": {a: compute_metrics(pred[:, i], gold[:, i]) for i, a in enumerate(AXES)}}
    if systems and all(s is not None for s in systems) and len(set(systems)) > 2:
        from .metrics import system_means
        result["system"] = {}
        for i, a in enumerate(AXES):
            _, p = system_means(pred[:, i], systems)
            _, g = system_means(gold[:, i], systems)
            result["system"][a] = compute_metrics(p, g)
    result["mean"] = {m: float(np.nanmean([result["utterance"][a][m] for a in AXES]))
                      for m in ("MSE", "LCC", "SRCC", "KTAU")}
    return result


def _random_window(clip: ClipFeatures, generator: torch.Generator) -> ClipFeatures:
    """One 10 s window of the clip, uniformly at random: the cached form of a random 10 s crop."""
    if clip.num_windows == 1:
        return clip
    w = int(torch.randint(clip.num_windows, (1,), generator=generator))
    by_encoder = {n: EncodedWindows(e.pooled[w:w + 1], e.sequence[w:w + 1], e.sequence_mask[w:w + 1],
                                    e.weights[w:w + 1]) for n, e in clip.by_encoder.items()}
    return ClipFeatures(by_encoder, clip.weights[w:w + 1])


def batch_orders(groups: list[str | None], batch_size: int, generator: torch.Generator,
                 batching: str = "shuffled") -> list[list[int]]:
    """One epoch's batches of item indices. "shuffled": a random permutation cut into
    batches. "grouped": groups in random order, each kept whole inside one batch (a group
    larger than a batch is cut), items shuffled within their group; a batch is closed when
    the next group would not fit, so batches may run a little short. Items without a group
    are groups of one."""
    n = len(groups)
    if batching == "shuffled":
        order = torch.randperm(n, generator=generator).tolist()
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]
    members: dict[object, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(("item", i) if g is None else g, []).append(i)
    blocks = list(members.values())
    batches: list[list[int]] = []
    current: list[int] = []
    for b in torch.randperm(len(blocks), generator=generator).tolist():
        block = [blocks[b][j] for j in torch.randperm(len(blocks[b]), generator=generator).tolist()]
        for k in range(0, len(block), batch_size):
            part = block[k:k + batch_size]
            if len(current) + len(part) > batch_size:
                batches.append(current)
                current = []
            current = current + part
    if current:
        batches.append(current)
    return batches


def _optimiser(member: Member, settings: SweepSettings) -> torch.optim.Optimizer:
    if settings.optimiser == "adam":
        return torch.optim.Adam(member.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    return torch.optim.AdamW(member.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)


def _validation_loss(member: Member, loss_fn, clips: list[ClipFeatures], y: torch.Tensor, batch_size: int,
                     device: str) -> float:
    """Mean of the member's own loss over validation batches (whole clips, fixed order)."""
    member.eval()
    losses = []
    with torch.no_grad():
        for i in range(0, len(clips), batch_size):
            chunk = clips[i:i + batch_size]
            batch = FeatureBatch.from_clips(chunk, member.config.encoders, with_sequence=member.uses_sequence,
                                            device=device)
            losses.append(float(loss_fn(batch.clip_average(member(batch)), y[i:i + len(chunk)])))
    return float(np.mean(losses))


def train_member(config: MemberConfig, shapes: dict[str, tuple[int, int]], clips: list[ClipFeatures],
                 targets: np.ndarray, mean: torch.Tensor, std: torch.Tensor, settings: SweepSettings,
                 seed: int, validation: tuple[list[ClipFeatures], np.ndarray] | None = None,
                 groups: list[str | None] | None = None, domains: list[str | None] | None = None) -> Member:
    """Train one member; with ``keep_epoch="best-validation"`` the epoch of lowest validation loss is kept."""
    _set_seed(seed)
    member = Member(config, shapes).to(settings.device)
    loss_fn = loss_in_units(get_loss(config.loss, settings.loss_conventions), settings.loss_units, mean, std)
    optimiser = _optimiser(member, settings)
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, settings.epochs))
                if settings.schedule == "cosine" else None)
    y = torch.tensor(targets, dtype=torch.float32, device=settings.device)
    generator = torch.Generator().manual_seed(seed)
    batch_size = settings.batch_size_for(config.aggregator)
    keep_best = settings.keep_epoch == "best-validation" and validation is not None
    if keep_best:
        val_clips, val_targets = validation
        val_y = torch.tensor(val_targets, dtype=torch.float32, device=settings.device)
    best = (float("inf"), 0, None)
    groups = groups if groups is not None else [None] * len(clips)
    applies = settings.order_term is not None and settings.order_term.applies_to(config.aggregator)
    order_term = settings.order_term if applies else None
    if order_term is not None:  # recorded with the member it trained, so a build says which members had it
        config.training["order_term"] = order_term.record()
    domains = domains if domains is not None else [None] * len(clips)
    for epoch in range(1, settings.epochs + 1):
        member.train()
        for idx in batch_orders(groups, batch_size, generator, settings.batching):
            if len(idx) < 2:
                continue  # pairwise losses need pairs
            chosen = [clips[j] for j in idx]
            if settings.crop == "random-window":
                chosen = [_random_window(c, generator) for c in chosen]
            batch = FeatureBatch.from_clips(chosen, config.encoders, with_sequence=member.uses_sequence,
                                            device=settings.device)
            batch_groups = [groups[j] for j in idx]
            weights = ({} if settings.cross_group_pair_weight == 1.0 else
                       {"pair_weight": pair_weights(batch_groups, settings.cross_group_pair_weight, settings.device)})
            pred = batch.clip_average(member(batch))
            loss = loss_fn(pred, y[idx], **weights)
            if order_term is not None:
                loss = loss + order_term(pred * std + mean, y[idx], same_group(batch_groups, settings.device),
                                         [domains[j] for j in idx])
            optimiser.zero_grad()
            loss.backward()
            if settings.grad_clip:
                torch.nn.utils.clip_grad_norm_(member.parameters(), settings.grad_clip)
            optimiser.step()
        if schedule is not None:
            schedule.step()
        if keep_best:
            value = _validation_loss(member, loss_fn, val_clips, val_y, batch_size, settings.device)
            if value < best[0]:
                best = (value, epoch, copy.deepcopy(member.state_dict()))
    if keep_best and best[2] is not None:
        member.load_state_dict(best[2])
        config.training["best_epoch"] = best[1]
        config.training["best_validation_loss"] = best[0]
    else:
        config.training["best_epoch"] = settings.epochs
    return member.eval()


def _selection_value(report: dict[str, Any], metric: str) -> float:
    v = report["mean"][metric]
    v = -v if metric == "MSE" else v
    return v if np.isfinite(v) else -np.inf


def _set_metric(member: Member, sets: dict, mean, std, device: str) -> tuple[dict, dict]:
    """Metrics and raw predictions of one member on each validation set."""
    evals, preds = {}, {}
    for label in ("natural", "proxy"):
        clips, items = sets[label]
        pred = predict_clips(member, clips, mean, std, device)
        evals[label] = evaluate(pred, _targets(items), [i.system for i in items])
        preds[label] = np.round(pred, 5).tolist()
    return evals, preds


def train_ensemble(encoders: dict[str, Encoder], train: list[TrainItem], natural: list[TrainItem],
                   proxy: list[TrainItem], settings: SweepSettings, name: str, description: str = "",
                   note: str = "", licenses: list[str] | None = None, extra: dict[str, Any] | None = None,
                   progress: Callable[[str], None] | None = None) -> tuple[MMMOSModel, SweepReport]:
    from .recipes import resolved_config

    progress = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    selectable = settings.configurations()
    configurations = selectable + [c for c in settings.extra_configurations if c not in selectable]
    for configuration in configurations:
        unknown = [e for e in configuration.encoders if e not in encoders]
        if unknown:
            raise MMMOSError(f"configuration {configuration.name} names encoders that are not loaded: {unknown} "
                             f"(loaded: {', '.join(encoders)})")
    notes: list[str] = []
    if settings.data_split == "paper":
        split = apply_paper_split(train, natural, proxy)
        train, natural, proxy, notes = split.train, split.natural, split.proxy, split.notes
        for line in notes:
            progress(f"note: {line}")
    for encoder in encoders.values():
        encoder.to(settings.device).freeze()
    cache = EmbeddingCache(max_items=0, folder=settings.cache_dir) if settings.cache_dir else EmbeddingCache(0)
    sets = {}
    skipped_all: list[str] = []
    for label, items in (("train", train), ("natural", natural), ("proxy", proxy)):
        progress(f"extracting embeddings: {label} ({len(items)} clips)")
        clips, kept, skipped = extract_items(encoders, items, settings.windows, cache, progress)
        if len(kept) < 2:
            raise MMMOSError(f"the {label} set has {len(kept)} readable clips; at least 2 are needed")
        skipped_all += skipped
        sets[label] = (clips, kept)
    train_clips, train_items = sets["train"]
    targets = _targets(train_items)
    mean_np, std_np = targets.mean(axis=0), targets.std(axis=0)
    std_np = np.where(std_np < 1e-6, 1.0, std_np)  # a constant axis still gets a usable scale
    mean = torch.tensor(mean_np, dtype=torch.float32, device=settings.device)
    std = torch.tensor(std_np, dtype=torch.float32, device=settings.device)
    shapes = MMMOSModel.encoder_shapes(encoders)
    # The best-epoch check runs on both validation sets together (the authors' combined_dev).
    validation = (sets["natural"][0] + sets["proxy"][0],
                  np.concatenate([_targets(sets["natural"][1]), _targets(sets["proxy"][1])]))

    members, reports, predictions = [], [], {}
    for n, configuration in enumerate(configurations):
        member_name = configuration.name
        seed = settings.seed * 1000 + n
        layers = {e: v for e, v in settings.layers.items() if e in configuration.encoders}
        config = MemberConfig(member_name, list(configuration.encoders), configuration.aggregator, configuration.loss,
                              settings.hidden, settings.dropout, heads=settings.heads, layers=layers,
                              training={"recipe": settings.recipe, "seed": seed, "epochs": settings.epochs,
                                        "lr": settings.lr, "optimiser": settings.optimiser,
                                        "batch_size": settings.batch_size_for(configuration.aggregator),
                                        "weight_decay": settings.weight_decay,
                                        **({"cross_group_pair_weight": settings.cross_group_pair_weight}
                                           if settings.cross_group_pair_weight != 1.0 else {})})
        member = train_member(config, shapes, train_clips, targets, mean, std, settings, seed, validation,
                              groups=[item.group for item in train_items],
                              domains=[item.domain for item in train_items])
        evals, predictions[member_name] = _set_metric(member, sets, mean, std, settings.device)
        config.validation = {label: evals[label]["mean"] for label in evals}
        progress(f"[{n + 1}/{len(configurations)}] {member_name}: natural {settings.select_metric} "
                 f"{evals['natural']['mean'][settings.select_metric]:.3f}, proxy "
                 f"{evals['proxy']['mean'][settings.select_metric]:.3f}")
        members.append(member.cpu())
        reports.append(MemberReport(member_name, list(configuration.encoders), configuration.aggregator,
                                    configuration.loss, evals["natural"], evals["proxy"],
                                    selectable=configuration in selectable,
                                    best_epoch=config.training["best_epoch"]))

    eligible = [i for i, r in enumerate(reports) if r.selectable]
    nat = [_selection_value(reports[i].natural, settings.select_metric) for i in eligible]
    pro = [_selection_value(reports[i].proxy, settings.select_metric) for i in eligible]
    chosen = [eligible[j] for j in select(settings.selection, nat, pro, settings.top_k)]
    for values, attr in ((nat, "rank_natural"), (pro, "rank_proxy")):
        for j, r in enumerate(ranks(values)):
            setattr(reports[eligible[j]], attr, r + 1)
    for i in chosen:
        reports[i].selected = True
        members[i].config.validation.update({"rank_natural": reports[i].rank_natural,
                                             "rank_proxy": reports[i].rank_proxy})

    used = sorted({e for i in chosen for e in members[i].config.encoders})
    enc_specs = {e: {"kind": encoders[e].kind, "config": encoders[e].config()} for e in used}
    config = ModelConfig(name=name, encoders=enc_specs, members=[members[i].config for i in chosen],
                         target_mean=[float(v) for v in mean_np], target_std=[float(v) for v in std_np],
                         windows=settings.windows, description=description, note=note,
                         licenses=list(licenses or []), extra=dict(extra or {}))
    model = MMMOSModel(config, {e: encoders[e].cpu() for e in used}, [members[i] for i in chosen])
    sets_out = {label: {"ids": [i.id for i in items], "systems": [i.system for i in items],
                        "gold": _targets(items).tolist()} for label, (_, items) in sets.items() if label != "train"}
    uncertainty = {label: ensemble_uncertainty(np.array([predictions[reports[i].name][label] for i in chosen]),
                                               np.array(sets_out[label]["gold"]), seed=settings.seed)
                   for label in ("natural", "proxy")}
    report = SweepReport(reports, [reports[i].name for i in chosen], skipped_all,
                         config.target_mean, config.target_std, config=resolved_config(settings),
                         split={label: len(items) for label, (_, items) in sets.items()}, notes=notes,
                         uncertainty=uncertainty,
                         predictions={"sets": sets_out, "members": predictions})
    return model, report
