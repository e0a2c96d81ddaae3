"""The overlay video: each frame with a score panel underneath (the score curve, the threshold,
a cursor), a red frame and ``ALERT`` while an alert is open, and boxes (ground truth in green
when known; a localising method's boxes in red, its heat map blended over the frame while the
score is above the hysteresis' low line). Small videos are enlarged ×2 to stay legible.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import cv2
import numpy as np

from wsvad.video.writer import VideoWriter

PANEL = 72
GREEN, RED, AMBER, GREY = (40, 200, 80), (230, 40, 40), (245, 180, 40), (110, 110, 110)


class HeatmapLayer:
    """A method's heat maps ``[T, h, w]`` (one per snippet of ``clip`` frames) drawn over the
    ``region`` of the frame they cover (fractions of width/height).

    Example:
        >>> layer = HeatmapLayer(np.ones((1, 2, 2)), clip=16)
        >>> bool(layer.blend(np.zeros((8, 8, 3), np.uint8), 0).max() > 0)
        True
    """

    def __init__(self, heatmaps: np.ndarray, clip: int,
                 region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
                 alpha: float = 0.45):
        self.heatmaps, self.clip, self.region, self.alpha = heatmaps, clip, region, alpha

    def blend(self, img: np.ndarray, frame: int) -> np.ndarray:
        t = min(frame // self.clip, len(self.heatmaps) - 1)
        h, w = img.shape[:2]
        x0, y0 = int(self.region[0] * w), int(self.region[1] * h)
        x1, y1 = int(self.region[2] * w), int(self.region[3] * h)
        if x1 <= x0 or y1 <= y0:
            return img
        hm = np.clip(np.asarray(self.heatmaps[t], np.float32), 0, 1)
        hm = cv2.resize(hm, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        colour = cv2.applyColorMap((hm * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
        a = (self.alpha * hm)[..., None]
        out = img.copy()
        roi = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = (roi * (1 - a) + colour * a).astype(np.uint8)
        return out


class OverlayWriter:
    """Write frames with their score. With ``scores`` given (offline) the panel shows the whole
    video; without (streaming) it scrolls over the last ``span_s`` seconds.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "o.mp4"
        >>> w = OverlayWriter(p, fps=10, threshold=0.5)
        >>> for i in range(12):
        ...     w.write(np.zeros((60, 80, 3), np.uint8), i, i / 12, alert=i > 6)
        >>> w.close().name
        'o.mp4'
    """

    def __init__(self, path: str | Path, fps: float, threshold: float,
                 scores: np.ndarray | None = None, labels: np.ndarray | None = None,
                 boxes: dict[int, list[tuple[float, ...]]] | None = None, span_s: float = 20.0,
                 heatmap: HeatmapLayer | None = None,
                 predicted: dict[int, list[tuple[float, ...]]] | None = None):
        self.path, self.fps, self.threshold = Path(path), fps, threshold
        self.scores, self.labels, self.boxes = scores, labels, boxes or {}
        self.heatmap, self.predicted = heatmap, predicted or {}
        self.recent: deque[float] = deque(maxlen=max(2, int(span_s * fps)))
        self.writer = VideoWriter(self.path, fps)
        self._panels: tuple[np.ndarray, np.ndarray] | None = None
        self.scale = 1

    def _xy(self, values: np.ndarray, width: int, total: int) -> np.ndarray:
        x = 8 + np.arange(len(values)) * (width - 16) / max(1, total - 1)
        y = PANEL - 8 - np.clip(values, 0, 1) * (PANEL - 22)
        return np.stack([x, y], 1).round().astype(np.int32)

    def _base(self, width: int) -> np.ndarray:
        panel = np.full((PANEL, width, 3), 28, np.uint8)
        ty = int(PANEL - 8 - np.clip(self.threshold, 0, 1) * (PANEL - 22))
        for x in range(8, width - 8, 8):
            cv2.line(panel, (x, ty), (x + 4, ty), AMBER, 1)
        return panel

    def _full_panels(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Dim and bright renderings of the whole curve (offline mode)."""
        dim, bright = self._base(width), self._base(width)
        total = len(self.scores)
        if self.labels is not None:
            gt = np.asarray(self.labels[:total]) > 0
            for p in (dim, bright):
                xs = self._xy(np.zeros(total), width, total)[:, 0]
                for x in xs[gt]:
                    p[PANEL - 6:PANEL - 2, max(0, x - 1):x + 2] = GREEN
        pts = self._xy(self.scores, width, total)
        cv2.polylines(dim, [pts], False, GREY, 1, cv2.LINE_AA)
        cv2.polylines(bright, [pts], False, (235, 235, 235), 2, cv2.LINE_AA)
        return dim, bright

    def _panel(self, width: int, index: int, score: float) -> np.ndarray:
        if self.scores is not None:
            if self._panels is None:
                self._panels = self._full_panels(width)
            dim, bright = self._panels
            x = int(self._xy(np.zeros(index + 1), width, len(self.scores))[-1, 0])
            panel = dim.copy()
            panel[:, :x + 1] = bright[:, :x + 1]
            cv2.line(panel, (x, 10), (x, PANEL - 6), (255, 255, 255), 1)
            return panel
        self.recent.append(score)
        panel = self._base(width)
        pts = self._xy(np.array(self.recent), width, self.recent.maxlen)
        cv2.polylines(panel, [pts], False, (235, 235, 235), 2, cv2.LINE_AA)
        return panel

    def write(self, frame: np.ndarray, index: int, score: float, alert: bool,
              what: str | None = None) -> None:
        """Draw one frame; ``what``: the alert's predicted class, written next to ALERT."""
        h, w = frame.shape[:2]
        if index == 0 or self.writer.frames == 0:
            self.scale = 2 if w < 480 else 1
        s = self.scale
        img = cv2.resize(frame, (w * s, h * s), interpolation=cv2.INTER_LINEAR) if s > 1 \
            else frame.copy()
        if self.heatmap is not None and score >= self.threshold * 0.8:
            img = self.heatmap.blend(img, index)
        for box in self.predicted.get(index, []):
            x1, y1, x2, y2 = (int(round(v * s)) for v in box[:4])
            cv2.rectangle(img, (x1, y1), (x2, y2), RED, 2)
            if len(box) > 4:
                cv2.putText(img, f"{box[4]:.2f}", (x1, min(img.shape[0] - 4, y2 + 12)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.4, RED, 1, cv2.LINE_AA)
        for box in self.boxes.get(index, []):
            x1, y1, x2, y2 = (int(round(v * s)) for v in box[:4])
            cv2.rectangle(img, (x1, y1), (x2, y2), GREEN, 2)
            cv2.putText(img, "ground truth", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4, GREEN, 1, cv2.LINE_AA)
        if alert:
            cv2.rectangle(img, (0, 0), (img.shape[1] - 1, img.shape[0] - 1), RED, 6)
            cv2.rectangle(img, (img.shape[1] - 92, 8), (img.shape[1] - 10, 32), RED, -1)
            cv2.putText(img, "ALERT", (img.shape[1] - 84, 27), cv2.FONT_HERSHEY_SIMPLEX, 0.65,
                        (255, 255, 255), 2, cv2.LINE_AA)
            if what:
                (tw, th), _ = cv2.getTextSize(what, cv2.FONT_HERSHEY_SIMPLEX, 0.55, 2)
                x = max(0, img.shape[1] - 10 - tw - 8)
                cv2.rectangle(img, (x, 36), (img.shape[1] - 10, 40 + th + 6), RED, -1)
                cv2.putText(img, what, (x + 4, 40 + th), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                            (255, 255, 255), 2, cv2.LINE_AA)
        panel = self._panel(img.shape[1], index, score)
        color = RED if score >= self.threshold else (235, 235, 235)
        cv2.putText(panel, f"t {index / self.fps:6.1f} s   score {score:.3f}   threshold "
                    f"{self.threshold:.3f}", (8, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, color, 1,
                    cv2.LINE_AA)
        self.writer.write(np.concatenate([img, panel], 0))

    def close(self) -> Path:
        return self.writer.close()

    def abort(self) -> None:
        self.writer.abort()
