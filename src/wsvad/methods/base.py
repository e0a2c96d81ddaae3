"""The method interface and registry: every method is an ``nn.Module`` created by name."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

import torch
from torch import nn

from wsvad.data.batch import Batch
from wsvad.errors import ConfigError


@dataclass
class Output:
    """What ``Method.forward`` returns.

    Attributes:
        scores: ``[B, T]`` snippet anomaly scores in [0, 1] (mean over crops).
        extras: method-specific tensors (e.g. RTFM ``magnitudes [B, T]``).
    """

    scores: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class MethodConfig:
    """Base config: training values every method has. Subclasses set the paper's defaults."""

    batch_size: int = 32          # normal + abnormal videos per step, each
    segments: int = 32            # T: training bags resampled to this many segments
    lr: float = 1e-3
    weight_decay: float = 0.0
    iterations: int = 1000        # upper bound; validation picks the checkpoint
    crops_per_step: int | None = None  # None = all crops (faithful); N = N random crops per video

    @classmethod
    def build(cls, overrides: dict[str, Any] | None = None) -> MethodConfig:
        """Defaults updated by ``overrides`` (strings from the CLI are converted)."""
        cfg = cls()
        overrides = dict(overrides or {})
        known = {f.name: f for f in fields(cls)}
        unknown = set(overrides) - set(known)
        if unknown:
            raise ConfigError(f"unknown config keys {sorted(unknown)} for {cls.__name__}; "
                              f"known keys: {sorted(known)}")
        values = {k: _coerce(v, getattr(cfg, k), k) for k, v in overrides.items()}
        cfg = replace(cfg, **values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.batch_size < 1 or self.segments < 1 or self.iterations < 1:
            raise ConfigError("batch_size, segments and iterations must be at least 1")
        if self.crops_per_step is not None and self.crops_per_step < 1:
            raise ConfigError("crops_per_step must be at least 1 (or null for all crops)")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _coerce(value: Any, default: Any, key: str) -> Any:
    if not isinstance(value, str):
        return value
    if value.lower() in ("none", "null", "all"):
        return None
    try:
        if isinstance(default, bool):
            return value.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError as exc:
        raise ConfigError(f"config {key}={value!r}: expected a {type(default).__name__}") from exc
    if default is None:  # optional numeric fields: a number if it reads as one
        for conv in (int, float):
            try:
                return conv(value)
            except ValueError:
                pass
    return value


class Method(nn.Module):
    """Base class. Subclasses define ``name``, ``Config``, ``forward``, ``losses``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    needs: ClassVar[tuple[str, ...]] = ("features",)

    def __init__(self, dim: int, cfg: MethodConfig):
        super().__init__()
        self.dim = dim
        self.cfg = cfg

    def forward(self, batch: Batch) -> Output:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must implement forward")

    def losses(self, batch: Batch, output: Output) -> dict[str, torch.Tensor]:
        """Named, already weighted loss terms; the training objective is their sum."""
        raise TypeError(f"{type(self).__name__} must implement losses")  # pragma: no cover

    def video_score(self, output: Output) -> torch.Tensor:
        """``[B]`` video-level score used for validation: the highest snippet score."""
        return output.scores.max(dim=1).values

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.cfg.lr,
                                weight_decay=self.cfg.weight_decay)

    @torch.no_grad()
    def score(self, features: torch.Tensor) -> torch.Tensor:
        """Eval-mode snippet scores ``[B, T]`` for features ``[B, C, T, D]``."""
        was = self.training
        self.eval()
        try:
            return self.forward(Batch(features=features, label=torch.zeros(len(features)))).scores
        finally:
            self.train(was)

    def check_input(self, batch: Batch) -> None:
        batch.require(*self.needs, method=self.name)
        x = batch.features
        if x.ndim != 4 or x.shape[-1] != self.dim:
            raise ValueError(f"{self.name}: expected features [B, crops, T, {self.dim}], "
                             f"got {tuple(x.shape)}")


_REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the registry under ``cls.name``."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"bad or duplicate method name {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    """Registered method names."""
    return sorted(_REGISTRY)


def get(name: str) -> type[Method]:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown method '{name}'; available: {', '.join(names())}")
    return _REGISTRY[name]


def create(name: str, dim: int, **overrides: Any) -> Method:
    """Build a method by name with the paper's defaults, updated by ``overrides``.

    Example:
        >>> from wsvad import methods
        >>> m = methods.create("mil", dim=64)
        >>> m.cfg.lr
        0.001
    """
    cls = get(name)
    return cls(dim, cls.Config.build(overrides))
