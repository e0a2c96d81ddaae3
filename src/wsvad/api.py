"""The Python API under the CLI: every command is one call.

Example:
    >>> from wsvad import api                                         # doctest: +SKIP
    >>> spec = api.make_benchmark("bench")                            # doctest: +SKIP
    >>> res = api.train_seeds(spec, "rtfm", "runs/rtfm", seeds=[1, 2])  # doctest: +SKIP
    >>> res["summary"]["frame_auc"]                                   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from wsvad.contract import FeatureContract
from wsvad.data.features import VideoFeatures, as_snippet_array, load_npy
from wsvad.data.groundtruth import snippet_to_frame
from wsvad.data.spec import load_dataset
from wsvad.datasets import make_benchmark  # noqa: F401  (re-exported)
from wsvad.errors import WsvadError
from wsvad.fileio import write_json, write_text
from wsvad.training.checkpoint import load_checkpoint
from wsvad.training.evaluate import evaluate_model, load_run_and_data
from wsvad.training.scoring import score_video
from wsvad.training.trainer import train

HEADLINE = ("frame_auc", "frame_ap", "frame_pr_auc_trapezoid", "abnormal_only_auc", "video_auc",
            "false_alarm_rate")


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean ± std (population std over seeds) of the headline metrics.

    Example:
        >>> summarize([{"frame_auc": 0.8}, {"frame_auc": 0.9}])["frame_auc"]["mean"]
        0.85
    """
    out = {}
    for key in HEADLINE:
        vals = [float(r[key]) for r in runs if key in r]
        if vals:
            out[key] = {"mean": round(float(np.mean(vals)), 6),
                        "std": round(float(np.std(vals)), 6), "n": len(vals)}
    return out


def train_seeds(data: str | Path, method: str, out: str | Path, seeds: list[int],
                overrides: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Train one run per seed (``out/seed_<s>``) and write ``out/summary.json``."""
    out = Path(out)
    if len(seeds) == 1:
        res = train(data, method, out, overrides, seed=seeds[0], **kwargs)
        return {"runs": {seeds[0]: res.metrics}, "summary": summarize([res.metrics])}
    ds = load_dataset(data)
    runs = {s: train(ds, method, out / f"seed_{s}", overrides, seed=s, **kwargs).metrics
            for s in seeds}
    result = {"method": method, "seeds": seeds, "summary": summarize(list(runs.values())),
              "runs": {str(s): {k: m.get(k) for k in HEADLINE + ("best_iteration",)}
                       for s, m in runs.items()}}
    write_json(out / "summary.json", result)
    return result


def read_config(path: str | Path, method: str | None = None) -> tuple[str, dict[str, Any]]:
    """A method config file (``configs/*.yaml``): ``method:`` and ``config:`` keys.

    Example:
        >>> read_config("configs/rtfm-ucf_crime.yaml")[0]                 # doctest: +SKIP
        'rtfm'
    """
    import yaml
    path = Path(path)
    if not path.is_file():
        raise WsvadError(f"config file not found: {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict) or set(raw) - {"method", "config"}:
        raise WsvadError(f"{path}: expected the keys 'method' and 'config'")
    name = raw.get("method") or method
    if method and name != method:
        raise WsvadError(f"{path} configures '{name}' but --method says '{method}'")
    return name, dict(raw.get("config") or {})


def evaluate_run(run: str | Path, data: str | Path | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Re-evaluate a saved run on its own dataset spec or on ``data``; writes
    ``<run>/evaluation.json``."""
    run = Path(run)
    model, _meta, ds, data = load_run_and_data(run, data)
    metrics = evaluate_model(model, ds, run / "evaluation", progress=progress)
    metrics["data"] = data
    write_json(run / "evaluation.json", metrics)
    return metrics


def score_features(run: str | Path, features: str | Path,
                   out: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Snippet scores ``[T]`` and frame scores ``[16·T]`` of one feature file (``[T, D]`` or
    ``[T, crops, D]``); optionally a CSV ``frame,snippet,score``."""
    model, contract, _ = load_checkpoint(Path(run) / "model")
    arr = as_snippet_array(load_npy(features), features)
    given = FeatureContract(dim=arr.shape[2], crops=arr.shape[1])
    contract.check_compatible(given, f"run {run}", f"features {features}")
    snippets = score_video(model, VideoFeatures(Path(features).stem, arr, source=str(features)))
    clip = contract.clip_frames or 16
    frames = snippet_to_frame(snippets, None, clip)
    if out is not None:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["frame", "snippet", "score"])
        for i, s in enumerate(frames):
            w.writerow([i, i // clip, f"{s:.6f}"])
        write_text(out, buf.getvalue())
    return snippets, frames
