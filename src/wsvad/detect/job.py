"""``wsvad detect``: a run applied to video files, folders of videos or live streams; one folder
of outputs per video (see :mod:`wsvad.detect.outputs`, :mod:`wsvad.detect.overlay`) and a
``detections.json`` summary. A video that fails is reported and skipped; the others are kept.
"""

from __future__ import annotations

import statistics
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from wsvad.data.groundtruth import read_boxes
from wsvad.detect.detector import Detector
from wsvad.detect.events import Event
from wsvad.detect.outputs import ScoreLog, plot_timeline, write_events, write_localization
from wsvad.detect.overlay import HeatmapLayer, OverlayWriter
from wsvad.detect.sources import is_stream, open_source
from wsvad.detect.where import describe_events, predicted_boxes
from wsvad.errors import DataError, WsvadError
from wsvad.fileio import check_writable, write_json
from wsvad.video.decode import iter_frames


@dataclass
class DetectReport:
    """Per video: its summary row (events, frames, real-time factor, output folder)."""

    videos: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def read_ground_truth(labels: str | Path | None, boxes: str | Path | None
                      ) -> tuple[dict[str, np.ndarray], dict[str, dict[int, list]]]:
    """Optional frame labels (``.npz``, key = video name) and boxes
    (:func:`wsvad.data.groundtruth.read_boxes`) to draw beside the scores."""
    lab: dict[str, np.ndarray] = {}
    if labels:
        labels = Path(labels)
        if not labels.is_file():
            raise DataError(f"--labels: file not found: {labels}")
        try:
            with np.load(labels, allow_pickle=False) as z:
                lab = {k: np.asarray(z[k]) for k in z.files}
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise DataError(f"--labels {labels}: not an .npz of frame labels per video "
                            f"({exc})") from exc
    return lab, (read_boxes(boxes) if boxes else {})


def detect(run: str | Path, inputs: str | Path, out: str | Path,
           threshold: str | float = "auto", stream: bool = False, realtime: bool = False,
           overlay: bool = True, labels: str | Path | None = None,
           boxes: str | Path | None = None, hysteresis: float = 0.2, min_seconds: float = 0.5,
           window: int = 32, weights: str | Path | None = None, progress: bool = True,
           on_event: Callable[[str, Event], None] | None = None,
           engine: str = "torch") -> DetectReport:
    """Run detection on every input; write ``out/<video>/…`` and ``out/detections.json``.

    Example:
        >>> rep = detect("runs/demo/rtfm", "clip.mp4", "detections")   # doctest: +SKIP
        >>> rep.videos["clip"]["events"]                               # doctest: +SKIP
    """
    out = check_writable(out)
    gt_labels, gt_boxes = read_ground_truth(labels, boxes)
    det = Detector.load(run, threshold, hysteresis, min_seconds, weights, engine)
    det.encoder  # noqa: B018 - the run's feature contract is checked before any video
    text = str(inputs)
    if is_stream(text):
        items, stream = [text], True
    else:
        from wsvad.features.extract import list_videos
        items = [str(p) for p in list_videos(inputs)]
    rep = DetectReport()
    for item in tqdm(items, desc="detect", unit="video", disable=not progress or len(items) < 2):
        name = Path(item).stem if not is_stream(item) else None
        try:
            if stream or realtime:
                row = _run_stream(det, item, out, window, realtime, overlay, gt_labels, gt_boxes,
                                  on_event)
            else:
                row = _run_offline(det, item, out, overlay, gt_labels, gt_boxes)
                for e in row.pop("_events"):
                    if on_event is not None:
                        on_event(row["video"], e)
            rep.videos[row["video"]] = row
        except WsvadError as exc:
            rep.failed[name or item] = str(exc)
    write_json(out / "detections.json", {
        "run": str(det.run), "method": det.method, "threshold": det.threshold_,
        "threshold_source": det.threshold_source, "videos": rep.videos, "failed": rep.failed})
    return rep


def _run_offline(det: Detector, path: str, out: Path, overlay: bool,
                 gt_labels: dict, gt_boxes: dict) -> dict[str, Any]:
    res = det.score_video(path)
    vdir = out / res.name
    log = ScoreLog(vdir / "scores.csv", res.fps)
    for i, s in enumerate(res.frame_scores):
        log.add(i, s)
    log.close()
    labels = gt_labels.get(res.name)
    size = (res.width, res.height) if res.width else None
    described = describe_events(res.events, det.clip, res.localization, res.classes,
                                det.meta.get("class_names"), size)
    t_overlay = 0.0
    if overlay:
        t0 = time.perf_counter()
        alert = np.zeros(res.frames, bool)
        what: list[str | None] = [None] * res.frames
        for e, row in zip(res.events, described, strict=True):
            alert[e.start_frame:e.end_frame] = True
            if "what" in row:
                what[e.start_frame:e.end_frame] = [row["what"]["class"]] * \
                    (min(e.end_frame, res.frames) - e.start_frame)
        loc = res.localization
        layer = HeatmapLayer(loc.heatmaps, det.clip, loc.region) \
            if loc is not None and loc.heatmaps is not None else None
        ow = OverlayWriter(vdir / "overlay.mp4", res.fps, res.threshold, res.frame_scores,
                           labels, gt_boxes.get(res.name), heatmap=layer,
                           predicted=predicted_boxes(loc))
        try:
            for i, (frame, _t) in enumerate(iter_frames(path, det.contract.fps)):
                if i >= res.frames:
                    break
                ow.write(frame, i, float(res.frame_scores[i]), bool(alert[i]), what[i])
            ow.close()
        except BaseException:
            ow.abort()
            raise
        t_overlay = time.perf_counter() - t0
    timing = {"analysis_s": round(res.seconds, 3), "overlay_s": round(t_overlay, 3),
              "video_s": round(res.video_seconds, 3),
              "realtime_factor": round(res.realtime_factor, 2)}
    if res.localization is not None:
        write_localization(vdir / "localization.json", res.localization, det.clip, size)
    row = _finish(det, vdir, res.name, path, res.events, res.frame_scores, res.fps, labels,
                  timing, described=described)
    return {**row, "_events": res.events}


def _run_stream(det: Detector, item: str, out: Path, window: int, realtime: bool,
                overlay: bool, gt_labels: dict, gt_boxes: dict,
                on_event: Callable[[str, Event], None] | None) -> dict[str, Any]:
    src = open_source(item)
    fps = det.contract.fps or src.fps
    vdir = out / src.name
    labels = gt_labels.get(src.name)
    log = ScoreLog(vdir / "scores.csv", fps)
    ow = OverlayWriter(vdir / "overlay.mp4", fps, det.threshold_, None, None,
                       gt_boxes.get(src.name)) if overlay else None
    events: list[Event] = []
    latencies: list[float] = []
    t0, error = time.perf_counter(), None
    try:
        for step in det.stream(src, window, realtime):
            for k, frame in enumerate(step.frames):
                i = step.first_frame + k
                log.add(i, float(step.scores[k]))
                if ow is not None:
                    ow.write(frame, i, float(step.scores[k]), step.alerts[k])
            for e in step.events:
                events.append(e)
                if on_event is not None:
                    on_event(src.name, e)
            if step.frames:
                latencies.append(step.latency)
            error = step.error
        log.close()
        if ow is not None and ow.writer.frames:
            ow.close()
    except BaseException:
        log.abort()
        if ow is not None:
            ow.abort()
        raise
    wall = time.perf_counter() - t0
    n = len(log.scores)
    timing = {"wall_s": round(wall, 3), "video_s": round(n / fps, 3),
              "realtime_factor": round(n / fps / max(wall, 1e-9), 2),
              "snippet_latency_s": {"median": round(statistics.median(latencies), 4),
                                    "max": round(max(latencies), 4)} if latencies else None}
    return _finish(det, vdir, src.name, item, events, np.array(log.scores), fps, labels, timing,
                   {"mode": "stream", "window_snippets": window, "realtime": realtime,
                    "stream_error": error})


def _finish(det: Detector, vdir: Path, name: str, source: str, events: list[Event],
            scores: np.ndarray, fps: float, labels: np.ndarray | None, timing: dict,
            extra: dict | None = None, described: list[dict] | None = None) -> dict[str, Any]:
    rule = det.rule
    plot_timeline(vdir / "timeline.png", scores, fps, rule, events, labels,
                  title=f"{name} — {det.method}")
    write_events(vdir / "events.json", name, source, events, rule, det.threshold_source, fps,
                 len(scores), timing, extra, described)
    row = {"video": name, "dir": str(vdir), "frames": len(scores), "events": len(events),
           "max_score": round(float(np.max(scores)), 4) if len(scores) else None, **timing}
    if extra and extra.get("stream_error"):
        row["stream_error"] = extra["stream_error"]
    return row
