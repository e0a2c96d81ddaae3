"""Shared by the training benchmarks: generated segments as training bags, timed steps, peak
memory and the command-line options every benchmark has."""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from wsvad.data.bags import BagSet, BalancedBags


def bags_of(segs: np.ndarray, labels: np.ndarray, batch: int,
            crops_per_step: int | None = None) -> tuple[BagSet, BalancedBags]:
    """``segs [N, T, crops, D]`` → the trainer's bag set and balanced sampler (seed 0)."""
    names = [str(i) for i in range(len(segs))]
    bagset = BagSet(names, [int(v) for v in labels], lambda n: {"features": segs[int(n)]},
                    segments=segs.shape[1], progress=False)
    return bagset, BalancedBags(bagset, batch, 0, crops_per_step)


def timed_steps(model, opt, next_batch: Callable, steps: int) -> list[float]:
    """Seconds per training step (``next_batch()``, forward, losses, backward, update),
    ``steps`` times — pass a sampler's ``next`` (``BalancedBags.next``) or a fixed batch."""
    model.train()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        batch = next_batch()
        loss = sum(model.losses(batch, model(batch)).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MiB (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def benchmark_parser(doc: str, dim: int = 2048, crops: int = 10) -> argparse.ArgumentParser:
    """A parser with the options every training benchmark has: ``--out``, ``--crops``,
    ``--dim`` (the published I3D shape by default); the first line of ``doc`` describes it."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--crops", type=int, default=crops)
    p.add_argument("--dim", type=int, default=dim)
    return p
