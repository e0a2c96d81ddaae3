"""Input normalisation shared by every method: features standardised against NORMAL training
snippets, each named part of the feature vector weighted equally.

Why. The methods' premise is that anomalous snippets stand out in feature space — RTFM says so
outright (larger feature magnitude). Raw features do not honour it: on Ped2 (weak split) the
ℓ2 norm of our EfficientNet-Lite0 appearance part scores frame AUC 0.49, and its 1280 dims
(norm ≈ 15) drown the 208 motion dims (norm ≈ 4) that carry the anomaly (one motion column alone:
0.97). Standardised against snippets of the normal training videos — every snippet of a video
labelled normal is normal, so this uses the weak labels and nothing else — a coordinate measures
how unusual a value is, and the norm of a part becomes a deviation-from-normal score (motion part:
0.985, appearance part: 0.73 on Ped2, before any training). Dividing each part by √(its width)
gives every part the same expected norm on normal data, so a wide part cannot drown a narrow one.

    z_j = (x_j − μ_j) / max(σ_j, σ_floor(part))
    log (default):  x̂_j = sign(z_j) · log(1 + |z_j|) / √d_part
    z:              x̂_j = z_j / √d_part
    abs:            x̂_j = log(1 + |z_j|) / √d_part   (how far from normal, not which way)
    none:           x̂_j = x_j            (the papers' raw features)

μ, σ: mean and standard deviation of dimension j over the normal training snippets (the fitting
split only: validation and test videos never contribute); σ_floor = 0.1 × the part's median σ,
so that a dimension that never varies on normal data cannot explode.

The signed logarithm keeps the order of deviations and tames their tail: a bicycle's flow
histogram bins sit 50–200 σ from normal, and a classifier fed such values extrapolates
arbitrarily — MIL trained on the plain z-values of Ped2 scored those snippets *lowest* (frame
AUC 0.32 ± 0.02, 3 seeds) and 0.80–0.89 with the logarithm. RTFM is the exception: its score
*is* the feature magnitude, pushed past a margin of 100 (Eq. 6), and the logarithm squeezes the
very magnitudes it needs (Ped2: 0.95 ± 0.005 with ``z``, 0.82 ± 0.01 with ``log``), so RTFM
defaults to ``z``. Both are deviations from the papers, which feed raw features; they are named
in each method's config and ``input_norm: none`` restores the papers' input.

``abs`` drops the direction and keeps the size of each deviation, so that a score which grows
with every coordinate is a distance from normal — the ``normal_distance`` baseline's premise —
and a ReLU network need not learn |·| from a few bags. It is an option, not a default, because
the direction matters where the anomaly is a *thing* rather than an amount of motion (measured
with ``wsvad compare``, 3 seeds, frame AUC; README "Input normalisation"): MIL on Ped2
0.940 → 0.956 (motion part alone 0.923 → 0.986, above ``normal_distance``'s 0.983), on the
plaza scenes 0.904 → 0.806 (a fall 0.86 → 0.72, an object left behind 0.89 → 0.65); CLAV on
Ped2 0.934 → 0.928 (motion part alone 0.956 → 0.992, the flow statistic's 0.992), on the
plaza 0.889 → 0.796; RTFM on Ped2, seed 1, 0.953 → 0.870.

**One mode per part** (``input_norm: appearance:log,motion:abs``; a bare mode covers the
parts not named: ``log,motion:abs``). Spatial maps and patches are read as the appearance part
(``maps``/``patches`` take ``appearance``'s mode unless named themselves); the flow cells beside
them are ``motion``. Its use is two-stream late fusion (``fusion=late``, :mod:`.fusion`): each
member keeps the mode of the part it reads, so the appearance member keeps its direction and the
motion member reads distances. Measured (``fusion=late``, 3 seeds, frame AUC; README "Which
part carries the anomaly"): MIL on Ped2 0.943 ± 0.019 (late fusion with ``log``: 0.916 ± 0.018),
on the demo plaza 0.951 ± 0.011 (0.943 ± 0.004), on a fresh plaza rendering 0.762 ± 0.001
(0.772 ± 0.004); CLAV on Ped2 0.967 ± 0.004 (0.919 ± 0.032). An option, not a default: it was
found on those test sets and does not hold on the fresh rendering. In one model on the
concatenation (``fusion=early``) it did not help (MIL on Ped2 0.837 ± 0.018). The per-dimension
modes are a buffer of the model (``part_modes``), present only when the modes differ by part,
so other checkpoints are unchanged.

``input_parts`` (methods that read ``features``: mil, rtfm, ssrl, clav, wsstad; all parts by
default) zeroes the named parts the method should not read, after the normalisation — an
ablation of what each part carries (README, "Input normalisation"), not a change of the papers.

The statistics are buffers of the model: saved in the checkpoint, applied identically at test
time, in ``wsvad score`` and in ``detect``.
"""

from __future__ import annotations

import torch
from torch import nn

from wsvad.errors import ConfigError

MODES = ("log", "z", "abs", "none")
# streams whose parts are read as a part of the clip features: spatial maps and patches are
# appearance (the flow cells beside them are "motion" in every stream)
ALIASES = {"maps": "appearance", "patches": "appearance"}


def parse_modes(spec: str) -> tuple[str | None, dict[str, str]]:
    """``input_norm`` → (the mode of the parts not named, or None; {part: mode}).

    Example:
        >>> parse_modes("log")
        ('log', {})
        >>> parse_modes("appearance:log, motion:abs")
        (None, {'appearance': 'log', 'motion': 'abs'})
        >>> parse_modes("z,motion:abs")
        ('z', {'motion': 'abs'})
    """
    rest, named = None, {}
    for item in (s.strip() for s in str(spec).split(",")):
        part, _, mode = (t.strip() for t in item.rpartition(":"))
        if mode not in MODES or (":" in item and not part) or (not part and rest is not None) \
                or part in named:
            raise ConfigError(f"config input_norm={spec!r}: choose one of {', '.join(MODES)}, "
                              "or one per part of the features, comma-separated "
                              "('appearance:log,motion:abs'; a bare mode for the parts not "
                              "named: 'log,motion:abs')")
        if part:
            named[part] = mode
        else:
            rest = mode
    return rest, named


class InputNorm(nn.Module):
    """``[..., D]`` → normalised ``[..., D]``; the identity until :meth:`fit` is called.

    Example:
        >>> norm = InputNorm(3)
        >>> normal = torch.tensor([[0., 10., 5.], [2., 30., 5.]])
        >>> norm.fit(normal, (("a", 2), ("b", 1)))
        >>> norm(torch.tensor([[1., 20., 5.]])).tolist()   # the normal mean maps to 0
        [[0.0, 0.0, 0.0]]
        >>> round(norm(torch.tensor([[2., 20., 5.]]))[0, 0].item(), 4)   # 1 σ: log(2) / √2
        0.4901
        >>> plain = InputNorm(3, "z"); plain.fit(normal, (("a", 2), ("b", 1)))
        >>> round(plain(torch.tensor([[2., 20., 5.]]))[0, 0].item(), 4)  # 1 σ: 1 / √2
        0.7071
        >>> size = InputNorm(3, "abs"); size.fit(normal, (("a", 2), ("b", 1)))
        >>> round(size(torch.tensor([[0., 20., 5.]]))[0, 0].item(), 4)   # −1 σ: log(2) / √2
        0.4901
    """

    def __init__(self, dim: int, mode: str = "log"):
        super().__init__()
        self.mode = mode
        self.rest, self.named = parse_modes(mode)
        if self.named:   # modes by part: which mode each dim gets (an index into MODES)
            self.register_buffer("part_modes", torch.zeros(dim, dtype=torch.uint8))
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))     # 1 / σ (floored)
        self.register_buffer("weight", torch.ones(dim))    # 1 / √(width of the dim's part)
        self.register_buffer("fitted", torch.zeros(()))

    def fit(self, normal: torch.Tensor, parts: tuple[tuple[str, int], ...]) -> None:
        """Statistics from normal snippets ``[..., D]``; ``parts`` = named widths summing to D."""
        x = normal.reshape(-1, normal.shape[-1]).double()
        self.fit_moments(len(x), x.sum(0), (x * x).sum(0), parts)

    @torch.no_grad()
    def fit_moments(self, n: int, s1, s2, parts: tuple[tuple[str, int], ...],
                    balance: bool = True) -> None:
        """The same from streamed moments: count, per-dim sum and sum of squares (float64),
        so that a large training set never has to sit in memory at once. ``balance=False``
        leaves out the 1/√width part weight (unit-variance dims, for a one-part stream whose
        values feed linear heads directly, such as GIG's maps)."""
        s1, s2 = torch.as_tensor(s1, dtype=torch.float64), torch.as_tensor(s2, dtype=torch.float64)
        if sum(w for _, w in parts) != s1.shape[0]:
            raise ValueError(f"feature parts {parts} do not add up to the dimension "
                             f"{s1.shape[0]}")
        mean = s1 / n
        std = (s2 / n - mean * mean).clamp_min(0).sqrt()
        scale, weight = torch.empty_like(std), torch.empty_like(std)
        if self.named:
            self.part_modes.copy_(self._part_modes(parts))
        lo = 0
        for _, width in parts:
            sd = std[lo:lo + width]
            floor = max(0.1 * float(sd.median()), 1e-6)
            scale[lo:lo + width] = 1.0 / sd.clamp_min(floor)
            weight[lo:lo + width] = 1.0 / width ** 0.5 if balance else 1.0
            lo += width
        self.mean.copy_(mean.float())
        self.scale.copy_(scale.float())
        self.weight.copy_(weight.float())
        self.fitted.fill_(1.0)

    def _part_modes(self, parts: tuple[tuple[str, int], ...]) -> torch.Tensor:
        """``[D]`` index into :data:`MODES` of each dim's mode, from the part names."""
        names = {n for n, _ in parts} | {ALIASES[n] for n, _ in parts if n in ALIASES}
        unknown = sorted(set(self.named) - names)
        if unknown:
            raise ConfigError(f"input_norm={self.mode!r} names {', '.join(unknown)}, which these "
                              f"features do not have (their parts: "
                              f"{', '.join(n for n, _ in parts)})")
        codes = []
        for name, width in parts:
            mode = self.named.get(name) or self.named.get(ALIASES.get(name, "")) or self.rest
            if mode is None:
                raise ConfigError(f"input_norm={self.mode!r} gives no mode for the part "
                                  f"{name!r}; name it, or add a bare mode for the parts not "
                                  "named (e.g. 'log,motion:abs')")
            codes += [MODES.index(mode)] * width
        return torch.tensor(codes, dtype=torch.uint8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fitted or self.mode == "none":
            return x
        if self.named:
            return self._by_part(x)
        return self._normalise(self.mode, x)

    def _normalise(self, mode: str, x: torch.Tensor) -> torch.Tensor:
        if mode == "none":
            return x
        z = (x - self.mean) * self.scale
        if mode == "z":
            return z * self.weight
        if mode == "abs":
            return torch.log1p(z.abs()) * self.weight
        return torch.sign(z) * torch.log1p(z.abs()) * self.weight

    def _by_part(self, x: torch.Tensor) -> torch.Tensor:
        """Each dim in its part's mode (``torch.where`` over the modes in use: exports to ONNX
        as a fixed graph)."""
        out = x
        for code, mode in enumerate(MODES):
            here = self.part_modes == code
            if mode != "none" and bool(here.any()):
                out = torch.where(here, self._normalise(mode, x), out)
        return out


def part_mask(parts: tuple[tuple[str, int], ...], keep: str) -> torch.Tensor:
    """``[D]`` ones over the named parts listed in ``keep`` (comma-separated), zeros elsewhere;
    all ones when ``keep`` is empty. The parts a method does not read are zeroed after the
    normalisation, so the model's width — and a checkpoint's shape — stay those of the store.

    Example:
        >>> part_mask((("appearance", 2), ("motion", 1)), "motion").tolist()
        [0.0, 0.0, 1.0]
        >>> part_mask((("appearance", 2), ("motion", 1)), "").tolist()
        [1.0, 1.0, 1.0]
    """
    width = sum(w for _, w in parts)
    if not keep:
        return torch.ones(width)
    names = [n.strip() for n in keep.split(",") if n.strip()]
    known = [n for n, _ in parts]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ConfigError(f"input_parts={keep!r}: the features have the parts "
                          f"{', '.join(known)}; name one or more of them, comma-separated")
    mask, lo = torch.zeros(width), 0
    for n, w in parts:
        if n in names:
            mask[lo:lo + w] = 1.0
        lo += w
    return mask
