"""The feature contract: how features were made, saved beside features and in every checkpoint.

A contract names the backbone, its weights, the snippet geometry and the **streams** a store
holds, each with its per-snippet shape, dtype, grid (patches, maps) and, for ``features``, its
named parts (``appearance`` 1280 + ``motion`` 208 for ``effnet-lite0+motion``) — the unit that
input normalisation balances (:mod:`wsvad.methods.inputs`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from wsvad.errors import ContractMismatch

# Fields that must agree for a model to be valid on some features. fps, stride and the weights
# hash matter too, but only when both sides know them (published releases do not record them).
_STRICT = ("dim", "crops")
# streams whose making changed without a recorded method: a stored spec without one was made the
# old way (``tube_regions``: crop flow measured in the pixels of the crop resized to 64 px, before
# it was put into the whole-frame flow's units — :mod:`wsvad.backbones.tube_regions`)
_LEGACY_METHOD = {"tube_regions": "crop-px"}
TUBE_REGIONS_METHOD = "frame-px"
_WHEN_KNOWN = ("backbone", "weights_hash", "clip_frames", "stride", "fps", "view",
               "sampled_frames")

# beside a `maps_trunk` stream: the backbone layers that continue it (for gig_e2e)
TAIL_FILE = "maps_trunk_tail.safetensors"

# streams of rows rather than one entry per snippet, and each row's width (None: 2 + D)
ROW_STREAMS = {"boxes": 6, "tubes": 8, "tube_regions": None}
ROW_LAYOUT = {
    "boxes": "frame, x1, y1, x2, y2, score",
    "tubes": "tube, frame, snippet, x1, y1, x2, y2, score",
    "tube_regions": "tube, snippet, then the D features of the tube's crop in that snippet",
}


@dataclass(frozen=True)
class StreamSpec:
    """One stream of a store.

    Attributes:
        name: ``features``, ``motion``, ``motion_desc``, ``context``, ``maps``,
            ``patches_<R>x<C>``, or a row stream (:data:`ROW_STREAMS`: ``boxes``, ``tubes``,
            ``tube_regions``).
        shape: per-snippet shape (``features``: ``(crops, D)``; ``motion``: ``()``; ``patches``:
            ``(P, D)``; ``maps``: ``(h, w, D)``); ``None`` for row streams (rows laid out as
            :data:`ROW_LAYOUT` says, not per snippet).
        dtype: on-disk dtype (large streams are ``float16``).
        grid: ``(rows, cols)`` of patches and maps.
        parts: ``features`` only: named blocks of the last axis, e.g.
            ``(("appearance", 1280), ("motion", 208))``.
        method: how the stream was computed when there is more than one way (patches:
            ``tiles`` — the backbone on every tile — or ``pooled-<S>`` — region pooling of one
            pass at short side S); streams made differently do not mix.
    """

    name: str
    shape: tuple[int, ...] | None
    dtype: str = "float32"
    grid: tuple[int, int] | None = None
    parts: tuple[tuple[str, int], ...] | None = None
    method: str | None = None

    @property
    def temporal(self) -> bool:
        """One entry per snippet (False: a row stream such as ``boxes``)."""
        return self.shape is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | str) -> StreamSpec:
        if isinstance(d, str):  # stores written before streams were described
            return cls(d, None if d in ROW_STREAMS else (), method=_LEGACY_METHOD.get(d))
        d = dict(d)
        if d.get("method") is None and d.get("name") in _LEGACY_METHOD:
            d["method"] = _LEGACY_METHOD[d["name"]]
        for key in ("shape", "grid"):
            if d.get(key) is not None:
                d[key] = tuple(int(x) for x in d[key])
        if d.get("parts") is not None:
            d["parts"] = tuple((str(n), int(w)) for n, w in d["parts"])
        return cls(**d)


def patch_stream(grid: tuple[int, int]) -> str:
    """Stream name of a patch grid: ``(2, 3)`` → ``patches_2x3``."""
    return f"patches_{grid[0]}x{grid[1]}"


@dataclass(frozen=True)
class FeatureContract:
    """How snippet features were produced.

    ``dim`` and ``crops`` always hold; the other fields are ``None`` (unknown) for published
    feature releases that do not say. ``view`` is how a frame reaches a 2-D backbone
    (``crop``: short side resized, centre/corner crops; ``full``: the whole frame resized) and
    ``sampled_frames`` how many frames of a snippet it sees.

    Example:
        >>> a = FeatureContract(dim=2048, crops=10, backbone="i3d-r50", clip_frames=16)
        >>> a.check_compatible(FeatureContract(dim=2048, crops=10), "run", "data")
        >>> a.stream("features").shape
        (10, 2048)
    """

    dim: int
    crops: int = 1
    backbone: str | None = None
    weights_hash: str | None = None
    clip_frames: int | None = 16
    stride: int | None = None
    fps: float | None = None
    view: str | None = None
    sampled_frames: int | None = None     # frames of each snippet a 2-D backbone sees
    streams: tuple[StreamSpec, ...] = field(default=())

    def __post_init__(self) -> None:
        if not any(s.name == "features" for s in self.streams):
            feats = StreamSpec("features", (self.crops, self.dim))
            object.__setattr__(self, "streams", (feats, *self.streams))

    @property
    def stream_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.streams)

    def stream(self, name: str) -> StreamSpec | None:
        return next((s for s in self.streams if s.name == name), None)

    @property
    def parts(self) -> tuple[tuple[str, int], ...]:
        """Named blocks of the ``features`` vector (one block when unknown)."""
        spec = self.stream("features")
        return (spec.parts if spec and spec.parts else None) or (("features", self.dim),)

    def with_streams(self, streams: tuple[StreamSpec, ...]) -> FeatureContract:
        return replace(self, streams=streams)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "streams"}
        d["streams"] = [s.to_dict() for s in self.streams]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureContract:
        if not isinstance(d, dict):
            raise ContractMismatch(f"feature contract must be a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ContractMismatch(f"feature contract has unknown fields {sorted(unknown)}; "
                                   f"known fields are {sorted(known)}")
        d = dict(d)
        try:
            d["streams"] = tuple(StreamSpec.from_dict(s) for s in d.get("streams") or ()
                                 if s != "features")  # old stores: names only
            d["dim"], d["crops"] = int(d["dim"]), int(d.get("crops", 1))
            return cls(**d)
        except (KeyError, TypeError, ValueError) as exc:
            raise ContractMismatch(f"feature contract is malformed ({exc}): {d}") from exc

    def check_compatible(self, other: FeatureContract, self_name: str, other_name: str) -> None:
        """Raise :class:`ContractMismatch` naming both sides if the two cannot be mixed."""
        problems = []
        for name in _STRICT:
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                problems.append(f"{name}: {self_name} has {a!r}, {other_name} has {b!r}")
        for name in _WHEN_KNOWN:
            a, b = getattr(self, name), getattr(other, name)
            if a is not None and b is not None and a != b:
                problems.append(f"{name}: {self_name} has {a!r}, {other_name} has {b!r}")
        pa, pb = self.stream("features"), other.stream("features")
        if pa and pb and pa.parts and pb.parts and pa.parts != pb.parts:
            problems.append(f"feature parts: {self_name} has {pa.parts}, {other_name} has "
                            f"{pb.parts}")
        for spec in self.streams:
            theirs = other.stream(spec.name)
            if theirs and spec.method and theirs.method and spec.method != theirs.method:
                problems.append(f"stream {spec.name}: {self_name} made by {spec.method!r}, "
                                f"{other_name} by {theirs.method!r}")
        if problems:
            raise ContractMismatch(
                "feature contracts differ — a model only works on features made the same way:\n  "
                + "\n  ".join(problems)
                + f"\nRe-extract the features with the {self_name}'s settings, or train a new "
                "model on these features."
            )
