"""The alert threshold a run carries: calibrated when the run is trained, on the frame scores of
the validation split's NORMAL videos (training videos held out from fitting — never the test
set). ``τ`` is the ``quantile`` of those scores, so about ``1 − quantile`` of normal frames
like them would raise the score above ``τ``; the hysteresis of :mod:`wsvad.detect.events` and
the minimum duration then keep isolated frames from becoming alerts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wsvad.errors import WsvadError

DEFAULT_QUANTILE = 0.99
FALLBACK = 0.5  # the field's customary cut on sigmoid scores, used only when asked for


def calibrate(normal_frame_scores: list[np.ndarray], quantile: float = DEFAULT_QUANTILE
              ) -> dict[str, Any]:
    """The record stored in ``model.json`` under ``threshold``.

    Example:
        >>> calibrate([np.linspace(0, 1, 101)], quantile=0.9)["value"]
        0.9
    """
    if not normal_frame_scores:
        return {"value": None, "reason": "no normal video in the validation split"}
    s = np.concatenate([np.asarray(x, float) for x in normal_frame_scores])
    return {"value": round(float(np.quantile(s, quantile)), 6), "quantile": quantile,
            "normal_videos": len(normal_frame_scores), "frames": int(s.size),
            "source": "validation split, normal videos"}


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
