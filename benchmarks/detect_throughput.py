"""Detection speed of a trained run on this machine: real-time factors and streaming latency.

For each video: offline analysis (decode → features → score → events) and the overlay video
separately, and streaming mode (one snippet at a time, causal window) with its per-snippet
latency. Real-time factor = video seconds per wall second. Writes JSON.

    python benchmarks/detect_throughput.py --run runs/ped2-rtfm \\
        --videos ../shared/data/ucsd_ped2/videos --count 4 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from wsvad.detect.detector import Detector
from wsvad.detect.job import detect
from wsvad.features.extract import list_videos
from wsvad.fileio import write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--videos", required=True, type=Path, help="a video or a folder of videos")
    ap.add_argument("--count", type=int, default=4, help="videos to time (default 4)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    det = Detector.load(args.run, threshold="auto")
    videos = list_videos(args.videos)[: args.count]
    rows = []
    for v in videos:
        with tempfile.TemporaryDirectory() as tmp:
            rep = detect(args.run, v, tmp, progress=False)
            r = rep.videos[v.stem]
            t0 = time.perf_counter()
            steps = [s for s in det.stream(str(v)) if s.frames]
            wall = time.perf_counter() - t0
            frames = sum(len(s.frames) for s in steps)
            fps = frames / r["video_s"] if r["video_s"] else 0
        rows.append({"video": v.name, "video_s": r["video_s"],
                     "offline_analysis_rtf": r["realtime_factor"],
                     "offline_with_overlay_rtf": round(
                         r["video_s"] / (r["analysis_s"] + r["overlay_s"]), 2),
                     "stream_rtf": round(frames / fps / wall, 2) if fps else None,
                     "stream_latency_median_s": round(statistics.median(
                         s.latency for s in steps), 4)})
        print(rows[-1])
    summary = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k not in
               ("video",)}
    result = {"run": str(args.run), "method": det.method, "backbone": det.contract.backbone,
              "videos": rows, "median": summary}
    path = write_json(args.out / f"detect_throughput_{det.method}.json", result)
    print(f"median: {summary}\n→ {path}")


if __name__ == "__main__":
    main()
