"""Shared building blocks: the relation network (RTFM's MTN, reused by SSRL's PSR/VTR), the
snippet classifier, top-k selection and feature magnitudes."""

from __future__ import annotations

import torch
from torch import nn


class NonLocal1d(nn.Module):
    """Dot-product non-local block over the time axis (Wang et al. 2018), as in RTFM's TSA.

    ``x [N, C, T]`` → ``x + BN(W · M · g(x))`` with ``M = (θx)ᵀ(φx) / T`` (RTFM's official code,
    the default) or, with ``softmax``, ``M = softmax_n((θx)ᵀ(φx))`` (each row sums to 1: the
    embedded-Gaussian block of Wang et al. and SSRL's Eq. 1). The output BN starts at zero so
    the block begins as the identity (RTFM Eq. 5: F^(TSA) = F^(c4) + F^(c)).

    Example:
        >>> block = NonLocal1d(4, softmax=True)
        >>> _, m = block(torch.randn(2, 4, 5), return_map=True)
        >>> m.shape, bool(torch.allclose(m.sum(-1), torch.ones(2, 5)))
        (torch.Size([2, 5, 5]), True)
    """

    def __init__(self, channels: int, inner: int | None = None, softmax: bool = False):
        super().__init__()
        inner = inner or max(channels // 2, 1)
        self.softmax = softmax
        self.g = nn.Conv1d(channels, inner, 1)
        self.theta = nn.Conv1d(channels, inner, 1)
        self.phi = nn.Conv1d(channels, inner, 1)
        # the conv's bias (as in RTFM's official code, kept for the same layout) is inert:
        # the BatchNorm right after subtracts it again (batch mean in training, a running mean
        # that includes it at test), so it gets no gradient and changes no output
        self.out = nn.Sequential(nn.Conv1d(inner, channels, 1), nn.BatchNorm1d(channels))

    def forward(self, x: torch.Tensor, return_map: bool = False):
        """``x [N, C, T]`` → same shape; with ``return_map`` also the attention ``M [N, T, T]``
        (row m: how much position m draws from each position n)."""
        g = self.g(x).transpose(1, 2)                        # [N, T, I]
        attn = self.theta(x).transpose(1, 2) @ self.phi(x)   # [N, T, T]  M = F^(c1) F^(c2)ᵀ
        attn = attn.softmax(-1) if self.softmax else attn / x.shape[-1]
        out = x + self.out((attn @ g).transpose(1, 2))
        return (out, attn) if return_map else out


class RelationNetwork(nn.Module):
    """RTFM's multi-scale temporal network (Sec. 3.2, Eq. 4–5), generic in the feature width.

    ``[N, T, D]`` → ``[N, T, D]``: three dilated convolutions (kernel 3, dilation 1/2/4,
    D → D/4, each ReLU + BN), a 1×1 convolution D → D/4 + ReLU then a non-local block, the four
    concatenated (D), a kernel-3 convolution D → D + ReLU + BN, plus the input (skip).
    ``softmax``: the non-local block's attention is row-softmax normalised (SSRL Eq. 1, 4)
    instead of divided by the length (RTFM's official code).
    """

    def __init__(self, dim: int, dilations: tuple[int, ...] = (1, 2, 4), softmax: bool = False):
        super().__init__()
        if dim % 4:
            raise ValueError(f"feature dimension {dim} must be divisible by 4 for the relation "
                             "network (it splits into four D/4 branches)")
        b = dim // 4
        self.pyramid = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, b, 3, padding=d, dilation=d), nn.ReLU(),
                          nn.BatchNorm1d(b)) for d in dilations)
        self.reduce = nn.Sequential(nn.Conv1d(dim, b, 1, bias=False), nn.ReLU())
        self.attention = NonLocal1d(b, b // 2, softmax)
        width = b * (len(dilations) + 1)
        self.fuse = nn.Sequential(nn.Conv1d(width, dim, 3, padding=1, bias=False), nn.ReLU(),
                                  nn.BatchNorm1d(dim))

    def forward(self, x: torch.Tensor, return_map: bool = False):
        """``[N, T, D]`` → ``[N, T, D]``; with ``return_map`` also the non-local attention
        ``[N, T, T]`` (SSRL's M, Sect. 4.5)."""
        h = x.transpose(1, 2)                                 # [N, D, T]
        parts = [conv(h) for conv in self.pyramid]
        nl, attn = self.attention(self.reduce(h), return_map=True)
        parts.append(nl)
        out = (self.fuse(torch.cat(parts, dim=1)) + h).transpose(1, 2)
        return (out, attn) if return_map else out


class ImplicitClassActivation(nn.Module):
    """CLAV's ICA module (Cho et al. CVPR'23, Eq. 1–3): Conv1D D → 2D over time, then the
    element-wise max of the two D-wide halves. ``[N, T, D]`` → ``[N, T, D]``.

    Example:
        >>> ica = ImplicitClassActivation(2)
        >>> with torch.no_grad():
        ...     _ = ica.conv.weight.copy_(torch.tensor([[[1.], [0.]], [[0.], [1.]],
        ...                                             [[0.], [1.]], [[1.], [0.]]]))
        ...     _ = ica.conv.bias.zero_()
        >>> ica(torch.tensor([[[3., -1.]]])).tolist()   # halves (3, -1) and (-1, 3) → max
        [[[3.0, 3.0]]]
    """

    def __init__(self, dim: int, kernel: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(dim, 2 * dim, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)     # B̂ [N, T, 2D]  Eq. 1
        first, second = h.chunk(2, dim=-1)                   # Eq. 2
        return torch.maximum(first, second)                  # Eq. 3


class SnippetClassifier(nn.Module):
    """FC D → 512 → 128 → 1 with ReLU + dropout after the hidden layers, sigmoid output
    (RTFM Sec. 4.2). ``[..., D]`` → ``[...]`` scores in [0, 1].

    Outside training the sigmoid is taken in float64: trained RTFM heads reach logits of
    17–190, and every logit above ~17 is exactly 1.0 as a float32 probability — on Ped2 a
    fifth of the test snippets tied at 1.0, normal and abnormal alike, which costs frame AUC
    for no reason of the model's (float64 keeps them apart up to a logit of ~37). Training
    keeps float32 (the losses clamp at 1e-7 anyway)."""

    def __init__(self, dim: int, hidden: tuple[int, ...] = (512, 128), dropout: float = 0.7):
        super().__init__()
        layers: list[nn.Module] = []
        width = dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x).squeeze(-1)
        return torch.sigmoid(z if self.training else z.double())


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every conv/linear layer (RTFM's init); the
    non-local output BN keeps its zero init."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    for m in module.modules():
        if isinstance(m, NonLocal1d):
            nn.init.zeros_(m.out[1].weight)
            nn.init.zeros_(m.out[1].bias)


def topk_indices(values: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``[B, k]`` of the k largest entries of ``values [B, T]`` (k capped at T)."""
    return values.topk(min(k, values.shape[1]), dim=1).indices


def gather_time(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Pick snippets ``idx [B, k]`` along the time axis of ``x [B, T]`` or ``x [B, C, T, D]``."""
    if x.ndim == 2:
        return x.gather(1, idx)
    b, c, _, d = x.shape
    return x.gather(2, idx[:, None, :, None].expand(b, c, idx.shape[1], d))


def magnitudes(x: torch.Tensor) -> torch.Tensor:
    """ℓ2 feature magnitude per snippet: ``[..., D]`` → ``[...]`` (RTFM Eq. 2)."""
    return x.norm(p=2, dim=-1)
