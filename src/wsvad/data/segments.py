"""Fixed-length resampling of a bag of snippets (Sultani et al. 2018; RTFM's ``process_feat``)."""

from __future__ import annotations

import numpy as np


def resample_segments(feat: np.ndarray, length: int = 32) -> np.ndarray:
    """Average ``[T, ...]`` snippets into ``[length, ...]`` segments, as the RTFM code does.

    Boundaries are ``linspace(0, T, length + 1)`` cast to int; segment i is the mean of snippets
    ``[r_i, r_{i+1})``, or snippet ``r_i`` alone when that span is empty (T < length).

    Example:
        >>> resample_segments(np.arange(4.0)[:, None], 2).ravel().tolist()
        [0.5, 2.5]
    """
    t = feat.shape[0]
    r = np.linspace(0, t, length + 1).astype(int)
    # float16 streams (patches, maps) stay float16: they are the large ones
    dtype = np.float16 if feat.dtype == np.float16 else np.float32
    out = np.empty((length,) + feat.shape[1:], dtype=dtype)
    for i in range(length):
        lo, hi = r[i], r[i + 1]
        out[i] = feat[lo:hi].astype(np.float32).mean(0) if hi > lo else feat[lo]
    return out


def segment_pairs(t: int, length: int) -> np.ndarray:
    """``[n, 2]`` pairs ``(snippet, segment)``: which of ``length`` segments (of
    :func:`resample_segments`) each of ``t`` snippets is averaged into — one segment per snippet
    when T ≥ length, several (the copies) when T < length.

    Example:
        >>> segment_pairs(4, 2).tolist(), segment_pairs(2, 4).tolist()
        ([[0, 0], [1, 0], [2, 1], [3, 1]], [[0, 0], [0, 1], [1, 2], [1, 3]])
    """
    r = np.linspace(0, t, length + 1).astype(int)
    pairs = [(s, i) for i in range(length) for s in range(r[i], max(r[i + 1], r[i] + 1))]
    return np.asarray(pairs, np.int64).reshape(-1, 2)


def resample_rows(rows: np.ndarray, column: int, t: int, length: int) -> np.ndarray:
    """Rows that name a snippet in ``column`` (tube rows, tube region rows), re-indexed to the
    segments of :func:`resample_segments`: a row of snippet s becomes one row per segment s is
    averaged into, so that a tube's segments are those its snippets went to.

    Example:
        >>> resample_rows(np.array([[7., 0.], [8., 1.]]), 1, 2, 4).tolist()
        [[7.0, 0.0], [7.0, 1.0], [8.0, 2.0], [8.0, 3.0]]
    """
    if len(rows) == 0 or t == 0:
        return rows
    pairs = segment_pairs(t, length)
    snippet = np.clip(rows[:, column].astype(np.int64), 0, t - 1)
    order = np.argsort(pairs[:, 0], kind="stable")
    starts = np.searchsorted(pairs[order, 0], snippet, "left")
    ends = np.searchsorted(pairs[order, 0], snippet, "right")
    take = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
    which = np.repeat(np.arange(len(rows)), ends - starts)
    out = rows[which].copy()
    out[:, column] = pairs[order[take], 1]
    return out
