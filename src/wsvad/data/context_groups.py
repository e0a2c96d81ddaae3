"""ImageNet-1k classes reduced to a handful of surveillance-relevant groups.

The ``context`` stream of ``wsvad extract`` holds EfficientNet-Lite0's 1000 ImageNet class
probabilities per snippet. CLAV/CoMo wants *object* class scores of the scene as context
pseudo-labels (the paper: a COCO-trained YOLOv5, which cannot be had offline). ImageNet has no
"person" class and spreads a bicycle over several fine classes, so a snippet's probabilities
are summed into coarse groups that a surveillance scene is made of; whatever no group claims is
the last group, ``other``, so every row still sums to 1.

Indices follow the standard ImageNet-1k (ILSVRC-2012) class order that the packaged weights use.

Example:
    >>> import numpy as np
    >>> p = np.zeros((2, 1000), np.float32); p[0, 671] = 0.75; p[0, 0] = 0.25  # mountain bike
    >>> g = group_probabilities(p)
    >>> GROUP_NAMES[int(g[0].argmax())], round(float(g[0].sum()), 3), float(g[1, -1])
    ('two-wheeler', 1.0, 0.0)
"""

from __future__ import annotations

import numpy as np

from wsvad.errors import DataError

IMAGENET_CLASSES = 1000

# group name → ImageNet-1k class indices
GROUPS: dict[str, tuple[int, ...]] = {
    # ImageNet has no "person": people show through what they wear and carry
    "person": (399, 400, 411, 474, 501, 578, 608, 610, 614, 617, 652, 655, 697, 735, 834, 841,
               869, 981, 982, 983),
    "two-wheeler": (444, 665, 670, 671, 870, 880),
    "vehicle": (407, 436, 468, 511, 555, 569, 573, 575, 603, 609, 612, 627, 654, 656, 661, 675,
                717, 734, 751, 757, 779, 803, 817, 864, 866, 867, 874),
    "bag": (414, 636, 728, 748, 797),
    "cart": (428, 478, 519, 790, 791),
    "street": (562, 640, 703, 704, 733, 919, 920),
    "animal": tuple(range(151, 269)) + tuple(range(281, 286)),
}
GROUP_NAMES: tuple[str, ...] = (*GROUPS, "other")


def group_matrix() -> np.ndarray:
    """``[1000, G]`` 0/1 matrix: ImageNet class → its group (unclaimed classes → ``other``)."""
    m = np.zeros((IMAGENET_CLASSES, len(GROUP_NAMES)), np.float32)
    for g, idx in enumerate(GROUPS.values()):
        m[list(idx), g] = 1.0
    m[m.sum(1) == 0, -1] = 1.0
    return m


def group_probabilities(probs: np.ndarray) -> np.ndarray:
    """``[..., 1000]`` ImageNet probabilities → ``[..., G]`` sums per group (the rest as
    ``other``)."""
    p = np.asarray(probs, np.float32)
    if p.shape[-1] != IMAGENET_CLASSES:
        raise DataError(f"grouping ImageNet context needs 1000 class scores per snippet, got "
                        f"{p.shape[-1]}; use context_groups=none for a detector's own classes")
    return p @ group_matrix()
