"""I3D ResNet-50 (Carreira & Zisserman 2017, inflated ResNet as in Wang et al.'s non-local
networks) — the backbone of the RTFM feature releases (UCF-Crime, ShanghaiTech: 2048-d).

Parameter names follow the public ``i3d_r50_kinetics.pth`` conversion (``conv1``, ``bn1``,
``layer1.0.conv1`` … ``layer4.2.bn3``, ``*.downsample.0/1``, ``fc``), so a user's checkpoint
loads with strict key checking. Temporal kernels: conv1 5×7×7; in the bottlenecks' first 1×1
convolution a temporal kernel of 3 where ``temp_conv`` says so (layer1 all, layer2 alternate
from the first, layer3 alternate from the first, layer4 the middle block).

Preprocessing of the releases: 16-frame clips, frames resized to 256 on the short side,
ten-crop 224, pixel values normalised with mean 114.75 and std 57.375 (all channels).
Output: the 2048-d global average pool of layer4 (``features``) and Kinetics-400 logits.
"""

from __future__ import annotations

import torch
from torch import nn

MEAN, STD = 114.75, 57.375


class Bottleneck3d(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, temp_conv: int,
                 downsample: nn.Module | None):
        super().__init__()
        self.conv1 = nn.Conv3d(inplanes, planes, (1 + 2 * temp_conv, 1, 1),
                               padding=(temp_conv, 0, 0), bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, (1, 3, 3), (1, stride, stride), (0, 1, 1),
                               bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return self.relu(h + (self.downsample(x) if self.downsample is not None else x))


class I3DResNet50(nn.Module):
    """``forward(x [N, 3, T, 224, 224]) -> (features [N, 2048], logits [N, classes])``."""

    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv3d(3, 64, (5, 7, 7), (2, 2, 2), (2, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        # no padding, as in the Caffe2 original and the pytorch-resnet3d port (I3Res50) that
        # made the released features: 112×112 after conv1 → 55×55 (not 56×56)
        self.maxpool1 = nn.MaxPool3d((2, 3, 3), (2, 2, 2), (0, 0, 0))
        self.maxpool2 = nn.MaxPool3d((2, 1, 1), (2, 1, 1))
        self.layer1 = self._layer(64, 1, [1, 1, 1])
        self.layer2 = self._layer(128, 2, [1, 0, 1, 0])
        self.layer3 = self._layer(256, 2, [1, 0, 1, 0, 1, 0])
        self.layer4 = self._layer(512, 2, [0, 1, 0])
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(2048, num_classes)

    def _layer(self, planes: int, stride: int, temp_conv: list[int]) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes * 4:
            down = nn.Sequential(nn.Conv3d(self.inplanes, planes * 4, 1, (1, stride, stride),
                                           bias=False), nn.BatchNorm3d(planes * 4))
        blocks = [Bottleneck3d(self.inplanes, planes, stride, temp_conv[0], down)]
        self.inplanes = planes * 4
        blocks += [Bottleneck3d(self.inplanes, planes, 1, t, None) for t in temp_conv[1:]]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.maxpool1(self.relu(self.bn1(self.conv1(x))))
        h = self.maxpool2(self.layer1(h))
        h = self.layer4(self.layer3(self.layer2(h)))
        feats = self.avgpool(h).flatten(1)
        return feats, self.fc(self.drop(feats))
