"""RTFM at UCF-Crime scale on CPU: the faithful all-crop step against ``crops_per_step=1``,
each given the same wall-clock training budget, on generated features whose answer is known.

1610 training videos (810 abnormal) × 32 snippets × 10 crops × 2048 dims, 290 test videos of
32–96 snippets, held in memory. Each variant trains for ``--minutes`` (validation on 10 % of the
training videos picks the checkpoint), then the test set is scored once. Writes JSON.

    python benchmarks/rtfm_speed_vs_auc.py --minutes 12 --out benchmarks/results
    # the CPU preset end to end (2000 steps, validation every 50, patience 20, 55-min cap):
    python benchmarks/rtfm_speed_vs_auc.py --variants crops1 --iterations 2000 \
        --val-every 50 --patience 20 --minutes 55
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from steps import benchmark_parser  # benchmarks/steps.py

from wsvad.contract import FeatureContract
from wsvad.data.readers import MemorySource
from wsvad.data.spec import DatasetSpec, FeatureDataset, VideoEntry
from wsvad.datasets.synthetic import BenchmarkConfig, generate_video
from wsvad.fileio import write_json
from wsvad.training import train


def build(n_train: int, n_test: int, crops: int, dim: int, seed: int) -> FeatureDataset:
    cfg = BenchmarkConfig(dim=dim, crops=crops, seed=seed)
    rng = np.random.default_rng(seed)
    scenes = np.abs(rng.normal(0, 1, (cfg.scenes, dim))).astype(np.float32)
    dirs = rng.normal(0, 1, (cfg.classes, dim)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    arrays, train_e, test_e, gt = {}, [], [], {}
    for split, n, lo, hi in (("train", n_train, 32, 32), ("test", n_test, 32, 96)):
        cfg.min_snippets, cfg.max_snippets = lo, hi
        for i in range(n):
            label = int(i < n * 810 / 1610)
            name = f"{split}{i:05d}"
            feats, snip = generate_video(rng, cfg, scenes[rng.integers(cfg.scenes)],
                                         dirs[rng.integers(cfg.classes)] if label else None)
            arrays[name] = feats
            (train_e if split == "train" else test_e).append(VideoEntry(name, label))
            if split == "test":
                gt[name] = np.repeat(snip, 16)
    spec = DatasetSpec(format="memory", feature_dir=Path("<memory>"), name="ucf-scale-generated")
    return FeatureDataset(spec, MemorySource(arrays), train_e, test_e, gt,
                          FeatureContract(dim=dim, crops=crops))


def main() -> None:
    p = benchmark_parser(__doc__)
    p.add_argument("--minutes", type=float, default=12.0)
    p.add_argument("--train", type=int, default=1610)
    p.add_argument("--test", type=int, default=290)
    p.add_argument("--variants", default="faithful,crops1",
                   help="which to run: faithful (all crops) and/or crops1 (crops_per_step=1)")
    p.add_argument("--iterations", type=int, default=100000, help="step cap (default: none)")
    p.add_argument("--val-every", type=int, help="default 5 (faithful) / 25 (crops1)")
    p.add_argument("--patience", type=int, help="early stopping (default: off)")
    args = p.parse_args()
    t0 = time.time()
    ds = build(args.train, args.test, args.crops, args.dim, seed=0)
    rows = []
    variants = {"faithful": ("faithful (all crops)", {}, 5),
                "crops1": ("crops_per_step=1", {"crops_per_step": 1}, 25)}
    for key in args.variants.split(","):
        name, over, every = variants[key]
        res = train(ds, "rtfm", args.out / "rtfm_speed_runs" / key,
                    {"iterations": args.iterations, **over}, seed=0,
                    val_every=args.val_every or every, patience=args.patience,
                    max_minutes=args.minutes, progress=False)
        m = res.metrics
        rows.append({"variant": name, "iterations_cap": args.iterations,
                     "iterations_run": m["iterations_run"],
                     "best_iteration": m["best_iteration"], "seconds": m["seconds"],
                     "frame_auc": m["frame_auc"], "frame_ap": m["frame_ap"],
                     "validation_video_auc": m["validation"]["val_video_auc"]})
        print(json.dumps(rows[-1]), flush=True)
    result = {"scale": vars(args) | {"out": str(args.out)}, "generate_seconds":
              round(time.time() - t0 - sum(r["seconds"] for r in rows), 1), "results": rows}
    write_json(args.out / f"rtfm_speed_vs_auc_{args.variants.replace(',', '_')}.json", result)


if __name__ == "__main__":
    main()
