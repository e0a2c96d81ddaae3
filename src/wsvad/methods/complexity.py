"""Parameter count and multiply–accumulates of a method's forward pass (``wsvad info``).

MACs are counted with forward hooks on every ``Conv1d``/``Conv2d``/``Linear`` layer (output
elements × input channels per group × kernel size), plus the two matrix products of each
non-local block — what profilers such as thop report as "FLOPs", the unit of SSRL's Table 6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from wsvad.data.batch import Batch
from wsvad.methods.base import Method
from wsvad.methods.blocks import NonLocal1d
from wsvad.methods.wsstad import RelationModule


@dataclass
class Complexity:
    """``parameters``: trainable + frozen; ``macs``: of one forward pass over the batch."""

    parameters: int
    macs: int


def count(model: Method, batch: Batch) -> Complexity:
    """Parameters and MACs of ``model.predict(batch)``.

    Example:
        >>> class M(Method):
        ...     def __init__(self):
        ...         super().__init__(3, Method.Config()); self.lin = nn.Linear(3, 2)
        ...     def forward(self, b): return self.lin(b.features)
        >>> c = count(M(), Batch(torch.ones(1, 1, 4, 3), torch.zeros(1)))
        >>> c.parameters, c.macs          # 3·2 + 2 parameters; 4 snippets × 2 outputs × 3
        (8, 24)
    """
    total = [0]

    def hook(module: nn.Module, inputs, output) -> None:
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            k = 1
            for s in module.kernel_size:
                k *= s
            total[0] += output.numel() * module.in_channels // module.groups * k
        elif isinstance(module, nn.Linear):
            total[0] += output.numel() * module.in_features
        elif isinstance(module, NonLocal1d):
            n, c, t = inputs[0].shape
            inner = module.g.out_channels
            total[0] += 2 * n * t * t * inner          # θᵀφ and M·g
        elif isinstance(module, RelationModule):
            b, n, d = inputs[0].shape
            total[0] += 2 * b * n * n * d              # QKᵀ and the weighted sum of V (all heads)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear, NonLocal1d, RelationModule))]
    try:
        model.predict(batch)
    finally:
        for h in handles:
            h.remove()
    return Complexity(sum(p.numel() for p in model.parameters()), total[0])


def describe(name: str, dim: int = 2048, patch_dim: int | None = None, crops: int = 10,
             segments: int = 32, **overrides) -> dict[str, float | int | str]:
    """Parameters and MACs of a method on one bag of ``segments`` snippets × ``crops`` with
    ``dim``-d features (patches, when the method reads them, ``patch_dim``-d, default ``dim``)
    — random inputs, since only shapes matter. The default is the published I3D setting. A
    method on tubes gets 8 tubes spanning the bag.

    Example:
        >>> describe("mil", dim=64, crops=1, segments=8)["parameters"]  # 64·512+512+512·32+32+33
        49729
    """
    from wsvad import methods
    model = methods.create(name, dim=dim, **overrides).eval()
    t, pd = segments, patch_dim or dim
    patches = None
    if "patches" in model.needs:
        grids = getattr(model, "grids", [(2, 3), (3, 5), (4, 7)])
        patches = {f"{r}x{c}": torch.rand(1, t, r * c, pd) for r, c in grids}
    batch = Batch(torch.rand(1, crops, t, dim), torch.zeros(1), motion=torch.rand(1, t),
                  motion_desc=torch.rand(1, t, 208), motion_grid=torch.rand(1, t, 12, 12, 16),
                  context=torch.rand(1, t, 1000),
                  patches=patches, maps=torch.rand(1, t, 7, 7, pd) if "maps" in model.needs
                  else None, maps_trunk=torch.rand(1, t, 7, 7, 192))
    if "tube_regions" in model.needs:
        batch.tube_regions = [np.array([[k, s, *np.random.rand(dim)] for k in range(8)
                                        for s in range(t)], np.float32)]
        batch.tubes = [np.zeros((0, 8), np.float32)]
    model.predict(batch)        # builds what a method builds on its first batch (SSRL's branches)
    c = count(model, batch)
    return {"method": name, "paper": model.paper, "dim": dim, "patch_dim": pd if patches else 0,
            "crops": crops, "segments": t, "parameters": c.parameters, "macs_per_bag": c.macs,
            "macs_per_snippet": c.macs / t}
