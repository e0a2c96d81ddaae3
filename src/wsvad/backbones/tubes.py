"""Tube proposals from per-frame boxes: WSSTAD's unary and multivariate tubes (Wu et al.,
IJCAI'21, appendix Alg. 1 and 2).

Boxes are rows ``(frame, x1, y1, x2, y2, score[, class])`` in frame pixels (the ``boxes``
stream, a detector's output). A tube is ``[L, 6]`` rows ``(frame, x1, y1, x2, y2, score)``, one
per consecutive frame, sorted by frame.

* **Unary** (Alg. 1), per class: start from the highest-scoring box left, link forward and then
  backward frame by frame to the box of the neighbouring frame with the highest linking score
  S_l = S_i + S_j + η·IoU among those with IoU > λ (Eq. 11); stop when no box overlaps enough;
  keep the tube when it is at least ζ1 frames long; remove its boxes; repeat.
* **Multivariate** (Alg. 2), all classes together: the highest-scoring box left and every box of
  its frame overlapping it by IoU > λ form a cluster; the next (previous) frame's cluster is
  every box that overlaps one of the current cluster's boxes by IoU > λ; each frame's cluster
  becomes one union box; keep the tube when it is at least ζ2 frames long; remove the cluster's
  boxes; repeat.

η = 2, λ = 0.1, ζ1 = 100, ζ2 = 50 frames at 30 fps (the paper); :func:`min_length` scales the
lengths to a video's frame rate. Choices the appendix leaves open: a union box's score is the
highest score of its members; links only use boxes not yet in an earlier tube (the appendix
deletes a finished tube's boxes from the set).

Example:
    >>> import numpy as np
    >>> boxes = np.array([[f, 10 + f, 10, 30 + f, 40, 0.9] for f in range(5)], float)
    >>> [len(t) for t in unary_tubes(boxes, min_len=3)], min_length(100, 10.0)
    ([5], 33)
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from wsvad.geometry import iou

ETA, LAMBDA = 2.0, 0.1
UNARY_FRAMES, MULTIVARIATE_FRAMES = 100, 50      # ζ1, ζ2 at 30 fps


def min_length(frames_at_30fps: int, fps: float) -> int:
    """A length threshold of the paper (frames at 30 fps) in frames of a ``fps`` video."""
    return max(1, round(frames_at_30fps * fps / 30.0))


def _by_frame(boxes: np.ndarray, idx: set[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for i in idx:
        out[int(boxes[i, 0])].append(i)
    return out


def unary_tubes(boxes: np.ndarray, min_len: int = UNARY_FRAMES, lam: float = LAMBDA,
                eta: float = ETA) -> list[np.ndarray]:
    """Alg. 1: single-object tubes, per class (column 6 when present), best-scoring first."""
    boxes = np.asarray(boxes, float).reshape(-1, boxes.shape[-1] if len(boxes) else 6)
    classes = boxes[:, 6] if boxes.shape[1] > 6 else np.zeros(len(boxes))
    tubes = []
    for c in np.unique(classes):
        left = {int(i) for i in np.flatnonzero(classes == c)}
        while left:
            start = max(left, key=lambda i: boxes[i, 5])
            frames = _by_frame(boxes, left)       # linking moves to new frames only
            tube = [start]
            for step in (1, -1):                                  # forward, then backward
                cur = start
                while True:
                    frame = frames.get(int(boxes[cur, 0]) + step, [])
                    cands = [(boxes[cur, 5] + boxes[j, 5] + eta * u, j) for j in frame
                             if (u := iou(boxes[cur, 1:5], boxes[j, 1:5])) > lam]
                    if not cands:
                        break
                    cur = max(cands)[1]                            # Eq. 11
                    tube.append(cur)
            if len(tube) >= min_len:
                tubes.append(boxes[sorted(tube, key=lambda i: boxes[i, 0]), :6])
            left -= set(tube)
    return sorted(tubes, key=lambda t: -float(t[:, 5].mean()))


def multivariate_tubes(boxes: np.ndarray, min_len: int = MULTIVARIATE_FRAMES,
                       lam: float = LAMBDA) -> list[np.ndarray]:
    """Alg. 2: tubes of unions of intersecting boxes (any class), best-scoring first."""
    boxes = np.asarray(boxes, float).reshape(-1, boxes.shape[-1] if len(boxes) else 6)
    left = set(range(len(boxes)))
    tubes = []
    while left:
        start = max(left, key=lambda i: boxes[i, 5])
        frames = _by_frame(boxes, left)
        tp = int(boxes[start, 0])
        seed = [start] + [j for j in frames[tp] if j != start and
                          iou(boxes[start, 1:5], boxes[j, 1:5]) > lam]
        clusters = {tp: seed}
        for step in (1, -1):
            t = tp
            while True:
                nxt = [j for j in frames.get(t + step, [])
                       if any(iou(boxes[i, 1:5], boxes[j, 1:5]) > lam for i in clusters[t])]
                if not nxt:
                    break
                t += step
                clusters[t] = nxt
        if len(clusters) >= min_len:
            rows = []
            for t in sorted(clusters):
                b = boxes[clusters[t]]
                rows.append([t, b[:, 1].min(), b[:, 2].min(), b[:, 3].max(), b[:, 4].max(),
                             b[:, 5].max()])
            tubes.append(np.array(rows))
        left -= {i for members in clusters.values() for i in members}
    return sorted(tubes, key=lambda t: -float(t[:, 5].mean()))
