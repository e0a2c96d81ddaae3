"""``ssrl`` — Li et al., "Scale-Aware Spatio-Temporal Relation Learning for Video Anomaly
Detection" (ECCV'22).

Per snippet t and patch scale r (grids 2×3, 3×5, 4×7 of the frame; the whole frame is the
clip feature): patch features ``χ [P, Dp]`` → **PSR** (the relation network of RTFM applied
along the patch axis: dilated convs 1/2/4 + non-local block + residual, Eq. 1–3) → **MPA**
(rearranged to the ``R × C`` grid, Conv2d 3×3 stride 2 Dp → Dp/2 + ReLU + BN, flattened, FC →
D + ReLU) → the scales summed (φ'_t) and added to every crop of the clip feature → **VTR**
(RTFM's temporal relation network, Eq. 4–6) → dropout 0.7 → classifier 512-128-1. Losses
(Eq. 7–10) are RTFM's: BCE on the top-k (k = 3) snippets by feature magnitude +
λ_fm = 1e-4 · magnitude ranking (margin 100) + λ1 = 8e-3 · sparsity + λ2 = 8e-4 · smoothness;
Adam 1e-3, weight decay 5e-4 (paper Sect. 4.2). The loss *forms* follow the official code, as
RTFM's ``official`` variant (``--set variant=paper`` for the paper's hinge and ℓ1 forms).

**Step-by-step training** (Sect. 4.2, ``staged``, default on): stage 1 is RTFM on the clip
features (VTR + classifier); stage s ≥ 2 adds scale s − 1 (2×3, then 3×5, then 4×7). Each
stage runs up to ``iterations`` steps, its checkpoint is chosen on the validation videos, and the
next stage starts **from that checkpoint** (the official code builds every stage from scratch
and never loads the previous one; not copied). ``finetune`` says what trains after stage 1:
``branch`` (default) — only the newly added scale's PSR + MPA, everything learned before frozen
(BatchNorm statistics included), the step-by-step reading of the paper; ``patches`` — every
active scale's PSR + MPA, the VTR and classifier frozen (the official code's ``train_part``
parameter groups); ``all`` — every active part fine-tunes. ``staged=false`` trains all scales
jointly from the start (the paper calls that hard to optimise). ``stage_selection`` (a named
deviation): ``validated`` (default) — a stage whose chosen checkpoint does not validate better
than the model it started from (the trainer's own rule: video AUC, ties broken by the
validation loss) is left out: the model returns to that start, the stage's scale leaves the sum
and the heat map, and the next stage starts from there; ``always`` keeps every stage (the
paper, which reports every scale helping on UCF-Crime and ShanghaiTech). Why: on a fresh plaza
rendering (seed 2026, ``--static --patches``, seed 1) stage 1 scored frame AUC 0.881 on the test
set and the stages after it 0.781, 0.713, 0.735 (looked up after the run, a diagnostic), while
the validation loss rose from 0.598 to 0.753, 0.970 and 0.864 at the same checkpoints — the
validation videos said so; nothing read it (docs/results.md, "SSRL, stage by stage").
``share_psr`` — one PSR for every scale (paper Table 1 "share parameters").
``patch_batch_size`` (unset: ``batch_size`` in every stage, the paper's 32) — the videos of each
kind a step in the patch stages only, a CPU budget: stage 1 reads the clip features alone and
is cheap at the paper's batch, the patch stages are not.

``localize`` (Sect. 4.5): for each active scale, the PSR non-local attention M ``[P, P]`` of
each snippet, column sums w'_n = Σ_m w_{m,n} — taken as |w'_n − median_n w'_n|, because a
highlighted column can stand out with either sign (``psr_attention`` below) —, min–max
normalised, rearranged to the grid; the
scales are averaged on a common grid (rows × cols = least common multiples) → ``[T, h, w]``.
``heatmap=deviation`` (not in the paper) uses instead each patch's distance from normal: the
norm of its feature standardised on the normal training patches (the statistics SSRL's input
normalisation fits) — on Ped2 it points 0.597 against the attention map's 0.547, on the
plaza 0.239 against 0.137 (seed 1; docs/results.md).

Deviations, each named. The measurements quoted below were made before ``stage_selection``
existed, so with every stage kept (``stage_selection=always``). With the default rule, Ped2
scores 0.940 ± 0.018 and points 0.347 ± 0.139 (the same command; the 4×7 stage was left out in
two of three seeds, on validation-loss differences of 0.002 and 0.004; docs/results.md):

* patch features — ours are EfficientNet-Lite0 (1280-d) tiles, by default region-pooled from
  one high-resolution pass (``wsvad extract --patches``; ``--patch-mode tiles`` is SSRL's way);
  the clip feature is appearance + motion (1488-d), so MPA's FC maps Dp = 1280 → D = 1488;
* inputs — standardised on normal training snippets (``z``, as our RTFM): the clip features
  and, separately for each scale, the patch features (:mod:`wsvad.methods.inputs`);
* ``patch_motion`` (**on** by default; off is the paper's input) — SSRL's patches are I3D clips
  (motion inside); ours are image-network crops with none. So each patch also gets the flow
  cells under it, area-resampled to the patch grid
  (:func:`~wsvad.methods.motion_grid.flow_cells`), the two parts weighted to the same
  expected norm (the rule of :mod:`wsvad.methods.inputs`). ``motion_cells`` says which cells:
  ``fine`` (default) — the ``motion_grid`` stream's 12×12 cells, 8 orientation + 4 magnitude
  bins + 4 magnitude percentiles each; ``coarse`` — the 4×4 cells of ``motion_desc`` (12 bins;
  too coarse for a 4×7 grid, whose tiles straddle them). Measured (``wsvad compare``, 3 seeds,
  ``psr_dim=256``, 300 steps a stage; docs/results.md): Ped2 frame AUC 0.945 ± 0.021 against 0.875 ±
  0.018 without, pointing 0.547 against 0.206; the plaza 0.745 ± 0.065 against 0.781 ±
  0.007, pointing 0.147 against 0.042 — better on the moving classes (vehicle 0.971 against
  0.784), worse on the still ones (fall 0.666 against 0.790, left object 0.720 against
  0.812). It is the default for *where* (pointing 2.7× and 3.5×) and Ped2; on still anomalies
  ``patch_motion=false`` does better. With the 4×4 cells (a store before the motion fix):
  Ped2 0.858 ± 0.026 against 0.864 ± 0.026, pointing 0.271 against 0.262. Runs saved before
  ``motion_cells`` existed read the 4×4 cells;
* MPA stride — the paper says stride 2 (default); the official code uses stride 1
  (``--set mpa_stride=1``: a 2×3 grid keeps 6 cells, 3×5 → 3, 4×7 → 10). Padding 1 for grids
  with fewer than 3 rows or columns (the official code pads only the 2×3 grid), so every grid
  gives at least one cell; the official code's dropout on the 4×7 branch is not applied;
* ``psr_attention`` — PSR's attention M: ``scaled`` (default), the official (RTFM) block's
  θᵀφ divided by the patch count, or ``softmax``, each row softmax-normalised as the paper's
  Eq. 1 writes it. The VTR keeps RTFM's block (stage 1 is RTFM). The official code is the
  default because it measured better: Ped2 (``wsvad compare``, 3 seeds, ``psr_dim=256``, 300
  steps a stage) frame AUC 0.933 ± 0.016 and pointing 0.421 ± 0.117 with the softmax, against
  0.945 ± 0.021 and 0.547 ± 0.016. With either, a highlighted column can stand out by sign
  either way (on the generated one-tile data the softmax model's anomalous column was the
  *least* attended), so the heat map takes |w'_n − median| in both;
* ``psr_dim`` (off by default) — a linear projection of the patch features to ``psr_dim``
  before PSR, so PSR and MPA run at that width: at the paper's width a Ped2 step (8 videos)
  takes 4.9 s on 2 CPU cores, at ``psr_dim=256`` 0.53 s; the measurements in docs/results.md
  use 256;
* ``scale_gate`` (off by default: the paper's plain sum) — each scale's MPA output is
  multiplied by a learned scalar γ_r
  that starts at 0 before it joins the clip feature (the ReZero initialisation), so stage s
  starts as exactly the stage s − 1 model it loads and the new scale grows in. For γ_r > 0,
  γ_r·ReLU(FC(·)) = ReLU(γ_r·FC(·)): the paper's sum, parameterised differently; γ_r < 0 (which
  training may reach) subtracts the scale, which the plain sum cannot. Why: in training mode a
  freshly initialised branch adds 0.36–0.45 rms per dimension (BatchNorm'd, Xavier FC, ReLU) to
  clip features standardised to 0.05 rms on a normal Ped2 video, so the first steps of stage 2
  fed the frozen VTR and classifier an input 7–9× off what they were trained on, and the stages
  (chosen blind on Ped2's 1–2 validation videos) kept what followed. ``scale_gate=false`` is the
  plain sum. Measured (Ped2, ``wsvad compare``, 3 seeds, ``psr_dim=256``): frame AUC
  0.913 ± 0.034 with the gate, 0.875 ± 0.018 without; pointing 0.117 against 0.206 (why the
  gate costs pointing was not measured). Not the default: where only the patches carry the
  anomaly it stops SSRL from learning it (the one-tile tests of ``tests/test_ssrl.py``, clip
  features pure noise: frame AUC 0.44 staged, 100 steps a stage, and 0.41 all scales at once,
  60 steps, with the gate; above 0.7 and 0.8 without). Adam moves γ_r by about the learning
  rate per step (the trained |γ_r| stay 0.02–0.17 on Ped2), but that is not the whole reason:
  a scale that merely *starts* small fails the same tests too (``mpa_init=0.01``: 0.46 and
  0.39) — the model fits the clip features first. Part of the gate's Ped2 gain may be that it
  keeps SSRL close to stage 1 (RTFM);
* ``mpa_init`` (1 by default: Xavier, as every layer) — MPA's last FC starts at this multiple
  of its Xavier weights: a small start without the gate's step-size cap, for the comparison
  above. Ped2 (same setting, 3 seeds): ``mpa_init=0.01`` 0.897 ± 0.017 — between the plain
  sum and the gate, each about one standard deviation apart.

Parameters (``wsvad info --method ssrl``, I3D 2048-d, 10 crops):
166.8M with the paper's stride 2, 192.0M with the official stride 1 — paper Table 6 gives 191M,
so its count is the official code's; ``share_psr``: 119.6M / 144.8M (Table 6: 136M) — all
without ``patch_motion``, whose 16 flow values per patch add 2.2M.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from wsvad.data.batch import Batch
from wsvad.errors import ConfigError, DataError
from wsvad.methods.base import Localization, register
from wsvad.methods.blocks import RelationNetwork, xavier_init
from wsvad.methods.inputs import InputNorm
from wsvad.methods.motion_grid import SOURCES, STREAM, cell_width, flow_cells
from wsvad.methods.rtfm import RTFM, RTFMConfig


@dataclass
class SSRLConfig(RTFMConfig):
    scales: str = "2x3,3x5,4x7"     # patch grids, coarse to fine: the order stages add them in
    staged: bool = True
    finetune: str = "branch"        # after stage 1: "branch" | "patches" | "all" (docstring)
    share_psr: bool = False
    mpa_stride: int = 2             # paper: 2; official code: 1
    psr_dim: int | None = None      # None: PSR at the patch width (paper); N: project to N first
    heatmap: str = "attention"      # where: "attention" (paper Sect. 4.5) | "deviation"
    psr_attention: str = "scaled"   # PSR's M: "softmax" (paper Eq. 1) | "scaled" (÷P, RTFM code)
    patch_motion: bool = True       # each patch + the flow cells under it (docstring); False: paper
    motion_cells: str = "fine"      # patch_motion's cells: "fine" (motion_grid) | "coarse"
    scale_gate: bool = False        # True: each scale's MPA output × a learned γ_r from 0
    mpa_init: float = 1.0           # MPA's last FC starts at this × its Xavier weights
    stage_selection: str = "validated"  # "validated": a stage that does not validate better
    #                                     than its start is left out; "always": every stage kept
    patch_batch_size: int | None = None  # videos of each kind a step in stages ≥ 2 (None:
    #                                      batch_size, as the paper); a CPU budget (docstring)
    weight_decay: float | None = 5e-4   # type: ignore[assignment]  # paper Sect. 4.2

    RANGES = {**RTFMConfig.RANGES, "mpa_stride": (1, 2, True, True),
              "patch_batch_size": (1, None, True, False),
              "psr_dim": (4, None, True, False), "mpa_init": (0, None, False, False)}
    CHOICES = {**RTFMConfig.CHOICES, "finetune": ("branch", "patches", "all"),
               "heatmap": ("attention", "deviation"), "motion_cells": SOURCES,
               "psr_attention": ("softmax", "scaled"),
               "stage_selection": ("validated", "always")}
    SINCE = {"motion_cells": "coarse"}  # runs saved before the fine grid read motion_desc

    @property
    def grids(self) -> list[tuple[int, int]]:
        out = []
        for part in str(self.scales).split(","):
            try:
                r, c = (int(v) for v in part.strip().lower().split("x"))
            except ValueError as exc:
                raise ConfigError(f"ssrl scales={self.scales!r}: expected grids like "
                                  "'2x3,3x5,4x7'") from exc
            if r < 1 or c < 1:
                raise ConfigError(f"ssrl scales: grid {part!r} must have positive sides")
            out.append((r, c))
        return out

    def validate(self) -> None:
        super().validate()
        if len(set(self.grids)) != len(self.grids):
            raise ConfigError(f"ssrl scales={self.scales!r} repeats a grid")


class PatchAggregation(nn.Module):
    """MPA for one scale: ``[N, P, Dp]`` (row-major over an R × C grid) → ``[N, D]``."""

    def __init__(self, grid: tuple[int, int], dp: int, d: int, stride: int):
        super().__init__()
        self.grid = grid
        pad = 1 if min(grid) < 3 else 0
        self.conv = nn.Sequential(nn.Conv2d(dp, dp // 2, 3, stride, pad), nn.ReLU(),
                                  nn.BatchNorm2d(dp // 2))
        rows, cols = ((g + 2 * pad - 3) // stride + 1 for g in grid)
        self.fc = nn.Sequential(nn.Linear(dp // 2 * rows * cols, d), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, dp = x.shape
        grid = x.transpose(1, 2).reshape(n, dp, *self.grid)
        return self.fc(self.conv(grid).flatten(1))


def grid_name(grid: tuple[int, int]) -> str:
    return f"{grid[0]}x{grid[1]}"


@register
class SSRL(RTFM):
    """Scale-aware spatio-temporal relation learning (stage s = 1 + number of active scales).

    Example:
        >>> import torch; from wsvad.data import Batch
        >>> m = SSRL(64, SSRLConfig.build({"batch_size": 2, "scales": "2x3"}))
        >>> b = Batch(torch.rand(4, 1, 8, 64), torch.tensor([0., 0., 1., 1.]),
        ...           patches={"2x3": torch.rand(4, 8, 6, 32)},
        ...           motion_grid=torch.rand(4, 8, 12, 12, 16))
        >>> m(b).scores.shape, m.localize(b, m(b))[0].heatmaps.shape
        (torch.Size([4, 8]), (8, 2, 3))
    """

    name = "ssrl"
    Config = SSRLConfig
    needs = ("features", "patches")     # + motion_grid (or motion_desc) with patch_motion
    paper = "Li et al., ECCV 2022"

    def __init__(self, dim: int, cfg: SSRLConfig, parts: tuple[tuple[str, int], ...] = (),
                 patch_dim: int | None = None):
        super().__init__(dim, cfg, parts)
        self.grids = cfg.grids
        self.motion_width = cell_width(cfg.motion_cells) if cfg.patch_motion else 0
        if cfg.patch_motion:
            self.needs = (*type(self).needs, STREAM[cfg.motion_cells])
        self.patch_dim = patch_dim
        self.register_buffer("active", torch.tensor(len(self.grids)))
        # 1: the scale is part of the model; 0: its stage was left out (stage_selection)
        self.register_buffer("kept", torch.ones(len(self.grids), dtype=torch.long))
        if patch_dim is not None:
            self._build(patch_dim)

    def _build(self, patch_dim: int) -> None:
        """The patch branches, once the patch width is known (first batch or checkpoint);
        their input is the patch feature + the motion cells (``patch_motion``)."""
        cfg = self.cfg
        self.patch_dim = patch_dim
        dp = patch_dim + self.motion_width
        if dp % 4:
            raise DataError(f"ssrl: patch input width {dp} (features {patch_dim} + motion "
                            f"{self.motion_width}) must be divisible by 4")
        width = cfg.psr_dim or dp
        if width % 4:
            raise DataError(f"ssrl: psr_dim {width} must be divisible by 4")
        names = [grid_name(g) for g in self.grids]
        self.project = nn.ModuleDict({n: nn.Linear(dp, width) for n in names}) \
            if cfg.psr_dim else None
        soft = cfg.psr_attention == "softmax"
        shared = RelationNetwork(width, softmax=soft) if cfg.share_psr else None
        self.psr = nn.ModuleDict({n: shared or RelationNetwork(width, softmax=soft)
                                  for n in names})
        self.mpa = nn.ModuleDict({n: PatchAggregation(g, width, self.dim, cfg.mpa_stride)
                                  for n, g in zip(names, self.grids, strict=True)})
        self.patch_norm = nn.ModuleDict({n: InputNorm(dp, cfg.input_norm) for n in names})
        # γ_r = 0: a scale enters the model as nothing and grows in (the docstring says why)
        self.gate = nn.ParameterDict({n: nn.Parameter(torch.zeros(())) for n in names}) \
            if cfg.scale_gate else None
        for module in (self.psr, self.mpa, self.project):
            if module is not None:
                xavier_init(module)
        with torch.no_grad():
            for branch in self.mpa.values():
                branch.fc[0].weight.mul_(cfg.mpa_init)
        self._freeze()

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        key = next((k for k in state if k.startswith("patch_norm.") and k.endswith(".mean")),
                   None)
        if self.patch_dim is None and key is not None:
            self._build(int(state[key].shape[0]) - self.motion_width)
        return super().load_state_dict(state, strict, assign)

    # -- stages ------------------------------------------------------------------------------
    def stage_count(self) -> int:
        return len(self.grids) + 1 if self.cfg.staged else 1

    def begin_stage(self, stage: int) -> None:
        """Stage 1: clip features only; stage s: scales 1 … s−1 active, the earlier parts frozen
        when ``finetune='branch'``."""
        self._stage = stage if self.cfg.staged else None
        self.active.fill_(stage - 1 if self.cfg.staged else len(self.grids))
        self._freeze()

    def step_streams(self) -> tuple[str, ...]:
        """The clip features, the active scales' patches and (``patch_motion``) the flow cells:
        stage 1 collates no patch at all (a quarter of its step at 27 + 27 plaza videos)."""
        scales = self.active_scales()
        motion = (STREAM[self.cfg.motion_cells],) if scales and self.motion_width else ()
        return ("features", *(f"patches_{n}" for n in scales), *motion)

    def stage_batch_size(self) -> int:
        """``batch_size`` in stage 1 (RTFM on the clip features), ``patch_batch_size`` (when
        set) in the patch stages."""
        stage = getattr(self, "_stage", None)
        if stage is not None and stage > 1 and self.cfg.patch_batch_size:
            return self.cfg.patch_batch_size
        return self.cfg.batch_size

    def leave_out_stage(self, stage: int, dry_run: bool = False) -> bool:
        """Stage ``stage`` ≥ 2 added scale ``stage − 1``; with ``stage_selection='validated'``
        that scale is taken out of the sum (and of the heat map) for good."""
        if self.cfg.stage_selection != "validated" or not self.cfg.staged or stage < 2:
            return False
        if not dry_run:
            self.kept[stage - 2] = 0
            self.active.fill_(max(int(self.active), stage - 1))   # the stages run so far
        return True

    def _load_from_state_dict(self, state, prefix, *args, **kwargs):
        # checkpoints saved before stage_selection existed kept every scale
        state.setdefault(prefix + "kept", torch.ones(len(self.grids), dtype=torch.long))
        super()._load_from_state_dict(state, prefix, *args, **kwargs)

    def _freeze(self) -> None:
        stage = getattr(self, "_stage", None)
        mode = self.cfg.finetune if stage is not None and stage > 1 else "all"
        for p in self.parameters():
            p.requires_grad_(mode == "all")
        if mode == "all" or self.patch_dim is None:
            return
        scales = [grid_name(self.grids[stage - 2])] if mode == "branch" else \
            self.active_scales()
        for name in scales:
            for module in (self.psr[name], self.mpa[name],
                           self.project[name] if self.project is not None else None):
                for p in (module.parameters() if module is not None else ()):
                    p.requires_grad_(True)
            if self.gate is not None:
                self.gate[name].requires_grad_(True)

    def train(self, mode: bool = True):
        """Frozen parts stay in eval mode (their BatchNorm statistics do not drift)."""
        super().train(mode)
        if mode:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and \
                        not any(p.requires_grad for p in m.parameters()):
                    m.eval()
        return self

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam([p for p in self.parameters() if p.requires_grad],
                                lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    # -- inputs ------------------------------------------------------------------------------
    def active_scales(self) -> list[str]:
        return [grid_name(g) for i, g in enumerate(self.grids[:int(self.active)])
                if int(self.kept[i])]

    def _patches(self, batch: Batch, name: str) -> torch.Tensor:
        have = batch.patches or {}
        if name not in have:
            raise DataError(f"ssrl needs the {name} patch grid (stream 'patches_{name}'); the "
                            f"data has {sorted(have) or 'no patches'} — extract with "
                            "`wsvad extract --patches`, or set scales=… to the grids you have")
        p = have[name]
        r, c = dict(zip(map(grid_name, self.grids), self.grids, strict=True))[name]
        if p.shape[2] != r * c:
            raise DataError(f"ssrl: patches_{name} has {p.shape[2]} patches per snippet, "
                            f"expected {r * c}")
        if self.patch_dim is None:
            self._build(p.shape[-1])
        return self.patch_norm[name](self._with_motion(batch, name, p))

    def _with_motion(self, batch: Batch, name: str, p: torch.Tensor) -> torch.Tensor:
        """``[B, T, P, Dp]`` → ``[B, T, P, Dp + o + m]``: each patch and the flow cells of the
        motion descriptor under it (``patch_motion``; row-major, as the patches)."""
        if not self.motion_width:
            return p
        r, c = dict(zip(map(grid_name, self.grids), self.grids, strict=True))[name]
        cells = flow_cells(batch, r, c, self.cfg.motion_cells)          # [B, T, r, c, width]
        return torch.cat([p.float(), cells.flatten(2, 3).to(p.device)], dim=-1)

    def _relate(self, batch: Batch, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """PSR of one scale: ``[B·T, P, Dp]`` enhanced patches and attention ``[B·T, P, P]``."""
        p = self._patches(batch, name)
        b, t, n, dp = p.shape
        x = p.reshape(b * t, n, dp)
        if self.project is not None:
            x = self.project[name](x)
        return self.psr[name](x, return_map=True)

    def inputs(self, batch: Batch) -> torch.Tensor:
        """Clip features ``[B, C, T, D]`` plus φ'_t = Σ_r γ_r·MPA_r(PSR_r(χ_t^r)) on every crop
        (γ_r = 1 without ``scale_gate``: the paper's sum)."""
        x = super().inputs(batch)
        b, _, t, d = x.shape
        for name in self.active_scales():
            enhanced, _ = self._relate(batch, name)
            phi = self.mpa[name](enhanced).view(b, 1, t, d)
            x = x + (phi if self.gate is None else self.gate[name] * phi)
        return x

    @torch.no_grad()
    def fit(self, videos) -> None:
        """Clip-feature statistics (base class), then each scale's patch statistics, from the
        normal training videos."""
        super().fit(videos)
        moments: dict[str, list] = {}
        for b in videos():
            if self.patch_dim is None and b.patches:
                self._build(next(iter(b.patches.values())).shape[-1])
            if float(b.label[0]) > 0.5 or not b.patches or self.cfg.input_norm == "none":
                continue
            for name in (grid_name(g) for g in self.grids):
                if name not in b.patches:
                    continue
                x = self._with_motion(b, name, b.patches[name])
                x = x.reshape(-1, x.shape[-1]).double()
                m = moments.setdefault(name, [0, 0.0, 0.0])
                m[0], m[1], m[2] = m[0] + len(x), m[1] + x.sum(0), m[2] + (x * x).sum(0)
        parts = (("patches", self.patch_dim),) + ((("motion", self.motion_width),)
                                                   if self.motion_width else ())
        for name, (n, s1, s2) in moments.items():
            # each part the same expected norm (a 12-bin flow part beside 1280 appearance dims)
            self.patch_norm[name].fit_moments(n, s1, s2, parts)

    # -- where ---------------------------------------------------------------------------------
    @torch.no_grad()
    def localize(self, batch: Batch, output) -> list[Localization] | None:
        """Per video ``[T, h, w]`` heat maps from the PSR attention (paper Sect. 4.5)."""
        scales = self.active_scales()
        if not scales:
            return None
        was = self.training
        self.eval()
        grids = dict(zip(map(grid_name, self.grids), self.grids, strict=True))
        rows = math.lcm(*(grids[n][0] for n in scales))
        cols = math.lcm(*(grids[n][1] for n in scales))
        b, t = batch.features.shape[0], batch.features.shape[2]
        total = torch.zeros(b * t, rows, cols, device=batch.features.device)
        for name in scales:
            if self.cfg.heatmap == "deviation":          # ‖standardised patch feature‖
                w = self._patches(batch, name).norm(dim=-1).reshape(b * t, -1)
            else:
                _, attn = self._relate(batch, name)
                w = attn.sum(1)                                     # w'_n = Σ_m w_{m,n}
                # a highlighted column may stand out by sign either way — without the softmax,
                # and with it too (on generated data the anomalous patch's column came out the
                # *least* attended): the distance from the typical column sum
                w = (w - w.median(1, keepdim=True).values).abs()
            lo, hi = w.min(1, keepdim=True).values, w.max(1, keepdim=True).values
            w = (w - lo) / (hi - lo).clamp_min(1e-12)
            r, c = grids[name]
            w = w.view(-1, r, c).repeat_interleave(rows // r, 1).repeat_interleave(cols // c, 2)
            total += w
        self.train(was)
        maps = (total / len(scales)).view(b, t, rows, cols).numpy()
        return [Localization(heatmaps=np.ascontiguousarray(maps[i]),
                             grids=tuple(grids[n] for n in scales)) for i in range(b)]
