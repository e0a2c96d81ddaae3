"""The typed batch every method consumes, and bag sampling for training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Batch:
    """A batch of video bags.

    Attributes:
        features: ``[B, C, T, D]`` snippet features (C crops).
        label: ``[B]`` float, 1 = abnormal video.
        mask: ``[B, T]`` bool, False where a snippet is padding (None = all real).
    """

    features: torch.Tensor
    label: torch.Tensor
    mask: torch.Tensor | None = None

    @property
    def size(self) -> int:
        return int(self.features.shape[0])

    def require(self, *fields: str, method: str = "") -> None:
        """Fail clearly if a field a method needs is absent."""
        for f in fields:
            if getattr(self, f, None) is None:
                raise ValueError(f"method {method!r} needs batch field '{f}', which is missing")


class BalancedBags:
    """Draws B normal + B abnormal bags per step from in-memory ``[N, C, T, D]`` segments.

    Every step samples without replacement inside an epoch of each class (like two shuffled
    loaders), so each video is seen once per pass over its class.
    """

    def __init__(self, segments: np.ndarray, labels: np.ndarray, batch: int, seed: int,
                 crops_per_step: int | None = None):
        self.segments = torch.from_numpy(segments)  # [N, C, T, D]
        self.labels = labels.astype(int)
        self.batch = batch
        self.crops_per_step = crops_per_step
        self.rng = np.random.default_rng(seed)
        self._pools = {c: np.flatnonzero(self.labels == c) for c in (0, 1)}
        for c, pool in self._pools.items():
            if len(pool) == 0:
                kind = "abnormal" if c else "normal"
                raise ValueError(f"no {kind} training videos: weak supervision needs both kinds")
        self._queues: dict[int, list[int]] = {0: [], 1: []}

    def _take(self, c: int, n: int) -> list[int]:
        out = []
        while len(out) < n:
            if not self._queues[c]:
                self._queues[c] = list(self.rng.permutation(self._pools[c]))
            out.append(self._queues[c].pop())
        return out

    def next(self) -> Batch:
        """Normal bags first, then abnormal (the order RTFM's loss code relies on)."""
        idx = self._take(0, self.batch) + self._take(1, self.batch)
        x = self.segments[idx]  # [2B, C, T, D], one gather copy
        c = x.shape[1]
        if self.crops_per_step is not None and self.crops_per_step < c:
            pick = torch.from_numpy(np.stack([self.rng.choice(c, self.crops_per_step, replace=False)
                                              for _ in idx]))
            x = x[torch.arange(len(idx))[:, None], pick]
        label = torch.tensor([0.0] * self.batch + [1.0] * self.batch)
        return Batch(features=x, label=label)
