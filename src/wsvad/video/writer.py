"""Writing mp4 video (H.264 through PyAV), atomically: frames go to a hidden ``.part`` file that
is renamed onto the target only when :meth:`VideoWriter.close` succeeds, so an interrupted job
never leaves a video that looks complete.

Reproducible encoding. x264's hand-written SIMD code does not always give the same bitstream for
the same frames: measured with the PyAV wheel's x264 on an AVX-512 machine, the plaza scenes
written twice in one process differed in 6 of 14 videos (decoded pixels up to 64 grey levels
apart) although every input frame was identical, also with one encoder thread; restricted to
AVX2 or to x264's plain C code the files were identical in every run, and the C code is also the
same on every CPU (the SIMD variants differ from it and from each other). ``reproducible=True``
therefore encodes with the C code (``x264-params no-asm=1``): same frames → same file, on any
machine with the same library, at about 5× the encoding time (320×240: 1.25 s against 0.26 s
for 200 frames). The generated datasets use it, so their features and every number measured on
them repeat; overlays of ``detect`` keep the fast path.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from wsvad.errors import DataError


class VideoWriter:
    """Append RGB ``uint8 [H, W, 3]`` frames; ``close()`` finishes and renames, ``abort()``
    removes the partial file. Odd sizes are padded to even (H.264 needs even dimensions).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.mp4"
        >>> with VideoWriter(p, fps=10) as w:
        ...     for i in range(5):
        ...         w.write(np.full((24, 32, 3), 40 * i, np.uint8))
        >>> p.is_file(), w.frames
        (True, 5)
    """

    def __init__(self, path: str | Path, fps: float, crf: int = 23, preset: str = "veryfast",
                 reproducible: bool = False):
        import av
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.part")
        self.fps = fps
        self._container = av.open(str(self.tmp), mode="w", format="mp4")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.pix_fmt = "yuv420p"
        options = {"crf": str(crf), "preset": preset}
        if reproducible:
            options["x264-params"] = "no-asm=1"   # x264's C code: see the module docstring
        self._stream.options = options
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        import av
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise DataError(f"{self.path}: frames must be uint8 [H, W, 3], got "
                            f"{frame.dtype} {frame.shape}")
        h, w = frame.shape[:2]
        if self._size is None:
            self._size = (h + h % 2, w + w % 2)
            self._stream.height, self._stream.width = self._size
        if (h, w) != self._size:
            pad = np.zeros((*self._size, 3), np.uint8)
            pad[:min(h, self._size[0]), :min(w, self._size[1])] = \
                frame[:self._size[0], :self._size[1]]
            frame = pad
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        """Flush, close and rename onto the target; an empty video is an error."""
        if self.frames == 0:
            self.abort()
            raise DataError(f"{self.path}: no frames were written")
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - the partial file is removed either way
            pass
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
