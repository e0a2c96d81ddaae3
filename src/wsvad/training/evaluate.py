"""Evaluate a model on a dataset's test split and write metrics + plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wsvad.data.spec import FeatureDataset, load_dataset
from wsvad.errors import WsvadError
from wsvad.evaluation.metrics import evaluate_scores
from wsvad.evaluation.plots import plot_roc_pr, plot_timelines
from wsvad.methods.base import Method
from wsvad.training.checkpoint import load_checkpoint
from wsvad.training.scoring import score_videos


def load_run_and_data(run: str | Path, data: str | Path | None = None
                      ) -> tuple[Method, dict[str, Any], FeatureDataset, str]:
    """A saved run's model and metadata, and the dataset to evaluate it on (``data`` or the
    run's own spec), with the feature contracts of both checked.

    Example:
        >>> model, meta, ds, data = load_run_and_data("runs/demo/rtfm")  # doctest: +SKIP
    """
    run = Path(run)
    model, contract, meta = load_checkpoint(run / "model")
    data = data or meta.get("data")
    if not data:
        raise WsvadError(f"{run}: the run does not record its dataset; pass --data spec.yaml")
    ds = load_dataset(data)
    contract.check_compatible(ds.contract, f"run {run}", f"data {data}")
    return model, meta, ds, str(data)


def evaluate_model(model: Method, ds: FeatureDataset, out_dir: str | Path | None = None,
                   progress: bool = True, threshold: float = 0.5) -> dict[str, Any]:
    """Frame-level metrics of ``model`` on the test videos of ``ds`` (plots into ``out_dir``).

    Example:
        >>> model, contract, _ = load_checkpoint("runs/demo/model")   # doctest: +SKIP
        >>> evaluate_model(model, load_dataset("spec.yaml"))["frame_auc"]  # doctest: +SKIP
    """
    names = [e.name for e in ds.test]
    frames, _snippets, failed = score_videos(model, ds.source, names, ds.frame_labels,
                                             ds.spec.snippet_frames, progress)
    labels = {n: ds.frame_labels[n] for n in frames}
    classes = {e.name: e.cls for e in ds.test}
    metrics = evaluate_scores(frames, labels, classes, threshold)
    metrics["failed_videos"] = failed
    if out_dir is not None and frames:
        out_dir = Path(out_dir)
        plot_roc_pr(frames, labels, out_dir, title=f"{model.name} on {ds.spec.name}")
        plot_timelines(frames, labels, out_dir / "timelines.png")
    return metrics
