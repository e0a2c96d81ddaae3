"""Time to build WSSTAD's boxes and tubes per frame on UCSD Ped2 (360×240, 10 fps), one process.

Stages, each in milliseconds per frame (medians over the videos): decoding, MOG2 boxes, the HOG
people detector (on every ``--hog-every``-th frame, as it is slow), linking boxes into tubes
(Alg. 1 + 2), and the tube crop features (the second decoding pass: EfficientNet-Lite0 on each
crop's middle frame + DIS flow of the crop) — plus the whole ``extract --tubes`` per frame and
the plain extraction for the ratio. Writes JSON.

    python benchmarks/tube_throughput.py --out benchmarks/results [--videos 4]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from wsvad.backbones.boxes import MovingObjectDetector, PeopleDetector
from wsvad.backbones.tube_regions import build_tubes, tube_streams
from wsvad.backbones.video_encoder import VideoEncoder
from wsvad.fileio import write_json
from wsvad.video import iter_frames

PED2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "ucsd_ped2" / "videos"


def one_video(video: Path, hog_every: int) -> dict[str, float]:
    """Milliseconds per frame of each stage on one video."""
    t0 = time.perf_counter()
    frames = [f for f, _ in iter_frames(video)]
    n = len(frames)
    t1 = time.perf_counter()
    mog = MovingObjectDetector()
    boxes = []
    for i, f in enumerate(frames):
        boxes += [(i, b.x1, b.y1, b.x2, b.y2, b.score) for b in mog.detect(f)]
    t2 = time.perf_counter()
    hog = PeopleDetector()
    sampled = frames[::hog_every]
    for f in sampled:
        hog.detect(f)
    t3 = time.perf_counter()
    boxes = np.asarray(boxes, np.float32).reshape(-1, 6)
    tubes = build_tubes(boxes, 10.0, -(-n // 16), 16)
    t4 = time.perf_counter()
    enc = VideoEncoder(tubes=True)
    plain = VideoEncoder()
    t5 = time.perf_counter()
    tube_streams(enc, video, boxes, -(-n // 16), 10.0)
    t6 = time.perf_counter()
    enc.encode(video)
    t7 = time.perf_counter()
    plain.encode(video)
    t8 = time.perf_counter()
    ms = 1000.0 / n
    return {"frames": n, "tubes": int(len(np.unique(tubes[:, 0]))) if len(tubes) else 0,
            "decode_ms": (t1 - t0) * ms, "mog2_boxes_ms": (t2 - t1) * ms,
            "hog_boxes_ms": (t3 - t2) * 1000.0 / max(len(sampled), 1),
            "link_tubes_ms": (t4 - t3) * ms, "tube_crop_features_ms": (t6 - t5) * ms,
            "extract_tubes_ms": (t7 - t6) * ms, "extract_plain_ms": (t8 - t7) * ms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--hog-every", type=int, default=10)
    args = ap.parse_args()
    videos = sorted(PED2.glob("Test*.mp4"))[:args.videos]
    if not videos:
        raise SystemExit(f"no Ped2 videos in {PED2}")
    rows = [one_video(v, args.hog_every) for v in videos]
    keys = [k for k in rows[0] if k.endswith("_ms")]
    res = {"videos": [v.name for v in videos], "per_video": rows,
           "median_ms_per_frame": {k: round(float(np.median([r[k] for r in rows])), 2)
                                   for k in keys},
           "tubes_per_video": [r["tubes"] for r in rows]}
    m = res["median_ms_per_frame"]
    res["extract_tubes_vs_plain"] = round(m["extract_tubes_ms"] / m["extract_plain_ms"], 2)
    path = write_json(args.out / "tube_throughput.json", res)
    print(res["median_ms_per_frame"], "ratio", res["extract_tubes_vs_plain"], "→", path)


if __name__ == "__main__":
    main()
