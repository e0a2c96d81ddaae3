"""SSRL training speed and peak memory on CPU, at UCF-Crime scale (generated features).

UCF-Crime: 1610 training videos × 32 segments, 10 crops of 2048-d clip features and 49 patch
features per snippet (2×3 + 3×5 + 4×7, one crop each, as SSRL's release), and the 12×12 flow
cells (``motion_grid``) that the default ``patch_motion`` puts on each patch. The whole training set
would hold 1610 × 32 × 49 × 2048 patch values = 10.3 GB in float16 (20.7 GB in float32); the
step's cost depends only on the batch, so the benchmark keeps a pool of ``--videos`` generated
videos and reports the full set's size by arithmetic. Measured: seconds per step (median after
one warm-up) and the process's peak RSS for the last stage (all scales active), for the paper's
PSR width and ``psr_dim`` = 256, and for 4 + 4 and 32 + 32 videos per step. Writes JSON.

    python benchmarks/ssrl_throughput.py --out benchmarks/results [--steps 2]
"""

from __future__ import annotations

import json
import platform

import numpy as np
import torch
from steps import benchmark_parser, peak_rss_mb, timed_steps  # benchmarks/steps.py

from wsvad import methods
from wsvad.data import Batch
from wsvad.fileio import write_json

GRIDS = ((2, 3), (3, 5), (4, 7))


def batch_of(n: int, t: int, crops: int, dim: int, pdim: int) -> Batch:
    """``n`` normal + ``n`` abnormal generated videos (float16 patches, as stored)."""
    g = torch.Generator().manual_seed(0)
    return Batch(torch.randn(2 * n, crops, t, dim, generator=g),
                 torch.tensor([0.0] * n + [1.0] * n),
                 patches={f"{r}x{c}": torch.randn(2 * n, t, r * c, pdim, generator=g).half()
                          for r, c in GRIDS},
                 motion_grid=torch.rand(2 * n, t, 12, 12, 16, generator=g).half())


def measure(per_class: int, psr_dim: int | None, finetune: str, steps: int, t: int,
            crops: int, dim: int, pdim: int) -> dict:
    model = methods.create("ssrl", dim=dim, psr_dim=psr_dim, finetune=finetune,
                           batch_size=per_class)
    batch = batch_of(per_class, t, crops, dim, pdim)
    batch = Batch(batch.features, batch.label, motion_grid=batch.motion_grid.float(),
                  patches={k: v.float() for k, v in batch.patches.items()})
    model(batch)                                    # builds the patch branches
    model.begin_stage(len(GRIDS) + 1)
    times = timed_steps(model, model.optimizer(), lambda: batch, steps + 1)
    med = float(np.median(times[1:]))              # the first step warms up
    return {"videos_per_step": 2 * per_class, "psr_dim": psr_dim or pdim, "finetune": finetune,
            "seconds_per_step": round(med, 3), "steps_per_hour": round(3600 / med, 1),
            "peak_rss_gb_so_far": round(peak_rss_mb() / 1024, 2),
            "parameters": sum(p.numel() for p in model.parameters())}


def main() -> None:
    ap = benchmark_parser(__doc__)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--configs", default="4:256:branch,4:none:branch,32:256:branch,32:none:branch",
                    help="per-class videos:psr_dim:finetune, comma-separated, smallest first "
                    "(peak memory is the process's, so it only grows)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    for spec in args.configs.split(","):
        n, width, ft = spec.split(":")
        row = measure(int(n), None if width == "none" else int(width), ft, args.steps, 32,
                      args.crops, args.dim, args.dim)
        rows.append(row)
        print(json.dumps(row), flush=True)
    full = 1610 * 32 * sum(r * c for r, c in GRIDS) * args.dim
    result = {"benchmark": "ssrl_throughput", "machine": platform.machine(),
              "threads": torch.get_num_threads(), "segments": 32, "crops": args.crops,
              "dim": args.dim, "ucf_crime_patch_set_gb": {"float16": round(full * 2 / 1e9, 1),
                                                          "float32": round(full * 4 / 1e9, 1)},
              "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "ssrl_throughput.json", result)


if __name__ == "__main__":
    main()
