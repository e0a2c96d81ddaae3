"""Write a generated surveillance dataset: mp4 videos and every kind of ground truth.

Layout of ``out/``::

    videos/<name>.mp4        H.264, 320×240, 25 fps, byte-identical for the same config
    labels.csv               name,label,class   (class = anomaly kind, "normal" otherwise)
    frame_labels.npz         one uint8 array per video, 1 = abnormal frame
    boxes.json               {name: [[frame, x1, y1, x2, y2], …]} of the anomalous actor
    train.txt, test.txt      the weak split (video names)
    scenes.json              seed, camera, kind, frames and fps of every video
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from wsvad.datasets.scenes.actors import KINDS
from wsvad.datasets.scenes.generate import SceneVideo, render_scene
from wsvad.fileio import atomic_write, write_json, write_text
from wsvad.video.writer import VideoWriter


@dataclass
class SceneDatasetConfig:
    """How many videos of each split and label; anomaly kinds cycle through :data:`KINDS`."""

    train_normal: int = 12
    train_abnormal: int = 12
    test_normal: int = 8
    test_abnormal: int = 8
    seconds: float = 8.0
    fps: float = 25.0
    seed: int = 0
    cameras: int = 4       # scenes shared by the videos (each video: one camera, its own day)


def make_scene_dataset(out: str | Path, cfg: SceneDatasetConfig | None = None,
                       progress: bool = True) -> dict[str, SceneVideo]:
    """Render and write the dataset (see the module docstring); returns the ground truth.

    Example:
        >>> cfg = SceneDatasetConfig(1, 1, 1, 1, seconds=1.0)
        >>> import tempfile; d = tempfile.mkdtemp()
        >>> sorted(make_scene_dataset(d, cfg, progress=False))
        ['test_000', 'test_001', 'train_000', 'train_001']
    """
    cfg = cfg or SceneDatasetConfig()
    out = Path(out)
    plan: list[tuple[str, str, str | None]] = []
    k = 0
    for split, normal, abnormal in (("train", cfg.train_normal, cfg.train_abnormal),
                                    ("test", cfg.test_normal, cfg.test_abnormal)):
        for i in range(normal + abnormal):
            kind = None
            if i % 2 == 1 and (i // 2) < abnormal or i // 2 >= normal:
                kind = KINDS[k % len(KINDS)]
                k += 1
            plan.append((split, f"{split}_{i:03d}", kind))
    videos: dict[str, SceneVideo] = {}
    for j, (_split, name, kind) in enumerate(tqdm(plan, desc="rendering scenes", unit="video",
                                                 disable=not progress)):
        gt, frames = render_scene(name, cfg.seed * 100_003 + j, kind, cfg.seconds, cfg.fps,
                                  camera=cfg.seed * 1009 + _camera(j, cfg.cameras))
        with VideoWriter(out / "videos" / f"{name}.mp4", cfg.fps, crf=20,
                         reproducible=True) as w:   # same config → same files (writer.py)
            for frame in frames:
                w.write(frame)
        videos[name] = gt
    _write_ground_truth(out, videos, plan)
    return videos


def _camera(j: int, cameras: int) -> int:
    """Consecutive pairs (one normal, one abnormal in the plan) share a camera, so every camera
    has both labels and the camera says nothing about the label."""
    return (j // 2) % max(1, cameras)


def _write_ground_truth(out: Path, videos: dict[str, SceneVideo], plan: list) -> None:
    buf = io.StringIO()
    wr = csv.writer(buf)
    wr.writerow(["name", "label", "class"])
    for v in videos.values():
        wr.writerow([v.name, v.label, v.kind or "normal"])
    write_text(out / "labels.csv", buf.getvalue())
    atomic_write(out / "frame_labels.npz",
                 lambda p: np.savez_compressed(p, **{n: v.labels for n, v in videos.items()}))
    write_json(out / "boxes.json", {n: v.boxes for n, v in videos.items()})
    for split in ("train", "test"):
        write_text(out / f"{split}.txt", "".join(f"{n}\n" for s, n, _ in plan if s == split))
    write_json(out / "scenes.json", {
        n: {"seed": v.seed, "camera": v.camera, "kind": v.kind, "frames": v.frames, "fps": v.fps,
            "abnormal_frames": int(v.labels.sum())} for n, v in videos.items()})
