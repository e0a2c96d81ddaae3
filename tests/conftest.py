import os
from pathlib import Path

import pytest

from wsvad.datasets import BenchmarkConfig, make_benchmark

# ``make test`` runs the suite in two pytest-xdist workers on a 2-core machine: each worker gets
# one torch / OpenCV thread, or the two fight over the cores (OpenMP threads spin-wait)
TORCH_THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2


def pytest_configure(config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import cv2
        import torch
        torch.set_num_threads(1)
        cv2.setNumThreads(1)


SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(*parts: str) -> Path:
    """A path in ../shared/data; the test is skipped with a reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not available: {p} (the shared data folder is absent)")
    return p


def write_store_spec(root: Path, videos: list[tuple[str, int, int]], snippets: int,
                     n_train: int) -> Path:
    """Lists, labels, frame labels and ``spec.yaml`` for a generated store in ``root/store``.

    ``videos``: ``(name, label, a)`` — an abnormal video's snippets ``[a, a + 4)`` (16 frames
    each) are its abnormal frames; the first ``n_train`` videos train, the rest test."""
    import numpy as np
    names = [v[0] for v in videos]
    gt = {}
    for name, y, a in videos[n_train:]:
        gt[name] = np.zeros(16 * snippets, np.uint8)
        gt[name][16 * a:16 * (a + 4)] = y
    (root / "train.txt").write_text("\n".join(names[:n_train]) + "\n")
    (root / "test.txt").write_text("\n".join(names[n_train:]) + "\n")
    (root / "labels.csv").write_text("name,label\n" + "".join(f"{n},{y}\n" for n, y, _ in
                                                               videos))
    np.savez(root / "gt.npz", **gt)
    (root / "spec.yaml").write_text("format: store\nfeature_dir: store\ntrain_list: train.txt\n"
                                    "test_list: test.txt\nlabels: labels.csv\ngt: gt.npz\n")
    return root / "spec.yaml"


def abnormal_heatmaps(model, spec: Path, streams: tuple[str, ...]):
    """``(name, heat maps [T, h, w])`` of each abnormal test video of ``spec``, scored by
    ``model`` on ``streams``."""
    from wsvad.data import load_dataset
    from wsvad.data.streams import load_streams
    ds = load_dataset(spec)
    for e in ds.test:
        if e.label:
            _, out, batch = model.score_streams(load_streams(ds.source, e.name, streams), e.name)
            yield e.name, model.localize(batch, out)[0].heatmaps


def scene_run(root: Path, scenes: Path, method: str, **extract_kw):
    """The shared plaza rendering ``scenes`` (the :func:`plaza_scenes` fixture, linked as
    ``root / "scenes"``) → a store with ``extract_kw`` → the demo's spec → ``method`` trained
    20 steps; returns the training result (the run is in ``root / "run"``)."""
    from wsvad.demo import SPEC
    from wsvad.features import extract
    from wsvad.training import train
    (root / "scenes").symlink_to(scenes, target_is_directory=True)
    rep = extract(root / "scenes" / "videos", root / "store", progress=False, **extract_kw)
    assert not rep.failed, rep.failed
    (root / "spec.yaml").write_text(SPEC)
    return train(root / "spec.yaml", method, root / "run", {"iterations": 20},
                 val_fraction=0.25, progress=False)


@pytest.fixture(scope="session")
def plaza_scenes(tmp_path_factory) -> Path:
    """Generated plaza scenes rendered once for every end-to-end test: 4 + 4 training and
    2 + 2 test videos of 3 s from 2 cameras. Tests read them and never write there."""
    from wsvad.datasets.scenes import SceneDatasetConfig, make_scene_dataset
    root = tmp_path_factory.mktemp("plaza") / "scenes"
    make_scene_dataset(root, SceneDatasetConfig(4, 4, 2, 2, seconds=3.0, cameras=2),
                       progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory) -> Path:
    """A small generated benchmark (fast to train on)."""
    cfg = BenchmarkConfig(train_normal=16, train_abnormal=16, test_normal=8, test_abnormal=8,
                          dim=32, crops=2, min_snippets=20, max_snippets=40, seed=3)
    return make_benchmark(tmp_path_factory.mktemp("tiny"), cfg)


from wsvad.demo import SPEC as SCENE_SPEC  # noqa: E402  (the demo's own spec)


@pytest.fixture(scope="session")
def scene_runs(tmp_path_factory, plaza_scenes) -> Path:
    """Plaza videos → motion features → a MIL and an RTFM run (small and quick: the point is
    the plumbing from video to alerts, not accuracy)."""
    from wsvad.features import extract
    from wsvad.training import train
    root = tmp_path_factory.mktemp("scene_runs")
    (root / "scenes").symlink_to(plaza_scenes, target_is_directory=True)
    rep = extract(root / "scenes" / "videos", root / "store", backbone="motion", progress=False)
    assert not rep.failed
    (root / "spec.yaml").write_text(SCENE_SPEC)
    train(root / "spec.yaml", "mil", root / "mil", {"iterations": 60}, val_fraction=0.25,
          progress=False)
    train(root / "spec.yaml", "rtfm", root / "rtfm", {"iterations": 20}, val_fraction=0.25,
          progress=False)
    return root
