"""WSSTAD's tube instances of one video, from its ``tubes`` / ``tube_regions`` rows and its
snippet ``features`` (Wu et al., IJCAI'21, Sect. 3.1, 3.4).

An instance is a tube, or one of ``pieces`` equal parts of its snippets (the hypothetical
sub-tubes of inference, Sect. 3.4). Its **region-level** feature is the mean of the tube's crop
features over the instance's snippets; its **image-level** feature the mean of the whole-frame
``features`` over the same snippets (mean pooling, Sect. 5.1). A video without any tube gets one
whole-frame instance (tube id −1: region = image = the whole video) so that every bag has an
instance; it has no boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WHOLE_FRAME = -1


@dataclass
class Instances:
    """Tube instances of one video.

    Attributes:
        region: ``[N, D]`` region-level features (the tube's crops).
        image: ``[N, D]`` image-level features (whole frames over the instance's snippets).
        tube: ``[N]`` tube id of each instance (``-1``: the whole-frame fallback).
        span: ``[N, 2]`` first and last snippet (inclusive).
    """

    region: np.ndarray
    image: np.ndarray
    tube: np.ndarray
    span: np.ndarray

    def __len__(self) -> int:
        return len(self.tube)


def tube_instances(regions: np.ndarray, features: np.ndarray, pieces: int = 1,
                   limit: int | None = None) -> Instances:
    """Instances from ``regions [M, 2 + D]`` rows ``(tube, snippet, features)`` and the video's
    ``features [T, D]`` (both in the same snippet/segment index), each tube cut into ``pieces``
    runs of its sorted snippets (``numpy.array_split``), at most ``limit`` instances (the
    longest first, then in tube order).

    Example:
        >>> f = np.arange(4.0)[:, None].repeat(2, 1)                  # [T=4, D=2]
        >>> r = np.array([[0, 1, 10, 10], [0, 2, 20, 20], [0, 3, 30, 30]], float)
        >>> one = tube_instances(r, f)
        >>> one.region.tolist(), one.image.tolist(), one.span.tolist()
        ([[20.0, 20.0]], [[2.0, 2.0]], [[1, 3]])
        >>> two = tube_instances(r, f, pieces=2)
        >>> two.region[:, 0].tolist(), two.span.tolist()
        ([15.0, 30.0], [[1, 2], [3, 3]])
    """
    features = np.asarray(features, np.float32).reshape(len(features), -1)
    regions = np.asarray(regions, np.float32)
    out: list[tuple[np.ndarray, np.ndarray, int, int, int]] = []
    for k in np.unique(regions[:, 0]).astype(int) if len(regions) else []:
        rows = regions[regions[:, 0] == k]
        snippets = np.unique(rows[:, 1].astype(int))
        for part in np.array_split(snippets, min(max(pieces, 1), len(snippets))):
            inside = np.isin(rows[:, 1].astype(int), part)
            out.append((rows[inside, 2:].mean(0), features[part].mean(0), k, part[0], part[-1]))
    if not out:
        whole = features.mean(0)
        out.append((whole, whole, WHOLE_FRAME, 0, len(features) - 1))
    if limit is not None and len(out) > limit:
        keep = sorted(np.argsort([-(o[4] - o[3]) for o in out], kind="stable")[:limit])
        out = [out[i] for i in keep]
    return Instances(region=np.stack([o[0] for o in out]), image=np.stack([o[1] for o in out]),
                     tube=np.array([o[2] for o in out], np.int64),
                     span=np.array([[o[3], o[4]] for o in out], np.int64))


def tube_track(tubes: np.ndarray, tube: int, span: tuple[int, int]) -> np.ndarray:
    """Box rows ``(frame, x1, y1, x2, y2)`` of ``tube`` inside the snippets ``span`` (from the
    ``tubes [N, 8]`` rows ``(tube, frame, snippet, x1, y1, x2, y2, score)``), one per frame.

    Example:
        >>> t = np.array([[0, 5, 0, 1, 1, 2, 2, .9], [0, 20, 1, 1, 1, 3, 3, .8],
        ...               [1, 5, 0, 0, 0, 9, 9, .5]])
        >>> tube_track(t, 0, (1, 1)).tolist()
        [[20.0, 1.0, 1.0, 3.0, 3.0]]
    """
    rows = tubes[(tubes[:, 0] == tube) & (tubes[:, 2] >= span[0]) & (tubes[:, 2] <= span[1])]
    _, first = np.unique(rows[:, 1], return_index=True)   # one box per frame, sorted by frame
    return rows[first][:, [1, 3, 4, 5, 6]].astype(np.float64)
