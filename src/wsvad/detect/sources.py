"""Where detection reads frames from: a video file, a frame folder, a camera (``webcam:N``,
OpenCV) or a stream URL (``rtsp://…``, ``http://…``, ``udp://…``, anything FFmpeg opens, through
PyAV). Every source yields ``(frame RGB uint8 [H, W, 3], time s)``; live sources raise
:class:`StreamDropped` when they stop delivering, with the number of frames read so far.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wsvad.errors import DataError
from wsvad.video.decode import iter_frames, probe, resample


class StreamDropped(DataError):
    """A live source stopped (network drop, camera unplugged, truncated input)."""


@dataclass
class FrameSource:
    """An opened input. ``total_frames`` is None for live sources."""

    text: str
    name: str
    fps: float
    live: bool
    total_frames: int | None
    width: int = 0
    height: int = 0

    def frames(self, fps: float | None = None, realtime: bool = False
               ) -> Iterator[tuple[np.ndarray, float]]:
        """Frames resampled to ``fps`` (None: native); ``realtime`` paces a file at its frame
        rate, the way a camera would deliver it."""
        if self.text.startswith("webcam:"):
            raw = _webcam(int(self.text.split(":", 1)[1]))
        elif "://" in self.text:
            raw = _url(self.text)
        else:
            raw = iter_frames(self.text)
        raw = resample(raw, fps)
        return _paced(raw) if realtime else raw


def is_stream(text: str) -> bool:
    return text.startswith("webcam:") or "://" in text


def open_source(text: str | Path) -> FrameSource:
    """Probe an input (see the module docstring) and raise :class:`DataError` when it cannot be
    opened.

    Example:
        >>> open_source("webcam:notanumber")
        Traceback (most recent call last):
        ...
        wsvad.errors.DataError: 'webcam:notanumber': expected webcam:N with a camera index N
    """
    text = str(text)
    if text.startswith("webcam:"):
        index = text.split(":", 1)[1]
        if not index.isdigit():
            raise DataError(f"{text!r}: expected webcam:N with a camera index N")
        import cv2
        cap = cv2.VideoCapture(int(index))
        try:
            if not cap.isOpened():
                raise DataError(f"{text}: camera {index} cannot be opened (is it connected, and "
                                "is this process allowed to use it?)")
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        finally:
            cap.release()
        return FrameSource(text, f"webcam{index}", float(fps), True, None)
    if "://" in text:
        av = _av()
        try:
            with av.open(text, options=_url_options(text), timeout=10) as c:
                s = c.streams.video[0]
                fps = float(s.average_rate or s.guessed_rate or 25)
                w, h = s.codec_context.width, s.codec_context.height
        except Exception as exc:
            raise DataError(f"{text}: cannot open the stream ({exc}); check the URL, the "
                            "network and the camera's credentials") from exc
        name = text.split("://", 1)[1].strip("/").replace("/", "_").replace(":", "_")[:60]
        return FrameSource(text, name or "stream", fps, True, None, w, h)
    info = probe(text)
    return FrameSource(text, Path(text).stem, info.fps, False, info.frames, info.width,
                       info.height)


def _av():
    import av
    return av


def _url_options(url: str) -> dict[str, str]:
    return {"rtsp_transport": "tcp"} if url.startswith("rtsp") else {}


def _url(url: str) -> Iterator[tuple[np.ndarray, float]]:
    av = _av()
    n = 0
    try:
        with av.open(url, options=_url_options(url), timeout=10) as c:
            stream = c.streams.video[0]
            base = float(stream.time_base or 0)
            t0 = time.monotonic()
            for frame in c.decode(stream):
                t = frame.pts * base if frame.pts is not None and base else time.monotonic() - t0
                yield frame.to_ndarray(format="rgb24"), t
                n += 1
    except Exception as exc:
        raise StreamDropped(f"{url}: the stream stopped after {n} frames ({exc})") from exc
    if n == 0:
        raise StreamDropped(f"{url}: the stream delivered no frames")


def _webcam(index: int) -> Iterator[tuple[np.ndarray, float]]:
    import cv2
    cap = cv2.VideoCapture(index)
    n, t0 = 0, time.monotonic()
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                raise StreamDropped(f"webcam:{index}: the camera stopped after {n} frames")
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), time.monotonic() - t0
            n += 1
    finally:
        cap.release()


def _paced(raw: Iterator[tuple[np.ndarray, float]]) -> Iterator[tuple[np.ndarray, float]]:
    """Deliver each frame no earlier than its timestamp (wall clock from the first frame)."""
    start, first = None, None
    for frame, t in raw:
        if start is None:
            start, first = time.monotonic(), t
        wait = (t - first) - (time.monotonic() - start)
        if wait > 0:
            time.sleep(wait)
        yield frame, t
