"""Detection metrics. Frame-level metrics pool all frames of all test videos (the benchmark
protocol); every function takes per-video frame scores and labels keyed by video name."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

Scores = Mapping[str, np.ndarray]


def _pool(scores: Scores, labels: Mapping[str, np.ndarray], names=None) -> tuple[np.ndarray, ...]:
    names = list(scores) if names is None else list(names)
    if not names:
        return np.zeros(0), np.zeros(0)
    s = np.concatenate([np.asarray(scores[n], dtype=np.float64) for n in names])
    y = np.concatenate([np.asarray(labels[n]).astype(int) for n in names])
    if s.shape != y.shape:
        raise ValueError(f"{len(s)} frame scores but {len(y)} frame labels")
    return s, y


def safe_auc(s: np.ndarray, y: np.ndarray) -> float:
    """ROC-AUC, NaN when only one class is present (undefined)."""
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def frame_auc(scores: Scores, labels: Mapping[str, np.ndarray]) -> float:
    """Pooled frame-level ROC-AUC over all test frames.

    Example:
        >>> frame_auc({"a": np.array([.1, .9]), "b": np.array([.2, .3])},
        ...           {"a": np.array([0, 1]), "b": np.array([0, 0])})
        1.0
    """
    return safe_auc(*_pool(scores, labels))


def frame_ap(scores: Scores, labels: Mapping[str, np.ndarray]) -> float:
    """Average precision as ``sklearn.metrics.average_precision_score`` (step-wise sum)."""
    s, y = _pool(scores, labels)
    return float(average_precision_score(y, s)) if y.sum() > 0 else float("nan")


def frame_pr_auc_trapezoid(scores: Scores, labels: Mapping[str, np.ndarray]) -> float:
    """Trapezoid area under the precision–recall curve — what the RTFM/Wu et al. codes print
    as "AP" (``auc(recall, precision)``). Slightly optimistic next to :func:`frame_ap`."""
    s, y = _pool(scores, labels)
    if y.sum() == 0:
        return float("nan")
    precision, recall, _ = precision_recall_curve(y, s)
    return float(auc(recall, precision))


def abnormal_only_auc(scores: Scores, labels: Mapping[str, np.ndarray]) -> float:
    """Pooled frame AUC over abnormal test videos only (those with at least one positive
    frame): how well a method finds the anomaly inside videos that contain one."""
    names = [n for n in scores if np.asarray(labels[n]).max() > 0]
    return safe_auc(*_pool(scores, labels, names))


def classwise_auc(scores: Scores, labels: Mapping[str, np.ndarray],
                  classes: Mapping[str, str | None]) -> dict[str, float]:
    """Per anomaly class: pooled frame AUC over that class's videos plus all normal videos."""
    normal = [n for n in scores if np.asarray(labels[n]).max() == 0]
    out = {}
    for c in sorted({classes.get(n) for n in scores} - {None, "Normal", "normal"}):
        names = [n for n in scores if classes.get(n) == c and np.asarray(labels[n]).max() > 0]
        if names:
            out[c] = safe_auc(*_pool(scores, labels, names + normal))
    return out


def false_alarm_rate(scores: Scores, labels: Mapping[str, np.ndarray],
                     threshold: float = 0.5) -> float:
    """Fraction of frames of normal videos scored ``>= threshold``."""
    names = [n for n in scores if np.asarray(labels[n]).max() == 0]
    if not names:
        return float("nan")
    s, _ = _pool(scores, labels, names)
    return float((s >= threshold).mean())


def video_auc(scores: Scores, labels: Mapping[str, np.ndarray]) -> float:
    """Video-level AUC: a video's score is its highest frame score; label = any positive frame."""
    names = list(scores)
    s = np.array([np.max(scores[n]) for n in names])
    y = np.array([int(np.asarray(labels[n]).max() > 0) for n in names])
    return safe_auc(s, y)


def evaluate_scores(scores: Scores, labels: Mapping[str, np.ndarray],
                    classes: Mapping[str, str | None] | None = None,
                    threshold: float = 0.5) -> dict:
    """All metrics in one dict (the keys of ``metrics.json``)."""
    out = {
        "frame_auc": frame_auc(scores, labels),
        "frame_ap": frame_ap(scores, labels),
        "frame_pr_auc_trapezoid": frame_pr_auc_trapezoid(scores, labels),
        "abnormal_only_auc": abnormal_only_auc(scores, labels),
        "video_auc": video_auc(scores, labels),
        "false_alarm_rate": false_alarm_rate(scores, labels, threshold),
        "false_alarm_threshold": threshold,
        "test_videos": len(scores),
        "test_frames": int(sum(len(v) for v in scores.values())),
    }
    if classes:
        out["classwise_auc"] = classwise_auc(scores, labels, classes)
    return out


HEADLINE = ("frame_auc", "frame_ap", "frame_pr_auc_trapezoid", "abnormal_only_auc", "video_auc",
            "false_alarm_rate")


def summarize(runs: list[dict], keys: list[str] | tuple[str, ...] = HEADLINE
              ) -> dict[str, dict[str, float]]:
    """Mean ± std (population std over seeds) of the given metrics (those present).

    Example:
        >>> summarize([{"frame_auc": 0.8}, {"frame_auc": 0.9}])["frame_auc"]["mean"]
        0.85
    """
    out = {}
    for key in keys:
        vals = [float(r[key]) for r in runs if isinstance(r.get(key), (int, float))]
        if vals:
            out[key] = {"mean": round(float(np.mean(vals)), 6),
                        "std": round(float(np.std(vals)), 6), "n": len(vals)}
    return out
