"""The standard weak-supervision loss terms, each in one place."""

from __future__ import annotations

import torch


def paired(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``a`` and ``b`` paired one to one: row i with row i, the shorter one cycled when
    the counts differ (tiny training sets; with equal counts, as in the papers, nothing changes).

    Example:
        >>> x, y = paired(torch.arange(3), torch.arange(2))
        >>> x.tolist(), y.tolist()
        ([0, 1, 2], [0, 1, 0])
    """
    n = max(len(a), len(b))
    i = torch.arange(n, device=a.device)
    return a[i % len(a)], b[i % len(b)]


def mil_ranking(abn_scores: torch.Tensor, nor_scores: torch.Tensor,
                margin: float = 1.0) -> torch.Tensor:
    """Sultani et al. Eq. 3: mean over pairs of ``max(0, m − max_t s⁺ + max_t s⁻)``.

    ``abn_scores [B, T]`` and ``nor_scores [B', T]`` are paired row by row (:func:`paired`).
    """
    a, n = paired(abn_scores.max(1).values, nor_scores.max(1).values)
    return (margin - a + n).clamp_min(0).mean()


def smoothness(scores: torch.Tensor, reduce: str = "mean") -> torch.Tensor:
    """Temporal smoothness Σ_t (s_t − s_{t+1})² per bag ``[B, T]``; mean over bags, or the sum
    over the flattened batch (``reduce='flat'``, RTFM's official code: neighbouring bags are
    compared across their boundary and the last entry with itself, as in that code)."""
    if reduce == "flat":
        flat = scores.reshape(-1)
        nxt = torch.cat([flat[1:], flat[-1:]])
        return ((nxt - flat) ** 2).sum()
    return ((scores[:, 1:] - scores[:, :-1]) ** 2).sum(1).mean()


def sparsity_l1(scores: torch.Tensor) -> torch.Tensor:
    """Σ_t |s_t| per bag ``[B, T]``, mean over bags (Sultani Eq. 6, RTFM paper)."""
    return scores.abs().sum(1).mean()


def sparsity_l2(scores: torch.Tensor) -> torch.Tensor:
    """ℓ2 norm of all scores of the batch flattened (RTFM's official code)."""
    return scores.reshape(-1).norm(p=2)


def bce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on probabilities (clamped away from 0/1 for stability)."""
    p = pred.clamp(1e-7, 1 - 1e-7)
    return -(target * p.log() + (1 - target) * (1 - p).log()).mean()
