"""Validation split carved from the TRAINING videos (the test set is never used for choices)."""

from __future__ import annotations

import numpy as np


def stratified_split(labels: list[int] | np.ndarray, fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)``: ``fraction`` of each class goes to validation (at least one
    per class when the class has two or more videos).

    Example:
        >>> tr, va = stratified_split([0] * 10 + [1] * 10, 0.1, seed=0)
        >>> len(tr), len(va), sorted(np.array([0] * 10 + [1] * 10)[va].tolist())
        (18, 2, [0, 1])
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = int(round(len(idx) * fraction)) if fraction > 0 else 0
        if fraction > 0 and len(idx) >= 2:
            n = min(max(n, 1), len(idx) - 1)
        val.extend(idx[:n].tolist())
    val_arr = np.array(sorted(val), dtype=int)
    train = np.setdiff1d(np.arange(len(labels)), val_arr)
    return train, val_arr
