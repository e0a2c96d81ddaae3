"""A new method is one module: toy methods that need an extra stream (motion; patches) get it
on every path — training bags, validation, test scoring, `wsvad score`, the Python API,
`detect` offline and streaming — with no change to the core."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from wsvad.cli import main
from wsvad.data import Batch
from wsvad.data.spec import DatasetSpec, FeatureDataset, VideoEntry
from wsvad.methods.base import _REGISTRY, Localization, Method, MethodConfig, Output, register
from wsvad.training import train

SEEN: list[tuple[str, tuple[int, ...]]] = []


@dataclass
class ToyConfig(MethodConfig):
    batch_size: int = 4
    iterations: int = 30


class ToyMotion(Method):
    """Score = σ(a · motion + b): it can only be right if the motion stream arrives."""

    name = "toy_motion"
    needs = ("features", "motion")
    Config = ToyConfig

    def __init__(self, dim, cfg, parts=()):
        super().__init__(dim, cfg, parts)
        self.a, self.b = nn.Parameter(torch.tensor(1.0)), nn.Parameter(torch.tensor(0.0))

    def forward(self, batch: Batch) -> Output:
        self.inputs(batch)                      # checks the features and that motion is there
        SEEN.append(("train" if self.training else "eval", tuple(batch.motion.shape)))
        return Output(scores=torch.sigmoid(self.a * batch.motion + self.b))

    def losses(self, batch: Batch, output: Output) -> dict[str, torch.Tensor]:
        top = output.scores.max(1).values
        return {"bce": nn.functional.binary_cross_entropy(top, batch.label)}


class ToyPatches(Method):
    """Score = σ(smooth max over tiles of a linear map of the 2×3 patches); localises: a heat
    map per snippet."""

    name = "toy_patches"
    needs = ("features", "patches")
    Config = ToyConfig

    def __init__(self, dim, cfg, parts=()):
        super().__init__(dim, cfg, parts)
        self.w = nn.Linear(8, 1)

    def forward(self, batch: Batch) -> Output:
        self.inputs(batch)
        tiles = self.w(batch.patches["2x3"]).squeeze(-1)              # [B, T, 6]
        pooled = torch.logsumexp(tiles, -1) - np.log(6)                # a smooth max
        return Output(scores=torch.sigmoid(pooled), extras={"tiles": tiles})

    def losses(self, batch, output):
        top = output.scores.max(1).values
        return {"bce": nn.functional.binary_cross_entropy(top, batch.label)}

    def localize(self, batch, output):
        heat = torch.sigmoid(output.extras["tiles"]).view(*output.scores.shape, 2, 3)
        return [Localization(heatmaps=h.numpy()) for h in heat]


@pytest.fixture(scope="module", autouse=True)
def toys():
    for cls in (ToyMotion, ToyPatches):
        register(cls)
    yield
    for cls in (ToyMotion, ToyPatches):
        _REGISTRY.pop(cls.name)


def test_toy_motion_gets_its_stream_everywhere(scene_runs, tmp_path, capsys):
    SEEN.clear()
    run = tmp_path / "toy"
    res = train(scene_runs / "spec.yaml", "toy_motion", run, val_fraction=0.25, progress=False)
    kinds = {k for k, _ in SEEN}
    assert "train" in kinds and "eval" in kinds
    assert ("train", (4, 32)) in SEEN[:2] or SEEN[0][1][1] == 32   # bags: T = 32 segments
    assert any(k == "eval" and shape[1] != 32 for k, shape in SEEN)  # test: full length
    assert res.metrics["test_videos"] == 4
    from wsvad.training.checkpoint import load_checkpoint
    model = load_checkpoint(run / "model")[0]
    a, b = model.a.item(), model.b.item()
    motion = np.load(scene_runs / "store" / "motion" / "test_001.npy")
    expect = 1 / (1 + np.exp(-(a * motion + b)))
    # wsvad score with the extra stream
    feats = scene_runs / "store" / "features" / "test_001.npy"
    assert main(["score", "--run", str(run), "--features", str(feats)]) == 2
    assert "--stream NAME=FILE" in capsys.readouterr().err
    assert main(["score", "--run", str(run), "--features", str(feats), "--stream",
                 f"motion={scene_runs / 'store' / 'motion' / 'test_001.npy'}"]) == 0
    got = [float(r.split(",")[1]) for r in capsys.readouterr().out.splitlines()[2:]]
    np.testing.assert_allclose(got, expect, atol=1e-4)
    # the Python API and detect, offline and streaming
    from wsvad.detect.detector import Detector
    det = Detector.load(run, threshold=0.5)
    np.testing.assert_allclose(det.decision_function({"features": np.load(feats),
                                                      "motion": motion}), expect, atol=1e-6)
    video = scene_runs / "scenes" / "videos" / "test_001.mp4"
    off = det.score_video(video)
    np.testing.assert_allclose(off.snippet_scores, expect, atol=1e-5)
    streamed = np.concatenate([s.scores[:1] for s in det.stream(str(video)) if s.frames])
    np.testing.assert_allclose(streamed, expect, atol=1e-5)


def _memory_dataset(tmp_path, grids=((2, 3),)):
    """8 training + 4 test videos in memory: features, motion and patches; abnormal videos
    have one tile (index 4) with a large first dimension in snippets 3–5."""
    from wsvad.data.readers import MemorySource
    rng = np.random.default_rng(0)
    arrays, train_v, test_v, labels = {}, [], [], {}
    for i in range(12):
        name, abn = f"v{i}", i % 2
        p = 0.3 * rng.normal(size=(10, 6, 8)).astype(np.float32)
        if abn:
            p[3:6, 4, 0] += 3.0
        arrays[name] = {"features": rng.normal(size=(10, 1, 4)).astype(np.float32),
                        "patches_2x3": p, "motion": rng.random(10).astype(np.float32)}
        (train_v if i < 8 else test_v).append(VideoEntry(name, abn))
        lab = np.zeros(160, np.uint8)
        if abn:
            lab[48:96] = 1
        labels[name] = lab
    spec = DatasetSpec(format="store", feature_dir=tmp_path, name="toy")
    return FeatureDataset(spec, MemorySource(arrays), train_v, test_v, labels,
                          MemorySource(arrays).contract("v0"))


def test_a_method_that_needs_patches_is_one_module(tmp_path):
    ds = _memory_dataset(tmp_path)
    res = train(ds, "toy_patches", tmp_path / "run", {"iterations": 60, "lr": 0.05},
                val_fraction=0.25, progress=False)
    assert res.metrics["frame_auc"] > 0.9, res.metrics
    from wsvad.training.checkpoint import load_checkpoint
    model = load_checkpoint(tmp_path / "run" / "model")[0]
    from wsvad.training.scoring import score_videos
    sc = score_videos(model, ds, ["v9"], localize=True, progress=False)
    heat = sc.localization["v9"].heatmaps
    assert heat.shape == (10, 2, 3)
    assert np.unravel_index(heat[4].argmax(), (2, 3)) == (1, 1)   # tile 4 of the 2×3 grid


def test_a_dataset_without_the_stream_says_how_to_get_it(tiny_bench, tmp_path, capsys):
    assert main(["train", "--method", "toy_patches", "--data", str(tiny_bench), "--out",
                 str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "stream 'patches' is not in" in err and "--patches" in err
