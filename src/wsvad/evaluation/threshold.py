"""The alert threshold a run carries: calibrated when the run is trained, on the frame scores of
the validation split's NORMAL videos (training videos held out from fitting — never the test
set). ``q`` is the ``quantile`` of those scores (about ``1 − quantile`` of normal frames like
them score above it). A model that separates the classes well scores normal frames near 0, so
``q`` alone can be a useless 1e-5; the validation split's abnormal videos (video labels only) set
how high abnormal peaks go: ``p`` = the median over them of their highest frame score, and
``τ = q + ½·max(0, p − q)`` — halfway from the normal level to the abnormal peaks, never below
``q``. The hysteresis of :mod:`wsvad.detect.events` and the minimum duration then keep isolated
frames from becoming alerts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wsvad.errors import WsvadError

DEFAULT_QUANTILE = 0.99
FALLBACK = 0.5  # the field's customary cut on sigmoid scores, used only when asked for


def calibrate(normal_frame_scores: list[np.ndarray], quantile: float = DEFAULT_QUANTILE,
              abnormal_frame_scores: list[np.ndarray] | None = None) -> dict[str, Any]:
    """The record stored in ``model.json`` under ``threshold`` (rule in the module docstring).

    Example:
        >>> calibrate([np.linspace(0, 1, 101)], quantile=0.9)["value"]
        0.9
        >>> calibrate([np.zeros(10)], 0.99, [np.array([0.2, 0.8]), np.array([0.1, 0.6])])["value"]
        0.35
    """
    if not normal_frame_scores:
        return {"value": None, "reason": "no normal video in the validation split"}
    s = np.concatenate([np.asarray(x, float) for x in normal_frame_scores])
    q = float(np.quantile(s, quantile))
    rec = {"quantile": quantile, "normal_quantile": round(q, 6),
           "normal_videos": len(normal_frame_scores), "frames": int(s.size),
           "source": "validation split: normal frames' quantile, abnormal videos' peaks"}
    value = q
    if abnormal_frame_scores:
        peak = float(np.median([np.max(x) for x in abnormal_frame_scores]))
        value = q + 0.5 * max(0.0, peak - q)
        rec.update(abnormal_peak_median=round(peak, 6),
                   abnormal_videos=len(abnormal_frame_scores))
    rec["value"] = round(value, 6)
    return rec


def run_threshold(meta: dict[str, Any]) -> tuple[float, str]:
    """The threshold a run's metrics use: its calibrated τ, or the fallback 0.5 (said so) for a
    run without one. ``train``, ``evaluate`` and ``report`` all call this.

    Example:
        >>> run_threshold({"threshold": {"value": 0.3}})
        (0.3, 'calibrated on the validation split')
        >>> run_threshold({})[0]
        0.5
    """
    value = (meta.get("threshold") or {}).get("value")
    if value is None:
        return FALLBACK, f"fixed {FALLBACK} (the run has no calibrated threshold)"
    return float(value), "calibrated on the validation split"


def resolve(threshold: str | float | None, meta: dict[str, Any], run: str) -> tuple[float, str]:
    """``--threshold auto|VALUE`` → ``(value, where it came from)``.

    Example:
        >>> resolve("0.7", {}, "r")
        (0.7, 'given')
        >>> resolve("auto", {"threshold": {"value": 0.3, "quantile": 0.99}}, "r")[0]
        0.3
    """
    if threshold is None or str(threshold) == "auto":
        rec = meta.get("threshold") or {}
        if rec.get("value") is None:
            why = rec.get("reason", "the run predates threshold calibration")
            raise WsvadError(f"{run}: no calibrated threshold ({why}); pass --threshold VALUE "
                             f"(e.g. {FALLBACK}) or retrain with a validation split")
        return float(rec["value"]), f"calibrated (q={rec.get('quantile')} of " \
            f"{rec.get('normal_videos')} validation normal videos)"
    try:
        value = float(threshold)
    except ValueError as exc:
        raise WsvadError(f"--threshold expects 'auto' or a number, got {threshold!r}") from exc
    if not np.isfinite(value):
        raise WsvadError(f"--threshold must be finite, got {threshold!r}")
    return value, "given"
