"""The method interface and registry: every method is an ``nn.Module`` created by name.

A method declares the streams it ``needs``; ``forward(batch) -> Output`` gives snippet scores
``[B, T]`` in [0, 1] (higher = more abnormal) and optionally the anomaly class; ``losses``
returns named, weighted terms; ``localize`` (optional) says *where*. Training-free baselines
set ``trains = False``: they are fitted (statistics of the training videos) but never stepped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from wsvad.data.batch import TEMPORAL, Batch, collate
from wsvad.errors import ConfigError, DataError
from wsvad.methods.inputs import InputNorm, parse_modes, part_mask
from wsvad.runtime import fast_cpu_math


@dataclass
class Output:
    """What ``Method.forward`` returns.

    Attributes:
        scores: ``[B, T]`` snippet anomaly scores in [0, 1] (mean over crops).
        extras: method-specific tensors (e.g. RTFM ``magnitudes [B, T]``).
        classes: ``[B, T, K]`` or ``[B, K]`` class probabilities ("what"), when predicted.
    """

    scores: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    classes: torch.Tensor | None = None


@dataclass
class Tube:
    """A spatio-temporal track: ``boxes`` rows ``(frame, x1, y1, x2, y2)`` in frame pixels."""

    boxes: np.ndarray
    score: float


@dataclass
class Localization:
    """*Where*, for one video (any of the three kinds a method can give).

    Attributes:
        heatmaps: ``[T, h, w]`` per snippet, values in [0, 1], laid over ``region`` of the
            frame.
        region: ``(x0, y0, x1, y1)`` of the frame the heat maps cover, as fractions of its width
            and height (``(0, 0, 1, 1)``: the whole frame; a centre crop covers less).
        grids: the piecewise-constant ``(rows, cols)`` grids whose mean the heat maps are
            (SSRL's patch scales); empty: the heat maps' own cells. Only the pointing ceiling
            (:func:`~wsvad.evaluation.spatial.pointing_ceiling`) reads it.
        boxes: rows ``(frame, x1, y1, x2, y2, score)`` in frame pixels.
        tubes: scored tracks, best first.
    """

    heatmaps: np.ndarray | None = None
    region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    grids: tuple[tuple[int, int], ...] = ()
    boxes: np.ndarray | None = None
    tubes: list[Tube] | None = None


@dataclass
class MethodConfig:
    """Base config: training values every method has. Subclasses set the paper's defaults."""

    batch_size: int = 32          # normal + abnormal videos per step, each
    segments: int = 32            # T: training bags resampled to this many segments
    lr: float = 1e-3
    weight_decay: float = 0.0
    iterations: int = 1000        # upper bound; validation picks the checkpoint
    crops_per_step: int | None = None  # None = all crops (faithful); N = N random crops per video
    input_norm: str = "log"       # on normal training snippets: "log" | "z" | "abs" | "none",
    #                               or one per part: "appearance:log,motion:abs" (inputs.py)

    # allowed ranges of numeric keys: (low, high, low included, high included); None = open
    RANGES: ClassVar[dict[str, tuple[float | None, float | None, bool, bool]]] = {
        "batch_size": (1, None, True, False), "segments": (1, None, True, False),
        "iterations": (1, None, True, False), "crops_per_step": (1, None, True, False),
        "lr": (0, None, False, False), "weight_decay": (0, None, True, False),
        "dropout": (0, 1, True, False), "k": (1, None, True, False),
        "margin": (0, None, False, False), "alpha": (0, None, True, False),
    }
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {}
    # keys added after runs of the method were already being saved, with the value that keeps
    # how those runs ran (a stored config without the key ran that way, not with today's default)
    SINCE: ClassVar[dict[str, Any]] = {}

    @classmethod
    def stored(cls, config: dict[str, Any]) -> dict[str, Any]:
        """A config read from a saved run (``model.json``), completed for keys added since.

        Example:
            >>> from wsvad.methods.gig import GIGConfig
            >>> GIGConfig.stored({"k": 5})["motion"], GIGConfig().motion   # saved / today
            (False, True)
        """
        return {**cls.SINCE, **config}

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
        """Every numeric value inside its range (:attr:`RANGES`, ``lambda_*`` ≥ 0) and every
        choice among its options, with a message that names them."""
        parse_modes(self.input_norm)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in self.CHOICES and value not in self.CHOICES[f.name]:
                raise ConfigError(f"config {f.name}={value!r}: choose one of "
                                  f"{', '.join(self.CHOICES[f.name])}")
            rng = self.RANGES.get(f.name) or \
                ((0, None, True, False) if f.name.startswith("lambda_") else None)
            if rng is None or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"config {f.name}={value!r}: expected a number")
            lo, hi, lo_in, hi_in = rng
            bad = (lo is not None and (value < lo or (value == lo and not lo_in))) or \
                  (hi is not None and (value > hi or (value == hi and not hi_in)))
            if bad or value != value:
                left = "(-inf" if lo is None else ("[" if lo_in else "(") + f"{lo:g}"
                right = "inf)" if hi is None else f"{hi:g}" + ("]" if hi_in else ")")
                raise ConfigError(f"config {f.name}={value!r} is out of range: allowed "
                                  f"{left}, {right}")
            if isinstance(getattr(type(self), f.name, None), int) and float(value) != int(value):
                raise ConfigError(f"config {f.name}={value!r}: expected a whole number")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class FeatureConfig(MethodConfig):
    """The config of a method that reads the ``features`` stream through :meth:`Method.inputs`:
    ``input_parts`` names the parts of the vector it reads (``""`` = all; e.g. ``"motion"``),
    the others zeroed after the normalisation (:func:`wsvad.methods.inputs.part_mask`);
    ``fusion=late`` trains one model per part and averages their scores
    (:mod:`wsvad.methods.fusion`)."""

    input_parts: str = ""
    fusion: str = "early"         # "late": one model per part, scores averaged (methods/fusion.py)

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {**MethodConfig.CHOICES,
                                                     "fusion": ("early", "late")}


def _coerce(value: Any, default: Any, key: str) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in ("none", "null", "all") and not isinstance(default, str):
        return None
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"config {key}={value!r}: expected true or false")
    try:
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError as exc:
        kind = "whole number" if isinstance(default, int) else "number"
        raise ConfigError(f"config {key}={value!r}: expected a {kind}") from exc
    if default is None:  # optional fields: true/false, else a number if it reads as one
        if text.lower() in ("true", "yes", "on", "false", "no", "off"):
            return text.lower() in ("true", "yes", "on")
        for conv in (int, float):
            try:
                return conv(text)
            except ValueError:
                pass
    return text


class Method(nn.Module):
    """Base class. Subclasses define ``name``, ``Config``, ``needs``, ``forward``, ``losses``
    and optionally ``localize``. ``forward`` reads its features through :meth:`inputs`."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    needs: ClassVar[tuple[str, ...]] = ("features",)
    # streams used when the dataset has them (never required): e.g. finer flow for a heat map
    wants: ClassVar[tuple[str, ...]] = ()
    trains: ClassVar[bool] = True     # False: a training-free baseline (no optimiser steps)
    paper: ClassVar[str] = ""         # the source, for tables and `wsvad info`

    def __init__(self, dim: int, cfg: MethodConfig, parts: tuple[tuple[str, int], ...] = ()):
        super().__init__()
        fast_cpu_math()  # denormals slow training and scoring tens of times (wsvad.runtime)
        self.dim = dim
        self.cfg = cfg
        self.parts = tuple(parts) or (("features", dim),)
        self.input_norm = InputNorm(dim, cfg.input_norm)
        self.register_buffer("part_mask", part_mask(self.parts, getattr(cfg, "input_parts", "")),
                             persistent=False)

    # -- inputs --------------------------------------------------------------------------------
    def inputs(self, batch: Batch) -> torch.Tensor:
        """``batch.features [B, C, T, D]``, checked and normalised (:mod:`wsvad.methods.inputs`)."""
        self.check_input(batch)
        x = self.input_norm(batch.features)
        return x * self.part_mask if getattr(self.cfg, "input_parts", "") else x

    @torch.no_grad()
    def fit(self, videos: Callable[[], Iterator[Batch]]) -> None:
        """Statistics from the fitting split's training videos, before any step.

        ``videos()`` yields one full-length, labelled video per :class:`Batch`. The base class
        fits the input normalisation on the snippets of the normal ones; baselines also fit
        their rank normalisation here.
        """
        if self.cfg.input_norm == "none" or "features" not in self.needs:
            return
        n, s1, s2 = 0, torch.zeros(self.dim, dtype=torch.float64), \
            torch.zeros(self.dim, dtype=torch.float64)
        for b in videos():
            if float(b.label[0]) > 0.5 or b.features is None:
                continue
            x = b.features.reshape(-1, self.dim).double()
            n, s1, s2 = n + len(x), s1 + x.sum(0), s2 + (x * x).sum(0)
        if n == 0:
            raise DataError("input normalisation needs normal training videos; none was found")
        self.input_norm.fit_moments(n, s1, s2, self.parts)

    # -- the interface subclasses implement ----------------------------------------------------
    def forward(self, batch: Batch) -> Output:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must implement forward")

    def losses(self, batch: Batch, output: Output) -> dict[str, torch.Tensor]:
        """Named, already weighted loss terms; the training objective is their sum."""
        raise TypeError(f"{type(self).__name__} must implement losses")  # pragma: no cover

    def class_names(self) -> list[str]:
        """The anomaly classes the method names ("what"), in the order of ``Output.classes``;
        empty for a method that only says *whether*."""
        return []

    def stage_count(self) -> int:
        """How many training stages the method runs in sequence (SSRL: 4); each stage starts
        from the previous stage's validation-chosen checkpoint."""
        return 1

    def begin_stage(self, stage: int) -> None:
        """Set up stage ``stage`` (1-based): what is active, what is frozen."""

    def step_streams(self) -> tuple[str, ...] | None:
        """The streams a training step of the stage begun last reads (None: every stream the
        run loaded); the sampler collates only these."""
        return None

    def stage_batch_size(self) -> int:
        """Videos of each kind per step in the stage begun last (default: ``batch_size``)."""
        return self.cfg.batch_size

    def leave_out_stage(self, stage: int, dry_run: bool = False) -> bool:
        """Take out what stage ``stage`` added (the trainer calls it, after restoring the model
        the stage started from, when the stage did not validate better than that model).
        Returns whether the method can; ``dry_run`` only asks."""
        return False

    def localize(self, batch: Batch, output: Output) -> list[Localization] | None:
        """Per video of the batch, where the anomaly is; None when the method cannot say."""
        return None

    def video_score(self, output: Output) -> torch.Tensor:
        """``[B]`` video-level score used for validation: the highest snippet score."""
        return output.scores.max(dim=1).values

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.cfg.lr,
                                weight_decay=self.cfg.weight_decay)

    def train_step(self, batch: Batch, optimizer: torch.optim.Optimizer
                   ) -> dict[str, torch.Tensor]:
        """One optimisation step on a batch; returns the named loss terms (detached). A method
        that alternates its parts (WSSTAD's Alg. 3) overrides it."""
        terms = self.losses(batch, self(batch))
        loss = sum(terms.values())
        if not torch.isfinite(loss):
            return {k: v.detach() for k, v in terms.items()}    # the trainer reports it
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {k: v.detach() for k, v in terms.items()}

    # -- scoring -------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, batch: Batch) -> Output:
        """Eval-mode forward pass without gradients (the mode is restored after)."""
        was = self.training
        self.eval()
        try:
            return self.forward(batch)
        finally:
            self.train(was)

    def score_streams(self, streams: Mapping[str, np.ndarray], name: str | None = None
                      ) -> tuple[np.ndarray, Output, Batch]:
        """Snippet scores ``[T]`` (float64) of one video's streams — the one scoring path of
        test evaluation, ``wsvad score``, the Python API and ``detect``."""
        batch = collate([streams], names=[name] if name else None)
        out = self.predict(batch)
        return out.scores[0].double().numpy(), out, batch

    # -- export: the scoring graph (wsvad.export.onnx) -------------------------------------------
    exportable: ClassVar[str] = ""    # non-empty: why this method has no exportable graph

    def graph_inputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The tensors an exported scoring graph takes, by name: the temporal streams the method
        reads (``features [B, C, T, D]``, ``motion [B, T]`` …, ``patches_RxC``). A method whose
        inputs need work a graph cannot hold (NumPy, per-video sets) does it here."""
        out = {s: getattr(batch, s) for s in TEMPORAL if s in self.needs}
        if "patches" in self.needs and batch.patches:
            out.update({f"patches_{k}": v for k, v in sorted(batch.patches.items())})
        return out

    def graph_forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The traced part: named inputs → named outputs (``scores`` and, when predicted,
        ``classes``)."""
        patches = {k.removeprefix("patches_"): v for k, v in inputs.items()
                   if k.startswith("patches_")}
        kw = {k: v for k, v in inputs.items() if not k.startswith("patches_")}
        first = next(iter(inputs.values()))
        out = self.forward(Batch(features=kw.pop("features", None),
                                 label=torch.zeros(first.shape[0]), patches=patches or None,
                                 **kw))
        return {"scores": out.scores, **({"classes": out.classes}
                                         if out.classes is not None else {})}

    def from_graph(self, batch: Batch, inputs: dict[str, torch.Tensor],
                   outputs: dict[str, torch.Tensor]) -> Output:
        """The :class:`Output` of the graph's outputs (what :meth:`forward` would return, with
        the extras the graph carries)."""
        return Output(scores=outputs["scores"], classes=outputs.get("classes"))

    def check_input(self, batch: Batch) -> None:
        needs = self.needs
        wanted = self.step_streams() if self.training else None
        if wanted is not None:       # a training step carries only what its stage reads
            names = {"patches" if w.startswith("patches_") else w for w in wanted}
            needs = tuple(s for s in needs if s in names)
        batch.require(*needs, method=self.name)
        x = batch.features
        if x is not None and (x.ndim != 4 or x.shape[-1] != self.dim):
            raise DataError(f"{self.name}: expected features [B, crops, T, {self.dim}], "
                            f"got {tuple(x.shape)}")


_REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the registry under ``cls.name``."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"bad or duplicate method name {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def names(trains: bool | None = None) -> list[str]:
    """Registered method names (``trains=True``: learned methods only; False: baselines)."""
    return sorted(n for n, c in _REGISTRY.items() if trains is None or c.trains == trains)


def get(name: str) -> type[Method]:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown method '{name}'; available: {', '.join(names())}")
    return _REGISTRY[name]


def create(name: str, dim: int, parts: tuple[tuple[str, int], ...] = (),
           **overrides: Any) -> Method:
    """Build a method by name with the paper's defaults, updated by ``overrides``.

    Example:
        >>> from wsvad import methods
        >>> m = methods.create("mil", dim=64)
        >>> m.cfg.lr
        0.001
    """
    cls = get(name)
    cfg = cls.Config.build(overrides)
    if getattr(cfg, "fusion", "early") == "late":
        from wsvad.methods.fusion import LateFusion  # it builds on this module
        return LateFusion(cls, dim, cfg, parts)
    return cls(dim, cfg, parts)
