"""One video's snippet features and the checks every reader applies to them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wsvad.errors import DataError


@dataclass
class VideoFeatures:
    """Snippet features of one video.

    Attributes:
        name: video name (from the file name).
        features: ``[T, C, D]`` float32 (T snippets, C crops, D dims).
        label: 1 = abnormal, 0 = normal, None = unknown.
        cls: anomaly class name, if known.
        source: the file(s) it came from, for error messages.
    """

    name: str
    features: np.ndarray
    label: int | None = None
    cls: str | None = None
    source: str = ""

    @property
    def snippets(self) -> int:
        return int(self.features.shape[0])


def as_snippet_array(arr: np.ndarray, source: str | Path) -> np.ndarray:
    """Check one feature array and return it as float32 ``[T, C, D]``.

    Accepts ``[T, D]`` (one crop) and ``[T, C, D]``; rejects anything else, empty arrays and
    non-finite values with a message naming the file.

    Example:
        >>> as_snippet_array(np.ones((5, 8)), "a.npy").shape
        (5, 1, 8)
    """
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        kind = getattr(arr, "dtype", type(arr))
        raise DataError(f"{source}: expected a numeric array, got {kind}")
    if arr.ndim == 2:
        arr = arr[:, None, :]
    elif arr.ndim != 3:
        raise DataError(
            f"{source}: feature array has shape {arr.shape}; expected [T, D] or [T, crops, D] "
            "(T snippets). If your crops come first ([crops, T, D]) transpose them before saving.")
    if arr.shape[0] == 0 or arr.shape[2] == 0:
        raise DataError(f"{source}: feature array is empty (shape {arr.shape}); "
                        "re-extract this video")
    arr = np.asarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise DataError(f"{source}: {bad} NaN/inf values in the features; re-extract this video "
                        "or drop it from the list")
    return arr


def load_npy(path: str | Path) -> np.ndarray:
    """``np.load`` with a clear error for missing or unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"feature file not found: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for corrupt files
        raise DataError(f"{path}: cannot read as .npy ({exc}); the file is corrupt or not "
                        "a NumPy array — re-extract it") from exc


def check_consistent(videos: list[VideoFeatures], where: str) -> tuple[int, int]:
    """All videos must share crops and dimension; returns ``(crops, dim)``."""
    if not videos:
        raise DataError(f"{where}: no videos")
    c, d = videos[0].features.shape[1:]
    for v in videos[1:]:
        if v.features.shape[1:] != (c, d):
            raise DataError(
                f"{v.source}: features have {v.features.shape[1]} crops × {v.features.shape[2]} "
                f"dims but {videos[0].source} has {c} × {d}; all videos of a dataset must come "
                "from the same extractor")
    return int(c), int(d)
