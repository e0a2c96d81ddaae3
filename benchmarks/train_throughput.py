"""Training throughput of MIL and RTFM at UCF-Crime scale on CPU (generated features).

1610 training videos × 32 segments × crops × 2048 dims held in memory (as the trainer does),
batches of 32 normal + 32 abnormal (MIL: 30 + 30). Measures seconds per iteration (median of the
timed steps), iterations per second and peak memory (RSS), for the faithful all-crop step and the
``crops_per_step=1`` variant. Writes JSON.

    python benchmarks/train_throughput.py --out benchmarks/results [--videos 1610 --crops 10]
"""

from __future__ import annotations

import json
import platform
import time

import numpy as np
import torch
from steps import bags_of, benchmark_parser, peak_rss_mb, timed_steps  # benchmarks/steps.py

from wsvad import methods
from wsvad.datasets import make_segments
from wsvad.fileio import write_json


def measure(method: str, segs: np.ndarray, labels: np.ndarray, steps: int, warmup: int,
            **overrides) -> dict:
    model = methods.create(method, dim=segs.shape[-1], **overrides)
    opt = model.optimizer()
    bagset, bags = bags_of(segs, labels, model.cfg.batch_size, model.cfg.crops_per_step)
    times = timed_steps(model, opt, bags.next, warmup + steps)[warmup:]
    bagset.close()
    med = float(np.median(times))
    return {"method": method, "overrides": overrides, "steps_timed": steps,
            "seconds_per_iteration_median": round(med, 4),
            "iterations_per_second": round(1 / med, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def main() -> None:
    p = benchmark_parser(__doc__)
    p.add_argument("--videos", type=int, default=1610)
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args()
    t0 = time.time()
    segs, labels = make_segments(args.videos, 32, args.crops, args.dim, 810 / 1610)
    gen_s = time.time() - t0
    rows = [measure("mil", segs, labels, args.steps * 10, 3),
            measure("rtfm", segs, labels, args.steps, 1),
            measure("rtfm", segs, labels, args.steps * 3, 2, crops_per_step=1)]
    result = {"scale": {"videos": args.videos, "segments": 32, "crops": args.crops,
                        "dim": args.dim, "gib_in_memory": round(segs.nbytes / 2**30, 2)},
              "generate_seconds": round(gen_s, 1), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "cpu": platform.processor() or "cpu",
              "results": rows}
    out = args.out / "train_throughput.json"
    write_json(out, result)
    print(json.dumps(result, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
