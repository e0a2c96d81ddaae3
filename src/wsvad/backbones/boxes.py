"""Moving-object proposals for fixed cameras: OpenCV MOG2 background subtraction, morphology,
connected components → per-frame class-agnostic boxes with scores.

Any detector can stand behind the same interface: ``detect(frame) -> list[Box]`` per frame,
called in order (a background model is stateful).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


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
