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
