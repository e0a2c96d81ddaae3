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

from wsvad.compare import compare  # noqa: F401  (re-exported)
from wsvad.contract import FeatureContract
from wsvad.data.features import as_snippet_array, load_npy
from wsvad.data.groundtruth import snippet_to_frame
from wsvad.datasets import make_benchmark  # noqa: F401  (re-exported)
from wsvad.demo import run_demo, run_video_demo  # noqa: F401  (re-exported)
from wsvad.detect.job import detect  # noqa: F401  (re-exported)
from wsvad.errors import ConfigError, WsvadError
from wsvad.evaluation.metrics import HEADLINE, summarize  # noqa: F401
from wsvad.export.onnx import export_run  # noqa: F401  (re-exported)
from wsvad.features import extract  # noqa: F401  (re-exported)
from wsvad.fileio import check_writable, write_json, write_text
from wsvad.report import write_report  # noqa: F401  (re-exported)
from wsvad.training.checkpoint import load_checkpoint
from wsvad.training.evaluate import evaluate_run as _evaluate_run
from wsvad.training.seeds import train_seeds  # noqa: F401  (re-exported)


def read_config(path: str | Path, method: str | None = None) -> tuple[str, dict[str, Any]]:
    """A method config file (``configs/*.yaml``): ``method:`` and ``config:`` keys.

    Example:
        >>> read_config("configs/rtfm-ucf_crime.yaml")[0]                 # doctest: +SKIP
        'rtfm'
    """
    import yaml
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict) or set(raw) - {"method", "config"} or \
            not isinstance(raw.get("config") or {}, dict):
        raise ConfigError(f"{path}: expected the keys 'method' and 'config' (a mapping)")
    name = raw.get("method") or method
    if method and name != method:
        raise ConfigError(f"{path} configures '{name}' but --method says '{method}'")
    return name, dict(raw.get("config") or {})


def evaluate_run(run: str | Path, data: str | Path | None = None, progress: bool = True,
                 allow_missing: bool = False) -> dict[str, Any]:
    """Re-evaluate a saved run on its own dataset spec or on ``data`` at the run's calibrated
    τ (as ``train`` and ``report`` do); writes ``<run>/evaluation.json``, or on another
    dataset (cross-dataset: same feature contract) ``<run>/evaluation-<dataset>.json``."""
    ev = _evaluate_run(run, data, progress, allow_missing)
    write_json(Path(run) / f"{ev.metrics['evaluation']}.json", ev.metrics)
    return ev.metrics


def score_features(run: str | Path, features: str | Path, out: str | Path | None = None,
                   streams: dict[str, str | Path] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Snippet scores ``[T]`` and frame scores ``[clip·T]`` of one feature file (``[T, D]`` or
    ``[T, crops, D]``); ``streams`` names the files of any other stream the method needs
    (``{"motion": "m.npy"}``); optionally a CSV ``frame,snippet,score``."""
    if out is not None:
        check_writable(out, "file")
    model, contract, _ = load_checkpoint(Path(run) / "model")
    arr = as_snippet_array(load_npy(features), features)
    given = FeatureContract(dim=arr.shape[2], crops=arr.shape[1])
    contract.check_compatible(given, f"run {run}", f"features {features}")
    video = {"features": arr}
    for name, path in (streams or {}).items():
        video[name] = load_npy(path)
    missing = [s for s in model.needs if s not in video and s != "patches"]
    if "patches" in model.needs and not any(k.startswith("patches_") for k in video):
        missing.append("patches_RxC")
    if missing:
        raise WsvadError(f"method '{model.name}' needs the streams {missing} besides features; "
                         "pass each with --stream NAME=FILE.npy")
    snippets, _, _ = model.score_streams(video, Path(features).stem)
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


__all__ = ["HEADLINE", "compare", "detect", "evaluate_run", "export_run", "extract",
           "make_benchmark",
           "read_config", "run_demo", "run_video_demo", "score_features", "summarize",
           "train_seeds", "write_report"]
