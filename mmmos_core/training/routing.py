"""Training a model whose extra members serve chosen domains (`mmmos_core.model.router`).

The router is a multinomial logistic regression on the clip vectors the members already
read, fitted on training items of a single domain. It is fitted in float64 with L-BFGS
from zeros, so the same items give the same router. The penalty is sklearn's convention
(C = 1: the summed cross-entropy plus half the squared weights), which the routing trial
of session 17 used (docs/lite-history.md).
"""

from __future__ import annotations

import torch

from mmmos_core.errors import MMMOSError
from mmmos_core.model.features import ClipFeatures
from mmmos_core.model.mmmos_model import MMMOSModel, ModelConfig
from mmmos_core.model.router import DOMAINS, DomainRouter, RouterConfig, clip_vectors


def fit_router(clips: list[ClipFeatures], domains: list[str | None], encoder: str, *, c: float = 1.0,
               names: tuple[str, ...] = DOMAINS, max_iter: int = 500) -> DomainRouter:
    """A router fitted on the clips whose domain is known (None: left out)."""
    known = [i for i, d in enumerate(domains) if d is not None]
    unknown = sorted({domains[i] for i in known} - set(names))
    if unknown:
        raise MMMOSError(f"training items of domains {unknown}, which the router does not know ({list(names)})")
    missing = [n for n in names if n not in {domains[i] for i in known}]
    if missing:
        raise MMMOSError(f"no training items of domain {', '.join(missing)}: the router cannot learn it")
    x = clip_vectors([clips[i] for i in known], encoder).double()
    y = torch.tensor([names.index(domains[i]) for i in known])
    mean, std = x.mean(0), x.std(0, unbiased=False)
    std = torch.where(std < 1e-8, torch.ones_like(std), std)  # a constant feature stays at zero, not NaN
    z = (x - mean) / std
    weight = torch.zeros(len(names), z.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(len(names), dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def objective():
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(z @ weight.T + bias, y, reduction="sum")
        loss = loss + 0.5 / c * (weight ** 2).sum()
        loss.backward()
        return loss

    optimiser.step(objective)
    router = DomainRouter(RouterConfig(encoder, list(names)), z.shape[1])
    with torch.no_grad():
        router.mean.copy_(mean.float())
        router.std.copy_(std.float())
        router.linear.weight.copy_(weight.detach().float())
        router.linear.bias.copy_(bias.detach().float())
    return router.eval()


@torch.inference_mode()
def router_accuracy(router: DomainRouter, clips: list[ClipFeatures], domains: list[str | None]) -> dict:
    """How often the most probable domain is the true one, overall and per domain (known items only)."""
    known = [i for i, d in enumerate(domains) if d is not None]
    if not known:
        return {"items": 0}
    heard = router.probabilities([clips[i] for i in known]).argmax(dim=1).tolist()
    right = [router.domains[h] == domains[i] for h, i in zip(heard, known)]
    out = {"items": len(known), "accuracy": round(sum(right) / len(right), 4)}
    for name in router.domains:
        rows = [r for r, i in zip(right, known) if domains[i] == name]
        if rows:
            out[name] = round(sum(rows) / len(rows), 4)
    return out


def routed(general: MMMOSModel, special: MMMOSModel, domains: list[str], router: DomainRouter,
           prefix: str) -> MMMOSModel:
    """One model: ``general``'s members for every clip, and ``special``'s, renamed ``prefix`` +
    name, for clips of ``domains``, weighed by ``router``. Both must have been trained on the same
    targets (their members denormalise with one mean and std)."""
    same = (general.config.target_mean == special.config.target_mean
            and general.config.target_std == special.config.target_std)
    if not same:
        raise MMMOSError("the domain members were trained on other targets than the general ones "
                         f"(mean {special.config.target_mean} vs {general.config.target_mean})")
    if set(special.encoders) - set(general.encoders):
        raise MMMOSError(f"the domain members read encoders {sorted(set(special.encoders) - set(general.encoders))} "
                         "that the general model does not load")
    members = list(general.members)
    for member in special.members:
        member.config.name = prefix + member.config.name
        member.config.domains = list(domains)
        member.config.weights = ""  # named from the new name when saved
        members.append(member)
    names = [m.config.name for m in members]
    if len(set(names)) != len(names):
        raise MMMOSError(f"member names repeat: {names}")
    config = ModelConfig.from_dict(general.config.to_dict())
    config.members = [m.config for m in members]
    return MMMOSModel(config, dict(general.encoders.items()), members, general.cache, router)
