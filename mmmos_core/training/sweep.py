"""Train a sweep of members on cached embeddings, select on two validation sets, export.

The paper's recipe: every configuration (encoder subset x aggregator x loss) is trained
on the same cached encoder outputs; each is scored on a "natural" validation set and
on a "synthetic proxy" set; the ensemble keeps the members that rank well on BOTH
(the smallest k' whose top-k' lists on the two sets share ``top_k`` members), ordered
by their summed rank.
"""

from __future__ import annotations

import itertools
import logging
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from mmmos_core.axes import AXES
from mmmos_core.encoders import Encoder
from mmmos_core.errors import AudioInputError, MMMOSError
from mmmos_core.model.audio import Audio, load_audio
from mmmos_core.model.cache import EmbeddingCache
from mmmos_core.model.features import ClipFeatures, WindowSettings, extract_features
from mmmos_core.model.member import FeatureBatch, Member, MemberConfig
from mmmos_core.model.mmmos_model import MMMOSModel, ModelConfig

from .losses import get_loss
from .metrics import compute_metrics

log = logging.getLogger(__name__)


@dataclass
class TrainItem:
    id: str
    audio: str | Audio
    labels: dict[str, float]
    system: str | None = None


@dataclass
class SweepSettings:
    subsets: list[list[str]]
    aggregators: list[str] = field(default_factory=lambda: ["mlp", "blstm", "blstm_t"])
    losses: list[str] = field(default_factory=lambda: ["utmos", "contrastive", "dcq", "ccc"])
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

    def configurations(self) -> list[tuple[list[str], str, str]]:
        return [(list(s), a, l) for s, a, l in itertools.product(self.subsets, self.aggregators, self.losses)]


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


@dataclass
class SweepReport:
    members: list[MemberReport]
    selected: list[str]
    skipped_items: list[str]
    target_mean: list[float]
    target_std: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        except AudioInputError as exc:
            skipped.append(str(exc))
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


def train_member(config: MemberConfig, shapes: dict[str, tuple[int, int]], clips: list[ClipFeatures],
                 targets: np.ndarray, mean: torch.Tensor, std: torch.Tensor, settings: SweepSettings,
                 seed: int) -> Member:
    _set_seed(seed)
    member = Member(config, shapes).to(settings.device)
    loss_fn = get_loss(config.loss)
    optimiser = torch.optim.AdamW(member.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, settings.epochs))
    y = torch.tensor(targets, dtype=torch.float32, device=settings.device)
    generator = torch.Generator().manual_seed(seed)
    n = len(clips)
    for _ in range(settings.epochs):
        member.train()
        order = torch.randperm(n, generator=generator).tolist()
        for i in range(0, n, settings.batch_size):
            idx = order[i:i + settings.batch_size]
            if len(idx) < 2:
                continue  # pairwise losses need pairs
            batch = FeatureBatch.from_clips([clips[j] for j in idx], config.encoders,
                                            with_sequence=member.uses_sequence, device=settings.device)
            pred = batch.clip_average(member(batch)) * std + mean
            loss = loss_fn(pred, y[idx])
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(member.parameters(), 5.0)
            optimiser.step()
        schedule.step()
    return member.eval()


def _selection_value(report: dict[str, Any], metric: str) -> float:
    v = report["mean"][metric]
    v = -v if metric == "MSE" else v
    return v if np.isfinite(v) else -np.inf


def select_members(natural_scores: list[float], proxy_scores: list[float], top_k: int) -> list[int]:
    """Indices of the members that rank well on both sets (higher score = better)."""
    n = len(natural_scores)
    top_k = min(top_k, n)
    rank_nat = {i: r for r, i in enumerate(sorted(range(n), key=lambda i: (-natural_scores[i], i)))}
    rank_pro = {i: r for r, i in enumerate(sorted(range(n), key=lambda i: (-proxy_scores[i], i)))}
    for k in range(top_k, n + 1):
        both = [i for i in range(n) if rank_nat[i] < k and rank_pro[i] < k]
        if len(both) >= top_k:
            both.sort(key=lambda i: (rank_nat[i] + rank_pro[i], max(rank_nat[i], rank_pro[i]), i))
            return both[:top_k]
    return list(range(n))[:top_k]


def train_ensemble(encoders: dict[str, Encoder], train: list[TrainItem], natural: list[TrainItem],
                   proxy: list[TrainItem], settings: SweepSettings, name: str, description: str = "",
                   note: str = "", licenses: list[str] | None = None, extra: dict[str, Any] | None = None,
                   progress: Callable[[str], None] | None = None) -> tuple[MMMOSModel, SweepReport]:
    progress = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    for subset in settings.subsets:
        unknown = [e for e in subset if e not in encoders]
        if unknown:
            raise MMMOSError(f"subset {subset} names encoders that are not loaded: {unknown}")
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

    members, reports = [], []
    configurations = settings.configurations()
    for n, (subset, aggregator, loss) in enumerate(configurations):
        member_name = f"{'+'.join(subset)}-{aggregator}-{loss}"
        seed = settings.seed * 1000 + n
        config = MemberConfig(member_name, subset, aggregator, loss, settings.hidden, settings.dropout,
                              training={"seed": seed, "epochs": settings.epochs, "lr": settings.lr,
                                        "batch_size": settings.batch_size, "weight_decay": settings.weight_decay})
        member = train_member(config, shapes, train_clips, targets, mean, std, settings, seed)
        evals = {}
        for label in ("natural", "proxy"):
            clips, items = sets[label]
            pred = predict_clips(member, clips, mean, std, settings.device)
            evals[label] = evaluate(pred, _targets(items), [i.system for i in items])
        config.validation = {label: evals[label]["mean"] for label in evals}
        progress(f"[{n + 1}/{len(configurations)}] {member_name}: natural {settings.select_metric} "
                 f"{evals['natural']['mean'][settings.select_metric]:.3f}, proxy "
                 f"{evals['proxy']['mean'][settings.select_metric]:.3f}")
        members.append(member.cpu())
        reports.append(MemberReport(member_name, subset, aggregator, loss, evals["natural"], evals["proxy"]))

    nat = [_selection_value(r.natural, settings.select_metric) for r in reports]
    pro = [_selection_value(r.proxy, settings.select_metric) for r in reports]
    chosen = select_members(nat, pro, settings.top_k)
    for rank, i in enumerate(sorted(range(len(reports)), key=lambda i: (-nat[i], i))):
        reports[i].rank_natural = rank + 1
    for rank, i in enumerate(sorted(range(len(reports)), key=lambda i: (-pro[i], i))):
        reports[i].rank_proxy = rank + 1
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
    report = SweepReport(reports, [reports[i].name for i in chosen], skipped_all,
                         config.target_mean, config.target_std)
    return model, report
