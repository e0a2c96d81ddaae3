"""``rtfm`` — Tian et al., "Weakly-supervised Video Anomaly Detection with Robust Temporal
Feature Magnitude Learning" (ICCV'21).

``[B, C, T, D]`` → crops folded into the batch → multi-scale temporal network (Sec. 3.2,
:class:`~wsvad.methods.blocks.RelationNetwork`) → dropout 0.7 → X. Snippet score = classifier
FC 512-128-1 (dropout 0.7) on X, mean over crops; magnitude = ‖x_t‖₂ (Eq. 2), mean over crops.
Top-k (k = 3) snippets by magnitude of every video feed the separability loss (Eq. 6, margin
m = 100) and the BCE on the top-k scores (Eq. 7), with smoothness and sparsity (after [51]).
Adam, lr 1e-3, 32 normal + 32 abnormal videos, T = 32 segments.

``variant`` — the official code differs from the paper; both are offered:

=================  ============================================  ===========================
                   ``official`` (default)                        ``paper``
=================  ============================================  ===========================
separability       (|m − ‖mean_k x⁺‖| + ‖mean_k x⁻‖)² per crop   max(0, m − (g_k(X⁺) − g_k(X⁻)))
                   and pair, mean; weight α = 1e-4               Eq. 6 with g of Eq. 2; α = 1e-4
classification     BCE of the mean top-k score (video score)     Eq. 7: BCE of each top-k
                                                                 snippet
sparsity           8e-3 · ‖s⁺‖₂ over the flattened batch         λ · Σ_t|s⁺_t| (ℓ1), λ = 8e-5
smoothness         8e-4 · Σ(Δs⁺)² over the flattened batch       λ · Σ_t(Δs⁺_t)², λ = 8e-5
top-k mask         magnitudes × dropout(0.7)(ones) before top-k  none
weight decay       5e-3                                          5e-4
=================  ============================================  ===========================

``official`` is the default because it is the code that produced the published numbers and that
every later paper (SSRL included) builds on. The paper gives no weights for the terms of Eq. 1;
the ``paper`` variant takes λ = 8e-5 for smoothness and sparsity from [51] (Sultani et al.),
which the paper says it follows, and the official α = 1e-4 for Eq. 6: Eq. 1 as written sums
the terms unweighted, but with α = 1 the margin-100 hinge swamps the BCE and training fails on
the generated benchmark (frame AUC 0.48 against 0.79 with α = 1e-4, 300 iterations, seed 0;
``--set alpha=1`` reproduces it).

Input (deviation from both, like every method here): features standardised on the normal
training snippets, each part weighted equally, *without* the logarithm the other methods use —
RTFM's score is a magnitude and needs the tail (:mod:`wsvad.methods.inputs`);
``--set input_norm=none`` feeds raw features as the paper does.

Top-k by magnitude needs the anomaly to show in the magnitude from the start: on the plaza
scenes the norm of the normalised input does not rank the still anomalies (frame AUC 0.42 for a
fall, 0.59 for an object left behind) — the motion part's tails decide the top k — so one RTFM
never trains on them (fall 0.47, left object 0.52, 3 seeds). ``fusion=late`` (one RTFM per
feature part, :mod:`wsvad.methods.fusion`) ranks the appearance member by appearance alone:
0.85 against 0.68 frame AUC there (README, "Input normalisation").

``ica`` (not in either): CLAV's implicit class-activation module (Cho et al. CVPR'23, Sect.
3.1.1, "add-on" in its Table 3) in front of the temporal network; off by default.

``crops_per_step`` (not in either): train each step on N random crops per video instead of all
(a 10/N× cheaper step on ten-crop features); evaluation always uses every crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from wsvad.data.batch import Batch
from wsvad.errors import ConfigError
from wsvad.methods import losses as L
from wsvad.methods.base import FeatureConfig, Method, Output, register
from wsvad.methods.blocks import (
    ImplicitClassActivation,
    RelationNetwork,
    SnippetClassifier,
    gather_time,
    magnitudes,
    topk_indices,
    xavier_init,
)

_VARIANTS = {
    "official": {"alpha": 1e-4, "lambda_sparse": 8e-3, "lambda_smooth": 8e-4,
                 "weight_decay": 5e-3},
    "paper": {"alpha": 1e-4, "lambda_sparse": 8e-5, "lambda_smooth": 8e-5, "weight_decay": 5e-4},
}


@dataclass
class RTFMConfig(FeatureConfig):
    variant: str = "official"
    batch_size: int = 32
    lr: float = 1e-3
    k: int = 3
    margin: float = 100.0
    dropout: float = 0.7
    alpha: float | None = None          # None = the variant's value (table above)
    lambda_sparse: float | None = None
    lambda_smooth: float | None = None
    weight_decay: float | None = None   # type: ignore[assignment]
    iterations: int = 2000
    ica: bool = False        # CLAV's ICA add-on before the temporal network (Cho et al.)
    input_norm: str = "z"    # deviation: z on normal snippets, no logarithm (methods/inputs.py)

    def validate(self) -> None:
        super().validate()
        if self.variant not in _VARIANTS:
            raise ConfigError(f"rtfm variant '{self.variant}' unknown; use one of "
                              f"{sorted(_VARIANTS)}")
        for key, value in _VARIANTS[self.variant].items():
            if getattr(self, key) is None:
                setattr(self, key, value)


@register
class RTFM(Method):
    """Robust Temporal Feature Magnitude learning.

    Example:
        >>> import torch; from wsvad.data import Batch
        >>> m = RTFM(64, RTFMConfig.build({"batch_size": 2}))
        >>> b = Batch(torch.rand(4, 2, 32, 64), torch.tensor([0., 0., 1., 1.]))
        >>> sorted(m.losses(b, m(b)))
        ['bce', 'magnitude', 'smoothness', 'sparsity']
    """

    name = "rtfm"
    Config = RTFMConfig
    paper = "Tian et al., ICCV 2021"

    def __init__(self, dim: int, cfg: RTFMConfig, parts: tuple[tuple[str, int], ...] = ()):
        super().__init__(dim, cfg, parts)
        self.ica = ImplicitClassActivation(dim) if cfg.ica else None
        self.temporal = RelationNetwork(dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.classifier = SnippetClassifier(dim, (512, 128), cfg.dropout)
        xavier_init(self)

    def forward(self, batch: Batch) -> Output:
        x = self.inputs(batch)
        b, c, t, d = x.shape
        x = x.reshape(b * c, t, d)
        if self.ica is not None:
            x = self.ica(x)                                                 # CLAV Eq. 1–3
        x = self.drop(self.temporal(x))                                     # [B·C, T, D]
        scores = self.classifier(x).view(b, c, t).mean(1)                  # [B, T]
        mags = magnitudes(x).view(b, c, t)                                  # [B, C, T]
        return Output(scores=scores, extras={"features": x.view(b, c, t, d),
                                             "magnitudes": mags.mean(1)})

    def _select(self, output: Output, rows: torch.Tensor) -> torch.Tensor:
        mags = output.extras["magnitudes"][rows]
        if self.cfg.variant == "official" and self.training:
            mags = mags * self.drop(torch.ones_like(mags))  # random snippet masking
        return topk_indices(mags, self.cfg.k)

    def losses(self, batch: Batch, output: Output) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        abn_rows, nor_rows = batch.label > 0.5, batch.label <= 0.5
        idx_a, idx_n = self._select(output, abn_rows), self._select(output, nor_rows)
        s_a, s_n = output.scores[abn_rows], output.scores[nor_rows]
        top_a, top_n = gather_time(s_a, idx_a), gather_time(s_n, idx_n)      # [B, k]
        feats = output.extras["features"]
        fa = gather_time(feats[abn_rows], idx_a)                             # [B, C, k, D]
        fn = gather_time(feats[nor_rows], idx_n)
        if cfg.variant == "official":
            video = torch.cat([top_n.mean(1), top_a.mean(1)])
            target = torch.cat([torch.zeros(len(top_n), device=video.device),
                                torch.ones(len(top_a), device=video.device)])
            cls = L.bce(video, target)
            na, nn_ = magnitudes(fa.mean(2)), magnitudes(fn.mean(2))         # [B, C]
            na, nn_ = L.paired(na, nn_)
            sep = ((cfg.margin - na).abs() + nn_) ** 2
            smooth, sparse = L.smoothness(s_a, "flat"), L.sparsity_l2(s_a)
        else:
            target = torch.cat([torch.zeros_like(top_n), torch.ones_like(top_a)])
            cls = L.bce(torch.cat([top_n, top_a]), target) * cfg.k          # Eq. 7: sum over k
            g_a = magnitudes(fa).mean(1).mean(1)                             # Eq. 2, [B]
            g_n = magnitudes(fn).mean(1).mean(1)
            g_a, g_n = L.paired(g_a, g_n)
            sep = (cfg.margin - (g_a - g_n)).clamp_min(0)                    # Eq. 6
            smooth, sparse = L.smoothness(s_a), L.sparsity_l1(s_a)
        return {"bce": cls, "magnitude": cfg.alpha * sep.mean(),
                "smoothness": cfg.lambda_smooth * smooth, "sparsity": cfg.lambda_sparse * sparse}

    def video_score(self, output: Output) -> torch.Tensor:
        """Mean score of the k largest-magnitude snippets (what the BCE trains)."""
        idx = topk_indices(output.extras["magnitudes"], self.cfg.k)
        return gather_time(output.scores, idx).mean(1)
