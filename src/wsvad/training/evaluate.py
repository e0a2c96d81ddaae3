"""Evaluate a model on a dataset's test split — the one implementation behind ``train``,
``evaluate``, ``report`` and ``compare``.

Headline numbers over a different set of videos than the one asked for are not comparable with
anything, so a test video that cannot be scored is an error by default (before training, when
``train`` checks the test set first); ``allow_missing=True`` (``--allow-missing``) reports on
the rest, says so on the console and records ``scored_videos``/``failed_videos`` for the report.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wsvad.data.classes import names_of
from wsvad.data.groundtruth import read_boxes, snippet_to_frame
from wsvad.data.spec import FeatureDataset, load_dataset
from wsvad.data.streams import load_streams
from wsvad.errors import DataError, WsvadError
from wsvad.evaluation.metrics import evaluate_scores, safe_auc
from wsvad.evaluation.multiclass import classwise_f1, confusion
from wsvad.evaluation.plots import plot_confusion, plot_roc_pr, plot_timelines
from wsvad.evaluation.spatial import (
    candidate_bounds,
    heatmap_scores,
    localisation_summary,
    pointing_ceiling,
    s_loc,
)
from wsvad.evaluation.threshold import run_threshold
from wsvad.methods.base import Method
from wsvad.training.checkpoint import load_checkpoint
from wsvad.training.scoring import VideoScores, score_videos, stream_names


@dataclass
class Evaluation:
    """Metrics of one model on a test split, and the scores they came from."""

    metrics: dict[str, Any]
    scores: VideoScores


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


def unreadable_videos(model: Method, ds: FeatureDataset, names: list[str]) -> dict[str, str]:
    """Videos whose streams cannot be loaded (missing, corrupt, NaN, wrong shape), and why."""
    streams = stream_names(model, ds)
    bad = {}
    for name in names:
        try:
            video = load_streams(ds.source, name, streams)
            if "features" in video and video["features"].shape[-1] != model.dim:
                raise DataError(f"features have {video['features'].shape[-1]} dims, the model "
                                f"expects {model.dim}")
        except DataError as exc:
            bad[name] = str(exc)
    return bad


def missing_test_videos_error(failed: dict[str, str], total: int) -> DataError:
    lines = "\n  ".join(f"{k}: {v}" for k, v in list(failed.items())[:10])
    more = f"\n  … and {len(failed) - 10} more" if len(failed) > 10 else ""
    return DataError(
        f"{len(failed)} of {total} test videos cannot be scored, so the metrics would cover a "
        f"different test set than the one asked for:\n  {lines}{more}\nFix or re-extract them, "
        "remove them from the test list, or pass --allow-missing to report on the rest (said "
        "so in the metrics and the report)")


def evaluate_model(model: Method, ds: FeatureDataset, threshold: float,
                   out_dir: str | Path | None = None, progress: bool = True,
                   allow_missing: bool = False) -> Evaluation:
    """Frame-level metrics of ``model`` on the test videos of ``ds`` (false alarms at
    ``threshold``, the run's τ), spatial metrics where the method localises and the dataset has
    boxes; plots into ``out_dir``.

    Example:
        >>> ev = evaluate_model(model, load_dataset("spec.yaml"), 0.5)  # doctest: +SKIP
        >>> ev.metrics["frame_auc"]                                      # doctest: +SKIP
    """
    names = [e.name for e in ds.test]
    scores = score_videos(model, ds, names, ds.frame_labels, progress, localize=True)
    if scores.failed and not allow_missing:
        raise missing_test_videos_error(scores.failed, len(names))
    if not scores.frames:
        raise DataError("no test video could be scored; see the messages above")
    labels = {n: ds.frame_labels[n] for n in scores.frames}
    classes = {e.name: e.cls for e in ds.test}
    metrics = evaluate_scores(scores.frames, labels, classes, threshold)
    metrics["requested_videos"] = len(names)
    metrics["failed_videos"] = scores.failed
    if scores.failed:
        print(f"WARNING: metrics cover {len(scores.frames)} of {len(names)} test videos; "
              f"{len(scores.failed)} could not be scored: {', '.join(scores.failed)}",
              file=sys.stderr)
    if scores.localization and ds.spec.boxes is not None:
        metrics.update(spatial_metrics(scores, ds))
    if any(loc.tubes is not None for loc in scores.localization.values()):
        gt = read_boxes(ds.spec.boxes) if ds.spec.boxes is not None else {}
        metrics.update(tube_metrics(scores, ds, gt))
    vocab = model.class_names()
    if vocab and scores.classes and any(e.cls for e in ds.test):
        metrics.update(class_metrics(scores, labels, classes, vocab, threshold,
                                     ds.spec.snippet_frames))
    if out_dir is not None:
        out_dir = Path(out_dir)
        plot_roc_pr(scores.frames, labels, out_dir, title=f"{model.name} on {ds.spec.name}")
        plot_timelines(scores.frames, labels, out_dir / "timelines.png")
        if "confusion" in metrics:
            plot_confusion(np.array(metrics["confusion"]["matrix"]),
                           metrics["confusion"]["classes"], out_dir / "confusion.png",
                           f"{model.name} on {ds.spec.name}: videos by class (τ = "
                           f"{threshold:.2f})")
    return Evaluation(metrics, scores)


def class_metrics(scores: VideoScores, labels: dict[str, np.ndarray],
                  classes: dict[str, str | None], vocab: list[str], threshold: float,
                  clip: int) -> dict[str, Any]:
    """What: class-wise frame F1, MF1 and the video confusion matrix at τ
    (:mod:`wsvad.evaluation.multiclass`)."""
    pred = {n: snippet_to_frame(scores.classes[n].argmax(-1), len(labels[n]), clip).astype(int)
            for n in scores.frames}
    kinds = {n: names_of(c) for n, c in classes.items()}
    f1 = classwise_f1(scores.frames, pred, labels, kinds, vocab, threshold)
    matrix, names = confusion(scores.snippets, scores.classes, kinds, vocab, threshold)
    out: dict[str, Any] = {"confusion": {"classes": names, "matrix": matrix.tolist()}}
    if f1:
        out.update(classwise_f1=f1, mf1=float(np.mean(list(f1.values()))))
    return out


def spatial_metrics(scores: VideoScores, ds: FeatureDataset) -> dict[str, Any]:
    """Where-metrics of the localisations in ``scores`` against the dataset's boxes, over the
    abnormal test videos (:mod:`wsvad.evaluation.spatial`); with two or more anomaly classes
    also ``classwise_pointing`` (pointing over each class's videos)."""
    gt = read_boxes(ds.spec.boxes)
    clip = ds.spec.snippet_frames
    kind = {e.name: e.cls for e in ds.test}
    hits, masses, slocs, centre, uniform, ceiling = [], [], [], [], [], []
    per_class: dict[str, list[float]] = {}
    for name, loc in scores.localization.items():
        boxes = gt.get(name)
        if not boxes or ds.frame_labels[name].max() == 0:
            continue
        size = ds.source.frame_size(name)
        if loc.heatmaps is not None and size is not None:
            h, m = heatmap_scores(loc.heatmaps, boxes, clip, size, loc.region)
            hits += h
            masses += m
            if kind.get(name):
                per_class.setdefault(str(kind[name]), []).extend(h)
            # the same frames scored by a flat map: its peak is the frame centre, its mass in
            # the boxes their share of the frame — the floor every heat map must clear
            h, m = heatmap_scores(np.ones((len(loc.heatmaps), 1, 1)), boxes, clip, size)
            centre += h
            uniform += m
            # and the best peaks this geometry allows: the ceiling no heat map of it can pass
            ceiling += pointing_ceiling(boxes, clip, size, loc.heatmaps.shape, loc.region,
                                        loc.grids or None)
        track = None
        if loc.tubes:
            track = {int(r[0]): tuple(r[1:5]) for r in loc.tubes[0].boxes}
        elif loc.boxes is not None and len(loc.boxes):
            best: dict[int, tuple[float, tuple]] = {}
            for r in loc.boxes:
                if int(r[0]) not in best or r[5] > best[int(r[0])][0]:
                    best[int(r[0])] = (float(r[5]), tuple(r[1:5]))
            track = {f: b for f, (_, b) in best.items()}
        if track is not None:
            slocs.append(s_loc(boxes, track))
    out: dict[str, Any] = {}
    if hits:
        out.update(pointing_accuracy=float(sum(hits) / len(hits)),
                   heatmap_mass_in_boxes=float(sum(masses) / len(masses)),
                   pointing_accuracy_centre=float(sum(centre) / len(centre)),
                   pointing_accuracy_ceiling=float(sum(ceiling) / len(ceiling)),
                   heatmap_mass_uniform=float(sum(uniform) / len(uniform)))
    if len(per_class) > 1:
        out["classwise_pointing"] = {c: float(np.mean(h)) for c, h in sorted(per_class.items())
                                     if h}
    if slocs:
        out.update(s_loc=float(sum(slocs) / len(slocs)), **localisation_summary(slocs))
    return out


TUBE_FALSE_ALARM = 0.2      # WSSTAD appendix E: false alarms at a 20 % threshold


def tube_metrics(scores: VideoScores, ds: FeatureDataset, gt: dict) -> dict[str, Any]:
    """WSSTAD's video-level metrics from the top tube's score — VAUC over the test videos and
    the false-alarm rate of normal ones at 0.2 (appendix E) — and the Random / Upper-bound
    rows from every candidate tube of the abnormal videos with boxes."""
    names = [n for n, loc in scores.localization.items() if loc.tubes is not None]
    top = np.array([scores.localization[n].tubes[0].score if scores.localization[n].tubes
                    else 0.0 for n in names])
    abnormal = np.array([ds.frame_labels[n].max() > 0 for n in names])
    out: dict[str, Any] = {"tube_video_auc": safe_auc(top, abnormal.astype(int))}
    if (~abnormal).any():
        out["tube_false_alarm_rate"] = float((top[~abnormal] > TUBE_FALSE_ALARM).mean())
    cands = [[s_loc(gt[n], {int(r[0]): tuple(r[1:5]) for r in t.boxes})
              for t in scores.localization[n].tubes]
             for n, a in zip(names, abnormal, strict=True) if a and gt.get(n)]
    if cands:
        out.update(candidate_bounds(cands))
    return out


def evaluate_run(run: str | Path, data: str | Path | None = None, progress: bool = True,
                 allow_missing: bool = False) -> Evaluation:
    """Re-evaluate a saved run on its own dataset spec or on ``data``, at the run's τ."""
    model, meta, ds, data = load_run_and_data(run, data)
    threshold, source = run_threshold(meta)
    name = evaluation_name(meta, data, ds)
    ev = evaluate_model(model, ds, threshold, Path(run) / name, progress, allow_missing)
    ev.metrics.update(data=data, threshold_source=source, evaluation=name)
    return ev


def evaluation_name(meta: dict[str, Any], data: str, ds: FeatureDataset) -> str:
    """``evaluation`` on the run's own dataset; ``evaluation-<dataset>`` on another one
    (cross-dataset), so that one never overwrites the other.

    Example:
        >>> from types import SimpleNamespace as N
        >>> ds = N(spec=N(name="plaza-scenes", path=None))
        >>> evaluation_name({"data": "ped2/spec.yaml"}, "plaza/spec.yaml", ds)
        'evaluation-plaza-scenes'
    """
    own = meta.get("data")
    if not own or Path(own).resolve() == Path(data).resolve():
        return "evaluation"
    tag = ds.spec.name or Path(data).parent.name or Path(data).stem
    return "evaluation-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in tag)
