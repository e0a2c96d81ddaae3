"""Per-frame object boxes behind one interface, ``detect(frame) -> list[Box]`` (called in
frame order: a background model is stateful):

* :class:`MovingObjectDetector` (``mog2``) — moving-object proposals for fixed cameras: OpenCV
  MOG2 background subtraction, morphology, connected components → class-agnostic boxes.
* :class:`PeopleDetector` (``hog``) — OpenCV's built-in HOG + linear SVM people detector
  (Dalal & Triggs; the SVM ships inside OpenCV 4, nothing is downloaded).
* :func:`read_detections` — a user's own detector output (CSV or JSON) as box rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from wsvad.errors import ConfigError, DataError


@dataclass(frozen=True)
class Box:
    """Pixel box ``[x1, y1, x2, y2)`` on the input frame and a score in [0, 1]."""

    x1: int
    y1: int
    x2: int
    y2: int
    score: float

    @property
    def area(self) -> int:
        return max(0, self.x2 - self.x1) * max(0, self.y2 - self.y1)


class MovingObjectDetector:
    """MOG2 foreground → opening/closing → connected components → boxes.

    A box's score is the share of foreground pixels inside it. Boxes smaller than
    ``min_area`` pixels are dropped; the first ``warmup`` frames give no boxes (the background
    model is still forming; at least one).

    Example:
        >>> det = MovingObjectDetector(warmup=0)
        >>> det.detect(np.zeros((60, 80, 3), np.uint8))
        []
    """

    def __init__(self, history: int = 200, var_threshold: float = 16.0, min_area: int = 30,
                 kernel: int = 3, warmup: int = 10):
        self.mog = cv2.createBackgroundSubtractorMOG2(history, var_threshold,
                                                      detectShadows=False)
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
        # MOG2 marks all of its first frame as foreground: at least one warm-up frame
        self.min_area, self.warmup, self.seen = min_area, max(warmup, 1), 0
        self.rate = 1.0 / history

    def detect(self, frame: np.ndarray) -> list[Box]:
        # OpenCV's automatic rate is 1/(2·frames seen) early on, which absorbs a slow object
        # into the background within a few frames; after the warm-up the rate is 1/history.
        fg = self.mog.apply(frame, learningRate=-1 if self.seen <= self.warmup else self.rate)
        self.seen += 1
        if self.seen <= self.warmup:
            return []
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self.kernel)
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self.kernel, iterations=2)
        n, _labels, stats, _ = cv2.connectedComponentsWithStats((fg > 0).astype(np.uint8), 8)
        boxes = []
        for x, y, w, h, area in stats[1:n]:
            if area >= self.min_area:
                boxes.append(Box(int(x), int(y), int(x + w), int(y + h),
                                 float(area) / float(w * h)))
        return sorted(boxes, key=lambda b: -b.area)


class PeopleDetector:
    """OpenCV's HOG people detector; frames are enlarged so that their height is at least
    ``min_height`` pixels first (the detector's window is 64×128: people in surveillance
    frames are often smaller), boxes are returned on the input frame. A box's score is the
    logistic of the SVM margin.

    Example:
        >>> PeopleDetector().detect(np.zeros((120, 160, 3), np.uint8))
        []
    """

    def __init__(self, min_height: int = 480, stride: int = 8, scale: float = 1.05):
        if not hasattr(cv2, "HOGDescriptor"):
            raise ConfigError(f"OpenCV {cv2.__version__} has no HOG people detector (OpenCV 5 "
                              "removed it): install opencv-python-headless<5, use the MOG2 "
                              "boxes, or pass your detector's boxes (--detections)")
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.min_height, self.stride, self.scale = min_height, stride, scale

    def detect(self, frame: np.ndarray) -> list[Box]:
        h, w = frame.shape[:2]
        f = max(1.0, self.min_height / h)
        img = cv2.resize(frame, (round(w * f), round(h * f))) if f > 1 else frame
        rects, weights = self.hog.detectMultiScale(img, winStride=(self.stride, self.stride),
                                                   padding=(8, 8), scale=self.scale)
        boxes = [Box(int(x / f), int(y / f), int(min(w, (x + bw) / f)), int(min(h, (y + bh) / f)),
                     float(1 / (1 + np.exp(-float(s))))) for (x, y, bw, bh), s in
                 zip(np.reshape(rects, (-1, 4)), np.ravel(weights), strict=True)]
        return sorted(boxes, key=lambda b: -b.score)


DETECTORS = {"mog2": MovingObjectDetector, "hog": PeopleDetector}


def box_detector(name: str):
    """A per-frame box detector by name (:data:`DETECTORS`)."""
    if name not in DETECTORS:
        raise ConfigError(f"box detector '{name}' unknown; use one of {', '.join(DETECTORS)} "
                          "(or your own detector's boxes with --detections)")
    return DETECTORS[name]()


def read_detections(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """A user's detector output → rows ``[N, 7]`` ``(frame, x1, y1, x2, y2, score, class id)``
    and the class names (id = index).

    CSV: a header ``frame,x1,y1,x2,y2,score[,class]`` then one row per box. JSON: a list of
    ``{"frame": f, "box": [x1, y1, x2, y2], "score": s, "class": "person"}`` (``class``
    optional). Frames are 0-based, boxes in frame pixels.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
        >>> _ = p.write_text("frame,x1,y1,x2,y2,score,class\\n3,1,2,11,22,0.8,car\\n")
        >>> rows, names = read_detections(p)
        >>> rows.tolist(), names
        ([[3.0, 1.0, 2.0, 11.0, 22.0, 0.8, 0.0]], ['car'])
    """
    import csv
    import json
    path = Path(path)
    if not path.is_file():
        raise DataError(f"detections file not found: {path}")
    try:
        if path.suffix.lower() == ".json":
            items = [(d["frame"], *d["box"], d.get("score", 1.0), d.get("class", "object"))
                     for d in json.loads(path.read_text())]
        else:
            with path.open(newline="") as f:
                reader = csv.DictReader(f)
                items = [(r["frame"], r["x1"], r["y1"], r["x2"], r["y2"], r.get("score") or 1.0,
                          r.get("class") or "object") for r in reader]
        names = sorted({str(i[6]) for i in items})
        rows = np.array([[float(v) for v in i[:6]] + [names.index(str(i[6]))] for i in items],
                        float).reshape(-1, 7)
    except (KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read detections ({exc!r}); expected CSV columns "
                        "frame,x1,y1,x2,y2,score[,class] or a JSON list of {frame, box: "
                        "[x1, y1, x2, y2], score, class}") from None
    if len(rows) and (not np.isfinite(rows).all() or (rows[:, 3] <= rows[:, 1]).any()
                      or (rows[:, 4] <= rows[:, 2]).any() or (rows[:, 0] < 0).any()):
        raise DataError(f"{path}: every box needs frame >= 0, x2 > x1 and y2 > y1 (finite)")
    return rows, names

