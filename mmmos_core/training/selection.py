"""Which trained members make the ensemble: the paper's two rules.

- "both-sets" (the submitted system): the members that rank well on BOTH the natural
  and the proxy (PAM) validation set: the smallest k' >= k whose top-k' lists share k
  members, ordered by summed rank. Models that shine only on natural audio are the
  ones the paper found to overfit.
- "proxy-only" (the paper's "PAM top-4"): the k best on the proxy set alone.

Scores are "higher is better" (callers negate MSE); ties break by member order.
"""

from __future__ import annotations

from typing import Sequence


def ranks(scores: Sequence[float]) -> list[int]:
    """0-based rank of each member (0 = best)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    out = [0] * len(scores)
    for r, i in enumerate(order):
        out[i] = r
    return out


def select_members(natural_scores: Sequence[float], proxy_scores: Sequence[float], top_k: int) -> list[int]:
    """Indices of the members that rank well on both sets (the "both-sets" rule)."""
    n = len(natural_scores)
    top_k = min(top_k, n)
    rank_nat, rank_pro = ranks(natural_scores), ranks(proxy_scores)
    for k in range(top_k, n + 1):
        both = [i for i in range(n) if rank_nat[i] < k and rank_pro[i] < k]
        if len(both) >= top_k:
            both.sort(key=lambda i: (rank_nat[i] + rank_pro[i], max(rank_nat[i], rank_pro[i]), i))
            return both[:top_k]
    return list(range(n))[:top_k]


def select_proxy_top(proxy_scores: Sequence[float], top_k: int) -> list[int]:
    """The ``top_k`` best members on the proxy set, best first (the "proxy-only" rule)."""
    return sorted(range(len(proxy_scores)), key=lambda i: (-proxy_scores[i], i))[:top_k]


def select(rule: str, natural_scores: Sequence[float], proxy_scores: Sequence[float], top_k: int) -> list[int]:
    if rule == "both-sets":
        return select_members(natural_scores, proxy_scores, top_k)
    if rule == "proxy-only":
        return select_proxy_top(proxy_scores, top_k)
    raise ValueError(f"unknown selection rule {rule!r}; choose from both-sets, proxy-only")
