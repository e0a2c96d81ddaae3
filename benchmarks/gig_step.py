"""What training GIG end to end costs per step on CPU: frozen maps vs the backbone's last block.

One step of the paper's batch (4 normal + 4 abnormal videos, T = 8 segments, 7×7 maps): ``gig``
on stored 1280-channel maps; ``gig_e2e`` on the 192-channel trunk activations, running the last
MBConv block and the head conv with gradients (``finetune``) or without (the frozen control).
Seconds per step (median of the timed steps), steps per second, peak memory. Writes JSON.

    python benchmarks/gig_step.py --out benchmarks/results
"""

from __future__ import annotations

import platform
import statistics

import torch
from steps import benchmark_parser, peak_rss_mb, timed_steps  # benchmarks/steps.py

from wsvad import methods
from wsvad.data import Batch
from wsvad.fileio import write_json


def main() -> None:
    ap = benchmark_parser(__doc__)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    label = torch.tensor([0.0] * 4 + [1.0] * 4)
    flow = torch.rand(8, 8, 12, 12, 16)   # motion_grid: the flow cells gig puts on each position
    cases = {"gig (frozen maps)": ("gig", {}, Batch(None, label, motion_grid=flow,
                                                    maps=torch.rand(8, 8, 7, 7, 1280))),
             "gig_e2e (last block trained)": ("gig_e2e", {}, None),
             "gig_e2e finetune=false (control)": ("gig_e2e", {"finetune": False}, None)}
    trunk = Batch(None, label, maps_trunk=torch.rand(8, 8, 7, 7, 192) * 3, motion_grid=flow)
    rows = {}
    for title, (name, over, batch) in cases.items():
        model = methods.create(name, dim=8, **over)
        batch = batch or trunk
        model(batch)                  # builds the heads (their width comes from the data)
        opt = model.optimizer()
        timed_steps(model, opt, lambda b=batch: b, args.warmup)
        times = timed_steps(model, opt, lambda b=batch: b, args.steps)
        med = statistics.median(times)
        rows[title] = {"seconds_per_step": round(med, 4), "steps_per_second": round(1 / med, 2),
                       "trainable_parameters": sum(p.numel() for p in model.parameters()
                                                   if p.requires_grad)}
        print(title, rows[title], flush=True)
    base = rows["gig (frozen maps)"]["seconds_per_step"]
    for r in rows.values():
        r["relative_to_frozen_maps"] = round(r["seconds_per_step"] / base, 2)
    result = {"machine": platform.processor() or platform.machine(),
              "threads": torch.get_num_threads(), "batch": "4 + 4 videos, T = 8, 7x7",
              "cases": rows, "peak_rss_mb": peak_rss_mb()}
    print(f"→ {write_json(args.out / 'gig_step.json', result)}")


if __name__ == "__main__":
    main()
