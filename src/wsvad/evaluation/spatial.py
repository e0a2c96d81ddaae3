"""Spatial and spatio-temporal localisation metrics (where an anomaly is).

Ground truth: per video ``{frame: [(x1, y1, x2, y2), …]}`` in frame pixels, on the frames that
are annotated (dense for Ped2 and the plaza scenes, every 16th frame for UCF-Crime's Liu & Ma
boxes). Heat maps: ``[T, h, w]`` per snippet over a ``region`` of the frame (fractions of its
width/height); snippet t covers frames ``[clip·t, clip·(t+1))``.

* **pointing accuracy** — over the annotated anomalous frames, how often the heat map's peak
  (:func:`peak_cell`: the centre of the cells at the maximum) falls inside a ground-truth box;
* **pointing ceiling** — the best pointing accuracy any heat map of the same geometry can reach
  (:func:`pointing_ceiling`): one peak per snippet must serve all of its frames while the object
  moves, and a coarse grid's cell centres often miss a small box (Ped2: a 4×4 grid can point at
  most 0.27 of the time, 7×7 0.65, SSRL's three scales 0.69);
* **mass in boxes** — the share of the heat map's mass that lies inside the union of the boxes,
  averaged over those frames;
* **S_loc** (Wu et al. 2021, Eq. 10, after Yamaguchi et al. 2017) — the mean per-frame IoU of a
  predicted box track and the ground-truth track over Γ: the annotated frames on which either has
  a box (a frame where only one has a box counts 0); **IoU@ε** — the share of abnormal videos
  with S_loc > ε; **mean IoU** — S_loc averaged over abnormal videos.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from wsvad.geometry import iou

__all__ = ["iou", "s_loc", "localisation_summary", "heatmap_scores", "pointing_ceiling",
           "candidate_bounds"]

Boxes = dict[int, list[tuple[float, float, float, float]]]


def _cell_centres(h: int, w: int, region, size) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = region
    width, height = size
    xs = (x0 + (np.arange(w) + 0.5) / w * (x1 - x0)) * width
    ys = (y0 + (np.arange(h) + 0.5) / h * (y1 - y0)) * height
    return xs, ys


def peak_cell(hm: np.ndarray) -> tuple[float, float]:
    """``(row, col)`` of a heat map's peak, in (fractional) cell units: the mean position of the
    cells that reach the maximum, so that a map that is constant over a tile (SSRL's scales, a
    coarse grid upsampled) peaks at the tile's centre rather than its first cell.

    Example:
        >>> hm = np.zeros((4, 6)); hm[2:4, 3:6] = 1.0          # the bottom-right 2×3 tile
        >>> peak_cell(hm)
        (2.5, 4.0)
    """
    hm = np.asarray(hm, float)
    top = hm.max()
    rows, cols = np.nonzero(hm >= top - 1e-9 * max(abs(top), 1.0))
    return float(rows.mean()), float(cols.mean())


def _inside(x: float, y: float, boxes) -> bool:
    return any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes)


def _coverage(h: int, w: int, region, size, boxes, sub: int = 4) -> np.ndarray:
    """``[h, w]`` share of each heat-map cell's area inside the union of ``boxes`` (each cell
    sampled on a ``sub × sub`` grid of points)."""
    x0, y0, x1, y1 = region
    width, height = size
    fx = (x0 + (np.arange(w * sub) + 0.5) / (w * sub) * (x1 - x0)) * width
    fy = (y0 + (np.arange(h * sub) + 0.5) / (h * sub) * (y1 - y0)) * height
    mask = np.zeros((h * sub, w * sub), bool)
    for b in boxes:
        mask |= ((fy >= b[1]) & (fy <= b[3]))[:, None] & ((fx >= b[0]) & (fx <= b[2]))[None]
    return mask.reshape(h, sub, w, sub).mean((1, 3))


def heatmap_scores(heatmaps: np.ndarray, gt: Boxes, clip: int, size: tuple[int, int],
                   region: tuple[float, float, float, float] = (0, 0, 1, 1)
                   ) -> tuple[list[float], list[float]]:
    """Per annotated anomalous frame: (peak inside a box: 0/1, mass inside the boxes).

    Example:
        >>> hm = np.zeros((1, 2, 2)); hm[0, 1, 1] = 1.0        # peak: bottom-right quarter
        >>> heatmap_scores(hm, {0: [(50, 50, 100, 100)]}, clip=16, size=(100, 100))
        ([1.0], [1.0])
    """
    hits, masses = [], []
    t_max, h, w = heatmaps.shape
    xs, ys = _cell_centres(h, w, region, size)
    for frame, boxes in sorted(gt.items()):
        t = frame // clip
        if not boxes or t >= t_max:
            continue
        hm = np.clip(np.asarray(heatmaps[t], float), 0, None)
        r, c = peak_cell(hm)
        x = np.interp(c, np.arange(w), xs)
        y = np.interp(r, np.arange(h), ys)
        hits.append(float(_inside(x, y, boxes)))
        total = hm.sum()
        masses.append(float((hm * _coverage(h, w, region, size, boxes)).sum() / total)
                      if total > 0 else 0.0)
    return hits, masses


def _atom_centres(h: int, w: int, grids) -> np.ndarray:
    """``[A, 2]`` (row, col) peaks, in cell units, that a ``[h, w]`` heat map can have when it
    is the mean of piecewise-constant ``grids`` (each ``(r, c)`` dividing ``(h, w)``): cells
    sharing one tile of every grid always tie, so the peak is the centre of such a group."""
    rows, cols = np.mgrid[0:h, 0:w]
    key = np.zeros((h, w), np.int64)
    for r, c in grids:
        if h % r or w % c:
            raise ValueError(f"a {r}x{c} grid does not divide a {h}x{w} heat map")
        tile = (rows // (h // r)) * c + cols // (w // c)
        key = key * (r * c) + tile
    _, group = np.unique(key.ravel(), return_inverse=True)
    n = group.max() + 1
    count = np.bincount(group, minlength=n)
    return np.stack([np.bincount(group, rows.ravel(), n) / count,
                     np.bincount(group, cols.ravel(), n) / count], 1)


def pointing_ceiling(gt: Boxes, clip: int, size: tuple[int, int], shape: tuple[int, int, int],
                     region: tuple[float, float, float, float] = (0, 0, 1, 1),
                     grids: tuple[tuple[int, int], ...] | None = None) -> list[float]:
    """The best pointing a heat map of this geometry can reach: per snippet, the peak position
    (among those the geometry allows, :func:`_atom_centres`) inside a box on the most of the
    snippet's annotated anomalous frames. Returned as 0/1 per frame (the frames
    :func:`heatmap_scores` scores, grouped by snippet), so that its mean is the ceiling of the
    pointing accuracy.

    ``shape`` = ``[T, h, w]`` of the heat maps; ``grids``: the piecewise-constant grids whose
    mean they are (SSRL's scales), default the heat map's own cells.

    Example:
        >>> gt = {0: [(0, 0, 40, 40)], 1: [(60, 60, 100, 100)]}   # the object moves
        >>> pointing_ceiling(gt, clip=16, size=(100, 100), shape=(1, 2, 2))   # one peak, 2 frames
        [1.0, 0.0]
        >>> pointing_ceiling(gt, clip=16, size=(100, 100), shape=(1, 1, 1))   # centre: neither
        [0.0, 0.0]
    """
    t_max, h, w = shape
    atoms = _atom_centres(h, w, grids or ((h, w),))
    xs, ys = _cell_centres(h, w, region, size)
    px = np.interp(atoms[:, 1], np.arange(w), xs)
    py = np.interp(atoms[:, 0], np.arange(h), ys)
    per_snippet: dict[int, np.ndarray] = {}
    frames: dict[int, int] = {}
    for frame, boxes in sorted(gt.items()):
        t = frame // clip
        if not boxes or t >= t_max:
            continue
        inside = np.zeros(len(atoms), bool)
        for b in boxes:
            inside |= (b[0] <= px) & (px <= b[2]) & (b[1] <= py) & (py <= b[3])
        per_snippet[t] = per_snippet.get(t, 0) + inside
        frames[t] = frames.get(t, 0) + 1
    hits: list[float] = []
    for t, counts in per_snippet.items():
        best = int(np.max(counts))
        hits += [1.0] * best + [0.0] * (frames[t] - best)
    return hits


def s_loc(gt: Boxes, pred: Mapping[int, tuple[float, float, float, float]],
          annotated: set[int] | None = None) -> float:
    """Eq. 10: mean over Γ of IoU(gt box, predicted box); Γ = the annotated frames (default:
    those with a ground-truth entry) on which the ground truth or the prediction has a box.
    With several ground-truth boxes on a frame, the best-matching one counts.

    Example:
        >>> s_loc({0: [(0, 0, 2, 2)], 1: [(0, 0, 2, 2)]}, {0: (0, 0, 2, 2), 2: (0, 0, 1, 1)},
        ...       annotated={0, 1, 2})
        0.3333333333333333
    """
    annotated = set(gt) if annotated is None else annotated
    frames = {f for f in annotated if gt.get(f) or f in pred}
    if not frames:
        return 0.0
    total = 0.0
    for f in frames:
        if gt.get(f) and f in pred:
            total += max(iou(b, pred[f]) for b in gt[f])
    return total / len(frames)


def localisation_summary(per_video_sloc: list[float],
                         thresholds: tuple[float, ...] = (0.1, 0.2, 0.3)) -> dict[str, float]:
    """IoU@ε (share of abnormal videos with S_loc > ε) and mean IoU.

    Example:
        >>> {k: round(v, 3) for k, v in localisation_summary([0.05, 0.25, 0.5]).items()}
        {'iou@0.1': 0.667, 'iou@0.2': 0.667, 'iou@0.3': 0.333, 'mean_iou': 0.267}
    """
    v = np.asarray(per_video_sloc, float)
    out = {f"iou@{e:g}": float((v > e).mean()) if len(v) else float("nan") for e in thresholds}
    out["mean_iou"] = float(v.mean()) if len(v) else float("nan")
    return out


def candidate_bounds(per_video: list[list[float]],
                     thresholds: tuple[float, ...] = (0.1, 0.2, 0.3)) -> dict[str, float]:
    """The context rows of WSSTAD's Table 1 from every candidate tube's S_loc, per abnormal
    video: **random** — a candidate drawn uniformly (the expected IoU@ε and mean IoU, exact
    rather than one draw) — and **upper bound** — the candidate that overlaps the ground truth
    best. A video without candidates counts 0 for both.

    Example:
        >>> out = candidate_bounds([[0.0, 0.4], [0.2]])
        >>> out["random_mean_iou"], out["random_iou@0.1"], out["upper_mean_iou"]
        (0.2, 0.75, 0.30000000000000004)
    """
    rand = [np.asarray(v, float) if len(v) else np.zeros(1) for v in per_video]
    out = {f"random_iou@{e:g}": float(np.mean([(v > e).mean() for v in rand]))
           for e in thresholds}
    out["random_mean_iou"] = float(np.mean([v.mean() for v in rand]))
    best = localisation_summary([float(v.max()) for v in rand], thresholds)
    out.update({f"upper_{k}": v for k, v in best.items()})
    return out
