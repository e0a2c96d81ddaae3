"""Extraction on a Ray cluster (``wsvad extract ... --ray [ADDRESS]``; ``pip install
wsvad[ray]``).

Each video is one Ray task that decodes, encodes and writes its own outputs into the store —
atomically, meta file last, exactly as a local job does — so the store must be a path every node
sees (a shared filesystem). Tasks are retried when their worker dies (``max_retries``); at most
``2 × CPUs`` are in flight, so a long list never floods the scheduler; the driver rebuilds the
manifest at the end (:func:`wsvad.features.extract.extract` does). A re-run skips finished
videos, so an interrupted job resumes. Without an address a local cluster with ``workers`` CPUs
is started (and stopped at the end).

Example:
    >>> from wsvad.features import extract
    >>> rep = extract("videos/", "store", ray="local", workers=2)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsvad.errors import DataError, WsvadError

if TYPE_CHECKING:
    from wsvad.features.extract import ExtractPlan

RETRIES = 3                 # a task whose worker dies is run again, up to this many times
_ENCODERS: dict[str, Any] = {}   # per worker process: one encoder per settings


def encode_and_write(path: str, source: str, out: str, kwargs: dict[str, Any], layout: str,
                     threads: int) -> tuple[str, int | None, str | None]:
    """One task: ``(name, frames, None)`` once the video is in the store, or ``(name, None,
    reason)`` for unreadable input; ``source`` is the path as the user gave it (recorded in the
    store as a local job records it). A worker process keeps its encoder between tasks."""
    import torch

    from wsvad.backbones.video_encoder import VideoEncoder
    from wsvad.features.extract import names_key
    from wsvad.features.store import FeatureStoreWriter
    torch.set_num_threads(threads)
    key = repr(sorted(kwargs.items()))
    if key not in _ENCODERS:
        _ENCODERS[key] = VideoEncoder(**kwargs)
    enc = _ENCODERS[key]
    name = names_key(Path(path))
    try:
        encoded = enc.encode(path)
    except DataError as exc:
        return name, None, str(exc)
    encoded.source = source
    FeatureStoreWriter(out, enc.contract(), layout).write(name, encoded)
    return name, encoded.frames, None


def _connect(address: str, workers: int) -> bool:
    """Connect to ``address`` or start a local cluster; True when this call started Ray."""
    try:
        import ray
    except ImportError as exc:
        raise WsvadError("--ray needs Ray: pip install 'wsvad[ray]'") from exc
    if ray.is_initialized():
        return False
    if address == "local":
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 object_store_memory=100 * 1024 ** 2,
                 runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    else:
        ray.init(address=address, log_to_driver=False)
    return True


def run_on_ray(plan: ExtractPlan, address: str, workers: int, threads: int,
               progress: bool = True) -> Iterator[tuple[str, int | None, str | None]]:
    """Yield ``(name, frames, error)`` as tasks finish, with a bounded number in flight."""
    import ray
    started = _connect(address, workers)
    try:
        task = ray.remote(max_retries=RETRIES, num_cpus=threads)(encode_and_write)
        out = str(Path(plan.writer.root).resolve())
        limit = max(2, 2 * int(ray.cluster_resources().get("CPU", workers)) // max(1, threads))
        queue = [(str(Path(v).resolve()), str(v)) for v in plan.todo]
        running: dict = {}                      # task → its video
        while queue or running:
            while queue and len(running) < limit:
                path, given = queue.pop(0)
                running[task.remote(path, given, out, plan.kwargs, plan.writer.layout,
                                    threads)] = path
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                path = running.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as exc:   # its retries are used up
                    yield (Path(path).stem if Path(path).is_file() else Path(path).name, None,
                           f"Ray task failed after {RETRIES} retries: {exc}")
    finally:
        if started:
            ray.shutdown()

