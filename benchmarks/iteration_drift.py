"""Iteration time at the start vs. the end of a long training run, for every registered method.

A slowdown over a run (denormal floats from decaying weights were one: MIL fell from ~15 to
~2 it/s over 800 iterations before :func:`wsvad.runtime.fast_cpu_math`) shows up here as a
``end_vs_start`` ratio well below 1. Features are generated at the demo's scale (1488 dims,
1 crop). ``--no-flush`` turns the fix off after the model is built, to show the effect.

    python benchmarks/iteration_drift.py --out benchmarks/results [--iterations 800]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from steps import bags_of, timed_steps  # benchmarks/steps.py

from wsvad import methods
from wsvad.datasets import make_segments
from wsvad.fileio import write_json


def drift(method: str, segs: np.ndarray, labels: np.ndarray, iterations: int, window: int,
          flush: bool) -> dict:
    torch.manual_seed(0)
    model = methods.create(method, dim=segs.shape[-1])
    if not model.trains:
        return {"method": method, "skipped": "training-free"}
    extra = sorted(set(model.needs) - {"features"})
    if extra:   # the generated segments are clip features only
        return {"method": method, "skipped": f"needs streams {extra} (ssrl: ssrl_throughput.py)"}
    torch.set_flush_denormal(flush)
    opt = model.optimizer()
    bagset, bags = bags_of(segs, labels, model.cfg.batch_size)
    times = timed_steps(model, opt, bags.next, iterations)
    bagset.close()
    start, end = np.median(times[:window]), np.median(times[-window:])
    return {"method": method, "flush_denormal": flush, "iterations": iterations,
            "start_it_per_s": round(1 / start, 2), "end_it_per_s": round(1 / end, 2),
            "end_vs_start": round(float(start / end), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--iterations", type=int, default=800)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--methods", default="all")
    p.add_argument("--no-flush", action="store_true")
    args = p.parse_args()
    segs, labels = make_segments(240, 32, 1, 1488, 0.5)
    names = methods.names() if args.methods == "all" else args.methods.split(",")
    rows = []
    for m in names:
        rows.append(drift(m, segs, labels, args.iterations, args.window, not args.no_flush))
        print(json.dumps(rows[-1]))
    out = args.out / ("iteration_drift_noflush.json" if args.no_flush else
                      "iteration_drift.json")
    write_json(out, {"torch": torch.__version__, "threads": torch.get_num_threads(),
                     "results": rows})
    print(f"written {out}")


if __name__ == "__main__":
    main()
