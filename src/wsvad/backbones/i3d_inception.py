"""I3D Inception-v1 (Carreira & Zisserman 2017) — the backbone of the XD-Violence release
(Wu et al.: 1024-d, five crops).

Parameter names follow the public PyTorch port of the Kinetics checkpoints (``Conv3d_1a_7x7``,
``Mixed_3b.b0`` … ``Mixed_5c.b3b``, each ``.conv3d`` + ``.bn``; ``logits.conv3d``) so a user's
``rgb_imagenet.pt`` loads with strict key checking. Convolutions and max-pools use TensorFlow
"SAME" padding, as the original. Input RGB scaled to [-1, 1]; output: the 1024-d average pool
before the logits (``features``) and the logits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MEAN, STD = 127.5, 127.5

# name: (in, [b0, b1a, b1b, b2a, b2b, b3b])
MIXED = {"Mixed_3b": (192, [64, 96, 128, 16, 32, 32]),
         "Mixed_3c": (256, [128, 128, 192, 32, 96, 64]),
         "Mixed_4b": (480, [192, 96, 208, 16, 48, 64]),
         "Mixed_4c": (512, [160, 112, 224, 24, 64, 64]),
         "Mixed_4d": (512, [128, 128, 256, 24, 64, 64]),
         "Mixed_4e": (512, [112, 144, 288, 32, 64, 64]),
         "Mixed_4f": (528, [256, 160, 320, 32, 128, 128]),
         "Mixed_5b": (832, [256, 160, 320, 32, 128, 128]),
         "Mixed_5c": (832, [384, 192, 384, 48, 128, 128])}


def _same_pad(x: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...],
              value: float = 0.0) -> torch.Tensor:
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride),
                          strict=True):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


class Unit3D(nn.Module):
    """Conv3d ("SAME" padding) + BN + ReLU."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1),
                 bn: bool = True, relu: bool = True, bias: bool = False):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, self.stride, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01) if bn else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv3d(_same_pad(x, self.kernel, self.stride))
        if self.bn is not None:
            h = self.bn(h)
        return F.relu(h) if self.relu else h


class MaxPoolSame(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_same_pad(x, self.kernel, self.stride), self.kernel, self.stride)


class Mixed(nn.Module):
    def __init__(self, cin: int, c: list[int]):
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], (3, 3, 3))
        self.b3a, self.b3b = MaxPoolSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, c[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                          self.b3b(self.b3a(x))], dim=1)


class I3DInception(nn.Module):
    """``forward(x [N, 3, T, 224, 224]) -> (features [N, 1024], logits [N, classes])``."""

    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPoolSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPoolSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b, self.Mixed_3c = (Mixed(*MIXED[n]) for n in ("Mixed_3b", "Mixed_3c"))
        self.MaxPool3d_4a_3x3 = MaxPoolSame((3, 3, 3), (2, 2, 2))
        self.Mixed_4b, self.Mixed_4c, self.Mixed_4d, self.Mixed_4e, self.Mixed_4f = (
            Mixed(*MIXED[f"Mixed_4{s}"]) for s in "bcdef")
        self.MaxPool3d_5a_2x2 = MaxPoolSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b, self.Mixed_5c = (Mixed(*MIXED[n]) for n in ("Mixed_5b", "Mixed_5c"))
        self.dropout = nn.Dropout(0.5)
        self.logits = Unit3D(1024, num_classes, bn=False, relu=False, bias=True)
        self._order = ["Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3",
                       "MaxPool3d_3a_3x3", "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3",
                       *[f"Mixed_4{s}" for s in "bcdef"], "MaxPool3d_5a_2x2", "Mixed_5b",
                       "Mixed_5c"]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for name in self._order:
            x = getattr(self, name)(x)
        pooled = F.adaptive_avg_pool3d(x, 1)
        logits = self.logits(self.dropout(pooled)).flatten(1)
        return pooled.flatten(1), logits
