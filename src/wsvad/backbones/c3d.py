"""C3D (Tran et al. 2015) — the backbone of the UCF-Crime release of Sultani et al.
(fc6, 4096-d, averaged over a segment's 16-frame clips and ℓ2-normalised).

Parameter names follow the public PyTorch port of the Sports-1M checkpoint (``conv1``,
``conv2``, ``conv3a/b``, ``conv4a/b``, ``conv5a/b``, ``fc6``, ``fc7``, ``fc8``) so a user's
``c3d.pickle`` loads with strict key checking. Input: 16 frames resized to 128×171, centre (or
ten-) crop 112, in **BGR** channel order (the Caffe model's, kept by that port and by the
public Sultani re-implementations that read frames with OpenCV) minus the Sports-1M mean (also
BGR); ``features`` is the fc6 activation (after ReLU).
"""

from __future__ import annotations

import torch
from torch import nn

# Approximate per-channel mean of the Sports-1M training clips in BGR order (the released
# per-pixel mean volume averaged); a user with the exact mean file can subtract it instead.
MEAN_BGR = (90.2, 97.7, 101.4)


class C3D(nn.Module):
    """``forward(x [N, 3, 16, 112, 112]) -> (fc6 [N, 4096], logits [N, classes])``."""

    def __init__(self, num_classes: int = 487):
        super().__init__()

        def conv(cin: int, cout: int) -> nn.Conv3d:
            return nn.Conv3d(cin, cout, 3, padding=1)

        self.conv1, self.conv2 = conv(3, 64), conv(64, 128)
        self.conv3a, self.conv3b = conv(128, 256), conv(256, 256)
        self.conv4a, self.conv4b = conv(256, 512), conv(512, 512)
        self.conv5a, self.conv5b = conv(512, 512), conv(512, 512)
        self.pool1 = nn.MaxPool3d((1, 2, 2), (1, 2, 2))
        self.pool = nn.MaxPool3d(2, 2)
        self.pool5 = nn.MaxPool3d(2, 2, padding=(0, 1, 1))
        self.fc6, self.fc7 = nn.Linear(8192, 4096), nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, num_classes)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.relu
        h = self.pool1(r(self.conv1(x)))
        h = self.pool(r(self.conv2(h)))
        h = self.pool(r(self.conv3b(r(self.conv3a(h)))))
        h = self.pool(r(self.conv4b(r(self.conv4a(h)))))
        h = self.pool5(r(self.conv5b(r(self.conv5a(h)))))
        fc6 = r(self.fc6(h.flatten(1)))
        logits = self.fc8(self.dropout(r(self.fc7(self.dropout(fc6)))))
        return fc6, logits
