"""Scoring speed of a run's head: PyTorch vs its ONNX export through onnxruntime (one thread
each, and all threads), on the run's own test videos' streams. Writes JSON with milliseconds per
video (medians over repeats) and the largest score difference.

    python benchmarks/onnx_speed.py --runs RUN [RUN ...] --out benchmarks/results
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from wsvad.data import load_dataset
from wsvad.data.streams import load_streams
from wsvad.export.onnx import OnnxEngine, export_run
from wsvad.fileio import write_json
from wsvad.training.checkpoint import load_checkpoint


def median_ms(fn, items, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for it in items:
            fn(it)
        times.append((time.perf_counter() - t0) / len(items) * 1000)
    return float(np.median(times))


def one_run(run: Path, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "run"
        shutil.copytree(run, copy, ignore=shutil.ignore_patterns("*.png", "resume.*"))
        model, _, meta = load_checkpoint(copy / "model")
        export_run(copy)
        ds = load_dataset(meta["data"])
        videos = [load_streams(ds.source, e.name, ds.streams_for(model.needs, model.name))
                  for e in ds.test]
        row = {"run": str(run), "method": model.name, "videos": len(videos),
               "max_abs_diff": max(float(np.abs(model.score_streams(v)[0] -
                                                OnnxEngine(copy).score_streams(v)[0]).max())
                                   for v in videos)}
        for threads in (1, torch.get_num_threads()):
            torch.set_num_threads(threads)
            eng = OnnxEngine(copy, threads=threads)
            t = median_ms(lambda v: model.score_streams(v), videos, repeats)
            o = median_ms(lambda v, e=eng: e.score_streams(v), videos, repeats)
            row[f"threads_{threads}"] = {"torch_ms_per_video": round(t, 3),
                                         "onnx_ms_per_video": round(o, 3),
                                         "speedup": round(t / o, 2)}
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    rows = [one_run(r, a.repeats) for r in a.runs]
    for r in rows:
        print(r)
    a.out.mkdir(parents=True, exist_ok=True)
    write_json(a.out / "onnx_speed.json", {"runs": rows})


if __name__ == "__main__":
    main()
