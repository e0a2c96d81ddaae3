"""Alerts from a score signal: a threshold with hysteresis and a minimum duration.

An event opens when the score reaches ``high`` and closes at the first frame whose score falls
below ``low`` (``low = high · (1 − hysteresis)``), so a score that wavers around the threshold
gives one alert, not many. Events shorter than ``min_seconds`` are dropped. The same
:class:`EventTracker` runs offline (a whole score array) and online (frame by frame, events
emitted as they close).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Event:
    """One alert. Frames are 0-based, ``end_frame`` exclusive; times in seconds."""

    start_frame: int
    end_frame: int
    peak_frame: int
    peak_score: float
    fps: float

    @property
    def start(self) -> float:
        return self.start_frame / self.fps

    @property
    def end(self) -> float:
        return self.end_frame / self.fps

    @property
    def peak_time(self) -> float:
        return self.peak_frame / self.fps

    def to_dict(self) -> dict:
        return {**asdict(self), "start": round(self.start, 3), "end": round(self.end, 3),
                "peak_time": round(self.peak_time, 3), "duration": round(self.end - self.start, 3)}


@dataclass
class Hysteresis:
    """Thresholds of the event rule (see the module docstring)."""

    high: float
    hysteresis: float = 0.2
    min_seconds: float = 0.5

    @property
    def low(self) -> float:
        return self.high * (1.0 - self.hysteresis)


class EventTracker:
    """Feed ``(frame, score)`` in order; :meth:`update` returns the events that closed.

    Example:
        >>> t = EventTracker(Hysteresis(0.5, 0.2, min_seconds=0.2), fps=10)
        >>> closed = [e for i, s in enumerate([0, .6, .45, .7, .3, 0]) for e in t.update(i, s)]
        >>> [(e.start_frame, e.end_frame, e.peak_frame) for e in closed]
        [(1, 4, 3)]
    """

    def __init__(self, rule: Hysteresis, fps: float):
        self.rule, self.fps = rule, fps
        self._open: list | None = None   # [start, peak_frame, peak_score]
        self._last = -1

    @property
    def active(self) -> bool:
        """An alert is open now."""
        return self._open is not None

    def update(self, frame: int, score: float) -> list[Event]:
        self._last = frame
        if self._open is None:
            if score >= self.rule.high:
                self._open = [frame, frame, float(score)]
            return []
        if score < self.rule.low:
            return self._close(frame)
        if score > self._open[2]:
            self._open[1:] = [frame, float(score)]
        return []

    def finish(self) -> list[Event]:
        """Close an event still open at the end of the video or stream."""
        return self._close(self._last + 1) if self._open is not None else []

    def _close(self, end: int) -> list[Event]:
        start, peak, score = self._open
        self._open = None
        if (end - start) / self.fps < self.rule.min_seconds:
            return []
        return [Event(start, end, peak, round(score, 6), self.fps)]


def find_events(scores: Iterable[float], fps: float, rule: Hysteresis) -> list[Event]:
    """All events of a whole score array (frame scores).

    Example:
        >>> [e.to_dict()["duration"] for e in find_events([0, 1, 1, 1, 0], 2, Hysteresis(0.5))]
        [1.5]
    """
    tracker = EventTracker(rule, fps)
    out = [e for i, s in enumerate(np.asarray(list(scores), float)) for e in tracker.update(i, s)]
    return out + tracker.finish()
