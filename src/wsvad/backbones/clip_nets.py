"""The 3-D backbones of the published feature releases, behind one snippet interface.

None ships weights: the user names a checkpoint file (``--weights PATH``); it must match the
architecture key for key. Preprocessing follows the releases:

========================  ==========  ======  ====  =========================================
name                      dim         short   crop  pixel normalisation
========================  ==========  ======  ====  =========================================
``i3d-r50``               2048        256     224   (x − 114.75) / 57.375 (RTFM releases)
``i3d-inception``         1024        256     224   x / 127.5 − 1 (XD-Violence release)
``c3d``                   4096 (fc6)  128*    112   x − Sports-1M mean (*resized to 128×171)
========================  ==========  ======  ====  =========================================
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


CLIP_NETS = {
    "i3d-r50": ClipNetSpec(i3d_resnet.I3DResNet50, 2048, 256, 224, (i3d_resnet.MEAN,) * 3,
                           i3d_resnet.STD, "the Kinetics-400 I3D ResNet-50 checkpoint of the "
                           "pytorch-resnet3d conversion (i3d_r50_kinetics.pth)"),
    "i3d-inception": ClipNetSpec(i3d_inception.I3DInception, 1024, 256, 224,
                                 (i3d_inception.MEAN,) * 3, i3d_inception.STD,
                                 "the PyTorch port of DeepMind's Kinetics I3D (rgb_imagenet.pt)"),
    "c3d": ClipNetSpec(c3d.C3D, 4096, 128, 112, c3d.MEAN_RGB, 1.0,
                       "the PyTorch port of the Sports-1M C3D model (c3d.pickle)"),
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

    def encode(self, clips: list[np.ndarray]) -> np.ndarray:
        x = torch.from_numpy(np.stack([self._prep(c) for c in clips])).float()
        n, c = x.shape[:2]
        x = (x - torch.tensor(self.spec.mean)) / self.spec.std
        x = x.reshape(n * c, *x.shape[2:]).permute(0, 4, 1, 2, 3).contiguous()  # [N, 3, L, S, S]
        with torch.no_grad():
            feats, _ = self.net(x)
        return feats.view(n, c, -1).numpy()
