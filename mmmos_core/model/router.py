"""Which domain a clip sounds like, and so how much each member's scores count for it.

A model may hold members that serve only some domains (`MemberConfig.domains`), beside
general members that serve every clip. A router gives each clip the probability of each
domain from the pooled features the members already read, so it costs no encoder pass.
Members of one domain group share that group's probability; the general members share
what is left. The router may weigh only some axes (`RouterConfig.axes`): on the others the
general members alone count, equally. With no router, or no domain members, every member
counts equally.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mmmos_core.axes import AXES
from mmmos_core.errors import ModelLoadError

from .features import ClipFeatures

ROUTER_FILE = "router.safetensors"
DOMAINS = ("speech", "music", "sound")


@dataclass
class RouterConfig:
    encoder: str  # whose pooled features the router reads
    domains: list[str] = field(default_factory=lambda: list(DOMAINS))
    weights: str = ROUTER_FILE  # file inside the model directory
    # The axes the domain members count on; on the others only the general members do.
    axes: list[str] = field(default_factory=lambda: list(AXES))
    validation: dict[str, Any] = field(default_factory=dict)  # how often it named the domain, and on what

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RouterConfig":
        config = cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})
        unknown = [a for a in config.axes if a not in AXES]
        if unknown or not config.axes:
            raise ModelLoadError(f"router axes {config.axes}: each must be one of {list(AXES)}, at least one")
        return config


def clip_vectors(clips: list[ClipFeatures], encoder: str) -> torch.Tensor:
    """[C, D] per clip: its windows' pooled features (layers averaged), weighted by real seconds."""
    rows = []
    for clip in clips:
        pooled = clip.by_encoder[encoder].pooled.float().mean(dim=1)  # [W, D]
        w = clip.weights.float().to(pooled.device)[:, None]
        rows.append((pooled * w).sum(0) / w.sum().clamp(min=1e-9))
    return torch.stack(rows)


class DomainRouter(nn.Module):
    """A multinomial logistic regression on standardised clip vectors."""

    def __init__(self, config: RouterConfig, dim: int):
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.linear = nn.Linear(dim, len(config.domains))

    @property
    def domains(self) -> list[str]:
        return list(self.config.domains)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """[C, D] clip vectors -> [C, domains] probabilities."""
        return torch.softmax(self.linear((vectors - self.mean) / self.std), dim=-1)

    @torch.inference_mode()
    def probabilities(self, clips: list[ClipFeatures]) -> torch.Tensor:
        """[C, domains] for these clips' features."""
        return self(clip_vectors(clips, self.config.encoder).to(self.mean.device))

    def save(self, directory: Path) -> None:
        state = {k: v.detach().cpu().float().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(Path(directory) / self.config.weights))

    @classmethod
    def load(cls, config: RouterConfig, directory: Path) -> "DomainRouter":
        path = Path(directory) / config.weights
        if not path.is_file():
            raise ModelLoadError(f"{path}: the router's weights are missing")
        state = load_file(str(path))
        if "linear.weight" not in state:
            raise ModelLoadError(f"{path}: not a router (no linear.weight)")
        router = cls(config, int(state["linear.weight"].shape[1]))
        result = router.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys or state["linear.weight"].shape[0] != len(config.domains):
            raise ModelLoadError(f"{path}: does not match the router of {len(config.domains)} domains "
                                 f"(missing {result.missing_keys}, unexpected {result.unexpected_keys})")
        return router.eval()


def check_routing(member_domains: list[list[str]], router: RouterConfig | None) -> None:
    """Refuses a set of members that a router cannot weigh: raises ModelLoadError."""
    routed = [d for d in member_domains if d]
    if not routed:
        return
    if router is None:
        raise ModelLoadError("members serve domains " + ", ".join("+".join(d) for d in routed) +
                             " but the model has no router to weigh them")
    unknown = sorted({x for d in routed for x in d} - set(router.domains))
    if unknown:
        raise ModelLoadError(f"members serve domains {unknown} that the router does not know ({router.domains})")
    if all(member_domains):
        raise ModelLoadError("every member serves chosen domains: a general member must take the rest")
    groups = {tuple(sorted(d)) for d in routed}
    seen: set[str] = set()
    for group in groups:
        if seen & set(group):
            raise ModelLoadError(f"domain groups overlap ({sorted(groups)}): a clip's weight would count twice")
        seen |= set(group)


def axis_weights(member_domains: list[list[str]], probabilities: torch.Tensor | None,
                 router: RouterConfig | None) -> torch.Tensor:
    """[M, C, axes]: `member_weights` on the router's axes; on the others the general members
    share equally and the domain members count nothing."""
    routed = member_weights(member_domains, probabilities, router.domains if router is not None else None)
    if router is None or not any(member_domains):
        return routed[..., None].expand(-1, -1, len(AXES)).clone()
    general = torch.tensor([0.0 if d else 1.0 for d in member_domains])
    general = (general / general.sum())[:, None].expand_as(routed)
    return torch.stack([routed if a in router.axes else general for a in AXES], dim=-1)


def member_weights(member_domains: list[list[str]], probabilities: torch.Tensor | None,
                   router_domains: list[str] | None = None) -> torch.Tensor:
    """[M, C] weights summing to 1 over members for each clip.

    A domain group (members with the same ``domains``) shares the probability of its
    domains equally; the general members (no domains) share the rest. ``probabilities``:
    [C, len(router_domains)], or None for equal weights.
    """
    m = len(member_domains)
    if probabilities is None or not any(member_domains):
        c = 1 if probabilities is None else probabilities.shape[0]
        return torch.full((m, c), 1.0 / m)
    index = {d: i for i, d in enumerate(router_domains or DOMAINS)}
    probabilities = probabilities.float().cpu()
    weights = torch.zeros(m, probabilities.shape[0])
    left = torch.ones(probabilities.shape[0])
    for group in {tuple(sorted(d)) for d in member_domains if d}:
        rows = [i for i, d in enumerate(member_domains) if tuple(sorted(d)) == group]
        share = probabilities[:, [index[d] for d in group]].sum(dim=1)
        weights[rows] = share / len(rows)
        left = left - share
    general = [i for i, d in enumerate(member_domains) if not d]
    weights[general] = left.clamp(min=0.0) / len(general)
    return weights / weights.sum(dim=0, keepdim=True).clamp(min=1e-12)
