"""The four training losses of the paper, each computed per axis and averaged over axes.

All take ``pred`` and ``target`` of shape [B, A]. The units are the caller's: the
``mmmos`` recipe passes the rating scale (so tau and margin are rating points), the
``paper`` recipe passes z-scored values (tau and margin in standard deviations of each
axis, as the authors' code does). `LossConventions` names the two places where the
authors' code and this project's first version compute differently; both are kept as
named options so a recipe states which it uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Callable

import torch

LOSSES = ("utmos", "contrastive", "dcq", "ccc")
PAIRS = ("distinct", "all")  # which (i, j) pairs a pairwise mean runs over
MOMENTS = ("population", "unbiased-variance")  # how CCC estimates its moments


@dataclass(frozen=True)
class LossConventions:
    """How the losses are computed where implementations disagree.

    dcq_pairs: "distinct" averages DCQ over the B(B-1) ordered pairs i != j (a clip
        compared with itself carries no ranking information); "all" averages over all
        B^2 pairs including the diagonal, as the authors' code does. The diagonal adds
        zeros to the sum, so "all" shrinks DCQ by (B-1)/B.
    ccc_moments: "population" uses biased (1/B) variances and covariance; the authors'
        "unbiased-variance" uses 1/(B-1) variances with a 1/B covariance, which makes
        their CCC slightly smaller than Lin's and never exactly 1.
    tau, margin: the UTMOS clipping threshold and the contrastive margin, in the units
        of the values the loss is given.
    """

    dcq_pairs: str = "distinct"
    ccc_moments: str = "population"
    tau: float = 0.5
    margin: float = 0.1

    def __post_init__(self):
        if self.dcq_pairs not in PAIRS:
            raise ValueError(f"dcq_pairs must be one of {PAIRS}, not {self.dcq_pairs!r}")
        if self.ccc_moments not in MOMENTS:
            raise ValueError(f"ccc_moments must be one of {MOMENTS}, not {self.ccc_moments!r}")


AUTHORS = LossConventions(dcq_pairs="all", ccc_moments="unbiased-variance")


def _pair_mask(n: int, device) -> torch.Tensor:
    return ~torch.eye(n, dtype=torch.bool, device=device)


def _differences(x: torch.Tensor) -> torch.Tensor:
    return x[:, None, :] - x[None, :, :]  # [B, B, A], x_i - x_j


def _weighted_pair_mean(per_pair: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """[B, B, A] values, [B, B] weights -> their weighted mean (a plain mean when the weights are equal)."""
    total = weight.sum() * per_pair.shape[-1]
    return (per_pair * weight[..., None]).sum() / total.clamp(min=1e-12)


def same_group(groups: list, device=None) -> torch.Tensor:
    """[B, B] bool: True where two items are versions of one recording (and on the diagonal)."""
    return torch.tensor([[i == j or (a is not None and a == b) for j, b in enumerate(groups)]
                         for i, a in enumerate(groups)], dtype=torch.bool, device=device)


def pair_weights(groups: list, cross_group: float, device=None) -> torch.Tensor:
    """[B, B] weights of a batch's pairs: 1 within a group, ``cross_group`` between groups.

    Two versions of one recording differ only by what was done to them, so their order is
    what damage costs; two different recordings also differ by source, and a source's label
    level is what hand-set recipes know least. A group of None is an item of its own (the
    diagonal is 1 for every item, which matters only to DCQ's "all" pairs convention).
    """
    same = same_group(groups, device).float()
    return same + cross_group * (1.0 - same)


ORDER_FORMS = ("softplus", "reach")


@dataclass(frozen=True)
class OrderTerm:
    """A loss term on the order of versions of one recording, added to a member's own loss.

    The four losses spend their effort on the size of every gap; a version pair whose order
    is wrong costs them no more than one whose gap is a little short, and the checks people
    notice are about order. The term looks only at pairs within a group whose labels differ
    by more than ``min_gap`` rating points, on the axes ``axes`` (0 = PQ):

    - ``"softplus"``: softplus(−Δpred) keeps pushing every such pair apart, so gaps the
      features find easy grow past their labels' (on the lite corpus that bent speech away
      from the teacher and made noise cost more than a room);
    - ``"reach"``: relu(reach × Δlabel − Δpred) stops once the predicted gap reaches
      ``reach`` times the label's, so it can only lift gaps that fall short of it.

    ``aggregators`` names the members that get the term (by aggregator; empty: all). On the
    lite corpus the BLSTM members hear a room best and the MLPs agree best with DNSMOS, and
    the term helped the MLPs but cost the BLSTMs agreement (docs/lite-history.md).

    ``by_domain`` gives each domain its own (weight, reach), as ``(domain, weight, reach)``
    triples: the term is then the sum over those domains of each one's mean over its own
    pairs, times ``weight``, and pairs of other domains are left alone. A strong push on
    clean music that speech must not feel needs this (docs/lite-history.md, sessions 16-17).

    Values are rating points (the caller passes predictions on the rating scale).
    """

    weight: float
    form: str = "reach"
    reach: float = 1.0
    min_gap: float = 0.5
    axes: tuple[int, ...] = (0,)
    aggregators: tuple[str, ...] = ()
    by_domain: tuple[tuple[str, float, float], ...] = ()

    def record(self) -> dict:
        """The term as a member's training record keeps it (``by_domain`` only when used: records
        written before it existed stay as they were)."""
        return {k: v for k, v in asdict(self).items() if k != "by_domain" or v}

    def applies_to(self, aggregator: str) -> bool:
        return not self.aggregators or aggregator in self.aggregators

    def __post_init__(self):
        # Read back from JSON these come as lists; tuples keep the term hashable and comparable.
        object.__setattr__(self, "axes", tuple(self.axes))
        object.__setattr__(self, "aggregators", tuple(self.aggregators))
        object.__setattr__(self, "by_domain", tuple((str(d), float(w), float(r)) for d, w, r in self.by_domain))
        if self.form not in ORDER_FORMS:
            raise ValueError(f"order term form must be one of {ORDER_FORMS}, not {self.form!r}")
        if self.weight < 0 or self.min_gap < 0 or not 0 < self.reach <= 1:
            raise ValueError("order term: weight and min_gap must be >= 0 and reach in (0, 1]")
        if any(w < 0 or not 0 < r <= 1 for _, w, r in self.by_domain):
            raise ValueError("order term: each domain's weight must be >= 0 and its reach in (0, 1]")
        if self.by_domain and self.form != "reach":
            raise ValueError("order term: by_domain takes the 'reach' form")

    def __call__(self, pred: torch.Tensor, target: torch.Tensor, same: torch.Tensor,
                 domains: list[str | None] | None = None) -> torch.Tensor:
        """``pred``, ``target`` [B, A] in rating points; ``same`` [B, B] from `same_group`;
        ``domains``: each item's domain (None: none), needed with ``by_domain``."""
        axes = list(self.axes)
        d_true, d_pred = _differences(target[:, axes]), _differences(pred[:, axes])
        if self.by_domain:
            if domains is None:
                raise ValueError("order term: by_domain needs each item's domain")
            total = pred.sum() * 0.0
            for domain, weight, reach in self.by_domain:
                keep = torch.tensor([d == domain for d in domains], device=pred.device)
                chosen = same[..., None] & keep[:, None, None] & keep[None, :, None] & (d_true > self.min_gap)
                if chosen.any():
                    total = total + weight * torch.relu(reach * d_true - d_pred)[chosen].mean()
            return self.weight * total
        chosen = same[..., None] & (d_true > self.min_gap)
        if not chosen.any():
            return pred.sum() * 0.0
        if self.form == "softplus":
            per_pair = torch.nn.functional.softplus(-d_pred)
        else:
            per_pair = torch.relu(self.reach * d_true - d_pred)
        return self.weight * per_pair[chosen].mean()


def contrastive_loss(pred: torch.Tensor, target: torch.Tensor, margin: float = 0.1,
                     pair_weight: torch.Tensor | None = None) -> torch.Tensor:
    """mean over pairs i != j of relu(|Δtarget − Δpred| − margin); Δx = x_i − x_j.

    The diagonal is always zero here (|0 − 0| − margin < 0), so leaving it out is what
    keeps the value independent of how many self-pairs a batch has. ``pair_weight``
    ([B, B]) makes it a weighted mean over the pairs (see `pair_weights`).
    """
    n = pred.shape[0]
    if n < 2:
        return pred.sum() * 0.0
    per_pair = torch.relu((_differences(target) - _differences(pred)).abs() - margin)  # [B, B, A]
    mask = _pair_mask(n, pred.device)
    if pair_weight is None:
        return per_pair[mask].mean()
    return _weighted_pair_mean(per_pair, pair_weight * mask)


def utmos_loss(pred: torch.Tensor, target: torch.Tensor, tau: float = 0.5, margin: float = 0.1,
               contrastive_weight: float = 0.5, pair_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Clipped MSE (squared error only where |pred − target| > tau) + 0.5 × contrastive."""
    err = pred - target
    clipped = torch.where(err.abs() > tau, err ** 2, torch.zeros_like(err)).mean()
    return clipped + contrastive_weight * contrastive_loss(pred, target, margin, pair_weight)


def dcq_loss(pred: torch.Tensor, target: torch.Tensor, pairs: str = "distinct",
             pair_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Dual-criterion quality: mean((Δpred − Δtarget)²) − mean(Δpred · sign(Δtarget))."""
    n = pred.shape[0]
    if n < 2:
        return pred.sum() * 0.0
    d_pred, d_true = _differences(pred), _differences(target)
    discrepancy = (d_pred - d_true) ** 2
    alignment = d_pred * torch.sign(d_true)
    if pair_weight is not None:
        weight = pair_weight if pairs == "all" else pair_weight * _pair_mask(n, pred.device)
        return _weighted_pair_mean(discrepancy, weight) - _weighted_pair_mean(alignment, weight)
    if pairs == "all":
        return discrepancy.mean() - alignment.mean()
    mask = _pair_mask(n, pred.device)
    return discrepancy[mask].mean() - alignment[mask].mean()


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8,
             moments: str = "population", pair_weight: torch.Tensor | None = None) -> torch.Tensor:
    """1 − concordance correlation per axis, averaged over axes (it has no pairs: ``pair_weight`` is ignored)."""
    n = pred.shape[0]
    mp, mt = pred.mean(dim=0), target.mean(dim=0)
    var_div = max(n - 1, 1) if moments == "unbiased-variance" else n
    vp = ((pred - mp) ** 2).sum(dim=0) / var_div
    vt = ((target - mt) ** 2).sum(dim=0) / var_div
    cov = ((pred - mp) * (target - mt)).mean(dim=0)
    ccc = 2 * cov / (vp + vt + (mp - mt) ** 2 + eps)
    return (1 - ccc).mean()


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def get_loss(name: str, conventions: LossConventions | None = None) -> LossFn:
    """The loss ``name`` with the thresholds and conventions bound (project defaults if None)."""
    c = conventions or LossConventions()
    table = {
        "utmos": partial(utmos_loss, tau=c.tau, margin=c.margin),
        "contrastive": partial(contrastive_loss, margin=c.margin),
        "dcq": partial(dcq_loss, pairs=c.dcq_pairs),
        "ccc": partial(ccc_loss, moments=c.ccc_moments),
    }
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}") from None


UNITS = ("rating", "zscore")


def loss_in_units(loss: LossFn, units: str, mean: torch.Tensor, std: torch.Tensor
                  ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Wrap ``loss`` to take z-scored predictions and rating-scale targets.

    Members predict z-scores (train-set mean and spread per axis). "rating" maps the
    predictions back to 1-10 before the loss, so tau and margin are rating points;
    "zscore" z-scores the targets instead, so tau and margin are standard deviations of
    each axis: the same constants then mean a different width on every axis.
    """
    if units == "rating":
        return lambda pred_z, target, **kw: loss(pred_z * std + mean, target, **kw)
    if units == "zscore":
        return lambda pred_z, target, **kw: loss(pred_z, (target - mean) / std, **kw)
    raise ValueError(f"loss units must be one of {UNITS}, not {units!r}")
