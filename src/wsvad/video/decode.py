"""Decoding: video files through PyAV, folders of images through OpenCV. Frames are streamed
(one at a time), so memory stays bounded whatever the video length.

Every frame comes out as RGB ``uint8 [H, W, 3]`` (grey videos are expanded to three channels)
with its timestamp in seconds. With ``fps`` set, frames are resampled to that rate by
timestamp (a frame is kept when it is the first at or after each tick of the target clock), so
variable-frame-rate input gives evenly spaced output.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wsvad.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv")


@dataclass
class VideoInfo:
    """What the container says before decoding (``frames`` may be an estimate for streams)."""

    path: str
    fps: float
    frames: int
    width: int
    height: int


def _image_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def probe(path: str | Path, folder_fps: float = 25.0) -> VideoInfo:
    """Frame rate, frame count and size without decoding the whole video."""
    path = Path(path)
    if path.is_dir():
        files = _image_files(path)
        first = _read_image(files[0])
        return VideoInfo(str(path), folder_fps, len(files), first.shape[1], first.shape[0])
    av = _av()
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise DataError(f"{path}: no video stream")
            s = c.streams.video[0]
            fps = float(s.average_rate or s.guessed_rate or 0) or folder_fps
            frames = expected_frames(c, s)[0]
            return VideoInfo(str(path), fps, frames, s.codec_context.width,
                             s.codec_context.height)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot open as a video ({exc}); is the file complete?") from exc


def _av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a dependency
        raise DataError("PyAV is needed to decode video: pip install av") from exc
    return av


def _read_image(path: Path) -> np.ndarray:
    import cv2
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"{path}: unreadable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def iter_frames(path: str | Path, fps: float | None = None,
                folder_fps: float = 25.0) -> Iterator[tuple[np.ndarray, float]]:
    """Yield ``(frame [H, W, 3] uint8 RGB, timestamp s)``; see the module docstring.

    Example:
        >>> for frame, t in iter_frames("clip.mp4", fps=10):   # doctest: +SKIP
        ...     pass
    """
    path = Path(path)
    raw = _iter_folder(path, folder_fps) if path.is_dir() else _iter_container(path)
    yield from resample(raw, fps)


def resample(raw: Iterator[tuple[np.ndarray, float]], fps: float | None
             ) -> Iterator[tuple[np.ndarray, float]]:
    """Keep the first frame at or after each tick of a ``fps`` clock (all frames if None).

    Example:
        >>> ts = [t for _, t in resample(((None, i / 30) for i in range(30)), 10)]
        >>> len(ts), round(ts[1], 3)
        (10, 0.1)
    """
    if fps is None:
        yield from raw
        return
    step, start, tick = 1.0 / fps, None, 0
    for frame, t in raw:
        if start is None:
            start = t
        if t - start + 1e-6 >= tick * step:  # first frame at or after clock tick `tick`
            yield frame, t
            tick = int(np.floor((t - start) / step + 1e-6)) + 1


def _iter_folder(folder: Path, fps: float) -> Iterator[tuple[np.ndarray, float]]:
    for i, f in enumerate(_image_files(folder)):
        yield _read_image(f), i / fps


def expected_frames(container, stream) -> tuple[int, bool]:
    """Frames the container announces: ``(count, exact)``; exact when the index lists every
    frame (MP4/MOV), an estimate from the duration otherwise, 0 when unknown."""
    if stream.frames:
        return int(stream.frames), True
    rate = float(stream.average_rate or stream.guessed_rate or 0)
    if container.duration and rate:
        return int(round(float(container.duration) / 1e6 * rate)), False
    return 0, False


def check_complete(path: Path | str, decoded: int, last_time: float, expected: int,
                   exact: bool, duration: float | None) -> None:
    """Raise :class:`DataError` when the decoded video is shorter than its container says.

    Threaded decoding stops quietly at a truncated file's end instead of raising, so this is the
    check. With an exact index (MP4/MOV) the frame count may fall short by ``max(2, 1 %)``
    (edit lists, a dropped last B-frame); otherwise (no index: MKV, AVI, variable frame rate)
    the last decoded timestamp must reach the container's duration within ``max(0.5 s, 5 %)``.

    Example:
        >>> check_complete("v.mp4", 98, 3.9, 100, True, 4.0)
        >>> check_complete("v.mp4", 27, 1.0, 100, True, 4.0)
        Traceback (most recent call last):
        ...
        wsvad.errors.DataError: v.mp4: truncated or corrupt — decoded 27 of the 100 frames ...
    """
    if exact:
        if decoded < expected - max(2, int(0.01 * expected)):
            raise DataError(f"{path}: truncated or corrupt — decoded {decoded} of the {expected} "
                            "frames its container announces; re-encode or re-download the file")
    elif duration and last_time < duration - max(0.5, 0.05 * duration):
        raise DataError(f"{path}: truncated or corrupt — decoding stopped at {last_time:.2f} s "
                        f"of the {duration:.2f} s its container announces; re-encode or "
                        "re-download the file")


def _iter_container(path: Path) -> Iterator[tuple[np.ndarray, float]]:
    if not path.is_file():
        raise DataError(f"video not found: {path}")
    av = _av()
    n = 0
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise DataError(f"{path}: no video stream")
            stream = c.streams.video[0]
            expected, exact = expected_frames(c, stream)
            duration = float(c.duration) / 1e6 if c.duration else None
            t = 0.0
            stream.thread_type = "AUTO"
            base = float(stream.time_base) if stream.time_base else 0.0
            rate = float(stream.average_rate or 25)
            for frame in c.decode(stream):
                t = frame.pts * base if frame.pts is not None and base else n / rate
                yield frame.to_ndarray(format="rgb24"), t
                n += 1
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: decoding failed after {n} frames ({exc}); the file is "
                        "corrupt or truncated") from exc
    if n == 0:
        raise DataError(f"{path}: the video has no decodable frames")
    check_complete(path, n, t, expected, exact, duration)
