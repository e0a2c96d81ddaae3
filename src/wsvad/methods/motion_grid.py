"""Motion on a spatial grid: per-cell flow histograms (:mod:`wsvad.backbones.motion`: per cell
``o`` magnitude-weighted orientation bins and ``m`` magnitude-share bins) laid onto any other grid
— a feature map's ``h × w`` or a patch layout's rows × columns — so that methods that look inside
the frame can see *where* things move, not only what they look like. Two sources
(:func:`flow_cells`): ``fine`` — the ``motion_grid`` stream, a 12 × 12 grid whose cells also
carry four magnitude percentiles (o + m + 4 values); ``coarse`` — the 4 × 4 cells inside the
``motion_desc`` descriptor (o + m values; what stores made before the fine grid have).

Resampling is area averaging (``adaptive_avg_pool2d``): an output cell is the mean of the
descriptor cells it overlaps, so a finer grid repeats a cell's values over the positions inside
it and a coarser one pools them.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from wsvad.errors import DataError

ORIENTATIONS, MAGNITUDES = 8, 4     # the default MotionConfig's bins


def motion_cells(motion_desc: torch.Tensor, orientations: int = ORIENTATIONS,
                 magnitudes: int = MAGNITUDES) -> torch.Tensor:
    """``motion_desc [..., g²·(o+m) + (o+m) + 4]`` → the per-cell histograms ``[..., g, g, o+m]``.

    Example:
        >>> d = torch.zeros(208); d[5 * 12 + 11] = 0.3      # cell 5 = row 1, col 1; last bin
        >>> c = motion_cells(d); c.shape, c[1, 1, 11].item() == d[71].item()
        (torch.Size([4, 4, 12]), True)
    """
    per, width = orientations + magnitudes, int(motion_desc.shape[-1])
    g = int(round(max(0.0, (width - per - 4) / per) ** 0.5))
    if g < 1 or g * g * per + per + 4 != width:
        raise DataError(f"motion_desc has {width} values per snippet, which is not a g×g grid of "
                        f"{per} flow bins plus {per + 4} summary values (208 for the default "
                        "4×4 grid); extract it with wsvad's motion backbone")
    return motion_desc[..., :g * g * per].reshape(*motion_desc.shape[:-1], g, g, per)


def motion_on_grid(motion_desc: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """``motion_desc [..., M]`` → the cells' histograms area-resampled to ``[..., rows, cols,
    o+m]``.

    Example:
        >>> d = torch.zeros(208); d[0] = 1.0                  # cell (0, 0), first bin
        >>> m = motion_on_grid(d, 7, 7)[..., 0]
        >>> m[0, 0].item(), m[0, 1].item(), m[1, 1].item(), m[2, 2].item()  # in, astride, out
        (1.0, 0.5, 0.25, 0.0)
        >>> motion_on_grid(d, 2, 2)[0, 0, 0].item()            # pooled: 1 of 4 cells
        0.25
    """
    return cells_on_grid(motion_cells(motion_desc), rows, cols)


def cells_on_grid(cells: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """``[..., g, g, c]`` cell values → area-resampled ``[..., rows, cols, c]``.

    Example:
        >>> c = torch.zeros(12, 12, 16); c[0:3, 0:3, 15] = 1.0      # the top-left 3×3 cells
        >>> y = cells_on_grid(c, 4, 7)[..., 15]
        >>> round(y[0, 0].item(), 3), round(y[0, 1].item(), 3), y[1, 0].item()
        (1.0, 0.667, 0.0)
    """
    lead, (g, g2, c) = cells.shape[:-3], cells.shape[-3:]
    if g != g2:
        raise DataError(f"motion cells must be a square grid, got {g}×{g2}")
    w = resampling(int(g), int(rows), int(cols)).to(cells.device)      # [rows·cols, g²]
    y = w @ cells.reshape(*lead, int(g) * int(g), c).float()
    return y.reshape(*lead, int(rows), int(cols), c)


SOURCES = ("fine", "coarse")
# a fine cell's 99th magnitude percentile (its percentiles: 50, 90, 99, 99.9)
FINE_P99 = ORIENTATIONS + MAGNITUDES + 2
STREAM = {"fine": "motion_grid", "coarse": "motion_desc"}


def cell_width(source: str) -> int:
    """Values per cell of a source: o + m + 4 (fine), o + m (coarse)."""
    return ORIENTATIONS + MAGNITUDES + 4 * (source == "fine")


def flow_cells(batch, rows: int, cols: int, source: str = "fine") -> torch.Tensor:
    """The flow cells of a batch on a ``rows × cols`` grid: ``[B, T, rows, cols, c]`` from the
    ``motion_grid`` stream (``fine``) or the ``motion_desc`` cells (``coarse``).

    Example:
        >>> from wsvad.data.batch import Batch
        >>> b = Batch(features=None, label=torch.zeros(1), motion_grid=torch.ones(1, 2, 12, 12, 16))
        >>> flow_cells(b, 7, 7).shape
        torch.Size([1, 2, 7, 7, 16])
    """
    if source == "coarse":
        return motion_on_grid(batch.motion_desc.float(), rows, cols)
    grid = batch.motion_grid
    if grid is None:
        raise DataError("the flow cells need the motion_grid stream; extract with --patches, "
                        "--maps or --motion-grid, or set motion_cells=coarse")
    if grid.shape[-1] != cell_width("fine"):
        raise DataError(f"motion_grid has {grid.shape[-1]} values per cell, expected "
                        f"{cell_width('fine')} (8 orientation bins, 4 magnitude shares, 4 "
                        "percentiles); extract it with wsvad's motion backbone")
    return cells_on_grid(grid.float(), rows, cols)


@functools.lru_cache(maxsize=64)
def resampling(g: int, rows: int, cols: int) -> torch.Tensor:
    """``[rows·cols, g²]``: the weights of ``adaptive_avg_pool2d`` from a ``g × g`` grid to
    ``rows × cols``, as a matrix (a constant in an exported graph, where adaptive pooling to a
    size that is not a divisor cannot be expressed)."""
    eye = torch.eye(g * g).reshape(g * g, 1, g, g)
    return F.adaptive_avg_pool2d(eye, (rows, cols)).reshape(g * g, rows * cols).T.contiguous()
