"""A generated weakly-labelled feature benchmark in the RTFM layout, where the answer is known.

Each video belongs to a scene (a base feature vector) and drifts with AR(1) temporal noise.
Abnormal videos carry one contiguous anomaly: a shift along a hidden class direction. Every
video — normal ones too — may also carry an ordinary *burst*: a span whose features are scaled
up, so a large feature magnitude alone does not mean "abnormal" (the trap that makes a method
learn the anomaly directions instead of raw magnitude). Files written:

``features/<name>_i3d.npy`` ``[T, crops, D]``; ``train.list`` / ``test.list`` (abnormal first, with
the kind of absolute paths the published lists hold); ``gt.npy`` (frame labels, test-list order,
padded to whole snippets like RTFM's); ``labels.csv`` (name,label,class); ``spec.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from wsvad.data.groundtruth import rtfm_pad
from wsvad.fileio import atomic_write, write_text


@dataclass
class BenchmarkConfig:
    """Sizes and difficulty of the generated benchmark (defaults: a CPU-minute scale)."""

    train_normal: int = 60
    train_abnormal: int = 60
    test_normal: int = 40
    test_abnormal: int = 40
    dim: int = 256
    crops: int = 2
    min_snippets: int = 40
    max_snippets: int = 120
    scenes: int = 4
    classes: int = 3
    noise: float = 0.5           # per-dimension AR(1) noise std
    rho: float = 0.8             # AR(1) correlation between neighbouring snippets
    anomaly_strength: tuple[float, float] = (2.0, 4.0)   # shift along the class direction
    anomaly_fraction: tuple[float, float] = (0.1, 0.4)   # anomaly length / video length
    burst_probability: float = 0.5
    burst_scale: float = 1.6
    clip: int = 16
    seed: int = 0


def generate_video(rng: np.random.Generator, cfg: BenchmarkConfig, scene: np.ndarray,
                   direction: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """One video: features ``[T, crops, D]`` and snippet labels ``[T]``."""
    t = int(rng.integers(cfg.min_snippets, cfg.max_snippets + 1))
    noise = np.empty((t, cfg.dim), np.float32)
    noise[0] = rng.normal(0, cfg.noise, cfg.dim)
    innov = cfg.noise * np.sqrt(1 - cfg.rho ** 2)
    for i in range(1, t):
        noise[i] = cfg.rho * noise[i - 1] + rng.normal(0, innov, cfg.dim)
    x = scene[None] + noise
    labels = np.zeros(t, np.uint8)
    if direction is not None:
        length = max(1, int(t * rng.uniform(*cfg.anomaly_fraction)))
        start = int(rng.integers(0, t - length + 1))
        x[start:start + length] += rng.uniform(*cfg.anomaly_strength) * direction
        labels[start:start + length] = 1
    if rng.random() < cfg.burst_probability:
        length = max(1, int(t * rng.uniform(0.05, 0.2)))
        start = int(rng.integers(0, t - length + 1))
        x[start:start + length] *= cfg.burst_scale
    crops = x[:, None] + rng.normal(0, 0.1 * cfg.noise, (t, cfg.crops, cfg.dim))
    return np.maximum(crops, 0).astype(np.float32), labels  # I3D features are post-ReLU


def make_benchmark(out_dir: str | Path, cfg: BenchmarkConfig | None = None) -> Path:
    """Write the benchmark into ``out_dir`` and return the path of its ``spec.yaml``.

    Example:
        >>> import tempfile
        >>> spec = make_benchmark(tempfile.mkdtemp(), BenchmarkConfig(train_normal=2,
        ...     train_abnormal=2, test_normal=1, test_abnormal=1, dim=8))
        >>> spec.name
        'spec.yaml'
    """
    cfg = cfg or BenchmarkConfig()
    out = Path(out_dir)
    (out / "features").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    scenes = np.abs(rng.normal(0, 1, (cfg.scenes, cfg.dim))).astype(np.float32)
    dirs = rng.normal(0, 1, (cfg.classes, cfg.dim))
    dirs = (dirs / np.linalg.norm(dirs, axis=1, keepdims=True)).astype(np.float32)
    rows, gts = [], []
    lists: dict[str, list[str]] = {"train": [], "test": []}
    plan = [("train", 1, cfg.train_abnormal), ("train", 0, cfg.train_normal),
            ("test", 1, cfg.test_abnormal), ("test", 0, cfg.test_normal)]
    for split, label, count in plan:
        for i in range(count):
            cls = int(rng.integers(cfg.classes)) if label else -1
            name = f"{split}_{'anom' if label else 'norm'}{i:04d}"
            scene = scenes[rng.integers(cfg.scenes)]
            feats, snippet_labels = generate_video(rng, cfg, scene, dirs[cls] if label else None)
            atomic_write(out / "features" / f"{name}_i3d.npy", lambda p, f=feats: np.save(p, f))
            lists[split].append(f"/data/authors/SYN_{split}_i3d/{name}_i3d.npy")
            rows.append(f"{name},{label},{f'class{cls}' if label else 'Normal'}")
            if split == "test":
                frames = np.repeat(snippet_labels, cfg.clip)
                n_frames = len(frames) - int(rng.integers(0, cfg.clip))  # a last partial snippet
                gts.append(rtfm_pad(frames[:n_frames], cfg.clip, len(snippet_labels)))
    for split, paths in lists.items():
        write_text(out / f"{split}.list", "\n".join(paths) + "\n")
    atomic_write(out / "gt.npy", lambda p: np.save(p, np.concatenate(gts).astype(np.float64)))
    write_text(out / "labels.csv", "name,label,class\n" + "\n".join(rows) + "\n")
    spec = {"name": "synthetic", "format": "rtfm", "feature_dir": "features",
            "train_list": "train.list", "test_list": "test.list", "labels": "labels.csv",
            "gt": "gt.npy", "snippet_frames": cfg.clip}
    return write_text(out / "spec.yaml", yaml.safe_dump(spec, sort_keys=False))


def make_segments(n_videos: int, segments: int, crops: int, dim: int, abnormal_fraction: float,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """In-memory training bags ``[N, C, T, D]`` + labels at any scale (for benchmarks), drawn
    like :func:`make_benchmark`'s videos but without files."""
    cfg = BenchmarkConfig(dim=dim, crops=crops, min_snippets=segments, max_snippets=segments,
                          seed=seed)
    rng = np.random.default_rng(seed)
    scenes = np.abs(rng.normal(0, 1, (cfg.scenes, dim))).astype(np.float32)
    dirs = rng.normal(0, 1, (cfg.classes, dim)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    labels = (np.arange(n_videos) < int(n_videos * abnormal_fraction)).astype(int)
    out = np.empty((n_videos, crops, segments, dim), np.float32)
    for i, y in enumerate(labels):
        feats, _ = generate_video(rng, cfg, scenes[rng.integers(cfg.scenes)],
                                  dirs[rng.integers(cfg.classes)] if y else None)
        out[i] = feats.transpose(1, 0, 2)
    return out, labels
