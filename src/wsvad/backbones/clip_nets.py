"""The 3-D backbones of the published feature releases, behind one snippet interface.

None ships weights: the user names a checkpoint file (``--weights PATH``); it must match the
architecture key for key. Preprocessing follows the releases:

========================  ==========  ======  ====  =========================================
name                      dim         short   crop  pixel normalisation
========================  ==========  ======  ====  =========================================
``i3d-r50``               2048        256     224   (x − 114.75) / 57.375 (RTFM releases)
``i3d-inception``         1024        256     224   x / 127.5 − 1 (XD-Violence release)
``c3d``                   4096 (fc6)  128*    112   BGR, x − Sports-1M BGR mean (*128×171)
========================  ==========  ======  ====  =========================================

Crops follow torchvision's FiveCrop/TenCrop order (:func:`wsvad.video.snippets.crop_boxes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from wsvad.backbones import c3d, i3d_inception, i3d_resnet
from wsvad.backbones.weights import load_strict
from wsvad.errors import WsvadError
from wsvad.video.snippets import crop_clip, resize_short_side


@dataclass(frozen=True)
class ClipNetSpec:
    build: Callable[[], nn.Module]
    dim: int
    short_side: int
    crop: int
    mean: tuple[float, float, float]
    std: float
    where: str
    bgr: bool = False      # channel order the network was trained on (Caffe models: BGR)


CLIP_NETS = {
    "i3d-r50": ClipNetSpec(i3d_resnet.I3DResNet50, 2048, 256, 224, (i3d_resnet.MEAN,) * 3,
                           i3d_resnet.STD, "the Kinetics-400 I3D ResNet-50 checkpoint of the "
                           "pytorch-resnet3d conversion (i3d_r50_kinetics.pth)"),
    "i3d-inception": ClipNetSpec(i3d_inception.I3DInception, 1024, 256, 224,
                                 (i3d_inception.MEAN,) * 3, i3d_inception.STD,
                                 "the PyTorch port of DeepMind's Kinetics I3D (rgb_imagenet.pt)"),
    "c3d": ClipNetSpec(c3d.C3D, 4096, 128, 112, c3d.MEAN_BGR, 1.0,
                       "the PyTorch port of the Sports-1M C3D model (c3d.pickle)", bgr=True),
}


def load_clip_net(name: str, weights: str | Path | None) -> nn.Module:
    """Build ``name`` and load the user's weights with strict key checking."""
    spec = CLIP_NETS[name]
    if weights is None:
        raise WsvadError(f"backbone '{name}' needs a weights file (--weights PATH): "
                         f"{spec.where}. wsvad never downloads weights.")
    return load_strict(spec.build(), weights, f"{name}: {spec.where}")


class ClipNetEncoder:
    """``encode(clips [n × (L, H, W, 3)]) -> features [n, crops, dim]``.

    Example:
        >>> enc = ClipNetEncoder("i3d-r50", "i3d_r50_kinetics.pth", crops=10)  # doctest: +SKIP
    """

    def __init__(self, name: str, weights: str | Path | None, crops: int):
        self.spec, self.crops = CLIP_NETS[name], crops
        self.net = load_clip_net(name, weights)
        self.name = name

    def _prep(self, clip: np.ndarray) -> np.ndarray:
        s = self.spec
        if self.name == "c3d":
            frames = np.stack([cv2.resize(f, (171, 128), interpolation=cv2.INTER_AREA)
                               for f in clip])
        else:
            frames = np.stack([resize_short_side(f, s.short_side) for f in clip])
        return crop_clip(frames, s.crop, self.crops)                  # [C, L, S, S, 3]

    def to_input(self, clips: list[np.ndarray]) -> torch.Tensor:
        """RGB ``clips [n × (L, H, W, 3)]`` → the network input ``[n·C, 3, L, S, S]`` (crops,
        channel order and normalisation of the release)."""
        x = np.stack([self._prep(c) for c in clips])                  # [n, C, L, S, S, 3]
        if self.spec.bgr:
            x = x[..., ::-1]
        x = (torch.from_numpy(np.ascontiguousarray(x)).float() - torch.tensor(self.spec.mean)) \
            / self.spec.std
        return x.flatten(0, 1).permute(0, 4, 1, 2, 3).contiguous()

    def encode(self, clips: list[np.ndarray]) -> np.ndarray:
        x = self.to_input(clips)
        with torch.no_grad():
            feats, _ = self.net(x)
        return feats.view(len(clips), self.crops, -1).numpy()
