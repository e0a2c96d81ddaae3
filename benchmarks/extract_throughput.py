"""Extraction throughput per backbone on UCSD Ped2 (360×240, 10 fps) on this machine.

Frames per second of the whole pipeline (decode → snippets → backbone → arrays), one process,
all cores to torch, for each backbone (the 3-D nets with random weights: speed only, one crop);
plus the time split of the default backbone's stages (motion with and without the fine
``motion_grid`` cells that come with spatial streams, and the ``--static`` background models).
Writes JSON.

    python benchmarks/extract_throughput.py --out benchmarks/results [--videos 4] [--stages-only]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from wsvad.backbones.clip_nets import CLIP_NETS
from wsvad.backbones.motion import MotionEncoder
from wsvad.backbones.static import StaticForeground
from wsvad.backbones.video_encoder import BACKBONES, VideoEncoder
from wsvad.fileio import write_json
from wsvad.video import iter_frames, iter_snippets

PED2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "ucsd_ped2" / "videos"


def stage_split(enc: VideoEncoder, video: Path) -> dict[str, float]:
    """Seconds spent decoding, in motion (without and with the fine grid), in the appearance
    network and in the static-foreground models for one video."""
    t0 = time.perf_counter()
    clips = list(iter_snippets((f for f, _ in iter_frames(video)), 16))
    t1 = time.perf_counter()
    motion = MotionEncoder()
    for c in clips:
        motion.encode(c)
    t2 = time.perf_counter()
    for i in range(0, len(clips), enc.batch_snippets):
        enc._appearance(clips[i:i + enc.batch_snippets])
    t3 = time.perf_counter()
    fine = MotionEncoder()
    for c in clips:
        fine.encode_snippet(c, fine=True)
    t4 = time.perf_counter()
    static = StaticForeground()
    for c in clips:
        static.encode_snippet(c)
    t5 = time.perf_counter()
    return {"decode_s": t1 - t0, "motion_s": t2 - t1, "appearance_s": t3 - t2,
            "motion_with_grid_s": t4 - t3, "static_s": t5 - t4, "snippets": len(clips)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--videos", type=int, default=4)
    p.add_argument("--ped2", type=Path, default=PED2)
    p.add_argument("--stages-only", action="store_true", help="only the default's stage split")
    args = p.parse_args()
    videos = sorted(args.ped2.glob("Test*.mp4"))[: args.videos]
    rows = []
    tmp = Path(tempfile.mkdtemp())
    for backbone in () if args.stages_only else BACKBONES:
        weights = None
        if backbone in CLIP_NETS:  # speed does not depend on the weight values
            weights = tmp / f"{backbone}.pth"
            torch.save(CLIP_NETS[backbone].build().state_dict(), weights)
        enc = VideoEncoder(backbone, weights=weights)
        enc.encode(videos[0])  # warm-up
        t0, frames = time.perf_counter(), 0
        for v in videos:
            frames += enc.encode(v).frames
        dt = time.perf_counter() - t0
        rows.append({"backbone": backbone, "frames": frames, "seconds": round(dt, 2),
                     "frames_per_second": round(frames / dt, 1)})
        print(json.dumps(rows[-1]), flush=True)
    split = [stage_split(VideoEncoder(), v) for v in videos]
    stages = {k: round(float(np.sum([s[k] for s in split])), 2) for k in split[0]}
    result = {"videos": [v.name for v in videos], "resolution": "360x240",
              "results": rows, "default_backbone_stage_seconds": stages}
    write_json(args.out / "extract_throughput.json", result)
    print(json.dumps(stages))


if __name__ == "__main__":
    main()
