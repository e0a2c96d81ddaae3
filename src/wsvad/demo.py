"""``make demo``: generate a feature benchmark, train RTFM and MIL (3 seeds), print a table.

Until the video front end lands the demo is feature-level: the benchmark's answer is known, so
the numbers say whether the methods learn.
"""

from __future__ import annotations

from pathlib import Path

from wsvad import api
from wsvad.datasets import BenchmarkConfig, make_benchmark


def run_demo(out: str | Path, iterations: int | None = None,
             seeds: tuple[int, ...] = (1, 2, 3)) -> dict:
    """Iterations default to 300 for RTFM and 1500 for MIL (whose paper optimiser, Adagrad at
    lr 1e-3, learns slowly); ``iterations`` sets both."""
    out = Path(out)
    spec = make_benchmark(out / "benchmark", BenchmarkConfig(seed=0))
    print(f"benchmark written: {spec}")
    results = {}
    for method, default_its in (("rtfm", 300), ("mil", 1500)):
        res = api.train_seeds(spec, method, out / method, list(seeds),
                              {"iterations": iterations or default_its})
        results[method] = res["summary"]
    print(f"\nframe-level results on the generated benchmark ({len(seeds)} seeds, test set "
          "scored once per run; checkpoints chosen on held-out training videos)")
    print(f"{'method':<8}{'frame AUC':>18}{'AP (sklearn)':>18}{'abnormal-only AUC':>22}")
    for method, s in results.items():
        cells = [f"{s[k]['mean']:.3f} ± {s[k]['std']:.3f}"
                 for k in ("frame_auc", "frame_ap", "abnormal_only_auc")]
        print(f"{method:<8}{cells[0]:>18}{cells[1]:>18}{cells[2]:>22}")
    print(f"\nruns, metrics.json and plots (roc.png, pr.png, timelines.png) under {out}/")
    return results
