"""Shared by the training benchmarks: generated segments as training bags, and timed steps."""

from __future__ import annotations

import time

import numpy as np

from wsvad.data.bags import BagSet, BalancedBags


def bags_of(segs: np.ndarray, labels: np.ndarray, batch: int,
            crops_per_step: int | None = None) -> tuple[BagSet, BalancedBags]:
    """``segs [N, T, crops, D]`` → the trainer's bag set and balanced sampler (seed 0)."""
    names = [str(i) for i in range(len(segs))]
    bagset = BagSet(names, [int(v) for v in labels], lambda n: {"features": segs[int(n)]},
                    segments=segs.shape[1], progress=False)
    return bagset, BalancedBags(bagset, batch, 0, crops_per_step)


def timed_steps(model, opt, bags: BalancedBags, steps: int) -> list[float]:
    """Seconds per training step (sample, forward, losses, backward, update), ``steps`` times."""
    model.train()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        batch = bags.next()
        loss = sum(model.losses(batch, model(batch)).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times
