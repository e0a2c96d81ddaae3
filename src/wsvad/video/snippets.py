"""Snippets of L frames, crops as a batch dimension.

Snippet t holds frames ``[t·stride, t·stride + L)``. The last, partial snippet is completed by
repeating the video's last frame, so a video of n frames gives ``ceil(n / L)`` snippets at
stride L — the count the RTFM ground-truth files assume (``gt-sh.npy`` pads every video to
``16·ceil(n/16)`` frames). Some published releases instead drop that snippet when n is a
multiple of 16 (see ``../shared/papers/README.md``); wsvad's frame alignment handles both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np


def iter_snippets(frames: Iterable[np.ndarray], length: int = 16,
                  stride: int | None = None) -> Iterator[np.ndarray]:
    """Yield ``[L, H, W, 3]`` arrays from a stream of frames (holds at most L frames).

    A last, partial window is emitted (padded with the last frame) only when it holds frames
    that no earlier snippet covered.

    Example:
        >>> frames = (np.full((2, 2, 3), i, np.uint8) for i in range(5))
        >>> [s[:, 0, 0, 0].tolist() for s in iter_snippets(frames, 2)]
        [[0, 1], [2, 3], [4, 4]]
    """
    stride = stride or length
    buf: list[np.ndarray] = []
    next_start, covered, n = 0, 0, 0
    for i, frame in enumerate(frames):
        n = i + 1
        if i < next_start:
            continue  # stride > length: frames between snippets
        buf.append(frame)
        if len(buf) == length:
            yield np.stack(buf)
            covered = next_start + length
            next_start += stride
            buf = buf[stride:] if stride < length else []
    if buf and n > covered:
        yield np.stack(buf + [buf[-1]] * (length - len(buf)))


def resize_short_side(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize so the shorter side is ``size`` pixels (area interpolation when shrinking)."""
    h, w = frame.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(frame, (nw, nh), interpolation=interp)


def crop_boxes(h: int, w: int, size: int, crops: int) -> list[tuple[int, int, bool]]:
    """``(top, left, flip)`` of 1, 5 or 10 crops, in torchvision's order so that crop index i
    means what it means in the published releases (RTFM: "the PyTorch official 10-crop";
    XD-Violence: FiveCrop). 1: the centre; 5 (``FiveCrop``): top-left, top-right, bottom-left,
    bottom-right, centre; 10 (``TenCrop``): those five, then the same five taken from the
    horizontally flipped frame — crop 5 is the flipped frame's top-left, i.e. the mirror image
    of the original's top-right. ``flip`` means: cut at ``(top, left)`` of the original, then
    mirror. The centre is at ``round((h − size) / 2)``, ``round((w − size) / 2)`` (torchvision's
    rounding).

    Example:
        >>> crop_boxes(10, 13, 8, 10)[4:6]
        [(1, 2, False), (0, 5, True)]
    """
    if crops not in (1, 5, 10):
        raise ValueError(f"crops must be 1, 5 or 10, not {crops}")
    centre = (int(round((h - size) / 2.0)), int(round((w - size) / 2.0)))
    if crops == 1:
        return [(*centre, False)]
    five = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size), centre]
    boxes = [(t, left, False) for t, left in five]
    if crops == 10:  # five_crop of the mirrored frame, mapped back to original coordinates
        boxes += [(t, w - size - left, True) for t, left in five]
    return boxes


def crop_clip(clip: np.ndarray, size: int, crops: int) -> np.ndarray:
    """``[L, H, W, 3]`` (already resized) → ``[crops, L, size, size, 3]``."""
    _, h, w, _ = clip.shape
    out = []
    for top, left, flip in crop_boxes(h, w, size, crops):
        c = clip[:, top:top + size, left:left + size]
        out.append(c[:, :, ::-1] if flip else c)
    return np.ascontiguousarray(np.stack(out))


# SSRL's patch scales on a 480×840 frame: whole frame, 2×3 windows of 240×280, 3×5 of
# 160×168, 4×7 of 120×120 — non-overlapping tiles. Other resolutions keep the grid and scale
# the windows to the frame.
SSRL_GRIDS = ((1, 1), (2, 3), (3, 5), (4, 7))


def patch_boxes(h: int, w: int, grid: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """``(top, left, bottom, right)`` of a ``rows × cols`` tiling of an ``h × w`` frame.

    Example:
        >>> patch_boxes(480, 840, (2, 3))[:2]
        [(0, 0, 240, 280), (0, 280, 240, 560)]
    """
    rows, cols = grid
    ys = np.linspace(0, h, rows + 1).round().astype(int)
    xs = np.linspace(0, w, cols + 1).round().astype(int)
    return [(int(ys[r]), int(xs[c]), int(ys[r + 1]), int(xs[c + 1]))
            for r in range(rows) for c in range(cols)]


def patch_clip(clip: np.ndarray, grid: tuple[int, int], size: int) -> np.ndarray:
    """``[L, H, W, 3]`` → ``[P, L, size, size, 3]``: each tile resized to the backbone input."""
    _, h, w, _ = clip.shape
    return np.stack([np.stack([cv2.resize(f[t:b, lft:r], (size, size),
                                          interpolation=cv2.INTER_AREA) for f in clip])
                     for t, lft, b, r in patch_boxes(h, w, grid)])
