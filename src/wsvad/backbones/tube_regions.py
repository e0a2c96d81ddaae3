"""WSSTAD's tube instances from a video: boxes → tubes (:mod:`wsvad.backbones.tubes`) → the
features of each tube's crop in every snippet it spans (Wu et al., IJCAI'21, Sect. 3.1 and 5.1).

Two row streams per video:

* ``tubes [N, 8]`` — rows ``(tube, frame, snippet, x1, y1, x2, y2, score)``: every box of every
  tube, unary tubes first (Alg. 1, ζ1 = 100 frames at 30 fps), then multivariate ones (Alg. 2,
  ζ2 = 50; one that repeats a unary tube box for box — an object alone — is dropped), at most
  ``max_tubes`` (the paper's 200 instances per bag; the longest are kept);
* ``tube_regions [M, 2 + D]`` — rows ``(tube, snippet, features)``: the region-level instance
  features — the video's own feature extractor (same backbone, layout and D as the ``features``
  stream) applied to the tube's crop in that snippet. The crop is the union of the tube's boxes
  over the snippet's frames (one window, so that motion inside it is measured on a fixed
  region), at least ``MIN_SIDE`` pixels a side. For speed on a CPU (a named deviation; the
  whole-frame stream samples 4 frames at 160-px flow) the appearance part comes from the
  snippet's middle frame of the crop and the motion part is the DIS-flow descriptor of the
  cropped clip at short side 64 px: ~45 ms of EfficientNet per crop instead of ~180, and a
  sixth of the flow cost. That flow is converted into the whole-frame flow's units (pixels of
  the frame at the motion backbone's short side; the stream's contract method ``frame-px``), so
  crops of any size compare: stores made before measured it in the resized crop's own pixels
  (``crop-px``), where a 16-px crop's motion read 4× — the fastest-moving tube was often a
  small, distant one (the training-free ``tube_motion`` found the anomaly's tube in 1 of Ped2's
  6 abnormal test videos and 3 of the plaza's 10; with the flow in frame units 2 and 7 — the
  plaza's upper bound).

Image-level tube features (the whole frame over the tube's span) need no extra pass: they are
the ``features`` stream averaged over the tube's snippets (:mod:`wsvad.data.instances`).
The paper feeds 16-frame sequences of the crops to C3D (fc6) and mean-pools them per instance;
here each snippet's crop goes through the extractor the store was made with.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wsvad.backbones.tubes import (
    MULTIVARIATE_FRAMES,
    UNARY_FRAMES,
    min_length,
    multivariate_tubes,
    unary_tubes,
)
from wsvad.video.decode import iter_frames
from wsvad.video.snippets import iter_snippets

if TYPE_CHECKING:
    from wsvad.backbones.video_encoder import VideoEncoder

MAX_TUBES = 200        # instances per bag (Sect. 5.1)
MIN_SIDE = 16          # pixels: smaller crops are grown around their centre


def build_tubes(boxes: np.ndarray, fps: float, n_snippets: int, stride: int,
                max_tubes: int = MAX_TUBES) -> np.ndarray:
    """``boxes [N, 6]`` (or ``[N, 7]`` with a class id: unary tubes link within a class) of a
    video → ``tubes [R, 8]`` rows (see the module text).

    Example:
        >>> b = np.array([[f, 10, 10, 40, 40, 0.9] for f in range(40)], float)
        >>> t = build_tubes(b, fps=10.0, n_snippets=3, stride=16)
        >>> sorted(set(t[:, 0].tolist())), float(t[-1, 2])  # the multivariate copy is dropped
        ([0.0], 2.0)
    """
    boxes = np.asarray(boxes, np.float64)
    boxes = boxes.reshape(-1, boxes.shape[-1] if boxes.ndim == 2 else 6)
    unary = unary_tubes(boxes, min_length(UNARY_FRAMES, fps))
    seen = {t.tobytes() for t in unary}
    tubes = unary + [t for t in multivariate_tubes(boxes, min_length(MULTIVARIATE_FRAMES, fps))
                     if t.tobytes() not in seen]      # one object alone: the same tube twice
    if len(tubes) > max_tubes:
        keep = sorted(np.argsort([-len(t) for t in tubes], kind="stable")[:max_tubes])
        tubes = [tubes[i] for i in keep]
    rows = []
    for k, t in enumerate(tubes):
        t = t[:, :6]
        snippet = np.minimum(t[:, 0] // stride, max(n_snippets - 1, 0))
        rows.append(np.column_stack([np.full(len(t), k), t[:, 0], snippet, t[:, 1:6]]))
    return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, 8), np.float32)


def crop_window(rows: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Union of box rows ``(…, x1, y1, x2, y2, …)`` (columns 3–6 of ``tubes``) as integer pixels
    inside the frame, grown to at least ``MIN_SIDE`` a side.

    Example:
        >>> crop_window(np.array([[0, 0, 0, 5, 5, 9, 9, 1]]), 100, 100)
        (0, 0, 16, 16)
    """
    x1, y1 = rows[:, 3].min(), rows[:, 4].min()
    x2, y2 = rows[:, 5].max(), rows[:, 6].max()
    out = []
    for lo, hi, size in ((x1, x2, width), (y1, y2, height)):
        side = max(hi - lo, min(MIN_SIDE, size))
        c = (lo + hi) / 2
        a = int(np.clip(round(c - side / 2), 0, max(size - side, 0)))
        out.append((a, int(min(size, a + round(side)))))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def tube_streams(encoder: VideoEncoder, path: str | Path, boxes: np.ndarray,
                 n_snippets: int, fps: float) -> dict[str, np.ndarray]:
    """``{"tubes", "tube_regions"}`` of one video: tubes from its boxes, then a second decoding
    pass that runs ``encoder``'s feature extractor on every tube's crop in each snippet."""
    tubes = build_tubes(boxes, fps, n_snippets, encoder.stride)
    dim = encoder.dim
    regions: list[np.ndarray] = []
    if len(tubes):
        by_snippet = {int(s): tubes[tubes[:, 2] == s] for s in np.unique(tubes[:, 2])}
        clips = iter_snippets((f for f, _ in iter_frames(path, encoder.fps)),
                              encoder.snippet_frames, encoder.stride)
        for s, clip in enumerate(clips):
            rows = by_snippet.get(s)
            if rows is None:
                continue
            ids = np.unique(rows[:, 0]).astype(int)
            crops = []
            for k in ids:
                x1, y1, x2, y2 = crop_window(rows[rows[:, 0] == k], clip.shape[2], clip.shape[1])
                crops.append(clip[:, y1:y2, x1:x2])
            feats = encoder.region_features(crops, min(clip.shape[1:3]))  # [n, D]
            regions.append(np.column_stack([ids, np.full(len(ids), s), feats]))
    region_rows = np.concatenate(regions).astype(np.float32) if regions else \
        np.zeros((0, 2 + dim), np.float32)
    return {"tubes": tubes, "tube_regions": region_rows}
