"""Video → per-snippet feature streams with a named backbone and its feature contract.

Backbones: ``effnet-lite0`` (appearance: EfficientNet-Lite0 ImageNet features from
``frames_per_snippet`` evenly spaced frames, averaged), ``motion`` (DIS-flow descriptor),
``effnet-lite0+motion`` (both concatenated; the default for video), and the 3-D networks of the
published releases ``i3d-r50``, ``i3d-inception``, ``c3d`` (user's weights file, see
:mod:`wsvad.backbones.clip_nets`). Streams written per video:

* ``features [T, C, D]`` — what the methods train on (C crops); for ``effnet-lite0+motion`` the
  parts ``appearance`` (1280) and ``motion`` (the 208-d descriptor, the same for every crop);
* ``motion [T]`` — mean flow magnitude (motion intensity, CLAV/CoMo);
* ``motion_desc [T, 208]`` — the motion descriptor (:mod:`wsvad.backbones.motion`);
* ``motion_grid [T, 12, 12, 13]`` float16 — the flow bins and 99th magnitude percentile of each
  cell of a 12 × 12 grid (:mod:`wsvad.backbones.motion`, ``fine_grid``), for the methods that
  look inside the frame; written with the motion backbone whenever a spatial stream (``maps``,
  ``maps_trunk``, ``patches``) is, or with ``motion_grid=True``;
* ``context [T, 1000]`` — ImageNet class probabilities of the centre view (context labels);
* ``static_desc [T, 20]`` — what has newly come to rest (a bag left behind, a person lying
  still): the dual-background static-foreground descriptor (:mod:`wsvad.backbones.static`),
  with ``static=True``; it is then also a third part of ``features``, ``static``, after
  ``appearance`` and ``motion``; and ``static_grid [T, 12, 12]`` float16, the static share of
  each cell of a 12 × 12 grid (where);
* ``maps [T, 7, 7, 1280]`` float16 — EfficientNet spatial maps of the centre view (GIG), with
  ``maps=True``;
* ``boxes [N, 6]`` — moving-object proposals, rows ``(frame, x1, y1, x2, y2, score)`` in
  pixels of the decoded frames (MOG2 background subtraction, WSSTAD's tubes), with
  ``boxes=True``;
* ``tubes [N, 8]`` and ``tube_regions [M, 2 + D]`` — WSSTAD's tube instances (boxes linked
  into tubes, then the features of each tube's crop per snippet, from a second decoding pass;
  :mod:`wsvad.backbones.tube_regions`), with ``tubes=True`` (implies ``boxes``);
* ``patches_RxC [T, R·C, 1280]`` float16 — EfficientNet features of each tile of an R×C grid
  (SSRL's scales 2×3, 3×5, 4×7), with ``patches=[(2, 3), …]``. Two ways (``patch_mode``):

  - ``tiles`` — SSRL's way: every tile resized to 224×224 and run through the backbone
    (49 extra passes per sampled frame for the three grids);
  - ``pooled`` (default; a named deviation, chosen on measurements — see the README) — one pass
    of the whole frame at a higher resolution (short side ``patch_size`` = 448, aspect kept,
    sides rounded to multiples of 32), then the final 1280-channel map average-pooled over
    each tile's region (``adaptive_avg_pool2d`` to the grid: region boundaries rounded to map
    cells). Each tile's feature then also sees a little context across its border (the
    receptive field is larger than the tile), and a tile spans a few map cells rather than
    224² pixels.

``view`` — how a frame reaches the 2-D backbone: ``full`` (default) resizes the whole frame to
224×224 (aspect not kept) so nothing at the edges is lost — fixed surveillance cameras see
people and vehicles enter there; ``crop`` resizes the short side to 224 and takes the centre
(or 5/10) crops, the published releases' preprocessing, which cuts a sixth of a 3:2 frame's
width on each side. Crops other than 1 need ``view=crop``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from wsvad.backbones.boxes import DETECTORS, box_detector, read_detections
from wsvad.backbones.clip_nets import CLIP_NETS, ClipNetEncoder
from wsvad.backbones.effnet_lite import MEAN, STD, load_effnet_lite0, packaged_weights
from wsvad.backbones.motion import MotionConfig, MotionEncoder
from wsvad.backbones.static import StaticConfig, StaticForeground
from wsvad.backbones.tube_regions import tube_streams
from wsvad.contract import TUBE_REGIONS_METHOD, FeatureContract, StreamSpec, patch_stream
from wsvad.errors import ConfigError, DataError
from wsvad.runtime import fast_cpu_math
from wsvad.video.decode import iter_frames, probe
from wsvad.video.snippets import crop_clip, iter_snippets, patch_clip, resize_short_side

BACKBONES = ("effnet-lite0+motion", "effnet-lite0", "motion", *CLIP_NETS)
VIEWS = ("full", "crop")
PATCH_MODES = ("pooled", "tiles")


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
                 patches: tuple[tuple[int, int], ...] = (), boxes: bool = False,
                 view: str = "full", patch_mode: str = "pooled", patch_size: int = 448,
                 maps_trunk: bool = False, tubes: bool = False, detector: str = "mog2",
                 detections: str | Path | None = None, motion_grid: bool | None = None,
                 static: bool = False):
        if backbone not in BACKBONES:
            raise ConfigError(f"backbone '{backbone}' unknown; available: {', '.join(BACKBONES)}")
        if view not in VIEWS:
            raise ConfigError(f"view '{view}' unknown; use one of {', '.join(VIEWS)}")
        if crops != 1 and view != "crop":
            view = "crop"      # several crops are crops of the resized frame by definition
        if not 1 <= frames_per_snippet <= snippet_frames:
            raise ConfigError(f"frames_per_snippet must be in [1, {snippet_frames}], got "
                              f"{frames_per_snippet}")
        if static and backbone in CLIP_NETS:
            raise ConfigError(f"--static needs one of the backbones effnet-lite0+motion, "
                              f"effnet-lite0 or motion, not {backbone}")
        if static and tubes:
            raise ConfigError("--static and --tubes cannot be combined yet: the tube crops' "
                              "features have no static part; extract tubes into a store of "
                              "their own")
        fast_cpu_math()
        self.view = view
        self.backbone, self.crops, self.k = backbone, crops, frames_per_snippet
        self.snippet_frames, self.stride = snippet_frames, stride or snippet_frames
        self.fps, self.maps, self.batch_snippets = fps, maps, batch_snippets
        self.maps_trunk = maps_trunk
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
        self.static = bool(static)
        self.static_cfg = StaticConfig()
        if self.static:
            self.weights_hash = "+".join(x for x in (self.weights_hash, self.static_cfg.tag)
                                         if x)
        self.patches = tuple(tuple(g) for g in patches)
        self.tubes = tubes
        self.boxes = boxes or tubes
        # boxes from a detector run here, or read from the user's files (<name>.csv / .json)
        self.detections = Path(detections) if detections else None
        if self.detections is not None and not self.detections.is_dir():
            raise ConfigError(f"--detections {self.detections}: not a folder (it should hold "
                              "<video name>.csv or .json per video)")
        if detector not in DETECTORS:
            raise ConfigError(f"box detector '{detector}' unknown; use one of "
                              f"{', '.join(DETECTORS)}")
        self.detector = "file" if self.detections is not None else detector
        if self.patches and not self.appearance:
            raise ConfigError("patch features need an effnet-lite0 backbone")
        if patch_mode not in PATCH_MODES:
            raise ConfigError(f"patch mode '{patch_mode}' unknown; use one of "
                              f"{', '.join(PATCH_MODES)}")
        if patch_size < 32:
            raise ConfigError(f"patch_size must be at least 32 pixels, got {patch_size}")
        if motion_grid is None:     # the fine flow cells come with every spatial stream
            motion_grid = self.motion and bool(self.maps or self.maps_trunk or self.patches)
        if motion_grid and not self.motion:
            raise ConfigError("the motion_grid stream needs a backbone with motion "
                              "(effnet-lite0+motion or motion)")
        self.motion_grid = bool(motion_grid)
        self.patch_mode, self.patch_size = patch_mode, int(patch_size)

    @property
    def patch_method(self) -> str:
        """How patch streams are made, as recorded in the contract (``tiles``, ``pooled-448``)."""
        return "tiles" if self.patch_mode == "tiles" else f"pooled-{self.patch_size}"

    @property
    def dim(self) -> int:
        if self.clip_net is not None:
            return self.clip_net.spec.dim
        return 1280 * self.appearance + self.motion_cfg.dim * self.motion + \
            self.static_cfg.dim * self.static

    def contract(self) -> FeatureContract:
        c, d = self.crops, self.dim
        named = [("appearance", 1280)] * self.appearance + \
            [("motion", self.motion_cfg.dim)] * self.motion + \
            [("static", self.static_cfg.dim)] * self.static
        parts = tuple(named) if len(named) > 1 else None
        streams = [StreamSpec("features", (c, d), parts=parts), StreamSpec("motion", ())]
        if self.motion:
            streams.append(StreamSpec("motion_desc", (self.motion_cfg.dim,)))
        if self.static:
            g = self.static_cfg.fine_grid
            streams += [StreamSpec("static_desc", (self.static_cfg.dim,),
                                   method=self.static_cfg.tag),
                        StreamSpec("static_grid", (g, g), "float16", grid=(g, g),
                                   method=self.static_cfg.tag)]
        if self.motion_grid:
            g = self.motion_cfg.fine_grid
            streams.append(StreamSpec("motion_grid", (g, g, self.motion_cfg.cell_dim), "float16",
                                      grid=(g, g), method=self.motion_cfg.grid_tag))
        if self.appearance:
            streams.append(StreamSpec("context", (1000,)))
            if self.maps:
                streams.append(StreamSpec("maps", (7, 7, 1280), "float16", grid=(7, 7)))
            if self.maps_trunk:
                streams.append(StreamSpec("maps_trunk", (7, 7, 192), "float16", grid=(7, 7)))
            streams += [StreamSpec(patch_stream(g), (g[0] * g[1], 1280), "float16", grid=g,
                                   method=self.patch_method) for g in self.patches]
        if self.boxes:
            streams.append(StreamSpec("boxes", None, method=self.detector))
        if self.tubes:
            streams += [StreamSpec("tubes", None),
                        StreamSpec("tube_regions", None, method=TUBE_REGIONS_METHOD)]
        return FeatureContract(dim=d, crops=c, backbone=self.backbone,
                               weights_hash=self.weights_hash, clip_frames=self.snippet_frames,
                               stride=self.stride, fps=self.fps,
                               view=self.view if (self.appearance or self.clip_net) else None,
                               sampled_frames=self.k if self.appearance else None,
                               streams=tuple(streams))

    def _frames(self, clip: np.ndarray, size: int) -> np.ndarray:
        """``[k, H, W, 3]`` → ``[C, k, size, size, 3]`` for the backbone (see ``view``)."""
        if self.view == "full":
            return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA)
                             for f in clip])[None]
        return crop_clip(np.stack([resize_short_side(f, size) for f in clip]), size, self.crops)

    def _appearance(self, clips: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """``clips``: list of ``[L, H, W, 3]`` → pooled ``[n, C, 1280]``, probs ``[n, 1000]``,
        maps ``[n, 7, 7, 1280]`` and the trunk ``[n, 7, 7, 192]`` of the middle sampled frame
        (each None unless asked for), all of the centre view."""
        idx = np.linspace(0, self.snippet_frames - 1, self.k).round().astype(int)
        x = torch.from_numpy(np.stack([self._frames(c[idx], 224) for c in clips])).float()
        n, c, k = x.shape[:3]
        x = ((x - MEAN) / STD).reshape(n * c * k, 224, 224, 3).permute(0, 3, 1, 2)
        with torch.no_grad():
            maps, pooled, logits, trunk = self.net.forward_split(x.contiguous())
        pooled = pooled.view(n, c, k, -1).mean(2).numpy()
        centre = 4 if c in (5, 10) else 0        # torchvision crop order: the centre is 5th
        probs = logits.softmax(-1).view(n, c, k, -1)[:, centre].mean(1).numpy()
        m = None
        if self.maps:
            m = maps.view(n, c, k, 1280, 7, 7)[:, centre].mean(1).permute(0, 2, 3, 1)
            m = m.numpy().astype(np.float16)                            # [n, 7, 7, 1280]
        tr = None
        if self.maps_trunk:
            tr = trunk.view(n, c, k, 192, 7, 7)[:, centre, k // 2].permute(0, 2, 3, 1)
            tr = tr.numpy().astype(np.float16)                          # [n, 7, 7, 192]
        return pooled, probs, m, tr

    def _patches(self, clips: list[np.ndarray], grid: tuple[int, int]) -> np.ndarray:
        """``[n, P, 1280]`` features of each tile (``tiles`` mode), averaged over the sampled
        frames."""
        idx = np.linspace(0, self.snippet_frames - 1, self.k).round().astype(int)
        x = torch.from_numpy(np.stack([patch_clip(c[idx], grid, 224) for c in clips])).float()
        n, p, k = x.shape[:3]
        x = ((x - MEAN) / STD).reshape(n * p * k, 224, 224, 3).permute(0, 3, 1, 2)
        with torch.no_grad():
            _, pooled, _ = self.net(x.contiguous())
        return pooled.view(n, p, k, -1).mean(2).numpy().astype(np.float16)

    def pooled_size(self, h: int, w: int) -> tuple[int, int]:
        """``(height, width)`` of the ``pooled`` pass: short side ``patch_size``, aspect kept,
        both multiples of 32 (the backbone's stride). Example: Ped2 240×360 → (448, 672)."""
        scale = self.patch_size / min(h, w)
        def to32(v: float) -> int:
            return max(32, int(v / 32 + 0.5) * 32)
        return to32(h * scale), to32(w * scale)

    def _pooled_patches(self, clips: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Every grid's ``[n, P, 1280]`` from one high-resolution pass per sampled frame."""
        idx = np.linspace(0, self.snippet_frames - 1, self.k).round().astype(int)
        h, w = self.pooled_size(*clips[0].shape[1:3])
        x = torch.from_numpy(np.stack([[cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
                                        for f in c[idx]] for c in clips])).float()
        n, k = x.shape[:2]
        x = ((x - MEAN) / STD).reshape(n * k, h, w, 3).permute(0, 3, 1, 2)
        with torch.no_grad():
            maps, _, _ = self.net(x.contiguous())                    # [n·k, 1280, h/32, w/32]
        out = {}
        for g in self.patches:
            tiles = torch.nn.functional.adaptive_avg_pool2d(maps, g)  # [n·k, 1280, R, C]
            tiles = tiles.flatten(2).transpose(1, 2).reshape(n, k, g[0] * g[1], -1).mean(1)
            out[patch_stream(g)] = tiles.numpy().astype(np.float16)
        return out

    def _read_detections(self, path: Path) -> np.ndarray:
        """The user's boxes of video ``path``: ``<detections>/<name>.csv`` or ``.json``."""
        name = path.stem if path.is_file() else path.name
        for suffix in (".csv", ".json"):
            f = self.detections / f"{name}{suffix}"
            if f.is_file():
                return read_detections(f)[0]
        raise DataError(f"no detections for video '{name}' in {self.detections} (expected "
                        f"{name}.csv or {name}.json)")

    def region_features(self, crops: list[np.ndarray], frame_short_side: int, frames: int = 1,
                        motion_size: int = 64) -> np.ndarray:
        """``[n, D]`` features of cropped clips (``[L, h, w, 3]`` each, any size) of frames whose
        short side is ``frame_short_side`` pixels, laid out as the ``features`` stream (one
        view): the appearance of ``frames`` evenly spaced frames of each crop resized to the
        input size, the DIS-flow descriptor of the cropped clip computed at short side
        ``motion_size``, or the 3-D network on the crop (its crops averaged).

        The crop's flow is put into the units of the whole-frame ``motion_desc`` (pixels of the
        frame resized to the motion backbone's short side): a crop resized to ``motion_size``
        measures motion in its own pixels, so a 16-px crop's flow would read 4× and a 128-px
        crop's half — a distant walker would outpace a near cyclist."""
        parts = []
        if self.appearance:
            idx = np.linspace(0, self.snippet_frames - 1, frames + 2)[1:-1].round().astype(int)
            x = np.stack([[cv2.resize(f, (224, 224), interpolation=cv2.INTER_AREA)
                           for f in c[idx]] for c in crops])
            x = (torch.from_numpy(x).float() - MEAN) / STD
            n, k = x.shape[:2]
            with torch.no_grad():
                _, pooled, _ = self.net(x.reshape(n * k, 224, 224, 3).permute(0, 3, 1, 2)
                                        .contiguous())
            parts.append(pooled.view(n, k, -1).mean(1).numpy())
        if self.clip_net is not None:
            parts.append(self.clip_net.encode([np.stack([resize_short_side(f, 256) for f in c])
                                               for c in crops]).mean(1))
        if self.motion:
            cfg = replace(self.motion_cfg, size=motion_size)
            unit = self.motion_cfg.size / frame_short_side          # frame flow px per px
            parts.append(np.stack([
                MotionEncoder(cfg).encode(c, pixel_scale=unit * min(c.shape[1:3]) / motion_size)[1]
                for c in crops]))
        return np.concatenate(parts, axis=-1).astype(np.float32)

    def session(self, batch_snippets: int | None = None) -> EncodingSession:
        """Per-video encoding state; push snippets as they arrive (streaming)."""
        return EncodingSession(self, batch_snippets or self.batch_snippets)

    def encode(self, path: str | Path) -> EncodedVideo:
        """All streams of one video; raises :class:`DataError` for unreadable input."""
        path = Path(path)
        info = probe(path)
        counter = {"frames": 0}
        detector = box_detector(self.detector) if self.boxes and self.detector != "file" \
            else None
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
        if self.boxes and self.detector == "file":
            found = self._read_detections(path)
        if self.boxes:
            found = np.asarray(found, np.float32).reshape(-1, 7 if self.detector == "file" else 6)
            streams["boxes"] = found[:, :6]
        fps = self.fps or info.fps
        if self.tubes:
            streams.update(tube_streams(self, path, found, len(streams["features"]), fps))
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
        self.static = StaticForeground(encoder.static_cfg) if encoder.static else None
        self.static_desc: list[np.ndarray] = []
        self.static_grid: list[np.ndarray] = []
        self.pushed = 0
        self.pending: list[np.ndarray] = []
        self.intensity: list[float] = []
        self.desc: list[np.ndarray] = []
        self.grid: list[np.ndarray] = []

    def push(self, clip: np.ndarray) -> dict[str, np.ndarray] | None:
        m = self.motion.encode_snippet(clip, fine=self.enc.motion_grid)
        self.intensity.append(m.intensity)
        self.desc.append(m.descriptor)
        if m.grid is not None:
            self.grid.append(m.grid)
        if self.static is not None:    # overlapping snippets feed only their new frames
            new = None if self.pushed == 0 else min(self.enc.stride, len(clip))
            st = self.static.encode_snippet(clip, new)
            self.static_desc.append(st.descriptor)
            self.static_grid.append(st.grid)
        self.pushed += 1
        self.pending.append(clip)
        return self.flush() if len(self.pending) >= self.batch else None

    def flush(self) -> dict[str, np.ndarray] | None:
        if not self.pending:
            return None
        enc, clips = self.enc, self.pending
        out: dict[str, np.ndarray] = {}
        parts = []
        if enc.appearance:
            pooled, probs, m, trunk = enc._appearance(clips)
            parts.append(pooled)
            out["context"] = probs.astype(np.float32)
            if m is not None:
                out["maps"] = m
            if trunk is not None:
                out["maps_trunk"] = trunk
            if enc.patches and enc.patch_mode == "pooled":
                out.update(enc._pooled_patches(clips))
            for g in enc.patches if enc.patch_mode == "tiles" else ():
                out[patch_stream(g)] = enc._patches(clips, g)
        if enc.clip_net is not None:
            parts.append(enc.clip_net.encode(clips))
        if enc.motion:
            desc = np.stack(self.desc)
            parts.append(np.repeat(desc[:, None], enc.crops, axis=1))
            out["motion_desc"] = desc.astype(np.float32)
        if enc.motion_grid:
            out["motion_grid"] = np.stack(self.grid).astype(np.float16)
        if enc.static:
            static = np.stack(self.static_desc)
            parts.append(np.repeat(static[:, None], enc.crops, axis=1))
            out["static_desc"] = static
            out["static_grid"] = np.stack(self.static_grid).astype(np.float16)
        out["features"] = np.concatenate(parts, axis=-1).astype(np.float32)
        out["motion"] = np.asarray(self.intensity, np.float32)
        self.pending, self.intensity, self.desc, self.grid = [], [], [], []
        self.static_desc, self.static_grid = [], []
        return out
