"""``mil`` — Sultani, Chen, Shah, "Real-world Anomaly Detection in Surveillance Videos" (CVPR'18).

Model: per segment FC D → 512 (ReLU) → 32 → 1 (sigmoid), dropout 0.6 between FC layers,
Glorot-normal init; input segment features ℓ2-normalised (Sec. 3.3: "we ... perform l2
normalization"). Loss (Eq. 7): ranking hinge ``max(0, 1 − max s⁺ + max s⁻)`` (Eq. 3) +
λ1 · smoothness + λ2 · sparsity on the abnormal bag (Eq. 6), λ1 = λ2 = 8e-5, plus the weight
penalty ‖W‖ — as the authors' Keras code does it, 0.001 · Σ‖W‖² per layer (``weight_l2``).
Optimiser Adagrad, lr 0.001; 30 positive + 30 negative bags per batch; 32 segments.

Deviation (named): the paper ℓ2-normalises its raw C3D segment features. wsvad standardises
the input on normal training snippets first (:mod:`wsvad.methods.inputs`), after which a
snippet's norm *is* its deviation from normal — the evidence — and ℓ2 normalisation would throw
it away; so ``normalize`` defaults to ℓ2 only when ``input_norm: none`` (the paper's raw input).
Measured (seed 1, frame AUC): Ped2 weak split 0.911 with ℓ2 → 0.942 without; plaza scenes 0.917
→ 0.908. ``--set normalize=true`` restores it.

``ica`` (not in the paper): CLAV's implicit class-activation module (Cho et al. CVPR'23,
Table 3 "MMIL w ICA") between the input and FC1; off by default.

Choices where the paper is silent (named here): the 32-unit layer is linear (Keras code); with
several crops, a snippet's score is the mean of the crop scores (as RTFM does); the i-th abnormal
bag of a batch is paired with the i-th normal bag (Keras code).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from wsvad.data.batch import Batch
from wsvad.errors import ConfigError
from wsvad.methods import losses as L
from wsvad.methods.base import FeatureConfig, Method, Output, register
from wsvad.methods.blocks import ImplicitClassActivation


@dataclass
class MILConfig(FeatureConfig):
    batch_size: int = 30
    lr: float = 1e-3
    dropout: float = 0.6
    lambda_smooth: float = 8e-5
    lambda_sparse: float = 8e-5
    lambda_weight: float = 1e-3
    normalize: bool | None = None     # ℓ2 on the input; None: only on raw input (see above)
    ica: bool = False                 # CLAV's ICA add-on before FC1 (Cho et al., Table 3)
    iterations: int = 3000

    def validate(self) -> None:
        super().validate()
        if self.normalize is not None and not isinstance(self.normalize, bool):
            raise ConfigError(f"config normalize={self.normalize!r}: expected true or false")
        if self.normalize is None:
            self.normalize = self.input_norm == "none"


@register
class MIL(Method):
    """Sultani et al. MIL ranking baseline.

    Example:
        >>> import torch; from wsvad.data import Batch
        >>> m = MIL(16, MILConfig())
        >>> out = m(Batch(torch.rand(4, 1, 32, 16), torch.tensor([0., 0., 1., 1.])))
        >>> out.scores.shape, sorted(m.losses(Batch(torch.rand(4, 1, 32, 16),
        ...     torch.tensor([0., 0., 1., 1.])), out))
        (torch.Size([4, 32]), ['ranking', 'smoothness', 'sparsity', 'weight_l2'])
    """

    name = "mil"
    Config = MILConfig
    paper = "Sultani et al., CVPR 2018"

    def __init__(self, dim: int, cfg: MILConfig, parts: tuple[tuple[str, int], ...] = ()):
        super().__init__(dim, cfg, parts)
        self.fc1, self.fc2, self.fc3 = nn.Linear(dim, 512), nn.Linear(512, 32), nn.Linear(32, 1)
        self.drop = nn.Dropout(cfg.dropout)
        self.ica = ImplicitClassActivation(dim) if cfg.ica else None
        for fc in (self.fc1, self.fc2, self.fc3):
            nn.init.xavier_normal_(fc.weight)
            nn.init.zeros_(fc.bias)

    def forward(self, batch: Batch) -> Output:
        x = self.inputs(batch)                               # [B, C, T, D]
        if self.ica is not None:
            b, c, t, d = x.shape
            x = self.ica(x.reshape(b * c, t, d)).view(b, c, t, d)
        if self.cfg.normalize:
            x = F.normalize(x, p=2, dim=-1)
        h = self.drop(F.relu(self.fc1(x)))
        h = self.drop(self.fc2(h))
        s = torch.sigmoid(self.fc3(h)).squeeze(-1)           # [B, C, T]
        return Output(scores=s.mean(1))

    def losses(self, batch: Batch, output: Output) -> dict[str, torch.Tensor]:
        abn = output.scores[batch.label > 0.5]
        nor = output.scores[batch.label <= 0.5]
        cfg = self.cfg
        return {
            "ranking": L.mil_ranking(abn, nor),
            "smoothness": cfg.lambda_smooth * L.smoothness(abn),
            "sparsity": cfg.lambda_sparse * L.sparsity_l1(abn),
            "weight_l2": cfg.lambda_weight * sum((fc.weight ** 2).sum()
                                                 for fc in (self.fc1, self.fc2, self.fc3)),
        }

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adagrad(self.parameters(), lr=self.cfg.lr)
