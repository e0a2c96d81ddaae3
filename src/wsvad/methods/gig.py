"""``gig`` — "Global Information Guided" anomaly detection (CityScene challenge, ACM MM'20
workshop): a global pattern cue from the whole video steers which spatial positions of each
segment's feature map decide its score, and the scores name the anomaly class ("what").

Per video, spatial maps ``X [T, h, w, d]`` (``maps`` stream) →

* **GIG module**: g = global max pool over T, h, w (Eq. 1); X̂ = σ(g) ⊙ X + X (Eq. 2);
  φ1(g) → 1 + C class scores, S_v = max over the C anomaly classes of σ(φ1(g)) (Eq. 3), BCE with
  the video label (Eq. 4).
* **Spatial reasoning**: r_ij = cos(g, X̂_ij) (Eq. 5); the k positions of highest r, averaged,
  give the segment's vector X_s (Eq. 6); φ2 → 1 + C segment class scores S_s (Eq. 7); a
  segment's anomaly score is the max over the C anomaly classes (Eq. 9, per segment, as the
  paper scores frames); consensus S_c = mean of the top-p segments per class (Eq. 8).
* **Loss** (Eq. 10–14): L_v + λ1·BCE(max_c S_c, y) + λ2·multi-label BCE(S_c, [normal, classes])
  + λ3·Σ_t S_s^t, with λ = 1, 0.5, 0.1; Adagrad 1e-3, 8 videos per batch (4 + 4), dropout 0.5,
  random horizontal flips of the maps, T = 8 segments. The paper trains 100 epochs; Adagrad
  at 1e-3 moves each weight by about lr·√steps, so the default cap is 3000 steps (validation
  picks the checkpoint). Measured on Ped2 (seed 1, 3000 steps): Adagrad 1e-3 0.852 frame AUC
  (best step 2900), Adagrad 1e-2 0.789, Adam 1e-3 0.810 — the paper's optimiser stays.
* **Test**: every snippet scored; Gaussian smoothing of the scores (paper: σ = 2 at its stride
  of 3 frames, i.e. 6 frames — ``smooth_sigma`` is that in snippets: 6 / 16 = 0.375 for
  16-frame snippets).
* **Where**: ``localize`` returns the relation scores r (Eq. 5) of each snippet as a heat map.
  **What**: ``Output.classes [B, T, C]``, the anomaly-class scores of each snippet.

Choices the paper leaves open (no public code), each with its reason:

- *Input*: the paper's backbone is TPN-ResNet50 (Kinetics) with 7×7×2048 maps after the TPN
  module; ours are EfficientNet-Lite0's 7×7×1280 maps of the whole frame (``wsvad extract
  --maps``), or any user backbone that writes a ``maps`` stream. Maps are standardised per
  channel on the normal training snippets (``input_norm``, as every method here), so that g's
  σ-attention and the cosine relations compare deviations, not raw activation scales. Unlike
  the clip features, a map is one part, so its channels keep unit scale (no 1/√d weight):
  σ(g) and the linear heads see values of order one, as they would raw activations.
- *Motion* (``motion``, default on; a deviation): the paper's maps come from a spatio-temporal
  network trained on Kinetics (TPN), so every position carries motion; ours come from an image
  network and carry none. Each position therefore gets the flow of its part of the frame — flow
  cells area-resampled to the map's h × w (:func:`~wsvad.methods.motion_grid.flow_cells`):
  ``motion_cells=fine`` (default) the ``motion_grid`` stream's 12×12 cells (per cell: 8
  magnitude-weighted orientation bins, 4 magnitude shares, 4 magnitude percentiles),
  ``coarse`` the 4×4 cells of ``motion_desc`` (the 12 bins; runs saved before the fine grid
  read these) — as 16 (12) more channels, standardised like every channel, the two parts
  weighted to the same expected norm (the rule of :mod:`wsvad.methods.inputs`; a few flow
  bins beside 1280 channels would otherwise not count); a horizontal flip mirrors them too
  (orientation bin k → 3 − k mod 8). Measured (3 seeds, ``wsvad compare``; docs/results.md): with
  the coarse cells, plaza frame AUC 0.775 ± 0.032 against 0.699 ± 0.044 appearance-only (above the
  flow baseline's 0.760), but Ped2 0.818 ± 0.009 against 0.878 ± 0.020; with the fine cells
  (default) plaza 0.813 ± 0.005 and Ped2 0.843 ± 0.006, Ped2's false alarms at τ halved (0.110
  against 0.232) and its pointing tripled (0.209 against 0.071). ``motion=false`` is the paper's
  appearance-only input.
- *Segments*: the paper samples n_s = 6 clips 5 frames apart per segment; our snippets are
  16-frame clips and a training video is resampled to T = 8 segments by averaging the maps of
  the snippets each segment covers (the same resampling every method uses).
- *k* (positions per segment) = 5 of 49 and *p* (segments in the consensus) = 3 of 8: unstated
  in the paper; about a tenth of the map, and RTFM's k = 3 of the segments. p is a prior on
  how long anomalies last: only p of an abnormal video's 8 segments are pushed up. Measured
  (3 seeds, docs/results.md): on Ped2, whose anomalies fill most of each clip, ``p=8`` (the
  consensus becomes the mean) scores 0.889 ± 0.004 against 0.818 ± 0.009, on the plaza 0.797 ± 0.028
  against 0.775 ± 0.032. p = 3 stays: p = T is no longer a top-p, validation cannot tell them apart
  on these data, and the test numbers above are what prompted the measurement.
- *Sparsity* on every video's segment anomaly scores (Eq. 13 sums over T without a label
  condition), averaged over the batch.
- *Classes*: the C anomaly classes are the training videos' classes (``labels.csv``'s third
  column, ``|`` between several); without classes C = 1 ("anomaly").
- *Heads*: φ1 and φ2 are single linear layers (the paper: "a fully connected function").
- *The reasoning function R* (``relation``): Eq. 5 writes r_ij = R(g, X̂_ij) and the paper
  "chooses" the cosine, the default. ``projection`` (an alternative R, a named deviation when
  set) is ⟨X̂_ij, g⟩ / ‖g‖: a cosine keeps the pattern of a position's deviations and drops
  their size, so on our maps it rarely peaks on the small moving object; the projection keeps
  the size. The relation takes no trained weights: it moves only with the input normalisation
  each seed fits, and not with p. Measured (3 seeds, ``wsvad compare``, docs/results.md):
  pointing on Ped2 0.410 against 0.209, on the demo plaza 0.241 against 0.223, on a fresh
  plaza rendering (seed 2026) 0.203 against 0.157; frame AUC on Ped2 0.819 ± 0.012 against
  0.843 ± 0.006 (p = 8: 0.890 ± 0.014 against 0.913 ± 0.009), on the demo plaza 0.823 ± 0.003
  against 0.813 ± 0.005, on the fresh rendering 0.653 ± 0.054 against 0.697 ± 0.025. A better
  heat map for a loss of frame AUC: not the default.
- *Eq. 11's reduction* (``segment_loss``): the paper writes the multi-class loss like the binary
  ones, with a multi-hot y, and does not say how its 1 + C entries become one number. Default
  ``mean`` (the entries averaged, PyTorch's convention); ``sum`` adds them, which weighs the
  class term (1 + C)× more. Only Eq. 11 tells the classes apart (Eq. 3 and 9 take the max over
  them), and averaged it barely does: on a plaza rendering with 30 abnormal training videos
  per class, the class named at each abnormal test video's peak is right for 0.22 of them
  (chance 0.2) with ``mean`` and 0.37 with ``sum`` (MF1 0.06 → 0.15, 3 seeds), at 1.5 frame-AUC
  points; on the demo's scenes (6 per class) both stay at chance, and ``sum`` costs 2–3 points
  on Ped2 and the plaza (docs/results.md).

Example:
    >>> import torch; from wsvad.data import Batch
    >>> m = GIG(16, GIGConfig.build({"classes": "fall,fight"}))
    >>> b = Batch(None, torch.tensor([0., 1.]), maps=torch.rand(2, 8, 7, 7, 32),
    ...           motion_grid=torch.rand(2, 8, 12, 12, 16),
    ...           classes=torch.tensor([[0., 0.], [0., 1.]]))
    >>> out = m(b)
    >>> out.scores.shape, out.classes.shape, sorted(m.losses(b, out))
    (torch.Size([2, 8]), torch.Size([2, 8, 2]), ['global', 'segment', 'sparsity', 'video'])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wsvad.data.batch import Batch
from wsvad.errors import DataError
from wsvad.methods import losses as L
from wsvad.methods.base import Localization, Method, MethodConfig, Output, register
from wsvad.methods.inputs import InputNorm
from wsvad.methods.motion_grid import ORIENTATIONS, SOURCES, STREAM, cell_width, flow_cells

TRUNK_WIDTH = 192     # EfficientNet-Lite0's activations before its last block
# orientation bin k ([k, k+1)·45°) of a left–right mirrored flow: θ → π − θ
MIRROR_ORIENTATION = [3, 2, 1, 0, 7, 6, 5, 4]


@dataclass
class GIGConfig(MethodConfig):
    batch_size: int = 4             # 4 normal + 4 abnormal = the paper's batch of 8
    segments: int = 8
    lr: float = 1e-3
    iterations: int = 3000
    dropout: float = 0.5
    k: int = 5                      # spatial positions per segment (Eq. 6)
    p: int = 3                      # segments in the consensus (Eq. 8)
    lambda_global: float = 1.0      # λ1
    lambda_segment: float = 0.5     # λ2
    lambda_sparse: float = 0.1      # λ3
    flip: bool = True
    smooth_sigma: float = 0.375     # test-time Gaussian σ in snippets (6 frames / 16)
    classes: str | None = None      # comma-separated anomaly classes (filled from the data)
    motion: bool = True             # deviation: flow cells appended to the maps (docstring)
    motion_cells: str = "fine"      # which cells: "fine" (motion_grid) | "coarse" (motion_desc)
    segment_loss: str = "mean"      # Eq. 11 over the 1 + C entries: "mean" | "sum" (docstring)
    relation: str = "cosine"        # Eq. 5: "cosine" (paper) | "projection" (docstring)

    RANGES = {**MethodConfig.RANGES, "p": (1, None, True, False),
              "smooth_sigma": (0, None, True, False)}
    CHOICES = {**MethodConfig.CHOICES, "segment_loss": ("mean", "sum"), "motion_cells": SOURCES,
               "relation": ("cosine", "projection")}
    # runs saved before the flow cells read the maps alone; before the fine grid, motion_desc
    SINCE = {"motion": False, "motion_cells": "coarse"}


@register
class GIG(Method):
    """Global-information-guided spatial reasoning on feature maps, with anomaly classes."""

    name = "gig"
    Config = GIGConfig
    needs = ("maps", "motion_grid")     # ("maps",) with motion=false; motion_desc if coarse
    paper = "GIG, CityScene challenge (ACM MM 2020 workshop)"

    def __init__(self, dim: int, cfg: GIGConfig, parts: tuple[tuple[str, int], ...] = (),
                 map_dim: int | None = None):
        super().__init__(dim, cfg, parts)
        self._classes = [c for c in (cfg.classes or "").split(",") if c.strip()] or ["anomaly"]
        self.drop = nn.Dropout(cfg.dropout)
        self.motion_width = cell_width(cfg.motion_cells) if cfg.motion else 0
        self.needs = type(self).needs[:1] + ((STREAM[cfg.motion_cells],) if cfg.motion else ())
        self.map_dim = None
        if map_dim is not None:
            self._build(map_dim)

    def _build(self, d: int) -> None:
        """Modules for maps of ``d`` channels (+ the motion channels)."""
        self.map_dim = d
        c, width = 1 + len(self._classes), d + self.motion_width
        self.map_norm = InputNorm(width, self.cfg.input_norm)
        self.phi1, self.phi2 = nn.Linear(width, c), nn.Linear(width, c)

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        if self.map_dim is None and "map_norm.mean" in state:
            self._build(int(state["map_norm.mean"].shape[0]) - self.motion_width)
        return super().load_state_dict(state, strict, assign)

    def class_names(self) -> list[str]:
        return list(self._classes)

    def optimizer(self) -> torch.optim.Optimizer:
        """Adagrad (paper Sect. 4.2), on the trainable parameters."""
        return torch.optim.Adagrad([p for p in self.parameters() if p.requires_grad],
                                   lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    def raw_maps(self, batch: Batch) -> torch.Tensor:
        """``[B, T, h, w, d]`` maps of a batch, before normalisation (here: the ``maps``
        stream; :class:`GIGEndToEnd` computes them)."""
        return batch.maps.float()

    def map_input(self, batch: Batch, flip: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, T, h, w, d (+ o + m)]``: the maps with the flow cells of each position appended
        (``motion``), before normalisation; ``flip [B]`` mirrors the chosen videos left–right
        (the maps, and the flow: orientation bins mirrored, θ → π − θ)."""
        x = self.raw_maps(batch)
        if self.motion_width:
            h, w = int(x.shape[2]), int(x.shape[3])
            cells = flow_cells(batch, h, w, self.cfg.motion_cells)       # [B, T, h, w, width]
            x = torch.cat([x, cells.to(x.dtype)], dim=-1)
        if flip is not None:
            mirrored = x.flip(3)
            if self.motion_width:
                o = torch.tensor(MIRROR_ORIENTATION, device=x.device) + x.shape[-1] - \
                    self.motion_width
                rest = self.motion_width - ORIENTATIONS     # magnitudes: unchanged by a flip
                mirrored = torch.cat([mirrored[..., :-self.motion_width], mirrored[..., o],
                                      mirrored[..., -rest:]], dim=-1)
            x = torch.where(flip[:, None, None, None, None], mirrored, x)
        return x

    @torch.no_grad()
    def fit(self, videos) -> None:
        """Per-channel statistics of the normal training videos' maps."""
        n, s1, s2 = 0, 0.0, 0.0
        for b in videos():
            if getattr(b, self.needs[0]) is None:
                continue
            maps = self.map_input(b)
            if self.map_dim is None:
                self._build(maps.shape[-1] - self.motion_width)
            if float(b.label[0]) > 0.5 or self.cfg.input_norm == "none":
                continue
            x = maps.reshape(-1, maps.shape[-1]).double()
            n, s1, s2 = n + len(x), s1 + x.sum(0), s2 + (x * x).sum(0)
        if n:
            parts = (("maps", self.map_dim),) + ((("motion", self.motion_width),)
                                                  if self.motion_width else ())
            self.map_norm.fit_moments(n, s1, s2, parts)
            # each part the same expected norm (inputs.py), the whole its width's: unit scale
            # per channel on average, as one part alone gets
            self.map_norm.weight.mul_(math.sqrt((self.map_dim + self.motion_width) / len(parts)))

    def check_input(self, batch: Batch) -> None:
        batch.require(*self.needs, method=self.name)
        stream = self.needs[0]
        x = getattr(batch, stream)
        if x.ndim != 5:
            raise DataError(f"{self.name}: expected {stream} [B, T, h, w, d], got "
                            f"{tuple(x.shape)}")
        width = self.map_dim if stream == "maps" else TRUNK_WIDTH
        if width is not None and x.shape[-1] != width:
            raise DataError(f"{self.name}: {stream} have {x.shape[-1]} channels, expected "
                            f"{width}")

    # -- forward -------------------------------------------------------------------------------
    def forward(self, batch: Batch) -> Output:
        self.check_input(batch)
        flip = None
        if self.training and self.cfg.flip:
            flip = torch.rand(len(batch.label), device=batch.label.device) < 0.5
        x = self.map_input(batch, flip)
        if self.map_dim is None:
            self._build(x.shape[-1] - self.motion_width)
        x = self.map_norm(x)                                              # [B, T, h, w, d]
        b, t, h, w, d = x.shape
        g = x.amax(dim=(1, 2, 3))                                         # Eq. 1  [B, d]
        x = torch.sigmoid(g)[:, None, None, None] * x + x                 # Eq. 2
        s_v = torch.sigmoid(self.phi1(self.drop(g)))[:, 1:].amax(-1)      # Eq. 3  [B]
        flat = x.reshape(b, t, h * w, d)
        r = relation(flat, g, self.cfg.relation)                          # Eq. 5  [B, T, hw]
        k = min(self.cfg.k, h * w)
        idx = r.topk(k, dim=-1).indices
        xs = flat.gather(2, idx[..., None].expand(b, t, k, d)).mean(2)    # Eq. 6  [B, T, d]
        seg = torch.sigmoid(self.phi2(self.drop(xs)))                      # Eq. 7  [B, T, 1+C]
        scores = seg[..., 1:].amax(-1)                                    # Eq. 9 per segment
        if not self.training and self.cfg.smooth_sigma > 0:
            scores = gaussian_smooth(scores, self.cfg.smooth_sigma)
        return Output(scores=scores, classes=seg[..., 1:],
                      extras={"S_v": s_v, "segment": seg, "relation": r.view(b, t, h, w)})

    def losses(self, batch: Batch, output: Output) -> dict[str, torch.Tensor]:
        cfg, y = self.cfg, batch.label
        seg = output.extras["segment"]                                    # [B, T, 1+C]
        p = min(cfg.p, seg.shape[1])
        consensus = seg.topk(p, dim=1).values.mean(1)                     # Eq. 8  [B, 1+C]
        s_g = consensus[:, 1:].amax(-1)                                   # Eq. 9
        if batch.classes is not None and batch.classes.shape[-1] == len(self._classes):
            kinds = batch.classes
        else:                                        # no class labels: one class, "anomaly"
            kinds = y[:, None].expand(-1, len(self._classes))
        target = torch.cat([(1 - y)[:, None], kinds], dim=1)              # multi-hot (Eq. 11)
        return {"video": L.bce(output.extras["S_v"], y),                          # Eq. 4
                "global": cfg.lambda_global * L.bce(s_g, y),                       # Eq. 10
                "segment": cfg.lambda_segment * self._segment_loss(consensus, target),  # Eq. 11
                "sparsity": cfg.lambda_sparse * seg[..., 1:].amax(-1).sum(1).mean()}  # Eq. 13

    def _segment_loss(self, consensus: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Eq. 11 for ``[B, 1+C]`` consensus scores and multi-hot targets: the binary
        cross-entropy of every entry, summed over the 1 + C entries (``sum``) or averaged
        (``mean``), then averaged over the batch."""
        mean = L.bce(consensus, target)             # over the batch and the 1 + C entries
        return mean if self.cfg.segment_loss == "mean" else mean * consensus.shape[-1]

    # -- where -----------------------------------------------------------------------------
    @torch.no_grad()
    def localize(self, batch: Batch, output: Output) -> list[Localization] | None:
        """Per video ``[T, h, w]``: the relation of every position to the global cue (Eq. 5),
        min–max normalised over the video."""
        r = output.extras["relation"]
        lo = r.flatten(1).min(1).values[:, None, None, None]
        hi = r.flatten(1).max(1).values[:, None, None, None]
        maps = ((r - lo) / (hi - lo).clamp_min(1e-12)).numpy()
        return [Localization(heatmaps=np.ascontiguousarray(m)) for m in maps]


def relation(flat: torch.Tensor, g: torch.Tensor, kind: str = "cosine") -> torch.Tensor:
    """Eq. 5: the relation of every position ``flat [B, T, n, d]`` to the cue ``g [B, d]``,
    ``[B, T, n]``: ``cosine`` (the paper) or ``projection``, ⟨x, g⟩ / ‖g‖ (the size kept)."""
    if kind == "cosine":
        return F.cosine_similarity(flat, g[:, None, None, :], dim=-1)
    return (flat * g[:, None, None, :]).sum(-1) / g.norm(dim=-1).clamp_min(1e-8)[:, None, None]


def gaussian_smooth(scores: torch.Tensor, sigma: float) -> torch.Tensor:
    """``[B, T]`` smoothed along T with a normalised Gaussian (edges: the kernel renormalised
    over the samples that exist).

    Example:
        >>> # centre: 3 / (1 + 2·e^-½ + 2·e^-2) = 1.208; first: 3·e^-2 / (1 + e^-½ + e^-2 + e^-4.5)
        >>> gaussian_smooth(torch.tensor([[0., 0., 3., 0., 0.]]), 1.0).round(decimals=3)
        tensor([[0.2320, 0.7710, 1.2080, 0.7710, 0.2320]])
    """
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=scores.dtype, device=scores.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    num = F.conv1d(scores[:, None], kernel.view(1, 1, -1), padding=radius)
    den = F.conv1d(torch.ones_like(scores[:, None]), kernel.view(1, 1, -1), padding=radius)
    return (num / den)[:, 0]


class TrunkTail(nn.Module):
    """The backbone's last inverted-residual block and head, as ``wsvad extract --maps-trunk``
    saves them (``maps_trunk_tail.safetensors``): 1×1 expand → 3×3 depthwise → 1×1 project (each
    with BN, ReLU6 on the first two), then the 1×1 head conv + BN + ReLU6.
    ``[N, c_in, h, w]`` → ``[N, c_out, h, w]`` (EfficientNet-Lite0: 192 → 1152 → 320 → 1280)."""

    def __init__(self, c_in: int = TRUNK_WIDTH, expand: int = 6, c_mid: int = 320,
                 c_out: int = 1280):
        super().__init__()

        def bn(c: int) -> nn.BatchNorm2d:
            return nn.BatchNorm2d(c, momentum=0.01, eps=1e-3)
        wide = c_in * expand
        self.expand, self.bn0 = nn.Conv2d(c_in, wide, 1, bias=False), bn(wide)
        self.depthwise = nn.Conv2d(wide, wide, 3, 1, 1, groups=wide, bias=False)
        self.bn1 = bn(wide)
        self.project, self.bn2 = nn.Conv2d(wide, c_mid, 1, bias=False), bn(c_mid)
        self.head, self.bn3 = nn.Conv2d(c_mid, c_out, 1, bias=False), bn(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self.bn0(self.expand(x)))
        h = F.relu6(self.bn1(self.depthwise(h)))
        return F.relu6(self.bn3(self.head(self.bn2(self.project(h)))))


@dataclass
class GIGEndToEndConfig(GIGConfig):
    finetune: bool = True           # False: the same model with the backbone's tail frozen
    tail_weights: str | None = None  # the store's maps_trunk_tail.safetensors (filled by train)


@register
class GIGEndToEnd(GIG):
    """GIG trained end to end with the backbone's last block (paper contribution 1).

    Reads ``maps_trunk [B, T, 7, 7, 192]`` (``wsvad extract --maps-trunk``: EfficientNet-Lite0's
    activations before its last MBConv block, middle sampled frame of each snippet) and runs the
    last block and the 1×1 head conv (:class:`TrunkTail`) — initialised from the weights the
    extractor saved beside that stream (``tail_weights``; ``wsvad train`` finds them in the
    store), trained with the GIG head — to get the maps. Everything below that block is frozen
    and computed once at extraction: the gradients are those of fine-tuning from decoded frames
    with a frozen trunk, at a fraction of the cost. BatchNorm statistics of the tail stay frozen
    (batches of a few videos). ``finetune=false`` keeps the tail frozen: the control that
    isolates what training it adds (same stream, same frame). Created without
    ``tail_weights`` (tests, the Python API), the tail starts from random weights.
    Measured (3 seeds, ``wsvad compare``, docs/results.md): with the 4×4 flow cells 5–6 points above
    ``gig`` on stored maps, above it in every seed — Ped2 0.871 ± 0.018 against
    0.818 ± 0.009, the plaza 0.836 ± 0.018 against 0.775 ± 0.032 — and p no longer matters
    (``p=8``: 0.872, 0.828); with the 12×12 cells (default) the plaza 0.846 ± 0.013 against
    0.813 ± 0.005, Ped2 0.857 ± 0.005 against 0.843 ± 0.006.

    Example:
        >>> import torch; from wsvad.data import Batch
        >>> m = GIGEndToEnd(16, GIGEndToEndConfig.build({}))
        >>> b = Batch(None, torch.tensor([0., 1.]), maps_trunk=torch.rand(2, 8, 7, 7, 192),
        ...           motion_grid=torch.rand(2, 8, 12, 12, 16))
        >>> m(b).scores.shape, m.raw_maps(b).shape
        (torch.Size([2, 8]), torch.Size([2, 8, 7, 7, 1280]))
    """

    name = "gig_e2e"
    Config = GIGEndToEndConfig
    needs = ("maps_trunk", "motion_grid")     # as GIG's

    def __init__(self, dim: int, cfg: GIGEndToEndConfig, parts: tuple[tuple[str, int], ...] = (),
                 map_dim: int | None = None):
        super().__init__(dim, cfg, parts, map_dim=1280)
        self.tail = TrunkTail()
        if cfg.tail_weights:
            self.tail.load_state_dict(read_tail(cfg.tail_weights))
        for p in self.tail.parameters():
            p.requires_grad_(bool(cfg.finetune))

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.tail.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def raw_maps(self, batch: Batch) -> torch.Tensor:
        x = batch.maps_trunk.float()                                      # [B, T, h, w, 192]
        b, t, h, w, c = x.shape
        y = self.tail(x.reshape(b * t, h, w, c).permute(0, 3, 1, 2))
        return y.permute(0, 2, 3, 1).reshape(b, t, h, w, -1)


def read_tail(path: str | Path) -> dict[str, torch.Tensor]:
    """The tail weights ``wsvad extract --maps-trunk`` saved (safetensors: no code runs)."""
    from safetensors.torch import load_file
    path = Path(path)
    if not path.is_file():
        raise DataError(f"gig_e2e: tail weights not found: {path}; extract the store with "
                        "`wsvad extract --maps-trunk` (it writes maps_trunk_tail.safetensors)")
    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
        raise DataError(f"gig_e2e: {path} is not a readable safetensors file ({exc}); "
                        "re-extract with `wsvad extract --maps-trunk`") from None
