"""Motion from OpenCV's DIS optical flow (Kroeger et al. 2016), computed between consecutive
frames on a grey copy whose short side is ``size`` pixels.

Per snippet: ``intensity`` = mean flow magnitude (pixels per frame at that scale) over the
snippet's frame pairs, and a ``descriptor`` = for each cell of a ``grid × grid`` layout, a
magnitude-weighted histogram of flow orientation (``orientations`` bins) and a histogram of flow
magnitude (``magnitudes`` bins, edges 0.5, 1, 2, … px), each as a share of the cell's pixels,
then a location-free summary — the largest value of each of those bins over the cells, and the
50th, 90th, 99th and 99.9th percentiles of the flow magnitude (px/frame ÷ 4) — so that one small
fast object counts wherever it is; all averaged over the frame pairs. 4×4×12 + 12 + 4 = 208
dimensions (divisible by 4, as RTFM's relation network needs).

A frame identical to the one before it gives no flow measurement and is skipped: the last,
partial snippet of a video is padded by repeating its last frame (:mod:`wsvad.video.snippets`),
and averaging those zero-flow pairs in diluted the snippet's motion — to 4/16 of it for a 4-frame
remainder, so the end of every video whose length is not a multiple of 16 looked still (Ped2:
the last snippet's 99.9th flow percentile 0.06–0.09 against 0.15–0.35 for its neighbours).
Duplicated frames inside a video (frame-rate conversion) are skipped for the same reason. A
snippet with no distinct pair at all keeps intensity 0 and a zero descriptor.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class MotionConfig:
    size: int = 160
    grid: int = 4
    orientations: int = 8
    magnitudes: int = 4
    # MEDIUM, not ULTRAFAST: on 160-px frames ULTRAFAST misses small fast objects (a cyclist's
    # flow measured 0.5 px/frame against 3.4 with MEDIUM, background 0.3 in both) at 1.7 ms a pair
    preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM

    @property
    def tag(self) -> str:
        """Identifies the settings in the feature contract (features differ between them)."""
        return f"dis{self.preset}-{self.size}px-g{self.grid}o{self.orientations}m" \
            f"{self.magnitudes}+max+nodup"

    @property
    def dim(self) -> int:
        per_cell = self.orientations + self.magnitudes
        return self.grid * self.grid * per_cell + per_cell + 4


class MotionEncoder:
    """Stateful over a video: remembers the previous frame so snippets chain seamlessly.

    Example:
        >>> enc = MotionEncoder()
        >>> clip = np.zeros((16, 240, 360, 3), np.uint8)
        >>> intensity, desc = enc.encode(clip)
        >>> float(intensity), desc.shape
        (0.0, (208,))
    """

    def __init__(self, cfg: MotionConfig | None = None):
        self.cfg = cfg or MotionConfig()
        self.flow = cv2.DISOpticalFlow_create(self.cfg.preset)
        self.prev: np.ndarray | None = None
        edges = [0.5 * 2 ** i for i in range(self.cfg.magnitudes - 1)]
        self.edges = np.array(edges, np.float32)

    def reset(self) -> None:
        self.prev = None

    def _grey(self, frame: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        h, w = g.shape
        s = self.cfg.size / min(h, w)
        return cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))),
                          interpolation=cv2.INTER_AREA)

    def encode(self, clip: np.ndarray, pixel_scale: float = 1.0) -> tuple[float, np.ndarray]:
        """``clip [L, H, W, 3]`` → ``(intensity, descriptor [dim])``. ``pixel_scale`` converts
        the flow measured at short side ``size`` into other units before it is described (the
        magnitude bins' edges stay in those units); 1 keeps the pixels at ``size``."""
        cfg = self.cfg
        mags, descs = [], []
        for frame in clip:
            g = self._grey(frame)
            if self.prev is not None and self.prev.shape == g.shape \
                    and not np.array_equal(self.prev, g):
                f = self.flow.calc(self.prev, g, None)
                mag, ang = cv2.cartToPolar(f[..., 0], f[..., 1])
                if pixel_scale != 1.0:
                    mag *= pixel_scale
                mags.append(float(mag.mean()))
                descs.append(self._descriptor(mag, ang))
            self.prev = g
        if not descs:
            return 0.0, np.zeros(cfg.dim, np.float32)
        return float(np.mean(mags)), np.mean(descs, axis=0).astype(np.float32)

    def _descriptor(self, mag: np.ndarray, ang: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        h, w = mag.shape
        o_bin = np.minimum((ang / (2 * np.pi) * cfg.orientations).astype(int),
                           cfg.orientations - 1)
        m_bin = np.searchsorted(self.edges, mag)
        ys = np.minimum(np.arange(h) * cfg.grid // h, cfg.grid - 1)
        xs = np.minimum(np.arange(w) * cfg.grid // w, cfg.grid - 1)
        cell = (ys[:, None] * cfg.grid + xs[None, :]).ravel()
        cells = cfg.grid * cfg.grid
        counts = np.bincount(cell, minlength=cells).astype(np.float32)
        orient = np.bincount(cell * cfg.orientations + o_bin.ravel(), weights=mag.ravel(),
                             minlength=cells * cfg.orientations).reshape(cells, -1)
        magh = np.bincount(cell * cfg.magnitudes + m_bin.ravel(),
                           minlength=cells * cfg.magnitudes).reshape(cells, -1)
        out = np.concatenate([orient, magh], axis=1) / counts[:, None]          # [cells, bins]
        q = np.percentile(mag, (50, 90, 99, 99.9)).astype(np.float32) / 4.0
        return np.concatenate([out.ravel(), out.max(0), q])
