"""What a report shows, gathered from a run: the test set scored once more with the saved model,
its metrics, figures as PNG bytes, the top detections with thumbnails of their peak frames."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from wsvad.contract import FeatureContract
from wsvad.detect.detector import pick_seed
from wsvad.detect.events import Hysteresis, find_events
from wsvad.detect.outputs import plot_timeline
from wsvad.detect.overlay import HeatmapLayer
from wsvad.detect.where import event_class, predicted_boxes
from wsvad.errors import DataError, WsvadError
from wsvad.evaluation.plots import plot_confusion, plot_roc_pr
from wsvad.evaluation.threshold import run_threshold
from wsvad.methods.base import Localization
from wsvad.training.evaluate import evaluate_model, load_run_and_data
from wsvad.video.decode import VIDEO_SUFFIXES, iter_frames


@dataclass
class Detection:
    """An alert on a test video, for the 'top detections' table."""

    video: str
    start: float
    end: float
    peak_time: float
    peak_score: float
    overlaps_gt: bool
    thumbnail: bytes | None = None    # JPEG of the peak frame (localisation drawn on it)
    what: str | None = None           # predicted class, for methods that predict one


@dataclass
class ReportData:
    run: Path
    meta: dict[str, Any]
    metrics: dict[str, Any]
    threshold: float
    threshold_source: str
    data: str
    figures: dict[str, bytes] = field(default_factory=dict)       # name → PNG
    timelines: dict[str, bytes] = field(default_factory=dict)     # video → PNG
    detections: list[Detection] = field(default_factory=list)
    videos_shown: int = 0
    videos_total: int = 0
    localization: dict[str, Localization] = field(default_factory=dict)


def _png(path: Path) -> bytes:
    return path.read_bytes()


def find_video(name: str, folders: list[Path | None], store_meta: Path | None) -> Path | None:
    """The source video of ``name``: ``<folder>/<name>.<ext>`` or the store's recorded source."""
    for folder in folders:
        if folder is None or not folder.is_dir():
            continue
        for ext in VIDEO_SUFFIXES:
            if (folder / f"{name}{ext}").is_file():
                return folder / f"{name}{ext}"
    if store_meta is not None and (store_meta / f"{name}.json").is_file():
        src = json.loads((store_meta / f"{name}.json").read_text()).get("source")
        if src and Path(src).exists():
            return Path(src)
    return None


def thumbnail(video: Path, frame: int, fps: float | None, width: int = 240,
              loc: Localization | None = None, clip: int = 16) -> bytes | None:
    """JPEG bytes of frame ``frame`` (decoding up to it) with the method's localisation drawn
    on it (heat map or boxes) when given, or None when the frame cannot be read."""
    try:
        for i, (img, _t) in enumerate(iter_frames(video, fps)):
            if i == frame:
                img = draw_localization(img, loc, frame, clip) if loc is not None else img
                h, w = img.shape[:2]
                img = cv2.resize(img, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
                ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, 80])
                return buf.tobytes() if ok else None
    except DataError:
        return None
    return None


def draw_localization(img: np.ndarray, loc: Localization, frame: int, clip: int) -> np.ndarray:
    """The heat map of the frame's snippet blended over it, or the predicted boxes in red."""
    if loc.heatmaps is not None:
        return HeatmapLayer(loc.heatmaps, clip, loc.region).blend(img, frame)
    out = img.copy()
    for box in predicted_boxes(loc).get(frame, []):
        x1, y1, x2, y2 = (int(round(v)) for v in box[:4])
        cv2.rectangle(out, (x1, y1), (x2, y2), (230, 40, 40), 2)
    return out


def collect(run: str | Path, data: str | Path | None = None, videos: str | Path | None = None,
            max_timelines: int = 24, top: int = 12, progress: bool = False) -> ReportData:
    """Score the test split of ``data`` (default: the run's) and gather the report's content."""
    run = pick_seed(Path(run))
    model, meta, ds, data = load_run_and_data(run, data)
    contract = FeatureContract.from_dict(meta["contract"])
    names = [e.name for e in ds.test]
    if not names:
        raise WsvadError(f"{data}: no test videos to report on (test_list)")
    threshold, th_src = run_threshold(meta)
    ev = evaluate_model(model, ds, threshold, progress=progress, allow_missing=True)
    frames = ev.scores.frames
    labels = {n: ds.frame_labels[n] for n in frames}
    rep = ReportData(run, meta, ev.metrics, threshold, th_src, str(data))
    rep.localization = ev.scores.localization
    store_meta = ds.spec.feature_dir / "meta" if ds.spec.format == "store" else None
    fps_of = {n: _fps_of(store_meta, n) or contract.fps or 25.0 for n in frames}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plot_roc_pr(frames, labels, tmp, title=f"{meta['method']} on {ds.spec.name}")
        rep.figures = {"roc": _png(tmp / "roc.png"), "pr": _png(tmp / "pr.png")}
        if (run / "training.png").is_file():
            rep.figures["training"] = _png(run / "training.png")
        if "confusion" in ev.metrics:
            conf = ev.metrics["confusion"]
            plot_confusion(np.array(conf["matrix"]), conf["classes"], tmp / "confusion.png",
                           f"videos by class (τ = {threshold:.2f})")
            rep.figures["confusion"] = _png(tmp / "confusion.png")
        rule = Hysteresis(threshold)
        order = sorted(frames, key=lambda n: (-int(labels[n].max() > 0), -float(frames[n].max())))
        rep.videos_total = len(order)
        for n in order[:max_timelines]:
            plot_timeline(tmp / f"{n}.png", frames[n], fps_of[n], rule,
                          find_events(frames[n], fps_of[n], rule), labels[n], title=n)
            rep.timelines[n] = _png(tmp / f"{n}.png")
        rep.videos_shown = len(rep.timelines)
    folders = [Path(videos) if videos else None, ds.spec.videos]
    cands = []
    for n, s in frames.items():
        fps_n = fps_of[n]
        for e in find_events(s, fps_n, Hysteresis(threshold)):
            hit = bool(np.any(labels[n][e.start_frame:e.end_frame]))
            cands.append((e, n, hit))
    cands.sort(key=lambda c: -c[0].peak_score)
    for e, n, hit in cands[:top]:
        src = find_video(n, folders, store_meta)
        loc = rep.localization.get(n)
        thumb = thumbnail(src, e.peak_frame, contract.fps, loc=loc, clip=ds.spec.snippet_frames) \
            if src else None
        what = None
        if n in ev.scores.classes:
            t0, t1 = e.start_frame // ds.spec.snippet_frames, -(-e.end_frame //
                                                               ds.spec.snippet_frames)
            what = event_class(ev.scores.classes[n], t0, t1, meta.get("class_names"))["class"]
        rep.detections.append(Detection(n, e.start, e.end, e.peak_time, e.peak_score, hit, thumb,
                                        what))
    return rep


def _fps_of(store_meta: Path | None, name: str) -> float | None:
    if store_meta is None or not (store_meta / f"{name}.json").is_file():
        return None
    return json.loads((store_meta / f"{name}.json").read_text()).get("fps")
