"""Training-free baselines: a statistic of the input per snippet, rank-normalised on the
training videos. They take no optimiser step; every comparison table carries them, so a
learned method that does worse than its own input is visible at once.

* ``flow_percentile`` — the 99.9th percentile of optical-flow magnitude in the snippet (the last
  column of the ``motion_desc`` stream): one small fast object anywhere raises it. Its
  ``localize`` is the "largest motion" baseline of *where*: the 99th flow-magnitude percentile
  of each cell of the ``motion_grid`` stream (12×12 over the whole frame) as the heat map, or,
  in stores without that stream, the mean flow magnitude of each cell of the descriptor's 4×4
  grid.
* ``flow_mean`` — the mean optical-flow magnitude (the ``motion`` stream).
* ``static_foreground`` — the largest blob of what has newly come to rest (a bag left behind, a
  person lying still) as a share of the frame: the ``static_desc`` stream's dual-background
  statistic (:mod:`wsvad.backbones.static`, ``wsvad extract --static``), the still anomalies'
  counterpart of the flow percentile. Its ``localize`` is each cell's static share (the
  ``static_grid`` stream's 12 × 12 cells).
* ``feature_magnitude`` — the ℓ2 norm of the raw snippet feature (mean over crops): RTFM's
  premise (abnormal snippets have larger feature magnitude) taken literally, without learning.
* ``normal_distance`` — how far the snippet feature lies from the normal training snippets:
  the ℓ2 norm of its per-dimension z-score against them (the statistics every learned method's
  input normalisation fits, :mod:`wsvad.methods.inputs`; each named part weighted equally), mean
  over crops. The premise of RTFM and of the input normalisation, without learning; it applies
  to every feature set, the published I3D/C3D releases included, where no flow stream exists.
* ``tube_motion`` — the training-free answer to *which tube*: each tube instance (the same
  sub-tubes as ``wsstad``) scored by the 99.9th flow-magnitude percentile of its crops (the last
  column of the ``tube_regions`` features, whose motion part comes last; in the whole-frame
  flow's units, so crops of any size compare); the top one is the predicted tube, a snippet's
  score is the highest of the instances over it.

Rank normalisation: a score is the fraction of training snippets (fitting split, both labels)
whose statistic is at or below the snippet's, interpolated between the 1001 stored quantiles —
a value in [0, 1] on the same footing as the learned methods' sigmoid scores, so the calibrated
threshold and the alert rule apply unchanged. The map is strictly increasing everywhere: values
beyond the training range go to the outer 1/1001 of [0, 1] (squashed by exp(−excess / training
range)), so a test snippet far above anything seen in training still outranks one just above
(a plain empirical CDF ties them all at 1 and lost Ped2's Test001 ordering: frame AUC 0.85
against the statistic's own 0.97 when fitted on one normal video).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from wsvad.data.batch import Batch
from wsvad.data.instances import WHOLE_FRAME, tube_instances
from wsvad.methods.base import Localization, Method, MethodConfig, Output, register
from wsvad.methods.motion_grid import FINE_P99, motion_cells
from wsvad.methods.wsstad import WSSTADConfig, ranked_tubes

QUANTILES = 1001


@dataclass
class BaselineConfig(MethodConfig):
    iterations: int = 1           # nothing is trained; kept for the common interface
    input_norm: str = "none"      # a baseline reads its input raw


class Baseline(Method):
    """A statistic ``[B, T]`` of the input, mapped through the training snippets' ECDF.

    A baseline is its ``name``, ``needs``, ``paper`` and ``of``: the function Batch → ``[B, T]``
    it ranks (the functions below)."""

    trains: ClassVar[bool] = False
    Config = BaselineConfig
    of: ClassVar[Callable[[Batch], torch.Tensor]]

    def __init__(self, dim: int, cfg: BaselineConfig, parts: tuple[tuple[str, int], ...] = ()):
        super().__init__(dim, cfg, parts)
        self.register_buffer("reference", torch.linspace(0.0, 1.0, QUANTILES))

    def statistic(self, batch: Batch) -> torch.Tensor:
        """``[B, T]``: this baseline's statistic of each snippet."""
        return type(self).of(batch)

    @torch.no_grad()
    def fit(self, videos: Callable[[], Iterator[Batch]]) -> None:
        super().fit(videos)
        values = torch.cat([self.statistic(b).flatten() for b in videos()]).double()
        q = torch.linspace(0, 1, QUANTILES, dtype=torch.float64)
        self.reference.copy_(torch.quantile(values, q).float())

    def forward(self, batch: Batch) -> Output:
        self.check_input(batch)
        s = self.statistic(batch).float()
        return Output(scores=self.rank(s), extras={"statistic": s})

    def rank(self, s: torch.Tensor) -> torch.Tensor:
        """Strictly increasing map of the statistic to [0, 1] (module docstring)."""
        ref, eps = self.reference.double(), 1.0 / QUANTILES
        x = s.double()
        lo, hi = ref[0], ref[-1]
        spread = (hi - lo).clamp_min(1e-12)
        # searchsorted(ref, x, right=True) as a count (ONNX has no searchsorted)
        i = (ref <= x[..., None]).sum(-1).clamp(1, QUANTILES - 1)
        left, right = ref[i - 1], ref[i]
        frac = ((x - left) / (right - left).clamp_min(1e-12)).clamp(0, 1)
        inside = eps + (1 - 2 * eps) * (i - 1 + frac) / (QUANTILES - 1)
        above = 1 - eps * torch.exp(-(x - hi) / spread)
        below = eps * torch.exp(-(lo - x) / spread)
        out = torch.where(x > hi, above, torch.where(x < lo, below, inside))
        return out.float()

    def losses(self, batch: Batch, output: Output) -> dict[str, torch.Tensor]:
        return {}


def flow_top_percentile(batch: Batch) -> torch.Tensor:
    """``motion_desc [B, T, 208]`` → its last column, the 99.9th flow-magnitude percentile."""
    return batch.motion_desc[..., -1]


def flow_mean(batch: Batch) -> torch.Tensor:
    """``motion [B, T]``: the mean flow magnitude, as stored."""
    return batch.motion


def feature_norm(batch: Batch) -> torch.Tensor:
    """``features [B, C, T, D]`` → ℓ2 norm per snippet, mean over crops ``[B, T]``."""
    return batch.features.norm(dim=-1).mean(1)


@register
class FlowPercentile(Baseline):
    """Example:
        >>> import numpy as np; from wsvad.data import collate
        >>> m = FlowPercentile(8, BaselineConfig())
        >>> m.fit(lambda: iter([collate([{"motion_desc": np.arange(10.)[:, None]}])]))
        >>> s = m.predict(collate([{"motion_desc": np.array([[-9.], [0.], [4.5], [9.], [18.],
        ...                                                         [99.]])}])).scores[0]
        >>> [round(v, 5) for v in s.tolist()]       # -9, 18: one training range outside
        [0.00037, 0.001, 0.5, 0.999, 0.99963, 1.0]
    """

    name, needs, of = "flow_percentile", ("motion_desc",), staticmethod(flow_top_percentile)
    wants = ("motion_grid",)
    paper = "training-free: 99.9th percentile of flow magnitude"

    def localize(self, batch: Batch, output: Output) -> list[Localization]:
        """Largest motion: per snippet, each fine cell's 99th flow-magnitude percentile
        ``[T, 12, 12]`` (``motion_grid``), else each 4×4 cell's mean magnitude ``[T, 4, 4]``."""
        if batch.motion_grid is not None:
            maps = batch.motion_grid[..., FINE_P99].float().numpy()
        else:
            maps = cell_motion(batch.motion_desc).numpy()
        return [Localization(heatmaps=m) for m in maps]


def static_largest(batch: Batch) -> torch.Tensor:
    """``static_desc [B, T, g² + 4]`` → the largest static blob's share of the frame ``[B, T]``
    (the first of the four summary values, :mod:`wsvad.backbones.static`)."""
    return batch.static_desc[..., -4]


@register
class StaticForegroundBaseline(Baseline):
    """Example:
        >>> import numpy as np; from wsvad.data import collate
        >>> d = np.zeros((3, 20)); d[1, 5] = d[1, 16] = 0.01          # a blob in cell (1, 1)
        >>> b = collate([{"static_desc": d}])
        >>> static_largest(b)[0].tolist(), StaticForegroundBaseline(1, BaselineConfig()
        ...     ).localize(b, None)[0].heatmaps[1, 1, 1].item()
        ([0.0, 0.009999999776482582, 0.0], 0.009999999776482582)
    """

    name, needs, of = "static_foreground", ("static_desc",), staticmethod(static_largest)
    paper = "training-free: largest newly static blob (dual background models)"

    wants = ("static_grid",)

    def localize(self, batch: Batch, output: Output) -> list[Localization]:
        """Each cell's static share: the 12 × 12 cells ``[T, 12, 12]`` (``static_grid``), else
        the descriptor's 4 × 4 ``[T, 4, 4]``."""
        if batch.static_grid is not None:
            return [Localization(heatmaps=m) for m in batch.static_grid.float().numpy()]
        d = batch.static_desc.float()
        g = int(round((d.shape[-1] - 4) ** 0.5))
        maps = d[..., :g * g].reshape(*d.shape[:-1], g, g).numpy()
        return [Localization(heatmaps=m) for m in maps]


def cell_motion(motion_desc: torch.Tensor, orientations: int = 8, magnitudes: int = 4
                ) -> torch.Tensor:
    """``motion_desc [..., g²·(o+m) + (o+m) + 4]`` → mean flow magnitude per cell ``[..., g, g]``:
    a cell's orientation histogram is magnitude-weighted and shares of its pixels, so its sum
    is the cell's mean magnitude (:mod:`wsvad.backbones.motion`).

    Example:
        >>> d = torch.zeros(208); d[5 * 12:5 * 12 + 8] = 0.5     # cell 5 = row 1, col 1
        >>> cell_motion(d)[1, 1].item(), cell_motion(d).sum().item()
        (4.0, 4.0)
    """
    return motion_cells(motion_desc, orientations, magnitudes)[..., :orientations].sum(-1)


@register
class FlowMean(Baseline):
    name, needs, of = "flow_mean", ("motion",), staticmethod(flow_mean)
    paper = "training-free: mean flow magnitude"


@register
class FeatureMagnitude(Baseline):
    name, needs, of = "feature_magnitude", ("features",), staticmethod(feature_norm)
    paper = "training-free: l2 norm of the raw feature"


@dataclass
class NormalDistanceConfig(BaselineConfig):
    input_norm: str = "z"         # per-dimension z on the normal training snippets


@register
class NormalDistance(Baseline):
    """Distance from normal: the norm of the snippet feature standardised on the normal
    training snippets (:mod:`wsvad.methods.inputs`, each part weighted equally), mean over crops.

    Example (one part; normal dims have σ = 1 and 2, so (3, 4) is (1 σ, 1 σ) from the mean):
        >>> import numpy as np; from wsvad.data import collate
        >>> m = NormalDistance(2, NormalDistanceConfig())
        >>> normal = {"features": np.array([[[1., 0.]], [[3., 4.]]])}
        >>> m.fit(lambda: iter([collate([normal], [0])]))
        >>> x = collate([{"features": np.array([[[2., 2.]], [[3., 4.]]])}])
        >>> [round(v, 4) for v in m.statistic(x)[0].tolist()]   # √((1² + 1²) / 2) at (3, 4)
        [0.0, 1.0]
    """

    name, needs = "normal_distance", ("features",)
    Config = NormalDistanceConfig
    paper = "training-free: distance from the normal training snippets"

    def statistic(self, batch: Batch) -> torch.Tensor:
        """``[B, T]``: ‖z‖ of each snippet's standardised feature, mean over crops."""
        return self.inputs(batch).norm(dim=-1).mean(1)


@register
class TubeMotion(Baseline):
    """Example:
        >>> import numpy as np; from wsvad.data import collate
        >>> m = TubeMotion(2, BaselineConfig())
        >>> v = {"features": np.zeros((4, 1, 2)), "tubes": np.zeros((0, 8)),
        ...      "tube_regions": np.array([[0, 0, 0, 1.], [0, 1, 0, 3.], [1, 2, 0, 9.]])}
        >>> m.statistic(collate([v])).tolist()      # tube 0 whole: mean(1, 3); tube 1: 9
        [[2.0, 2.0, 9.0, 0.0]]
    """

    name, needs = "tube_motion", ("features", "tubes", "tube_regions")
    paper = "training-free: the tube whose crops move fastest"
    exportable = ("it has no learned part: its score is a statistic of the tubes' crops, "
                  "computed in NumPy")
    pieces: ClassVar[int] = WSSTADConfig.pieces

    def _instances(self, batch: Batch) -> list:
        """Per video, the tube instances with their statistic in the last region column."""
        x = batch.features.mean(1)                                          # [B, T, D]
        lengths = batch.mask.sum(1).tolist() if batch.mask is not None else [x.shape[1]] * len(x)
        # the motion descriptor's last column (the 99.9th flow percentile) when the motion part
        # comes last (effnet-lite0+motion; the motion backbone's 208-d descriptor alone), else
        # — other backbones — the ℓ2 norm of the crop's features
        motion_last = self.parts[-1][0] == "motion" or (len(self.parts) == 1 and self.dim == 208)
        out = []
        for i, r in enumerate(batch.tube_regions):
            r = np.asarray(r, np.float32)
            if not motion_last and len(r):
                r = np.column_stack([r, np.linalg.norm(r[:, 2:], axis=1)])
            feats = x[i, :int(lengths[i])].numpy()
            if not motion_last:
                feats = np.column_stack([feats, np.linalg.norm(feats, axis=1)])
            out.append(tube_instances(r, feats, self.pieces))
        return out

    def statistic(self, batch: Batch) -> torch.Tensor:
        """``[B, T]``: per snippet, the highest crop-flow statistic of the instances over it."""
        out = torch.zeros(batch.features.shape[0], batch.features.shape[2])
        for i, inst in enumerate(self._instances(batch)):
            for (a, b), v, k in zip(inst.span, inst.region[:, -1], inst.tube, strict=True):
                if k != WHOLE_FRAME:
                    out[i, a:b + 1] = torch.clamp(out[i, a:b + 1], min=float(v))
        return out

    def forward(self, batch: Batch) -> Output:
        out = super().forward(batch)
        found = self._instances(batch)
        n = max(len(f) for f in found)
        e = {"tube_score": torch.zeros(len(found), n), "tube_mask": torch.zeros(len(found), n,
                                                                                 dtype=torch.bool),
             "tube_id": torch.zeros(len(found), n, dtype=torch.long),
             "tube_span": torch.zeros(len(found), n, 2, dtype=torch.long)}
        for i, f in enumerate(found):
            stat = torch.from_numpy(f.region[:, -1].astype(np.float32))
            e["tube_score"][i, :len(f)] = torch.where(torch.from_numpy(f.tube) == WHOLE_FRAME,
                                                      torch.zeros(()), self.rank(stat))
            e["tube_mask"][i, :len(f)] = True
            e["tube_id"][i, :len(f)] = torch.from_numpy(f.tube)
            e["tube_span"][i, :len(f)] = torch.from_numpy(f.span)
        out.extras.update(e)
        return out

    def video_score(self, output: Output) -> torch.Tensor:
        e = output.extras
        return e["tube_score"].masked_fill(~e["tube_mask"], -1.0).max(1).values

    def localize(self, batch: Batch, output: Output) -> list[Localization] | None:
        return ranked_tubes(batch, output.extras)
