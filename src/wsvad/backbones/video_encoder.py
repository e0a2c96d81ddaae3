"""Video → per-snippet feature streams with a named backbone and its feature contract.

Backbones: ``effnet-lite0`` (appearance: EfficientNet-Lite0 ImageNet features from
``frames_per_snippet`` evenly spaced frames, averaged), ``motion`` (DIS-flow descriptor),
``effnet-lite0+motion`` (both concatenated; the default for video), and the 3-D networks of the
published releases ``i3d-r50``, ``i3d-inception``, ``c3d`` (user's weights file, see
:mod:`wsvad.backbones.clip_nets`). Streams written per video:

* ``features [T, C, D]`` — what the methods train on (C crops);
* ``motion [T]`` — mean flow magnitude (motion intensity, CLAV/CoMo);
* ``context [T, 1000]`` — ImageNet class probabilities of the centre crop (context labels);
* ``maps [T, C, 7, 7, 1280]`` float16 — EfficientNet spatial maps (GIG), with ``maps=True``;
* ``boxes [N, 6]`` — moving-object proposals, rows ``(frame, x1, y1, x2, y2, score)`` in
  pixels of the decoded frames (MOG2 background subtraction, WSSTAD's tubes), with
  ``boxes=True``;
* ``patches_RxC [T, R·C, 1280]`` — EfficientNet features of each tile of an R×C grid (SSRL's
  scales 2×3, 3×5, 4×7), with ``patches=[(2, 3), …]``; tiles are resized to 224×224.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from wsvad.backbones.boxes import MovingObjectDetector
from wsvad.backbones.clip_nets import CLIP_NETS, ClipNetEncoder
from wsvad.backbones.effnet_lite import MEAN, STD, load_effnet_lite0, packaged_weights
from wsvad.backbones.motion import MotionConfig, MotionEncoder
from wsvad.contract import FeatureContract
from wsvad.errors import ConfigError, DataError
from wsvad.video.decode import iter_frames, probe
from wsvad.video.snippets import crop_clip, iter_snippets, patch_clip, resize_short_side

BACKBONES = ("effnet-lite0+motion", "effnet-lite0", "motion", *CLIP_NETS)


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
        (12, 1, 1488)
    """

    def __init__(self, backbone: str = "effnet-lite0+motion", crops: int = 1,
                 frames_per_snippet: int = 4, snippet_frames: int = 16,
                 stride: int | None = None, fps: float | None = None, maps: bool = False,
                 weights: str | Path | None = None, batch_snippets: int = 8,
                 patches: tuple[tuple[int, int], ...] = (), boxes: bool = False):
        if backbone not in BACKBONES:
            raise ConfigError(f"backbone '{backbone}' unknown; available: {', '.join(BACKBONES)}")
        self.backbone, self.crops, self.k = backbone, crops, frames_per_snippet
        self.snippet_frames, self.stride = snippet_frames, stride or snippet_frames
        self.fps, self.maps, self.batch_snippets = fps, maps, batch_snippets
        self.appearance = "effnet" in backbone
        self.motion = "motion" in backbone
        self.clip_net = ClipNetEncoder(backbone, weights, crops) if backbone in CLIP_NETS \
            else None
        self.net = load_effnet_lite0(weights) if self.appearance else None
        self.weights_hash = None
        if self.appearance or self.clip_net:
            self.weights_hash = file_hash(Path(weights) if weights else packaged_weights())
        self.motion_cfg = MotionConfig()
        if self.motion:  # motion settings change the features: they belong in the contract
            self.weights_hash = "+".join(x for x in (self.weights_hash, self.motion_cfg.tag) if x)
        self.patches = tuple(tuple(g) for g in patches)
        self.boxes = boxes
        if self.patches and not self.appearance:
            raise ConfigError("patch features need an effnet-lite0 backbone")

    @property
    def dim(self) -> int:
        if self.clip_net is not None:
            return self.clip_net.spec.dim
        return 1280 * self.appearance + self.motion_cfg.dim * self.motion

    def contract(self) -> FeatureContract:
        streams = ["features", "motion"] + (["context"] if self.appearance else []) + \
            (["maps"] if self.maps and self.appearance else []) + \
            [f"patches_{r}x{c}" for r, c in self.patches] + (["boxes"] if self.boxes else [])
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

    def _patches(self, clips: list[np.ndarray], grid: tuple[int, int]) -> np.ndarray:
        """``[n, P, 1280]`` pooled features of each tile, averaged over the sampled frames."""
        idx = np.linspace(0, self.snippet_frames - 1, self.k).round().astype(int)
        x = torch.from_numpy(np.stack([patch_clip(c[idx], grid, 224) for c in clips])).float()
        n, p, k = x.shape[:3]
        x = ((x - MEAN) / STD).reshape(n * p * k, 224, 224, 3).permute(0, 3, 1, 2)
        with torch.no_grad():
            _, pooled, _ = self.net(x.contiguous())
        return pooled.view(n, p, k, -1).mean(2).numpy()

    def session(self, batch_snippets: int | None = None) -> EncodingSession:
        """Per-video encoding state; push snippets as they arrive (streaming)."""
        return EncodingSession(self, batch_snippets or self.batch_snippets)

    def encode(self, path: str | Path) -> EncodedVideo:
        """All streams of one video; raises :class:`DataError` for unreadable input."""
        path = Path(path)
        info = probe(path)
        counter = {"frames": 0}
        detector = MovingObjectDetector() if self.boxes else None
        found: list[tuple[float, ...]] = []

        def frames():
            for frame, _t in iter_frames(path, self.fps):
                if detector is not None:
                    found.extend((counter["frames"], b.x1, b.y1, b.x2, b.y2, b.score)
                                 for b in detector.detect(frame))
                counter["frames"] += 1
                yield frame

        session = self.session()
        parts = [session.push(clip) for clip in iter_snippets(frames(), self.snippet_frames,
                                                               self.stride)]
        parts = [p for p in parts + [session.flush()] if p is not None]
        if not parts:
            raise DataError(f"{path}: no frames decoded; the video is empty or unreadable")
        streams = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        if self.boxes:
            streams["boxes"] = np.asarray(found, np.float32).reshape(-1, 6)
        fps = self.fps or info.fps
        return EncodedVideo(streams, counter["frames"], fps, len(streams["features"]),
                            str(path), {"width": info.width, "height": info.height})


class EncodingSession:
    """One video's encoding state: the motion encoder's previous frame and the snippets waiting
    for a batch. :meth:`push` returns the streams of a finished batch (``{stream: [n, …]}``)
    or None; :meth:`flush` encodes what is left.

    Example:
        >>> s = VideoEncoder("motion").session(batch_snippets=1)
        >>> s.push(np.zeros((16, 64, 64, 3), np.uint8))["features"].shape
        (1, 1, 208)
    """

    def __init__(self, encoder: VideoEncoder, batch_snippets: int):
        self.enc, self.batch = encoder, max(1, batch_snippets)
        self.motion = MotionEncoder(encoder.motion_cfg)
        self.pending: list[np.ndarray] = []
        self.intensity: list[float] = []
        self.desc: list[np.ndarray] = []

    def push(self, clip: np.ndarray) -> dict[str, np.ndarray] | None:
        intensity, desc = self.motion.encode(clip)
        self.intensity.append(intensity)
        self.desc.append(desc)
        self.pending.append(clip)
        return self.flush() if len(self.pending) >= self.batch else None

    def flush(self) -> dict[str, np.ndarray] | None:
        if not self.pending:
            return None
        enc, clips = self.enc, self.pending
        out: dict[str, np.ndarray] = {}
        parts = []
        if enc.appearance:
            pooled, probs, m = enc._appearance(clips)
            parts.append(pooled)
            out["context"] = probs.astype(np.float32)
            if m is not None:
                out["maps"] = m
            for r, c in enc.patches:
                out[f"patches_{r}x{c}"] = enc._patches(clips, (r, c))
        if enc.clip_net is not None:
            parts.append(enc.clip_net.encode(clips))
        if enc.motion:
            parts.append(np.repeat(np.stack(self.desc)[:, None], enc.crops, axis=1))
        out["features"] = np.concatenate(parts, axis=-1).astype(np.float32)
        out["motion"] = np.asarray(self.intensity, np.float32)
        self.pending, self.intensity, self.desc = [], [], []
        return out
