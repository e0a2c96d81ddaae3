"""``Detector``: a trained run applied to video — offline (a whole file, scored the way the method
is evaluated) or streaming (frames as they arrive, bounded latency and memory).

Streaming scores each new snippet with the model applied to the last ``window`` snippets
(a causal window; the offline mode sees the whole video, as the methods do at test time, so the
two can differ slightly for methods with temporal context such as RTFM's MTN). Latency is one
snippet (16 frames) plus compute; memory is ``window`` snippet features plus one snippet of
frames.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wsvad.contract import FeatureContract
from wsvad.data.features import as_snippet_array
from wsvad.data.groundtruth import snippet_to_frame
from wsvad.detect.events import Event, EventTracker, Hysteresis, find_events
from wsvad.detect.sources import FrameSource, open_source
from wsvad.errors import ConfigError, DataError, WsvadError
from wsvad.evaluation.threshold import resolve
from wsvad.methods.base import Localization


@dataclass
class DetectionResult:
    """Scores and alerts of one video. Frame ``i`` is at ``i / fps`` seconds."""

    name: str
    source: str
    fps: float
    frame_scores: np.ndarray = field(repr=False)     # [N]
    snippet_scores: np.ndarray = field(repr=False)   # [T]
    events: list[Event]
    threshold: float
    seconds: float                                   # wall time of decoding + features + scoring
    localization: Localization | None = None         # where, when the method localises
    classes: np.ndarray | None = None                # [T, K] or [K] class probabilities
    width: int | None = None
    height: int | None = None

    @property
    def frames(self) -> int:
        return len(self.frame_scores)

    @property
    def video_seconds(self) -> float:
        return self.frames / self.fps

    @property
    def realtime_factor(self) -> float:
        """Video seconds processed per wall-clock second (> 1: faster than real time)."""
        return self.video_seconds / max(self.seconds, 1e-9)


@dataclass
class StreamStep:
    """What one scored snippet of a stream produced (frames in arrival order)."""

    first_frame: int
    frames: list[np.ndarray] = field(repr=False)
    times: list[float]
    scores: np.ndarray
    alerts: list[bool]            # an alert was open at each frame
    events: list[Event]           # events that closed during these frames
    latency: float                # s from the snippet's last frame arriving to its score
    error: str | None = None      # set on the last step when the source dropped


class Detector:
    """A weakly-supervised detector: fit on a dataset spec, or load a trained run, then score
    videos. PyOD-style: :meth:`fit` returns self, :meth:`decision_function` is higher for more
    abnormal, ``threshold_`` is the calibrated alert threshold.

    Example:
        >>> det = Detector.load("runs/demo/rtfm")                        # doctest: +SKIP
        >>> res = det.score_video("plaza.mp4")                           # doctest: +SKIP
        >>> [(e.start, e.end) for e in res.events], res.realtime_factor  # doctest: +SKIP
        >>> det = Detector("rtfm").fit("spec.yaml", out="runs/rtfm")      # doctest: +SKIP
    """

    def __init__(self, method: str = "rtfm", hysteresis: float = 0.2, min_seconds: float = 0.5,
                 weights: str | Path | None = None, **config: Any):
        self.method, self.config, self.weights = method, config, weights
        self.rule_hysteresis, self.min_seconds = hysteresis, min_seconds
        self.model = None
        self.contract: FeatureContract | None = None
        self.meta: dict[str, Any] = {}
        self.run: Path | None = None
        self.threshold_: float | None = None
        self.threshold_source = ""
        self._encoder = None
        self.engine = "torch"
        self._onnx = None

    # -- training / loading -------------------------------------------------------------------
    def fit(self, data: str | Path, out: str | Path, seed: int = 0, **train_kwargs: Any
            ) -> Detector:
        """Train on a dataset spec (see :func:`wsvad.training.train`) and load the result."""
        from wsvad.training.trainer import train
        train(data, self.method, out, self.config, seed=seed, **train_kwargs)
        return self._load_into(Path(out), "auto")

    @classmethod
    def load(cls, run: str | Path, threshold: str | float | None = "auto",
             hysteresis: float = 0.2, min_seconds: float = 0.5,
             weights: str | Path | None = None, engine: str = "torch") -> Detector:
        """A run directory (``model.json`` + ``model.safetensors``), or a multi-seed run (the
        seed with the best validation score is used). ``engine="onnx"`` scores with the run's
        ONNX export (``wsvad export``) through onnxruntime; heat maps are then not drawn (they
        need the PyTorch model's internals; wsstad's tubes are)."""
        det = cls(hysteresis=hysteresis, min_seconds=min_seconds, weights=weights)
        det._load_into(Path(run), threshold)
        if engine not in ("torch", "onnx"):
            raise WsvadError(f"engine {engine!r}: use torch or onnx")
        if engine == "onnx":
            from wsvad.export.onnx import OnnxEngine
            det.engine, det._onnx = engine, OnnxEngine(det.run, model=det.model)
        return det

    def _load_into(self, run: Path, threshold: str | float | None) -> Detector:
        from wsvad.training.checkpoint import load_checkpoint
        run = pick_seed(run)
        self.model, self.contract, self.meta = load_checkpoint(run / "model")
        self.method, self.run = self.meta["method"], run
        self.threshold_, self.threshold_source = resolve(threshold, self.meta, str(run))
        self._encoder = None
        return self

    @property
    def rule(self) -> Hysteresis:
        self._need_model()
        return Hysteresis(self.threshold_, self.rule_hysteresis, self.min_seconds)

    def _need_model(self) -> None:
        if self.model is None:
            raise WsvadError("the detector has no model: call fit(...) or Detector.load(run)")

    # -- scoring --------------------------------------------------------------------------------
    def decision_function(self, features: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        """Snippet scores ``[T]`` (higher = more abnormal) of features ``[T, D]`` /
        ``[T, C, D]``, or of a video's streams ``{stream: time-first array}`` when the method
        needs more than features."""
        return self.score_streams(features)[0]

    def score_streams(self, streams: np.ndarray | dict[str, np.ndarray], name: str | None = None):
        """``(snippet scores [T], Output, Batch)`` — through the method's one scoring path."""
        self._need_model()
        if not isinstance(streams, dict):
            streams = {"features": streams}
        if "features" in streams:
            arr = as_snippet_array(np.asarray(streams["features"], np.float32), "features")
            if arr.shape[1:] != (self.contract.crops, self.contract.dim):
                raise DataError(f"features of shape {arr.shape} do not fit the run: it expects "
                                f"[T, {self.contract.crops}, {self.contract.dim}]")
            streams = {**streams, "features": arr}
        missing = [s for s in self.model.needs if s != "patches" and s not in streams]
        if missing:
            raise DataError(f"method '{self.method}' needs streams {missing}; pass them as "
                            "{stream: array}")
        needed = {k: v for k, v in streams.items()
                  if k in self.model.needs or (k.startswith("patches_") and
                                               "patches" in self.model.needs)}
        return (self._onnx or self.model).score_streams(needed, name)

    @property
    def encoder(self):
        """The video encoder the run's feature contract calls for."""
        self._need_model()
        if self._encoder is None:
            self._encoder = encoder_for(self.contract, self.weights, str(self.run))
        return self._encoder

    @property
    def clip(self) -> int:
        return self.contract.clip_frames or 16

    def score_video(self, path: str | Path) -> DetectionResult:
        """Decode, extract with the run's contract, score the whole video, find events, and
        say where (when the method localises) and what (when it predicts classes)."""
        t0 = time.perf_counter()
        enc = self.encoder.encode(path)
        snippets, output, batch = self.score_streams(enc.streams, Path(path).stem)
        frames = snippet_to_frame(snippets, enc.frames, self.clip)
        events = find_events(frames, enc.fps, self.rule)
        # through ONNX, "where" survives only when the graph's outputs carry it (wsstad's tubes)
        loc = self.model.localize(batch, output) if self._onnx is None or output.extras \
            else None
        classes = output.classes[0].numpy() if output.classes is not None else None
        return DetectionResult(Path(path).stem, str(path), enc.fps, frames, snippets, events,
                               self.threshold_, time.perf_counter() - t0,
                               loc[0] if loc else None, classes, enc.meta.get("width"),
                               enc.meta.get("height"))

    def stream(self, source: str | FrameSource, window: int = 32, realtime: bool = False
               ) -> Iterator[StreamStep]:
        """Score a source as its frames arrive: one :class:`StreamStep` per snippet; the last
        step closes any open event (and carries ``error`` if the source dropped)."""
        src = source if isinstance(source, FrameSource) else open_source(source)
        if (self.contract.stride or self.clip) != self.clip:
            raise ConfigError("streaming needs features with stride == snippet length")
        if "tubes" in self.model.needs:
            raise ConfigError(f"method '{self.method}' links boxes over the whole video into "
                              "tubes, so it cannot score a live stream; run detect on a file "
                              "(without --stream/--realtime)")
        session = self.encoder.session(batch_snippets=1)
        feats: deque[dict[str, np.ndarray]] = deque(maxlen=max(1, window))
        fps = self.contract.fps or src.fps
        tracker = EventTracker(self.rule, fps)
        buf: list[np.ndarray] = []
        times: list[float] = []
        first, error = 0, None

        def score(n_real: int) -> StreamStep:
            arrived = time.perf_counter()
            clip = np.stack(buf + [buf[-1]] * (self.clip - len(buf)))
            feats.append({k: v[0] for k, v in session.push(clip).items()})
            window_streams = {k: np.stack([f[k] for f in feats]) for k in feats[0]}
            s = float(self.score_streams(window_streams)[0][-1])
            events, alerts = [], []
            for i in range(n_real):
                events += tracker.update(first + i, s)
                alerts.append(tracker.active)
            return StreamStep(first, list(buf[:n_real]), list(times[:n_real]),
                              np.full(n_real, s), alerts, events,
                              time.perf_counter() - arrived)

        try:
            for frame, t in src.frames(self.contract.fps, realtime):
                buf.append(frame)
                times.append(t)
                if len(buf) == self.clip:
                    yield score(self.clip)
                    first += self.clip
                    buf, times = [], []
        except DataError as exc:
            if first == 0 and not buf:
                raise
            error = str(exc)
        tail = score(len(buf)) if buf else StreamStep(first, [], [], np.zeros(0), [], [], 0.0)
        tail.events += tracker.finish()
        tail.error = error
        yield tail


def pick_seed(run: Path) -> Path:
    """``run`` itself when it holds a model; else its ``seed_*`` run with the best validation
    score (smoothed video AUC on held-out training videos — never the test set)."""
    if (run / "model.json").is_file():
        return run
    seeds = sorted(p for p in run.glob("seed_*") if (p / "model.json").is_file())
    if not seeds:
        raise WsvadError(f"{run}: not a run directory (no model.json, no seed_*/model.json); "
                         "train one with `wsvad train`")
    import json

    def val(p: Path) -> float:
        v = (json.loads((p / "model.json").read_text()).get("validation") or {})
        x = v.get("val_auc_smoothed")
        return -1.0 if x is None or x != x else float(x)
    return max(seeds, key=val)


def encoder_for(contract: FeatureContract, weights: str | Path | None, run: str):
    """A :class:`VideoEncoder` that makes features under ``contract`` (checked)."""
    from wsvad.backbones.video_encoder import BACKBONES, VideoEncoder
    if contract.backbone not in BACKBONES:
        raise WsvadError(f"{run}: trained on features without a known backbone "
                         f"({contract.backbone!r}, e.g. a published feature release); detection "
                         "on video needs a run trained on features from `wsvad extract`")
    names = contract.stream_names
    patch_specs = [s for s in contract.streams if s.name.startswith("patches_") and s.grid]
    grids = tuple(s.grid for s in patch_specs)
    how = next((s.method for s in patch_specs if s.method), "tiles")   # older stores: tiles
    mode, _, size = how.partition("-")
    boxes = next((s for s in contract.streams if s.name == "boxes"), None)
    detector = (boxes.method if boxes is not None else None) or "mog2"
    if detector == "file":
        raise WsvadError(f"{run}: trained on boxes read from your detector's files "
                         "(extract --detections); detect cannot run that detector on new video "
                         "— extract the video with --detections and score it with `wsvad score`")
    enc = VideoEncoder(contract.backbone, crops=contract.crops,
                       snippet_frames=contract.clip_frames or 16, stride=contract.stride,
                       fps=contract.fps, weights=weights, maps="maps" in names,
                       maps_trunk="maps_trunk" in names, motion_grid="motion_grid" in names,
                       static="static_desc" in names,
                       patches=grids, boxes="boxes" in names, tubes="tubes" in names,
                       detector=detector,
                       view=contract.view or "crop",
                       frames_per_snippet=contract.sampled_frames or 4, patch_mode=mode,
                       patch_size=int(size or 448))
    contract.check_compatible(enc.contract(), f"run {run}", "this video encoder")
    return enc
