"""Anomaly classes ("what"): the vocabulary of a dataset and multi-hot class labels.

``labels.csv`` rows are ``name,label[,class]``; a video with several anomalies names them joined
by ``|`` (``fight|robbery``). Normal videos have no class (or ``Normal``). The vocabulary is the
sorted set of classes of the *training* videos, so a model's class outputs are fixed before it
sees a test video.

Example:
    >>> from wsvad.data.spec import VideoEntry
    >>> entries = [VideoEntry("a", 1, "fight"), VideoEntry("b", 0, None),
    ...            VideoEntry("c", 1, "fall|fight")]
    >>> vocab = vocabulary(entries)
    >>> vocab, multi_hot(entries[2], vocab).tolist(), multi_hot(entries[1], vocab).tolist()
    (['fall', 'fight'], [1.0, 1.0], [0.0, 0.0])
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from wsvad.errors import DataError

NORMAL_NAMES = {"normal", "none", ""}


def names_of(cls: str | None) -> list[str]:
    """The class names of one video's ``class`` cell (``|``-separated), normal removed."""
    if not cls:
        return []
    return [c.strip() for c in cls.split("|") if c.strip().lower() not in NORMAL_NAMES]


def vocabulary(entries: Iterable) -> list[str]:
    """Sorted anomaly classes of the abnormal videos among ``entries`` (``VideoEntry``)."""
    return sorted({c for e in entries if e.label for c in names_of(e.cls)})


def multi_hot(entry, vocab: list[str]) -> np.ndarray:
    """``[K]`` float32: 1 for each class of an abnormal video (all zero for a normal one)."""
    out = np.zeros(len(vocab), np.float32)
    if not entry.label:
        return out
    for c in names_of(entry.cls):
        if c not in vocab:
            raise DataError(f"video '{entry.name}': class '{c}' is not among the training "
                            f"classes {vocab}")
        out[vocab.index(c)] = 1.0
    return out
