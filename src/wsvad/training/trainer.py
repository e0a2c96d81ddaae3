"""The training loop: balanced bags, validation on held-out TRAINING videos, best checkpoint,
one test evaluation at the end. Plain PyTorch, no framework.

:func:`train` runs five stages a reader can follow: :func:`prepare` (dataset, model, split,
bags; the test set checked before any compute), ``model.fit`` (input statistics of the fitting
videos), :func:`optimise` (the loop: steps, validation, checkpoint choice, resume state),
:func:`calibrate_run_threshold` (τ on the validation videos) and :func:`finish` (checkpoint,
test metrics, plots).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from wsvad import methods
from wsvad.contract import TAIL_FILE
from wsvad.data.bags import BagSet, BalancedBags
from wsvad.data.classes import multi_hot, vocabulary
from wsvad.data.spec import DatasetSpec, FeatureDataset, load_dataset
from wsvad.data.streams import load_streams
from wsvad.errors import DataError, WsvadError
from wsvad.evaluation.metrics import safe_auc
from wsvad.evaluation.plots import plot_history
from wsvad.evaluation.threshold import FALLBACK, calibrate
from wsvad.fileio import check_writable, write_json, write_text
from wsvad.training.checkpoint import save_checkpoint
from wsvad.training.distributed import Dist
from wsvad.training.distributed import setup as setup_distributed
from wsvad.training.evaluate import evaluate_model, missing_test_videos_error, unreadable_videos
from wsvad.training.resume import load_resume_state, save_resume_state
from wsvad.training.scoring import iter_videos, score_videos
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


@dataclass
class Setup:
    """Everything :func:`prepare` resolves before the first step."""

    ds: FeatureDataset
    model: methods.Method
    streams: tuple[str, ...]
    fit: BagSet
    val: BagSet | None
    val_names: list[str]
    val_labels: list[int]
    skipped: dict[str, str]


def prepare(data: str | Path | DatasetSpec | FeatureDataset, method: str,
            overrides: dict[str, Any] | None, seed: int, val_fraction: float,
            evaluate_test: bool, allow_missing: bool, progress: bool) -> Setup:
    """Dataset, model, stratified fit/validation split of the training videos, training bags.

    The test videos are checked first (when they will be evaluated): an unreadable one stops the
    run here, not after training (see :mod:`wsvad.training.evaluate`).
    """
    ds = data if isinstance(data, FeatureDataset) else load_dataset(data, evaluate_test)
    if not ds.train:
        raise DataError("the dataset spec has no train_list")
    overrides = dict(overrides or {})
    keys = {f.name for f in fields(methods.get(method).Config)}
    if "classes" in keys and overrides.get("classes") is None:
        overrides["classes"] = ",".join(vocabulary(ds.train)) or None   # "what": from the data
    if "tail_weights" in keys and overrides.get("tail_weights") is None:
        tail = ds.spec.feature_dir / TAIL_FILE if ds.spec.feature_dir else None
        if tail is None or not tail.is_file():
            raise DataError(f"method {method!r} fine-tunes the backbone layers after the "
                            f"maps_trunk stream and needs their weights ({TAIL_FILE}) in the "
                            "store: extract it with `wsvad extract --maps-trunk`, or pass "
                            "--set tail_weights=FILE")
        overrides["tail_weights"] = str(tail)
    model = methods.create(method, dim=ds.contract.dim, parts=ds.contract.parts, **overrides)
    streams = ds.streams_for(model.needs, method, model.wants)
    if evaluate_test and ds.test and not allow_missing:
        bad = unreadable_videos(model, ds, [e.name for e in ds.test])
        if bad:
            raise missing_test_videos_error(bad, len(ds.test))
    labels = [e.label for e in ds.train]
    if len(set(labels)) < 2:
        kind = "normal" if labels[0] == 0 else "abnormal"
        raise DataError(f"all {len(labels)} training videos are {kind}: weak supervision needs "
                        "normal and abnormal videos (check the labels file or abnormal_first)")
    fit_idx, val_idx = stratified_split(labels, val_fraction, seed)

    vocab = model.class_names()

    def bags(idx: np.ndarray) -> BagSet:
        return BagSet([ds.train[i].name for i in idx], [labels[i] for i in idx],
                      lambda n: load_streams(ds.source, n, streams), model.cfg.segments,
                      progress=progress, classes=np.stack(
                          [multi_hot(ds.train[i], vocab) for i in idx]) if vocab else None)
    fit = bags(fit_idx)
    val = bags(val_idx) if len(val_idx) else None
    skipped = {**fit.skipped, **(val.skipped if val else {})}
    for name, why in skipped.items():
        tqdm.write(f"skipped {name}: {why}")
    return Setup(ds, model, streams, fit, val, [ds.train[i].name for i in val_idx],
                 [labels[i] for i in val_idx], skipped)


def validate(model: methods.Method, val: BagSet, chunk: int = 64,
             device: torch.device | str = "cpu") -> dict[str, float]:
    """Video-level AUC and mean loss on the held-out training videos, in eval mode, in chunks
    of ``chunk`` videos that mix both labels (bounded memory at UCF-Crime scale), on
    ``device`` (the model's)."""
    labels = np.asarray(val.labels)
    order = _interleave(np.flatnonzero(labels == 0), np.flatnonzero(labels == 1))
    scores, losses = np.zeros(len(labels)), []
    was = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(order), chunk):
            idx = order[i:i + chunk]
            part = val.batch(idx).to(device)
            out = model(part)
            scores[idx] = model.video_score(out).cpu().numpy()
            if 0 < part.label.sum() < len(idx):
                terms = model.losses(part, out)
                if terms:
                    losses.append(sum(terms.values()).item())
    model.train(was)
    return {"val_video_auc": safe_auc(scores, labels),
            "val_loss": float(np.mean(losses)) if losses else float("nan")}


def _interleave(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Alternate the two index lists (the longer one's tail at the end)."""
    n = min(len(a), len(b))
    mixed = np.stack([a[:n], b[:n]], axis=1).ravel()
    return np.concatenate([mixed, a[n:], b[n:]]).astype(int)


def _better(new: dict, best: dict | None) -> bool:
    if best is None:
        return True
    a, b = new["val_auc_smoothed"], best["val_auc_smoothed"]
    a, b = (-1.0 if np.isnan(a) else a), (-1.0 if np.isnan(b) else b)
    return a > b + 1e-9 or (abs(a - b) <= 1e-9 and new["val_loss"] < best["val_loss"])


@dataclass
class Progress:
    """The loop's state — what the resume files hold."""

    iteration: int = 0
    best: dict | None = None
    best_iteration: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict] = field(default_factory=list)
    stale: int = 0


def optimise(model: methods.Method, setup: Setup, out: Path, seed: int, val_every: int,
             patience: int | None, resume: bool, max_minutes: float | None, smooth: int,
             progress: bool, ctx: Dist | None = None) -> Progress:
    """Steps on balanced bags; every ``val_every`` steps validate, keep the best checkpoint
    (running mean of the last ``smooth`` validation AUCs, ties broken by validation loss) and
    save the resume state; stop after ``patience`` validations without gain or ``max_minutes``.
    Under torchrun (``ctx``) each rank draws its share of the batch, gradients are averaged and
    rank 0 alone validates and saves (:mod:`wsvad.training.distributed`)."""
    cfg, ctx = model.cfg, ctx or Dist()
    size = model.stage_batch_size()
    sampler = BalancedBags(setup.fit, size, seed, cfg.crops_per_step, (ctx.rank, ctx.world),
                           streams=model.step_streams())
    smallest = min(size, *(int(np.sum(np.asarray(setup.fit.labels) == c))
                                     for c in (0, 1)))
    if ctx.world > smallest:
        raise WsvadError(f"{ctx.world} processes but only {smallest} bags of a kind per step: "
                         "every process needs at least one of each; use fewer processes")
    optimizer = ctx.wrap(model.optimizer(), model)
    st = Progress()
    if resume:
        saved, st.best_state, torch_rng = load_resume_state(out, model, optimizer)
        st.iteration, st.best, st.best_iteration = (saved["iteration"], saved["best"],
                                                    saved["best_iteration"])
        st.history, st.stale = saved["history"], saved["stale"]
        sampler.rng.bit_generator.state = saved["sampler_rng"]   # the same on every rank
        torch.set_rng_state(torch_rng)
    model.train()
    bar = tqdm(range(st.iteration, cfg.iterations), desc=f"train {model.name}", unit="it",
               disable=not (progress and ctx.main), initial=st.iteration, total=cfg.iterations)
    deadline = time.time() + 60 * max_minutes if max_minutes else None
    for it in bar:
        out_of_time = deadline is not None and time.time() > deadline
        batch = sampler.next().to(ctx.device)
        terms = model.train_step(batch, optimizer)
        loss = sum(terms.values())
        if not torch.isfinite(loss):
            raise WsvadError(f"loss became {float(loss)} at iteration {it + 1}; lower the "
                             "learning rate (--set lr=...) or check the features for outliers")
        st.iteration = it + 1
        row = {"iteration": it + 1, **{k: v.item() for k, v in terms.items()}}
        if ctx.main and ((it + 1) % val_every == 0 or it + 1 == cfg.iterations or out_of_time):
            if setup.val is not None:
                _select(model, setup.val, row, st, smooth, ctx.device)
            save_resume_state(out, model, optimizer, {
                "iteration": it + 1, "best": st.best, "best_iteration": st.best_iteration,
                "history": st.history + [row], "stale": st.stale,
                "sampler_rng": sampler.rng.bit_generator.state}, st.best_state,
                torch.get_rng_state())
        st.history.append(row)
        if "val_video_auc" in row or (it + 1) % 10 == 0:
            bar.set_postfix({_short(k): f"{v:.3g}" for k, v in row.items()
                             if k != "iteration"}, refresh=False)
        stale = patience is not None and setup.val is not None and st.stale >= patience
        if not ctx.agree(out_of_time or stale):
            continue
        if ctx.main and out_of_time:
            tqdm.write(f"time budget of {max_minutes} min reached at iteration {it + 1}")
        elif ctx.main:
            tqdm.write(f"early stop at iteration {it + 1}: no validation gain in "
                       f"{patience} checks (best at {st.best_iteration})")
        break
    bar.close()
    return st


def optimise_stages(model: methods.Method, setup: Setup, out: Path, seed: int, val_every: int,
                    patience: int | None, resume: bool, max_minutes: float | None, smooth: int,
                    progress: bool, ctx: Dist | None = None) -> Progress:
    """:func:`optimise` once per stage of the method (most have one; SSRL adds a patch scale per
    stage). Each stage starts from the model the stages before it left, keeps its resume state
    in ``stages/<s>/`` and gets its own ``max_minutes``; the run's history concatenates the
    stages (rows carry ``stage``).

    A stage whose validation-chosen checkpoint does not validate better than the model it
    started from (the rule that picks checkpoints inside a stage, :func:`_better`) is left
    out when the method allows it (:meth:`~wsvad.methods.Method.leave_out_stage`; SSRL's
    ``stage_selection``): the model goes back to that starting point, without what the stage
    added, and the next stage starts from there. The chosen row records ``stages_left_out``."""
    n = model.stage_count()
    if n == 1:
        return optimise(model, setup, out, seed, val_every, patience, resume, max_minutes,
                        smooth, progress, ctx)
    total = Progress()
    left_out: list[int] = []
    for stage in range(1, n + 1):
        model.begin_stage(stage)
        where = out / "stages" / str(stage)
        where.mkdir(parents=True, exist_ok=True)
        tqdm.write(f"stage {stage}/{n}")
        st = optimise(model, setup, where, seed, val_every, patience,
                      resume and (where / "resume.json").is_file(), max_minutes, smooth,
                      progress, ctx)
        offset = total.iteration
        for row in st.history:
            total.history.append({**row, "stage": stage, "iteration": row["iteration"] + offset})
        total.iteration += st.iteration
        kept = total.best is None or st.best is None or _stage_improves(st.best, total.best)
        if total.best is not None and st.best is not None and (ctx is None or ctx.main):
            tqdm.write(f"stage {stage} {'kept' if kept else 'not better'}: "
                       + stage_margin(st.best, total.best, total.best["stage"],
                                      _pairs(setup.val)))
        if kept or total.best_state is None or not model.leave_out_stage(stage, dry_run=True):
            if st.best_state is not None:
                model.load_state_dict(st.best_state)
            total.best = None if st.best is None else {**st.best, "stage": stage}
            total.best_iteration = offset + (st.best_iteration or st.iteration)
        else:                         # back to where the stage started, without its part
            model.load_state_dict(total.best_state)
            model.leave_out_stage(stage)
            left_out.append(stage)
            if ctx is None or ctx.main:
                tqdm.write(f"stage {stage} left out: the model goes back to where it started")
        if ctx is not None:
            ctx.sync(model)           # every rank starts the next stage from rank 0's choice
        total.best_state = copy.deepcopy(model.state_dict())
    if total.best is not None:
        total.best["stages_left_out"] = left_out
    return total


def _pairs(val: BagSet | None) -> int:
    """Normal–abnormal pairs among the validation videos: what a video AUC counts."""
    if val is None:
        return 0
    labels = np.asarray(val.labels)
    return int((labels == 0).sum() * (labels == 1).sum())


def stage_margin(chosen: dict, start: dict, start_stage: int, pairs: int) -> str:
    """How a stage's chosen checkpoint validated against the model it started from, with the
    difference of video AUC counted in normal–abnormal validation pairs (``pairs``): the
    evidence behind keeping or leaving out the stage. Each side is the best of its own
    validations, so a stage whose validations swing more is flattered; on a plaza rendering,
    stages kept by 1.7 and 3.0 of 81 pairs tested 15–22 points below their start (docs/results.md,
    "More validation videos").

    Example:
        >>> stage_margin({"val_auc_smoothed": 0.928, "val_loss": 3.5},
        ...              {"val_auc_smoothed": 0.907, "val_loss": 1.8}, 1, 81)
        'validation video AUC 0.928 against 0.907 (stage 1): +0.021 = 1.7 of 81 pairs'
        >>> stage_margin({"val_auc_smoothed": 1.0, "val_loss": 0.4203},
        ...              {"val_auc_smoothed": 1.0, "val_loss": 0.4165}, 3, 1)
        'validation video AUC tied at 1.000 with stage 3; validation loss 0.4203 against 0.4165'
    """
    a, b = chosen["val_auc_smoothed"], start["val_auc_smoothed"]
    if abs(a - b) <= 1e-9:
        return (f"validation video AUC tied at {a:.3f} with stage {start_stage}; validation "
                f"loss {chosen['val_loss']:.4g} against {start['val_loss']:.4g}")
    return (f"validation video AUC {a:.3f} against {b:.3f} (stage {start_stage}): "
            f"{a - b:+.3f} = {abs(a - b) * pairs:.1f} of {pairs} pairs")


def _stage_improves(chosen: dict, start: dict) -> bool:
    """Whether a stage's chosen checkpoint validates better than the model it started from:
    the rule that chooses checkpoints inside a stage, across stages."""
    return _better(chosen, start)


def _select(model: methods.Method, val: BagSet, row: dict, st: Progress, smooth: int,
            device: torch.device | str = "cpu") -> None:
    row.update(validate(model, val, device=device))
    recent = [h["val_video_auc"] for h in st.history if "val_video_auc" in h]
    window = (recent + [row["val_video_auc"]])[-smooth:]
    finite = [v for v in window if not np.isnan(v)]
    row["val_auc_smoothed"] = float(np.mean(finite)) if finite else float("nan")
    if len(window) < smooth:        # no choice and no patience before a full window
        return
    if _better(row, st.best):
        st.best, st.best_iteration, st.stale = dict(row), row["iteration"], 0
        st.best_state = copy.deepcopy(model.state_dict())
    else:
        st.stale += 1


def calibrate_run_threshold(model: methods.Method, ds: FeatureDataset, names: list[str],
                            labels: list[int]) -> dict[str, Any]:
    """Alert threshold from the frame scores of held-out TRAINING videos (normal and abnormal),
    each scored whole as at test time (:mod:`wsvad.evaluation.threshold`)."""
    normals = [n for n, y in zip(names, labels, strict=True) if y == 0]
    abnormals = [n for n, y in zip(names, labels, strict=True) if y == 1]
    nor = score_videos(model, ds, normals, progress=False)
    abn = score_videos(model, ds, abnormals, progress=False)
    rec = calibrate(list(nor.frames.values()), abnormal_frame_scores=list(abn.frames.values()))
    failed = {**nor.failed, **abn.failed}
    if failed:
        rec["failed_videos"] = failed
    return rec


def train(data: str | Path | DatasetSpec | FeatureDataset, method: str, out: str | Path,
          overrides: dict[str, Any] | None = None, seed: int = 0, val_fraction: float = 0.1,
          val_every: int | None = None, patience: int | None = 20, resume: bool = False,
          progress: bool = True, evaluate_test: bool = True,
          max_minutes: float | None = None, smooth: int = 3,
          allow_missing: bool = False, device: str = "auto") -> TrainResult:
    """Train ``method`` on a dataset spec and write a run directory.

    Validation on ``val_fraction`` of the training videos picks the checkpoint: the video-level
    AUC of the method's video score, averaged over the last ``smooth`` validations (a few
    held-out videos give a noisy AUC; one lucky spike should not pick the model), ties broken
    by the validation loss; training stops after ``patience`` validations without improvement,
    or when ``max_minutes`` of training have passed (validating once more first). The test set
    is scored once, at the end. Training-free baselines only fit their statistics.

    ``device`` (``auto`` | ``cpu`` | ``cuda``) is where the steps and validation run; the
    checkpoint is saved from, and the test set scored on, the CPU. Started by torchrun, the run
    is data-parallel over its processes (:mod:`wsvad.training.distributed`); rank 0 writes it.

    Example:
        >>> from wsvad.datasets import make_benchmark                       # doctest: +SKIP
        >>> r = train(make_benchmark("b"), "rtfm", "runs/r", {"iterations": 300})  # doctest: +SKIP
        >>> r.metrics["frame_auc"]                                         # doctest: +SKIP
    """
    t0 = time.time()
    out = check_writable(out)
    ctx = setup_distributed(device)
    torch.manual_seed(seed)
    np.random.seed(seed)
    setup = prepare(data, method, overrides, seed, val_fraction, evaluate_test, allow_missing,
                    progress and ctx.main)
    model, ds, cfg = setup.model, setup.ds, setup.model.cfg
    fit_labels = dict(zip(setup.fit.names, setup.fit.labels, strict=True))
    model.fit(lambda: iter_videos(ds, list(fit_labels), list(fit_labels.values()),
                                  setup.streams))
    val_every = val_every or max(1, min(50, cfg.iterations // 40))
    out.mkdir(parents=True, exist_ok=True)
    resolved = {"method": method, "config": cfg.to_dict(), "seed": seed,
                "val_fraction": val_fraction, "val_every": val_every, "patience": patience,
                "data": str(ds.spec.path) if ds.spec.path else None}
    if ctx.main:
        write_text(out / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    if model.trains:
        model.to(ctx.device)
        ctx.sync(model)
        st = optimise_stages(model, setup, out, seed, val_every, patience, resume, max_minutes,
                             smooth, progress, ctx)
        model.cpu()
        ctx.close()
        if not ctx.main:                   # rank 0 alone checkpoints and scores the test set
            for bags in (setup.fit, setup.val):
                if bags is not None:
                    bags.close()
            return TrainResult(out, {}, st.best_iteration, st.iteration, time.time() - t0)
    else:
        st = Progress()
        if setup.val is not None:
            st.best = {"iteration": 0, **validate(model, setup.val)}
            st.best["val_auc_smoothed"] = st.best["val_video_auc"]
    if st.best_state is not None:
        model.load_state_dict(st.best_state)
    else:
        st.best_iteration = st.iteration
    model.eval()
    threshold = calibrate_run_threshold(model, ds, setup.val_names, setup.val_labels)
    metrics = finish(model, setup, out, st, threshold, resolved["data"], seed, evaluate_test,
                     allow_missing, progress)
    metrics["seconds"] = round(time.time() - t0, 1)
    write_json(out / "metrics.json", metrics)
    setup.fit.close()
    if setup.val is not None:
        setup.val.close()
    return TrainResult(out, metrics, st.best_iteration, st.iteration, time.time() - t0,
                       setup.skipped)


def finish(model: methods.Method, setup: Setup, out: Path, st: Progress, threshold: dict,
           data: str | None, seed: int, evaluate_test: bool, allow_missing: bool,
           progress: bool) -> dict[str, Any]:
    """Checkpoint, history and plots; the test set scored once at the run's τ."""
    ds = setup.ds
    save_checkpoint(model, ds.contract, out / "model",
                    {"seed": seed, "best_iteration": st.best_iteration, "validation": st.best,
                     "data": data, "threshold": threshold})
    write_json(out / "history.json", st.history)
    metrics: dict[str, Any] = {}
    if evaluate_test and ds.test:
        value = threshold["value"] if threshold["value"] is not None else FALLBACK
        metrics = evaluate_model(model, ds, value, out, progress, allow_missing).metrics
    metrics.update({"best_iteration": st.best_iteration, "iterations_run": st.iteration,
                    "validation": st.best, "threshold": threshold,
                    "skipped_videos": setup.skipped,
                    "parameters": sum(p.numel() for p in model.parameters())})
    if st.history:
        plot_history(st.history, out / "training.png")
    return metrics


__all__ = ["TrainResult", "calibrate_run_threshold", "optimise", "optimise_stages", "prepare",
           "train",
           "validate"]


def _short(term: str) -> str:
    """A loss term's name for the progress bar: ``ranking`` → ``rankin``; a two-stream
    member's ``appearance.ranking`` → ``app.rankin``.

    Example:
        >>> _short("ranking"), _short("appearance.ranking")
        ('rankin', 'app.rankin')
    """
    part, _, name = term.rpartition(".")
    return f"{part[:3]}.{name[:6]}" if part else name[:6]
