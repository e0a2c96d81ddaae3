"""*Where* and *what* for the alerts of one video, from a method's localisation and class
predictions: what ``events.json``, ``localization.json`` and the overlay show.

Per event: for heat maps, the peak position over the event's snippets (pixels and fractions of
the frame); for boxes or tubes, the box track inside the event; for class predictions, the class
with the highest mean probability over the event's snippets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wsvad.detect.events import Event
from wsvad.evaluation.spatial import peak_cell
from wsvad.methods.base import Localization


def heatmap_peak(loc: Localization, t0: int, t1: int, size: tuple[int, int] | None
                 ) -> dict[str, Any]:
    """Peak of the heat maps of snippets ``[t0, t1)``: position as fractions of the frame (and
    pixels when ``size = (width, height)`` is known).

    Example:
        >>> hm = np.zeros((2, 2, 4)); hm[1, 1, 3] = 1.0
        >>> heatmap_peak(Localization(heatmaps=hm), 0, 2, (400, 200))
        {'snippet': 1, 'x': 0.875, 'y': 0.75, 'value': 1.0, 'x_px': 350, 'y_px': 150}
    """
    hm = np.asarray(loc.heatmaps[t0:max(t1, t0 + 1)], float)
    t = int(np.unravel_index(int(hm.argmax()), hm.shape)[0])
    r, c = peak_cell(hm[t])                   # the centre of a tile-shaped peak, as evaluated
    x0, y0, x1, y1 = loc.region
    x = x0 + (c + 0.5) / hm.shape[2] * (x1 - x0)
    y = y0 + (r + 0.5) / hm.shape[1] * (y1 - y0)
    out = {"snippet": int(t0 + t), "x": round(float(x), 4), "y": round(float(y), 4),
           "value": round(float(hm[t].max()), 4)}
    if size is not None:
        out.update(x_px=int(round(x * size[0])), y_px=int(round(y * size[1])))
    return out


def box_track(loc: Localization, start: int, end: int) -> list[list[float]]:
    """Rows ``[frame, x1, y1, x2, y2, score]`` of the best tube (or the best box per frame)
    within frames ``[start, end)``."""
    if loc.tubes:
        tube = loc.tubes[0]
        return [[int(r[0]), *map(float, r[1:5]), float(tube.score)] for r in tube.boxes
                if start <= int(r[0]) < end]
    if loc.boxes is None:
        return []
    best: dict[int, list[float]] = {}
    for r in np.asarray(loc.boxes):
        f = int(r[0])
        if start <= f < end and (f not in best or r[5] > best[f][5]):
            best[f] = [f, *map(float, r[1:6])]
    return [best[f] for f in sorted(best)]


def predicted_boxes(loc: Localization | None) -> dict[int, list[tuple[float, ...]]]:
    """``{frame: [(x1, y1, x2, y2, score), …]}`` to draw (best tube, or every box)."""
    if loc is None:
        return {}
    rows = box_track(loc, 0, 1 << 62) if loc.tubes else \
        ([] if loc.boxes is None else np.asarray(loc.boxes).tolist())
    out: dict[int, list[tuple[float, ...]]] = {}
    for r in rows:
        out.setdefault(int(r[0]), []).append(tuple(r[1:6]))
    return out


def event_class(classes: np.ndarray, t0: int, t1: int, names: list[str] | None
                ) -> dict[str, Any]:
    """The class with the highest mean probability over snippets ``[t0, t1)`` (``classes``
    ``[T, K]``, or ``[K]`` for the whole video).

    Example:
        >>> event_class(np.array([[.1, .9], [.3, .7]]), 0, 2, ["fall", "fight"])
        {'class': 'fight', 'probability': 0.8}
    """
    p = classes if classes.ndim == 1 else classes[t0:max(t1, t0 + 1)].mean(0)
    k = int(np.argmax(p))
    return {"class": names[k] if names and k < len(names) else str(k),
            "probability": round(float(p[k]), 4)}


def describe_events(events: list[Event], clip: int, loc: Localization | None,
                    classes: np.ndarray | None, class_names: list[str] | None,
                    size: tuple[int, int] | None) -> list[dict[str, Any]]:
    """``Event.to_dict()`` of each event plus ``where`` and ``what`` when the method says."""
    out = []
    for e in events:
        row = e.to_dict()
        t0, t1 = e.start_frame // clip, -(-e.end_frame // clip)
        if loc is not None and loc.heatmaps is not None:
            row["where"] = {"heatmap_peak": heatmap_peak(loc, t0, t1, size)}
        elif loc is not None and (loc.tubes or loc.boxes is not None):
            row["where"] = {"box_track": box_track(loc, e.start_frame, e.end_frame)}
        if classes is not None:
            row["what"] = event_class(classes, t0, t1, class_names)
        out.append(row)
    return out
