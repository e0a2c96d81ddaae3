"""Per-video detection files: ``scores.csv`` (frame, time s, score), ``events.json`` (alerts and
how they were found) and ``timeline.png`` (score over time, threshold, events, ground truth).
The CSV is appended as frames are scored (streams) into a hidden ``.part`` file that is renamed
when the video ends, so a half-written file never looks complete."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from wsvad.detect.events import Event, Hysteresis  # noqa: E402
from wsvad.evaluation.plots import _save  # noqa: E402
from wsvad.fileio import write_json  # noqa: E402


class ScoreLog:
    """Rows ``frame,time_s,score`` appended as they come; :meth:`close` renames into place.

    Example:
        >>> import tempfile, pathlib
        >>> log = ScoreLog(pathlib.Path(tempfile.mkdtemp()) / "scores.csv", fps=10)
        >>> log.add(0, 0.25); log.add(1, 0.5)
        >>> log.close().read_text().splitlines()
        ['frame,time_s,score', '0,0.000,0.250000', '1,0.100,0.500000']
    """

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps = Path(path), fps
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.part")
        self.fh = self.tmp.open("w")
        self.fh.write("frame,time_s,score\n")
        self.scores: list[float] = []

    def add(self, frame: int, score: float) -> None:
        self.fh.write(f"{frame},{frame / self.fps:.3f},{score:.6f}\n")
        self.scores.append(float(score))

    def close(self) -> Path:
        self.fh.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


def write_events(path: str | Path, name: str, source: str, events: list[Event], rule: Hysteresis,
                 threshold_source: str, fps: float, frames: int, timing: dict[str, Any],
                 extra: dict[str, Any] | None = None,
                 described: list[dict[str, Any]] | None = None) -> Path:
    """``events.json``; ``described`` (from :mod:`wsvad.detect.where`) adds where/what."""
    return write_json(path, {
        "video": name, "source": source, "fps": fps, "frames": frames,
        "threshold": rule.high, "threshold_low": rule.low, "threshold_source": threshold_source,
        "min_seconds": rule.min_seconds,
        "events": described if described is not None else [e.to_dict() for e in events],
        "timing": timing, **(extra or {})})


def write_localization(path: str | Path, loc, clip: int, size: tuple[int, int] | None) -> Path:
    """``localization.json``: :func:`localization_dict` written atomically."""
    return write_json(path, localization_dict(loc, clip, size))


def localization_dict(loc, clip: int, size: tuple[int, int] | None) -> dict[str, Any]:
    """The method's heat maps (per snippet, with the frame region they cover), boxes or tubes,
    in frame pixels, as JSON-ready data."""
    out: dict[str, Any] = {"snippet_frames": clip, "frame_size": size,
                           "region": list(loc.region)}
    if loc.heatmaps is not None:
        out["heatmaps"] = np.round(np.asarray(loc.heatmaps, float), 4).tolist()
    if loc.boxes is not None:
        out["boxes"] = np.asarray(loc.boxes, float).round(2).tolist()
    if loc.tubes:
        out["tubes"] = [{"score": float(t.score), "boxes": np.asarray(t.boxes, float).round(2)
                         .tolist()} for t in loc.tubes]
    return out


def plot_timeline(path: str | Path, scores: np.ndarray, fps: float, rule: Hysteresis,
                  events: list[Event], labels: np.ndarray | None = None, title: str = "") -> Path:
    """Score over time with the threshold (and the hysteresis' low line), events shaded red,
    ground-truth abnormal frames shaded green."""
    scores = np.asarray(scores, float)
    t = np.arange(len(scores)) / fps
    fig, ax = plt.subplots(figsize=(10, 2.8))
    if labels is not None and np.any(labels):
        lab = np.asarray(labels[:len(scores)]) > 0
        ax.fill_between(t[:len(lab)], 0, 1, where=lab, color="tab:green", alpha=0.22, step="mid",
                        label="ground truth: abnormal")
    for i, e in enumerate(events):
        ax.axvspan(e.start, e.end, color="tab:red", alpha=0.18, label="alert" if i == 0 else None)
        ax.plot([e.peak_time], [e.peak_score], "v", color="tab:red", ms=6)
    ax.plot(t, scores, color="k", lw=1.3, label="anomaly score")
    ax.axhline(rule.high, color="tab:orange", lw=1, label=f"threshold {rule.high:.3f}")
    ax.axhline(rule.low, color="tab:orange", lw=0.8, ls=":")
    ax.set(xlim=(0, max(t[-1] if len(t) else 1, 1e-3)), ylim=(0, 1.02), xlabel="time (s)",
           ylabel="score", title=title)
    ax.legend(loc="upper left", fontsize=7, ncol=4, framealpha=0.8)
    return _save(fig, Path(path))
