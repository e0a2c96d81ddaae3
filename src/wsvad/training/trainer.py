"""The training loop: balanced bags, validation on held-out TRAINING videos, best checkpoint,
one test evaluation at the end. Plain PyTorch, no framework."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from wsvad import methods
from wsvad.data.batch import BalancedBags, Batch
from wsvad.data.segments import resample_segments
from wsvad.data.spec import DatasetSpec, FeatureDataset, load_dataset
from wsvad.detect.threshold import FALLBACK, calibrate
from wsvad.errors import DataError, WsvadError
from wsvad.evaluation.metrics import safe_auc
from wsvad.evaluation.plots import plot_history
from wsvad.fileio import write_json, write_text
from wsvad.training.checkpoint import save_checkpoint, save_resume_state
from wsvad.training.evaluate import evaluate_model
from wsvad.training.scoring import score_videos
from wsvad.training.split import stratified_split


@dataclass
class TrainResult:
    """What a finished run produced (also on disk in ``run_dir``)."""

    run_dir: Path
    metrics: dict[str, Any]
    best_iteration: int
    iterations_run: int
    seconds: float
    skipped: dict[str, str] = field(default_factory=dict)


def load_segments(ds: FeatureDataset, idx: np.ndarray, segments: int, progress: bool
                  ) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Training bags ``[N, C, T, D]`` in memory (each video resampled once), their labels, and
    the videos skipped because their features were unreadable."""
    bags, labels, skipped = [], [], {}
    for i in tqdm(idx, desc="loading features", unit="video", disable=not progress, leave=False):
        entry = ds.train[i]
        try:
            feats = ds.source.load(entry.name).features
            if feats.shape[1:] != (ds.contract.crops, ds.contract.dim):
                raise DataError(f"{entry.name}: features {feats.shape[1:]} differ from the "
                                f"dataset's (crops, dim) = {(ds.contract.crops, ds.contract.dim)}")
        except DataError as exc:
            skipped[entry.name] = str(exc)
            continue
        bags.append(resample_segments(feats, segments).transpose(1, 0, 2))
        labels.append(entry.label)
    if not bags:
        raise DataError("no training video could be loaded; see the messages above")
    return np.stack(bags), np.array(labels), skipped


def _validate(model: methods.Method, val: Batch, chunk: int = 64) -> dict[str, float]:
    """Video-level AUC and mean loss on the held-out training videos, in eval mode, in chunks
    of ``chunk`` videos that mix both labels (bounded memory at UCF-Crime scale)."""
    labels = val.label.numpy()
    order = _interleave(np.flatnonzero(labels <= 0.5), np.flatnonzero(labels > 0.5))
    scores, losses = np.zeros(len(labels)), []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(order), chunk):
            idx = torch.from_numpy(order[i:i + chunk])
            part = Batch(val.features[idx], val.label[idx])
            out = model(part)
            scores[idx.numpy()] = model.video_score(out).numpy()
            if 0 < part.label.sum() < len(idx):
                losses.append(sum(model.losses(part, out).values()).item())
    model.train()
    return {"val_video_auc": safe_auc(scores, labels.astype(int)),
            "val_loss": float(np.mean(losses)) if losses else float("nan")}


def _interleave(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Alternate the two index lists (the longer one's tail at the end)."""
    n = min(len(a), len(b))
    mixed = np.stack([a[:n], b[:n]], axis=1).ravel()
    return np.concatenate([mixed, a[n:], b[n:]]).astype(int)


def calibrate_run_threshold(model: methods.Method, ds: FeatureDataset, normals: list[str],
                            abnormals: list[str]) -> dict[str, Any]:
    """Alert threshold from the frame scores of held-out TRAINING videos (normal and abnormal),
    each scored whole as at test time (:mod:`wsvad.detect.threshold`)."""
    clip = ds.spec.snippet_frames
    frames, _, failed = score_videos(model, ds.source, normals, None, clip, progress=False)
    abn, _, failed_abn = score_videos(model, ds.source, abnormals, None, clip, progress=False)
    failed.update(failed_abn)
    rec = calibrate(list(frames.values()), abnormal_frame_scores=list(abn.values()))
    if failed:
        rec["failed_videos"] = failed
    return rec


def _better(new: dict, best: dict | None) -> bool:
    if best is None:
        return True
    a, b = new["val_auc_smoothed"], best["val_auc_smoothed"]
    a, b = (-1.0 if np.isnan(a) else a), (-1.0 if np.isnan(b) else b)
    return a > b + 1e-9 or (abs(a - b) <= 1e-9 and new["val_loss"] < best["val_loss"])


def train(data: str | Path | DatasetSpec | FeatureDataset, method: str, out: str | Path,
          overrides: dict[str, Any] | None = None, seed: int = 0, val_fraction: float = 0.1,
          val_every: int | None = None, patience: int | None = 20, resume: bool = False,
          progress: bool = True, evaluate_test: bool = True,
          max_minutes: float | None = None, smooth: int = 3) -> TrainResult:
    """Train ``method`` on a dataset spec and write a run directory.

    Validation on ``val_fraction`` of the training videos picks the checkpoint: the video-level
    AUC of the method's video score, averaged over the last ``smooth`` validations (a few
    held-out videos give a noisy AUC; one lucky spike should not pick the model), ties broken
    by the validation loss; training stops after
    ``patience`` validations without improvement, or when ``max_minutes`` of training have
    passed (validating once more first). The test set is scored once, at the end.

    Example:
        >>> from wsvad.datasets import make_benchmark                       # doctest: +SKIP
        >>> r = train(make_benchmark("b"), "rtfm", "runs/r", {"iterations": 300})  # doctest: +SKIP
        >>> r.metrics["frame_auc"]                                         # doctest: +SKIP
    """
    t0 = time.time()
    out = Path(out)
    ds = data if isinstance(data, FeatureDataset) else load_dataset(data, evaluate_test)
    if not ds.train:
        raise DataError("the dataset spec has no train_list")
    model = methods.create(method, dim=ds.contract.dim, **(overrides or {}))
    cfg = model.cfg
    torch.manual_seed(seed)
    np.random.seed(seed)
    labels = np.array([e.label for e in ds.train])
    tr_idx, va_idx = stratified_split(labels, val_fraction, seed)
    x_tr, y_tr, skipped = load_segments(ds, tr_idx, cfg.segments, progress)
    sampler = BalancedBags(x_tr, y_tr, cfg.batch_size, seed, cfg.crops_per_step)
    val = None
    if len(va_idx):
        x_va, y_va, skipped_va = load_segments(ds, va_idx, cfg.segments, progress)
        skipped.update(skipped_va)
        val = Batch(torch.from_numpy(x_va),
                    torch.from_numpy(y_va.astype(np.float32)))
    for name, why in skipped.items():
        tqdm.write(f"skipped {name}: {why}")
    val_every = val_every or max(1, min(50, cfg.iterations // 40))
    optimizer = model.optimizer()
    start, best, best_state, best_it, history, stale = 0, None, None, 0, [], 0
    resume_path = out / "resume.pt"
    if resume:
        if not resume_path.is_file():
            raise WsvadError(f"--resume: {resume_path} not found; start the run without --resume")
        st = torch.load(resume_path, weights_only=False)
        model.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
        start, best, best_it, history = st["iteration"], st["best"], st["best_iteration"], \
            st["history"]
        best_state, stale = st["best_state"], st["stale"]
        sampler.rng.bit_generator.state = st["sampler_rng"]
        torch.set_rng_state(st["torch_rng"])
    out.mkdir(parents=True, exist_ok=True)
    resolved = {"method": method, "config": cfg.to_dict(), "seed": seed,
                "val_fraction": val_fraction, "val_every": val_every, "patience": patience,
                "data": str(ds.spec.path) if ds.spec.path else None}
    write_text(out / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    model.train()
    bar = tqdm(range(start, cfg.iterations), desc=f"train {method}", unit="it",
               disable=not progress, initial=start, total=cfg.iterations)
    it = start
    deadline = time.time() + 60 * max_minutes if max_minutes else None
    for it in bar:
        out_of_time = deadline is not None and time.time() > deadline
        batch = sampler.next()
        terms = model.losses(batch, model(batch))
        loss = sum(terms.values())
        if not torch.isfinite(loss):
            raise WsvadError(f"loss became {float(loss)} at iteration {it + 1}; lower the "
                             "learning rate (--set lr=...) or check the features for outliers")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        row = {"iteration": it + 1, **{k: v.item() for k, v in terms.items()}}
        if (it + 1) % val_every == 0 or it + 1 == cfg.iterations or out_of_time:
            if val is not None:
                row.update(_validate(model, val))
                recent = [h["val_video_auc"] for h in history if "val_video_auc" in h]
                window = (recent + [row["val_video_auc"]])[-smooth:]
                finite = [v for v in window if not np.isnan(v)]
                row["val_auc_smoothed"] = float(np.mean(finite)) if finite else float("nan")
                full = len(window) == smooth  # no choice and no patience before that
                if full and _better(row, best):
                    best, best_it, stale = dict(row), it + 1, 0
                    best_state = copy.deepcopy(model.state_dict())
                elif full:
                    stale += 1
            save_resume_state(resume_path, model, optimizer, {
                "iteration": it + 1, "best": best, "best_iteration": best_it,
                "history": history + [row], "best_state": best_state, "stale": stale,
                "sampler_rng": sampler.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state()})
        history.append(row)
        if "val_video_auc" in row or (it + 1) % 10 == 0:
            bar.set_postfix({k[:6]: f"{v:.3g}" for k, v in row.items() if k != "iteration"},
                            refresh=False)
        if out_of_time:
            tqdm.write(f"time budget of {max_minutes} min reached at iteration {it + 1}")
            break
        if patience is not None and val is not None and stale >= patience:
            tqdm.write(f"early stop at iteration {it + 1}: no validation gain in "
                       f"{patience} checks (best at {best_it})")
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_it = it + 1
    model.eval()
    normals = [ds.train[i].name for i in va_idx if ds.train[i].label == 0]
    abnormals = [ds.train[i].name for i in va_idx if ds.train[i].label == 1]
    threshold = calibrate_run_threshold(model, ds, normals, abnormals)
    save_checkpoint(model, ds.contract, out / "model",
                    {"seed": seed, "best_iteration": best_it, "validation": best,
                     "data": resolved["data"], "threshold": threshold})
    write_json(out / "history.json", history)
    metrics: dict[str, Any] = {}
    if evaluate_test and ds.test:
        metrics = evaluate_model(model, ds, out, progress=progress,
                                 threshold=threshold["value"] or FALLBACK)
    metrics.update({"best_iteration": best_it, "iterations_run": it + 1,
                    "validation": best, "threshold": threshold,
                    "seconds": round(time.time() - t0, 1), "skipped_videos": skipped})
    write_json(out / "metrics.json", metrics)
    plot_history(history, out / "training.png")
    return TrainResult(out, metrics, best_it, it + 1, time.time() - t0, skipped)
