"""The feature contract: how features were made, saved beside features and in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from wsvad.errors import ContractMismatch

# Fields that must agree for a model to be valid on some features. fps, stride and the weights
# hash matter too, but only when both sides know them (published releases do not record them).
_STRICT = ("dim", "crops")
_WHEN_KNOWN = ("backbone", "weights_hash", "clip_frames", "stride", "fps", "streams")


@dataclass(frozen=True)
class FeatureContract:
    """How snippet features were produced.

    ``dim`` and ``crops`` always hold; the other fields are ``None`` (unknown) for published
    feature releases that do not say.

    Example:
        >>> a = FeatureContract(dim=2048, crops=10, backbone="i3d-r50", clip_frames=16)
        >>> a.check_compatible(FeatureContract(dim=2048, crops=10), "run", "data")
    """

    dim: int
    crops: int = 1
    backbone: str | None = None
    weights_hash: str | None = None
    clip_frames: int | None = 16
    stride: int | None = None
    fps: float | None = None
    streams: tuple[str, ...] = field(default=("features",))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["streams"] = list(self.streams)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureContract:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ContractMismatch(f"feature contract has unknown fields {sorted(unknown)}; "
                                   f"known fields are {sorted(known)}")
        d = dict(d)
        if "streams" in d and d["streams"] is not None:
            d["streams"] = tuple(d["streams"])
        return cls(**d)

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
        if problems:
            raise ContractMismatch(
                "feature contracts differ — a model only works on features made the same way:\n  "
                + "\n  ".join(problems)
                + f"\nRe-extract the features with the {self_name}'s settings, or train a new "
                "model on these features."
            )
