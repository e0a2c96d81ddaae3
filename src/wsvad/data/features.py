"""The checks every reader applies to the arrays it loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wsvad.contract import ROW_LAYOUT, ROW_STREAMS
from wsvad.errors import DataError


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


def load_npy(path: str | Path, mmap: bool = False) -> np.ndarray:
    """``np.load`` (never unpickling; memory-mapped with ``mmap``) with a clear error for
    missing or unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"feature file not found: {path}")
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except Exception as exc:  # numpy raises several types for corrupt files
        raise DataError(f"{path}: cannot read as .npy ({exc}); the file is corrupt or not "
                        "a NumPy array — re-extract it") from exc


def check_stream(arr: np.ndarray, spec, source: str | Path) -> np.ndarray:
    """Check a non-``features`` stream against its :class:`~wsvad.contract.StreamSpec`
    (per-snippet shape, numeric, finite — memory-mapped float16 streams are checked when
    they are read in full)."""
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise DataError(f"{source}: expected a numeric array, got {getattr(arr, 'dtype', arr)}")
    if spec.shape is None:                                  # row streams (boxes, tubes, …)
        width = ROW_STREAMS.get(spec.name)
        if arr.ndim != 2 or (width is not None and arr.shape[1] != width) or arr.shape[1] < 2:
            raise DataError(f"{source}: stream '{spec.name}' must be rows "
                            f"({ROW_LAYOUT.get(spec.name, '…')}), got shape {arr.shape}")
    elif spec.shape and tuple(arr.shape[1:]) != tuple(spec.shape):
        raise DataError(f"{source}: stream '{spec.name}' has per-snippet shape "
                        f"{tuple(arr.shape[1:])}, the store's contract says {tuple(spec.shape)}")
    if not isinstance(arr, np.memmap) and not np.isfinite(arr).all():
        raise DataError(f"{source}: NaN/inf values in stream '{spec.name}'; re-extract this "
                        "video")
    return arr
