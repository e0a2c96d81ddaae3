"""The typed batch every method consumes, and the one function that builds it.

Streams of a video are arrays with time first (``features [T, C, D]``, ``motion [T]``,
``motion_desc [T, M]``, ``motion_grid [T, G, G, K]``, ``context [T, K]``,
``patches_RxC [T, P, D]``, ``maps [T, h, w, D]``) plus
the row streams (``boxes [N, 6]``, ``tubes [N, 8]``, ``tube_regions [N, 2 + D]``, one array per
video). :func:`collate` stacks one or several videos' streams into a
:class:`Batch` — training bags, validation, test scoring, ``wsvad score``, the Python API and
``detect`` all go through it, so a stream a method needs reaches it on every path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from wsvad.contract import ROW_STREAMS
from wsvad.errors import DataError

# time-first streams → batch fields; "patches_RxC" streams go to Batch.patches["RxC"]
TEMPORAL = ("features", "motion", "motion_desc", "motion_grid", "static_desc", "static_grid",
            "context", "maps", "maps_trunk")


@dataclass
class Batch:
    """A batch of B videos (bags) of T snippets.

    Attributes:
        features: ``[B, C, T, D]`` snippet features (C crops), or None.
        label: ``[B]`` float, 1 = abnormal video (0 where unknown, e.g. at test time).
        mask: ``[B, T]`` bool, False where a snippet is padding (None = all real).
        classes: ``[B, K]`` multi-hot anomaly classes, when known.
        motion: ``[B, T]`` motion intensity (mean optical-flow magnitude).
        motion_desc: ``[B, T, M]`` motion descriptor.
        motion_grid: ``[B, T, G, G, K]`` flow bins of each cell of a fine grid.
        static_desc: ``[B, T, S]`` static-foreground descriptor (what has newly come to rest).
        static_grid: ``[B, T, G, G]`` static share of each cell of a fine grid.
        context: ``[B, T, K]`` class scores of the scene (context pseudo-labels).
        patches: ``{"RxC": [B, T, P, D]}`` features of each tile of an R×C grid, row-major.
        maps: ``[B, T, h, w, D]`` spatial feature maps.
        maps_trunk: ``[B, T, h, w, D']`` the backbone's activations before its last block.
        boxes: per video, ``[N, 6]`` rows ``(frame, x1, y1, x2, y2, score)`` in frame pixels.
        tubes: per video, ``[N, 8]`` rows ``(tube, frame, snippet, x1, y1, x2, y2, score)``
            (snippet = segment index in resampled training bags).
        tube_regions: per video, ``[N, 2 + D]`` rows ``(tube, snippet, features of the tube's
            crop)``.
        names: video names, when known.
    """

    features: torch.Tensor | None
    label: torch.Tensor
    mask: torch.Tensor | None = None
    classes: torch.Tensor | None = None
    motion: torch.Tensor | None = None
    motion_desc: torch.Tensor | None = None
    motion_grid: torch.Tensor | None = None
    static_desc: torch.Tensor | None = None
    static_grid: torch.Tensor | None = None
    context: torch.Tensor | None = None
    patches: dict[str, torch.Tensor] | None = None
    maps: torch.Tensor | None = None
    maps_trunk: torch.Tensor | None = None
    boxes: list[np.ndarray] | None = None
    tubes: list[np.ndarray] | None = None
    tube_regions: list[np.ndarray] | None = None
    names: list[str] | None = field(default=None, repr=False)

    def require(self, *streams: str, method: str = "") -> None:
        """Fail clearly if a stream a method needs is absent."""
        for s in streams:
            have = (self.patches or {}) if s == "patches" else getattr(self, s, None)
            if have is None or (s == "patches" and not have):
                raise DataError(f"method {method!r} needs stream '{s}', which this batch lacks; "
                                "the dataset must provide it (see `wsvad extract --help`)")

    def to(self, device: torch.device | str) -> Batch:
        """The batch with every tensor on ``device`` (row streams stay NumPy)."""
        def move(x):
            return None if x is None else x.to(device)
        if torch.device(device) == self.label.device:
            return self
        return dataclasses.replace(
            self, features=move(self.features), label=move(self.label), mask=move(self.mask),
            classes=move(self.classes), motion=move(self.motion),
            motion_desc=move(self.motion_desc), motion_grid=move(self.motion_grid),
            static_desc=move(self.static_desc), static_grid=move(self.static_grid),
            context=move(self.context),
            patches=None if self.patches is None else {k: move(v) for k, v in
                                                       self.patches.items()},
            maps=move(self.maps), maps_trunk=move(self.maps_trunk))

    def select(self, rows: torch.Tensor | Sequence[int]) -> Batch:
        """The sub-batch of some videos (every field, same order)."""
        idx = torch.as_tensor(rows)
        if idx.dtype == torch.bool:
            idx = idx.nonzero().flatten()

        def pick(x):
            return None if x is None else x[idx]

        def rows(x):
            return None if x is None else [x[i] for i in idx.tolist()]
        return Batch(
            features=pick(self.features), label=self.label[idx], mask=pick(self.mask),
            classes=pick(self.classes), motion=pick(self.motion),
            motion_desc=pick(self.motion_desc), motion_grid=pick(self.motion_grid),
            static_desc=pick(self.static_desc), static_grid=pick(self.static_grid),
            context=pick(self.context),
            patches=None if self.patches is None else {k: v[idx] for k, v in
                                                       self.patches.items()},
            maps=pick(self.maps), maps_trunk=pick(self.maps_trunk),
            boxes=rows(self.boxes), tubes=rows(self.tubes),
            tube_regions=rows(self.tube_regions),
            names=None if self.names is None else [self.names[i] for i in idx.tolist()])


def _stack(arrays: list[np.ndarray], length: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Stack time-first arrays, padding shorter ones (with their last entry) to ``length``."""
    if all(len(a) == length for a in arrays):
        return np.stack(arrays), None
    mask = np.zeros((len(arrays), length), bool)
    out = []
    for i, a in enumerate(arrays):
        mask[i, :len(a)] = True
        pad = np.repeat(a[-1:], length - len(a), axis=0)
        out.append(np.concatenate([a, pad]) if len(pad) else a)
    return np.stack(out), mask


def _tensor(a: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = a if torch.is_tensor(a) else torch.from_numpy(np.ascontiguousarray(a))
    return t.float() if t.dtype != torch.float32 else t


def collate(videos: Sequence[Mapping[str, np.ndarray]], labels: Sequence[float] | None = None,
            names: Sequence[str] | None = None,
            classes: np.ndarray | None = None) -> Batch:
    """Streams of B videos (each ``{stream: time-first array}``, the same streams in each) →
    one :class:`Batch`. Videos of different lengths are padded and masked.

    Example:
        >>> v = {"features": np.zeros((5, 2, 8)), "motion": np.ones(5)}
        >>> b = collate([v, v], [0, 1])
        >>> tuple(b.features.shape), tuple(b.motion.shape), b.label.tolist()
        ((2, 2, 5, 8), (2, 5), [0.0, 1.0])
    """
    if not videos:
        raise DataError("collate: no videos")
    keys = set(videos[0])
    for v in videos[1:]:
        if set(v) != keys:
            raise DataError(f"collate: videos carry different streams {sorted(keys)} vs "
                            f"{sorted(v)}")
    temporal = [k for k in keys if k not in ROW_STREAMS]
    length = max(len(v[k]) for v in videos for k in temporal) if temporal else 0
    out: dict = {"patches": {}}
    mask = None
    for k in temporal:
        arr, m = _stack([np.asarray(v[k]) for v in videos], length)
        mask = m if m is not None else mask
        t = _tensor(arr)
        if k == "features":
            if t.ndim == 3:                       # [B, T, D] → one crop
                t = t[:, :, None]
            t = t.permute(0, 2, 1, 3)             # [B, C, T, D]
        if k.startswith("patches_"):
            out["patches"][k.removeprefix("patches_")] = t
        elif k in TEMPORAL:
            out[k] = t
        else:
            raise DataError(f"collate: unknown stream '{k}'")
    label = torch.zeros(len(videos)) if labels is None else \
        torch.as_tensor(np.asarray(labels, np.float32))
    return Batch(features=out.get("features"), label=label,
                 mask=None if mask is None else torch.from_numpy(mask),
                 classes=None if classes is None else _tensor(classes),
                 motion=out.get("motion"), motion_desc=out.get("motion_desc"),
                 motion_grid=out.get("motion_grid"), static_desc=out.get("static_desc"),
                 static_grid=out.get("static_grid"),
                 context=out.get("context"), patches=out["patches"] or None,
                 maps=out.get("maps"), maps_trunk=out.get("maps_trunk"),
                 **{k: [np.asarray(v[k]) for v in videos] for k in ROW_STREAMS if k in keys},
                 names=list(names) if names is not None else None)
