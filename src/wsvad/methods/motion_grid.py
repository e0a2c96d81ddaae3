"""Motion on a spatial grid: the per-cell flow histograms of the ``motion_desc`` stream
(:mod:`wsvad.backbones.motion`: a ``g × g`` layout, per cell ``o`` magnitude-weighted orientation
bins and ``m`` magnitude-share bins) laid onto any other grid — a feature map's ``h × w`` or a
patch layout's rows × columns — so that methods that look inside the frame can see *where*
things move, not only what they look like.

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
    cells = motion_cells(motion_desc)
    lead, (g, _, c) = cells.shape[:-3], cells.shape[-3:]
    w = resampling(int(g), int(rows), int(cols)).to(cells.device)      # [rows·cols, g²]
    y = w @ cells.reshape(*lead, int(g) * int(g), c).float()
    return y.reshape(*lead, int(rows), int(cols), c)


@functools.lru_cache(maxsize=64)
def resampling(g: int, rows: int, cols: int) -> torch.Tensor:
    """``[rows·cols, g²]``: the weights of ``adaptive_avg_pool2d`` from a ``g × g`` grid to
    ``rows × cols``, as a matrix (a constant in an exported graph, where adaptive pooling to a
    size that is not a divisor cannot be expressed)."""
    eye = torch.eye(g * g).reshape(g * g, 1, g, g)
    return F.adaptive_avg_pool2d(eye, (rows, cols)).reshape(g * g, rows * cols).T.contiguous()
