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

``fine_grid`` (:meth:`MotionEncoder.encode_snippet` with ``fine=True``; the ``motion_grid``
stream): the same 12 bins on a finer ``G × G`` layout (default 12 × 12), plus each cell's 50th,
90th, 99th and 99.9th percentiles of the flow magnitude (÷ 4, the summary's unit) — 16 values
per cell, averaged over the frame pairs. The methods that look inside the frame (SSRL's
patches, GIG's map positions) lay it onto their own grids: a 4 × 4 grid cannot say which of a
4 × 7 layout's tiles a cyclist is in (Ped2's six abnormal test videos of the weak split; the
largest-motion tile of SSRL's three scales as a training-free heat map: pointing 0.34 from the
4 × 4 cells' mean flow, 0.53 from the 12 × 12 cells' mean flow, 0.61 from their 99th
percentiles; the exact tiles' 99th percentile 0.67, of a 0.83 ceiling).

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

PERCENTILES = (50, 90, 99, 99.9)     # of the flow magnitude: the summary's, and each fine cell's


@dataclass
class MotionConfig:
    size: int = 160
    grid: int = 4
    orientations: int = 8
    magnitudes: int = 4
    # MEDIUM, not ULTRAFAST: on 160-px frames ULTRAFAST misses small fast objects (a cyclist's
    # flow measured 0.5 px/frame against 3.4 with MEDIUM, background 0.3 in both) at 1.7 ms a pair
    preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
    fine_grid: int = 12             # the motion_grid stream's G (not part of the features)

    @property
    def tag(self) -> str:
        """Identifies the settings in the feature contract (features differ between them)."""
        return f"dis{self.preset}-{self.size}px-g{self.grid}o{self.orientations}m" \
            f"{self.magnitudes}+max+nodup"

    @property
    def dim(self) -> int:
        per_cell = self.orientations + self.magnitudes
        return self.grid * self.grid * per_cell + per_cell + 4

    @property
    def cell_dim(self) -> int:
        """Values per cell of the fine grid: the bins and four magnitude percentiles."""
        return self.orientations + self.magnitudes + len(PERCENTILES)

    @property
    def grid_tag(self) -> str:
        """Identifies the ``motion_grid`` stream's layout in the contract."""
        return f"g{self.fine_grid}o{self.orientations}m{self.magnitudes}q4"


@dataclass
class MotionSnippet:
    """One snippet's motion: ``intensity`` (mean magnitude), ``descriptor [dim]`` and, when
    asked for, ``grid [G, G, o + m + 4]`` (the fine cells)."""

    intensity: float
    descriptor: np.ndarray
    grid: np.ndarray | None = None


def cell_layout(h: int, w: int, g: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of an ``h × w`` image grouped into a ``g × g`` grid of cells: ``(cell index per
    pixel [h·w], order [h·w])``, ``order`` listing the pixels cell by cell (stable)."""
    ys = np.minimum(np.arange(h) * g // h, g - 1)
    xs = np.minimum(np.arange(w) * g // w, g - 1)
    cell = (ys[:, None] * g + xs[None, :]).ravel()
    return cell, np.argsort(cell, kind="stable")


def cell_percentile(values: np.ndarray, cell: np.ndarray, order: np.ndarray, cells: int,
                    qs: tuple[float, ...]) -> np.ndarray:
    """The ``qs`` percentiles (``np.percentile``'s linear rule) of ``values`` within each cell,
    vectorised: ``[cells, len(qs)]``.

    Example:
        >>> v = np.array([[0., 1., 10.], [2., 3., 20.]])
        >>> cell, order = cell_layout(2, 3, 2)
        >>> cell_percentile(v, cell, order, 4, (50, 100)).tolist()  # cells {0, 1}, {10}, …
        [[0.5, 1.0], [10.0, 10.0], [2.5, 3.0], [20.0, 20.0]]
    """
    counts = np.bincount(cell, minlength=cells)
    width = int(counts.max())
    slots = np.full((cells, width), -np.inf, np.float64)
    flat = values.ravel()[order]
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranks = np.arange(len(flat)) - np.repeat(start, counts)
    slots[np.repeat(np.arange(cells), counts), width - np.repeat(counts, counts) + ranks] = flat
    slots.sort(axis=1)
    q = np.asarray(qs, np.float64)[None] / 100.0
    pos = (width - counts)[:, None] + q * np.maximum(counts - 1, 0)[:, None]
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, width - 1)
    rows = np.arange(cells)[:, None]
    frac = pos - lo
    out = slots[rows, lo] * (1 - frac) + np.where(frac > 0, slots[rows, hi], 0.0) * frac
    return np.where(counts[:, None] > 0, out, 0.0)


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
        self._layouts: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}

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
        m = self.encode_snippet(clip, pixel_scale)
        return m.intensity, m.descriptor

    def encode_snippet(self, clip: np.ndarray, pixel_scale: float = 1.0,
                       fine: bool = False) -> MotionSnippet:
        """As :meth:`encode`, and with ``fine`` the cells of the fine grid ``[G, G, o + m + 4]``.

        Example:
            >>> m = MotionEncoder().encode_snippet(np.zeros((16, 240, 360, 3), np.uint8), fine=True)
            >>> m.grid.shape, float(m.grid.sum())
            ((12, 12, 16), 0.0)
        """
        cfg = self.cfg
        mags, descs, grids = [], [], []
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
                if fine:
                    grids.append(self._fine_cells(mag, ang))
            self.prev = g
        shape = (cfg.fine_grid, cfg.fine_grid, cfg.cell_dim)
        if not descs:
            return MotionSnippet(0.0, np.zeros(cfg.dim, np.float32),
                                 np.zeros(shape, np.float32) if fine else None)
        return MotionSnippet(float(np.mean(mags)), np.mean(descs, axis=0).astype(np.float32),
                             np.mean(grids, axis=0).astype(np.float32) if fine else None)

    def _layout(self, shape: tuple[int, ...], g: int) -> tuple[np.ndarray, np.ndarray]:
        key = (int(shape[0]), int(shape[1]), g)
        if key not in self._layouts:
            self._layouts[key] = cell_layout(*key)
        return self._layouts[key]

    def _bins(self, mag: np.ndarray, ang: np.ndarray, cell: np.ndarray, cells: int) -> np.ndarray:
        """``[cells, o + m]``: per cell, magnitude-weighted orientation bins and magnitude
        shares, as shares of the cell's pixels."""
        cfg = self.cfg
        o_bin = np.minimum((ang / (2 * np.pi) * cfg.orientations).astype(int),
                           cfg.orientations - 1)
        m_bin = np.searchsorted(self.edges, mag)
        counts = np.bincount(cell, minlength=cells).astype(np.float32)
        orient = np.bincount(cell * cfg.orientations + o_bin.ravel(), weights=mag.ravel(),
                             minlength=cells * cfg.orientations).reshape(cells, -1)
        magh = np.bincount(cell * cfg.magnitudes + m_bin.ravel(),
                           minlength=cells * cfg.magnitudes).reshape(cells, -1)
        return np.concatenate([orient, magh], axis=1) / np.maximum(counts, 1)[:, None]

    def _fine_cells(self, mag: np.ndarray, ang: np.ndarray) -> np.ndarray:
        """``[G, G, o + m + 4]``: the bins of each fine cell and its magnitude percentiles
        (:data:`PERCENTILES`) ÷ 4."""
        g = self.cfg.fine_grid
        cell, order = self._layout(mag.shape, g)
        bins = self._bins(mag, ang, cell, g * g)
        q = cell_percentile(mag, cell, order, g * g, PERCENTILES) / 4.0
        return np.concatenate([bins, q], axis=1).reshape(g, g, -1)

    def _descriptor(self, mag: np.ndarray, ang: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        cell = self._layout(mag.shape, cfg.grid)[0]
        out = self._bins(mag, ang, cell, cfg.grid * cfg.grid)                    # [cells, bins]
        q = np.percentile(mag, PERCENTILES).astype(np.float32) / 4.0
        return np.concatenate([out.ravel(), out.max(0), q])
