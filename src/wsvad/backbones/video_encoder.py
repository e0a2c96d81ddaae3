"""Video → per-snippet feature streams with a named backbone and its feature contract.

Backbones: ``effnet-lite0`` (appearance: EfficientNet-Lite0 ImageNet features from
``frames_per_snippet`` evenly spaced frames, averaged), ``motion`` (DIS-flow descriptor) and
``effnet-lite0+motion`` (both concatenated; the default for video). Streams written per video:

* ``features [T, C, D]`` — what the methods train on (C crops);
* ``motion [T]`` — mean flow magnitude (motion intensity, CLAV/CoMo);
* ``context [T, 1000]`` — ImageNet class probabilities of the centre crop (context labels);
* ``maps [T, C, 7, 7, 1280]`` float16 — EfficientNet spatial maps (GIG), with ``maps=True``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from wsvad.backbones.effnet_lite import MEAN, STD, load_effnet_lite0, packaged_weights
from wsvad.backbones.motion import MotionConfig, MotionEncoder
from wsvad.contract import FeatureContract
from wsvad.errors import ConfigError, DataError
from wsvad.video.decode import iter_frames, probe
from wsvad.video.snippets import crop_clip, iter_snippets, resize_short_side

BACKBONES = ("effnet-lite0+motion", "effnet-lite0", "motion")


@dataclass
class EncodedVideo:
    """Streams of one video (see the module docstring) and what was decoded."""

    streams: dict[str, np.ndarray]
    frames: int
    fps: float
    snippets: int
    source: str = ""
    meta: dict = field(default_factory=dict)


def file_hash(path: Path, chars: int = 12) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:chars]


class VideoEncoder:
    """Encode whole videos, streaming snippet by snippet (bounded memory).

    Example:
        >>> enc = VideoEncoder("effnet-lite0+motion")                  # doctest: +SKIP
        >>> out = enc.encode("Test001.mp4")                             # doctest: +SKIP
        >>> out.streams["features"].shape                               # doctest: +SKIP
        (12, 1, 1472)
    """

    def __init__(self, backbone: str = "effnet-lite0+motion", crops: int = 1,
                 frames_per_snippet: int = 4, snippet_frames: int = 16,
                 stride: int | None = None, fps: float | None = None, maps: bool = False,
                 weights: str | Path | None = None, batch_snippets: int = 8):
        if backbone not in BACKBONES:
            raise ConfigError(f"backbone '{backbone}' unknown; available: {', '.join(BACKBONES)}"
                              " (i3d/c3d backbones need their weight files; see the docs)")
        self.backbone, self.crops, self.k = backbone, crops, frames_per_snippet
        self.snippet_frames, self.stride = snippet_frames, stride or snippet_frames
        self.fps, self.maps, self.batch_snippets = fps, maps, batch_snippets
        self.appearance = "effnet" in backbone
        self.motion = "motion" in backbone
        self.net = load_effnet_lite0(weights) if self.appearance else None
        self.weights_hash = file_hash(Path(weights) if weights else packaged_weights()) \
            if self.appearance else None
        self.motion_cfg = MotionConfig()

    @property
    def dim(self) -> int:
        return 1280 * self.appearance + self.motion_cfg.dim * self.motion

    def contract(self) -> FeatureContract:
        streams = ["features", "motion"] + (["context"] if self.appearance else []) + \
            (["maps"] if self.maps and self.appearance else [])
        return FeatureContract(dim=self.dim, crops=self.crops, backbone=self.backbone,
                               weights_hash=self.weights_hash, clip_frames=self.snippet_frames,
                               stride=self.stride, fps=self.fps, streams=tuple(streams))

    def _appearance(self, clips: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """``clips``: list of ``[L, H, W, 3]`` → pooled ``[n, C, 1280]``, probs ``[n, 1000]``,
        maps ``[n, C, 7, 7, 1280]`` (or None)."""
        idx = np.linspace(0, self.snippet_frames - 1, self.k).round().astype(int)
        batch = []
        for clip in clips:
            frames = np.stack([resize_short_side(f, 224) for f in clip[idx]])
            batch.append(crop_clip(frames, 224, self.crops))           # [C, k, 224, 224, 3]
        x = torch.from_numpy(np.stack(batch)).float()                   # [n, C, k, S, S, 3]
        n, c, k = x.shape[:3]
        x = ((x - MEAN) / STD).reshape(n * c * k, 224, 224, 3).permute(0, 3, 1, 2)
        with torch.no_grad():
            maps, pooled, logits = self.net(x.contiguous())
        pooled = pooled.view(n, c, k, -1).mean(2).numpy()
        probs = logits.softmax(-1).view(n, c, k, -1)[:, 0].mean(1).numpy()
        m = None
        if self.maps:
            m = maps.view(n, c, k, 1280, 7, 7).mean(2).permute(0, 1, 3, 4, 2)
            m = m.numpy().astype(np.float16)
        return pooled, probs, m

    def encode(self, path: str | Path) -> EncodedVideo:
        """All streams of one video; raises :class:`DataError` for unreadable input."""
        path = Path(path)
        info = probe(path)
        motion = MotionEncoder(self.motion_cfg)
        counter = {"frames": 0}

        def frames():
            for frame, _t in iter_frames(path, self.fps):
                counter["frames"] += 1
                yield frame

        out: dict[str, list] = {"features": [], "motion": [], "context": [], "maps": []}
        pending: list[np.ndarray] = []

        def flush():
            if not pending:
                return
            parts = []
            if self.appearance:
                pooled, probs, m = self._appearance(pending)
                parts.append(pooled)
                out["context"].extend(probs)
                if m is not None:
                    out["maps"].extend(m)
            if self.motion:
                parts.append(np.repeat(np.stack(out_desc[-len(pending):])[:, None],
                                       self.crops, axis=1))
            out["features"].extend(np.concatenate(parts, axis=-1).astype(np.float32))
            pending.clear()

        out_desc: list[np.ndarray] = []
        for clip in iter_snippets(frames(), self.snippet_frames, self.stride):
            intensity, desc = motion.encode(clip)
            out["motion"].append(intensity)
            out_desc.append(desc)
            pending.append(clip)
            if len(pending) >= self.batch_snippets:
                flush()
        flush()
        if not out["features"]:
            raise DataError(f"{path}: no frames decoded; the video is empty or unreadable")
        streams = {"features": np.stack(out["features"]),
                   "motion": np.asarray(out["motion"], np.float32)}
        if self.appearance:
            streams["context"] = np.stack(out["context"]).astype(np.float32)
            if self.maps:
                streams["maps"] = np.stack(out["maps"])
        fps = self.fps or info.fps
        return EncodedVideo(streams, counter["frames"], fps, len(streams["features"]),
                            str(path), {"width": info.width, "height": info.height})
