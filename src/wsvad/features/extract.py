"""Extraction jobs: many videos → a FeatureStore; resumable, sharded, several processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from wsvad.backbones.video_encoder import VideoEncoder
from wsvad.contract import TAIL_FILE, FeatureContract
from wsvad.errors import DataError, WsvadError
from wsvad.features.store import FeatureStoreWriter
from wsvad.fileio import atomic_write, check_writable
from wsvad.video.decode import IMAGE_SUFFIXES, VIDEO_SUFFIXES


@dataclass
class ExtractReport:
    """What a job did: videos written, skipped as already done, and failed (with reasons)."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    seconds: float = 0.0


def list_videos(inputs: str | Path) -> list[Path]:
    """A video file, a folder (its video files and its sub-folders of frames), or a text file
    with one path per line (relative to the list's folder)."""
    p = Path(inputs)
    if p.is_file() and p.suffix.lower() in (".txt", ".list"):
        lines = [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
        return [(p.parent / ln) if not Path(ln).is_absolute() else Path(ln) for ln in lines]
    if p.is_file():
        return [p]
    if p.is_dir():
        if any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir()):
            return [p]  # the folder itself is one video of frames
        vids = [f for f in p.iterdir() if f.suffix.lower() in VIDEO_SUFFIXES]
        vids += [d for d in p.iterdir() if d.is_dir() and any(
            f.suffix.lower() in IMAGE_SUFFIXES for f in d.iterdir())]
        if not vids:
            raise WsvadError(f"{p}: no videos ({', '.join(VIDEO_SUFFIXES)}) or frame folders")
        return sorted(vids)
    raise WsvadError(f"input not found: {p}")


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/n"`` → ``(i, n)`` with 0 ≤ i < n."""
    if not text:
        return 0, 1
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError as exc:
        raise WsvadError(f"--shard expects i/n, e.g. 0/4, got {text!r}") from exc
    if not 0 <= i < n:
        raise WsvadError(f"--shard {text}: need 0 <= i < n")
    return i, n


_ENCODER: VideoEncoder | None = None


def _init_worker(kwargs: dict[str, Any], threads: int) -> None:
    global _ENCODER
    import torch
    torch.set_num_threads(threads)
    _ENCODER = VideoEncoder(**kwargs)


def _encode(path: Path):
    try:
        return names_key(path), _ENCODER.encode(path), None
    except DataError as exc:
        return names_key(path), None, str(exc)


@dataclass
class ExtractPlan:
    """What a job will do: the encoder settings (with the store's existing streams), the store
    writer, and the videos still to extract."""

    kwargs: dict[str, Any]
    encoder: VideoEncoder
    writer: FeatureStoreWriter
    todo: list[Path]
    report: ExtractReport


def plan_extraction(inputs: str | Path, out: str | Path, shard: str | None, layout: str,
                    **encoder_kw: Any) -> ExtractPlan:
    """Resolve settings, open (or create) the store with the job's contract, and list the
    videos of this shard that are not finished yet (two inputs with one name are refused)."""
    check_writable(out)
    kwargs = keep_streams(out, encoder_kw)
    i, n = parse_shard(shard)
    videos = [v for j, v in enumerate(list_videos(inputs)) if j % n == i]
    seen: dict[str, Path] = {}
    for v in videos:
        if names_key(v) in seen:
            raise WsvadError(f"two inputs give the video name '{names_key(v)}': "
                             f"{seen[names_key(v)]} and {v}")
        seen[names_key(v)] = v
    encoder = VideoEncoder(**kwargs)
    writer = FeatureStoreWriter(out, encoder.contract(), layout)
    report = ExtractReport(skipped=[names_key(v) for v in videos if writer.done(names_key(v))])
    todo = [v for v in videos if not writer.done(names_key(v))]
    return ExtractPlan(kwargs, encoder, writer, todo, report)


def extract(inputs: str | Path, out: str | Path, backbone: str = "effnet-lite0+motion",
            crops: int = 1, fps: float | None = None, maps: bool = False, workers: int = 1,
            shard: str | None = None, layout: str = "store", progress: bool = True,
            threads: int | None = None, ray: str | None = None,
            **encoder_kw: Any) -> ExtractReport:
    """Extract features of every video in ``inputs`` into the store ``out``: ``workers``
    processes on this machine (``threads`` torch threads each; default: one process keeps the
    process's torch thread count — the cores unless set otherwise —, several share the cores), or
    Ray tasks when ``ray`` is given (``"local"`` starts a local cluster with ``workers`` CPUs; else
    the address of a running cluster — :mod:`wsvad.features.ray_extract`).

    Example:
        >>> rep = extract("../shared/data/ucsd_ped2/videos", "store")  # doctest: +SKIP
        >>> rep.failed                                                 # doctest: +SKIP
        {}
    """
    t0 = time.time()
    plan = plan_extraction(inputs, out, shard, layout, backbone=backbone, crops=crops, fps=fps,
                           maps=maps, **encoder_kw)
    workers = max(1, workers)
    if not threads:
        import torch
        threads = torch.get_num_threads() if workers == 1 else \
            max(1, (os.cpu_count() or 1) // workers)
    if ray is not None and not plan.todo:
        _collect(plan, iter(()), t0, progress)       # nothing to do: no cluster to start
    elif ray is not None:
        from wsvad.features.ray_extract import run_on_ray
        results = run_on_ray(plan, ray, workers, threads, progress)
        _collect(plan, results, t0, progress, write=False)
    elif workers == 1:
        global _ENCODER
        import torch
        before = torch.get_num_threads()     # the caller's setting comes back afterwards
        torch.set_num_threads(threads)
        _ENCODER = plan.encoder
        try:
            _collect(plan, map(_encode, plan.todo), t0, progress)
        finally:
            torch.set_num_threads(before)
    else:
        # spawn, not fork: a process that has run torch holds OpenMP locks a forked worker
        # inherits locked (a test run hung so, in a worker waiting on a futex)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker,
                                 initargs=(plan.kwargs, threads)) as pool:
            _collect(plan, pool.map(_encode, plan.todo), t0, progress)
    if "maps_trunk" in plan.writer.contract.stream_names:
        save_tail(Path(out), encoder_kw.get("weights"))
    plan.report.seconds = time.time() - t0
    return plan.report


def _collect(plan: ExtractPlan, results, t0: float, progress: bool, write: bool = True) -> None:
    """Write (or, for Ray tasks that wrote themselves, record) each finished video; the bar
    counts videos and frames; the manifest is rebuilt at the end even when interrupted."""
    report = plan.report
    bar = tqdm(total=len(plan.todo), desc="extract", unit="video", disable=not progress)
    try:
        for name, enc, err in results:
            if err is not None:
                report.failed[name] = err
                tqdm.write(f"failed {name}: {err}")
            else:
                if write:
                    plan.writer.write(name, enc)
                report.written.append(name)
                report.frames += enc if isinstance(enc, int) else enc.frames
            bar.update(1)
            bar.set_postfix(frames=report.frames, failed=len(report.failed),
                            fps=f"{report.frames / max(time.time() - t0, 1e-9):.1f}")
    finally:
        bar.close()
        plan.writer.finalize()


def keep_streams(out: str | Path, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Encoder settings that also write every stream an existing store at ``out`` holds, so
    that asking a store for more streams (``--tubes`` after ``--maps``) adds them and drops
    nothing."""
    path = Path(out) / "contract.json"
    if not path.is_file():
        return kwargs
    have = FeatureContract.from_dict(json.loads(path.read_text()))
    names = set(have.stream_names)
    out_kw = dict(kwargs)
    for flag in ("maps", "maps_trunk", "boxes", "tubes"):
        out_kw[flag] = bool(out_kw.get(flag)) or flag in names
    if "motion_grid" in names:
        out_kw["motion_grid"] = True
    if "static_desc" in names:
        out_kw["static"] = True
    grids = [tuple(g) for g in out_kw.get("patches") or ()]
    grids += [s.grid for s in have.streams if s.name.startswith("patches_") and s.grid and
              tuple(s.grid) not in grids]
    out_kw["patches"] = tuple(grids)
    boxes = next((s for s in have.streams if s.name == "boxes"), None)
    if boxes is not None and boxes.method in ("mog2", "hog") and \
            out_kw.get("detector", "mog2") == "mog2" and not out_kw.get("detections"):
        out_kw["detector"] = boxes.method          # boxes are made as they were made before
    return out_kw


def save_tail(store: Path, weights: str | Path | None = None) -> Path:
    """Write the backbone's last block + head (the ``maps_trunk`` stream's continuation) as
    ``<store>/maps_trunk_tail.safetensors`` for ``gig_e2e`` (atomically; no pickle)."""
    from safetensors.torch import save_file

    from wsvad.backbones.effnet_lite import load_effnet_lite0, tail_state
    state = tail_state(load_effnet_lite0(weights))
    path = store / TAIL_FILE
    atomic_write(path, lambda p: save_file(state, str(p)))
    return path


def names_key(path: Path) -> str:
    """Video name of an input: the file stem, or the folder name for frame folders."""
    return path.stem if path.is_file() else path.name
