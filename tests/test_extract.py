"""Extraction on real UCSD Ped2 video: store layout, contract, determinism, resume, bad input,
and the store as training data."""

import json
import shutil

import numpy as np
import pytest
from conftest import shared

from wsvad.cli import main
from wsvad.data import load_dataset
from wsvad.features import extract


@pytest.fixture(scope="module")
def ped2_store(tmp_path_factory):
    videos = shared("ucsd_ped2", "videos")
    d = tmp_path_factory.mktemp("ped2")
    (d / "in").mkdir()
    for name in ("Test001", "Train001"):  # 180 + 120 frames
        shutil.copy(videos / f"{name}.mp4", d / "in")
    rep = extract(d / "in", d / "store", progress=False)
    assert rep.written == ["Test001", "Train001"] and not rep.failed
    return d


def test_store_layout_shapes_and_contract(ped2_store):
    store = ped2_store / "store"
    man = json.loads((store / "manifest.json").read_text())
    c = man["contract"]
    assert (c["backbone"], c["dim"], c["crops"], c["clip_frames"]) == \
        ("effnet-lite0+motion", 1488, 1, 16)
    v = man["videos"]["Test001"]
    assert (v["frames"], v["snippets"], v["fps"], v["width"], v["height"]) == \
        (180, 12, 10.0, 360, 240)
    f = np.load(store / "features" / "Test001.npy")
    assert f.shape == (12, 1, 1488) and np.isfinite(f).all()
    assert np.load(store / "motion" / "Test001.npy").shape == (12,)
    # the motion descriptor stream is the features' motion part (the last 208 dims)
    np.testing.assert_array_equal(np.load(store / "motion_desc" / "Test001.npy"), f[:, 0, 1280:])
    assert [p for p in c["streams"] if p["name"] == "features"][0]["parts"] == \
        [["appearance", 1280], ["motion", 208]]
    assert c["view"] == "full"
    ctx = np.load(store / "context" / "Test001.npy")
    assert ctx.shape == (12, 1000) and np.allclose(ctx.sum(1), 1, atol=1e-4)
    assert np.load(store / "features" / "Train001.npy").shape == (8, 1, 1488)  # 120 / 16 → 8


def test_same_video_twice_gives_identical_features(ped2_store, tmp_path):
    shutil.copy(ped2_store / "in" / "Train001.mp4", tmp_path / "Again.mp4")
    extract(tmp_path / "Again.mp4", tmp_path / "s", progress=False)
    np.testing.assert_array_equal(np.load(tmp_path / "s" / "features" / "Again.npy"),
                                  np.load(ped2_store / "store" / "features" / "Train001.npy"))


def test_extract_gives_the_caller_its_torch_threads_back(ped2_store, tmp_path):
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        extract(ped2_store / "in" / "Train001.mp4", tmp_path / "s", backbone="motion",
                threads=1, progress=False)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_resume_skips_and_broken_video_is_reported(ped2_store, tmp_path, capsys):
    store = tmp_path / "store"
    shutil.copytree(ped2_store / "store", store)
    d = tmp_path / "in"
    shutil.copytree(ped2_store / "in", d)
    (d / "Broken.mp4").write_bytes(b"\x00\x00\x00 not a video")
    code = main(["extract", str(d), "--out", str(store)])
    out = capsys.readouterr()
    assert code == 1 and "0 written, 2 already done, 1 failed" in out.out
    assert "Broken" in out.err
    assert set(json.loads((store / "manifest.json").read_text())["videos"]) == \
        {"Test001", "Train001"}


def test_store_with_other_contract_is_refused(ped2_store, tmp_path, capsys):
    store = tmp_path / "store"
    shutil.copytree(ped2_store / "store", store)
    assert main(["extract", str(ped2_store / "in"), "--out", str(store),
                 "--backbone", "motion"]) == 2
    err = capsys.readouterr().err
    assert "dim: existing store" in err and "Extract into a new folder (--out)" in err


def test_store_is_a_dataset_and_trains(ped2_store, tmp_path):
    store = ped2_store / "store"
    (tmp_path / "train.txt").write_text("Test001\nTrain001\n")
    (tmp_path / "test.txt").write_text("Test001\nTrain001\n")
    (tmp_path / "labels.csv").write_text("Test001,1\nTrain001,0\n")
    labels = np.load(shared("ucsd_ped2", "frame_labels.npz"))
    np.savez(tmp_path / "gt.npz", Test001=labels["Test001"], Train001=labels["Train001"])
    (tmp_path / "spec.yaml").write_text(
        f"format: store\nfeature_dir: {store}\ntrain_list: train.txt\ntest_list: test.txt\n"
        "labels: labels.csv\ngt: gt.npz\n")
    ds = load_dataset(tmp_path / "spec.yaml")
    assert ds.contract.backbone == "effnet-lite0+motion" and len(ds.frame_labels["Test001"]) == 180
    assert main(["train", "--method", "mil", "--data", str(tmp_path / "spec.yaml"), "--out",
                 str(tmp_path / "run"), "--iterations", "3", "--val-fraction", "0",
                 "--set", "batch_size=1"]) == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["test_frames"] == 180 + 120  # every real frame scored, partial snippet included


def test_maps_and_patch_streams(ped2_store):
    from wsvad.backbones import VideoEncoder
    enc = VideoEncoder("effnet-lite0", maps=True, patches=((2, 3),))
    out = enc.encode(ped2_store / "in" / "Train001.mp4")
    assert out.streams["features"].shape == (8, 1, 1280)
    assert out.streams["maps"].shape == (8, 7, 7, 1280)
    assert out.streams["maps"].dtype == np.float16
    assert out.streams["patches_2x3"].shape == (8, 6, 1280)
    c = enc.contract()
    assert c.stream_names == ("features", "motion", "context", "maps", "patches_2x3")
    assert c.stream("patches_2x3").grid == (2, 3) and c.stream("maps").shape == (7, 7, 1280)
    # what the encoder writes is what the contract says, and what a method will read
    for spec in c.streams:
        assert tuple(out.streams[spec.name].shape[1:]) == spec.shape, spec.name
        assert out.streams[spec.name].dtype == np.dtype(spec.dtype), spec.name
    # pooled features are the spatial mean of the maps
    np.testing.assert_allclose(out.streams["maps"].astype(np.float32).mean((1, 2)),
                               out.streams["features"][:, 0], atol=2e-2)


def test_motion_grid_stream_is_the_descriptor_cells_made_finer(ped2_store):
    """motion_grid: 12×12 cells of the flow bins and 4 magnitude percentiles. Each 4×4 cell of
    the descriptor is exactly 3×3 fine cells, so their pixel-weighted bins are the coarse
    cell's; it comes with every spatial stream, and only with motion."""
    from wsvad.backbones import VideoEncoder
    from wsvad.errors import ConfigError
    from wsvad.methods.motion_grid import motion_cells
    enc = VideoEncoder("motion", motion_grid=True)
    out = enc.encode(ped2_store / "in" / "Train001.mp4")
    grid = out.streams["motion_grid"]
    assert grid.shape == (8, 12, 12, 16) and grid.dtype == np.float16
    spec = enc.contract().stream("motion_grid")
    assert spec.grid == (12, 12) and spec.method == "g12o8m4q4"
    h = 160                                      # the flow's rows (Ped2 240 → 160 px)
    rows = np.bincount(np.arange(h) * 12 // h, minlength=12).astype(float)   # 13 or 14 each
    weight = np.outer(rows, np.ones(12)).reshape(4, 3, 4, 3)
    fine = grid.astype(np.float64)[..., :12].reshape(8, 4, 3, 4, 3, 12)
    pooled = (fine * weight[None, ..., None]).sum((2, 4)) / weight.sum((1, 3))[None, ..., None]
    coarse = motion_cells(out.streams["motion_desc"].astype(np.float64))   # [8, 4, 4, 12]
    np.testing.assert_allclose(pooled, coarse, atol=2e-3)
    q = grid[..., 12:].astype(np.float32)                 # p50 ≤ p90 ≤ p99 ≤ p99.9 per cell
    assert (np.diff(q, axis=-1) >= -1e-3).all() and q.max() > 0
    names = VideoEncoder("effnet-lite0+motion", maps=True).contract().stream_names
    assert "motion_grid" in names and \
        "motion_grid" not in VideoEncoder("effnet-lite0+motion").contract().stream_names
    assert "motion_grid" not in VideoEncoder("effnet-lite0", maps=True).contract().stream_names
    with pytest.raises(ConfigError, match="needs a backbone with motion"):
        VideoEncoder("effnet-lite0", motion_grid=True)


def test_workers_shards_rtfm_layout_and_boxes(ped2_store, tmp_path):
    from wsvad.data.readers import RTFMSource
    out = tmp_path / "rtfm"
    rep = extract(ped2_store / "in", out, workers=2, layout="rtfm", boxes=True, progress=False)
    assert sorted(rep.written) == ["Test001", "Train001"]
    # two processes give the same features as one
    for name in rep.written:
        np.testing.assert_array_equal(np.load(out / f"{name}_i3d.npy"),
                                      np.load(ped2_store / "store" / "features" / f"{name}.npy"))
    assert RTFMSource(out).load("Test001").shape == (12, 1, 1488)
    boxes = np.load(out / "boxes" / "Test001.npy")
    assert boxes.ndim == 2 and boxes.shape[1] == 6 and len(boxes) > 50
    assert boxes[:, 0].max() < 180 and (boxes[:, 3] <= 360).all() and (boxes[:, 4] <= 240).all()
    shard = extract(ped2_store / "in", tmp_path / "s1", shard="1/2", progress=False)
    assert shard.written == ["Train001"]


def test_flow_baseline_finds_ped2_anomalies_that_appearance_norm_misses(ped2_store):
    """Real video: the training-free flow-percentile baseline, fitted on the normal Train001 only,
    separates Test001's abnormal frames (a cyclist and a cart) from the normal frames of both
    videos; the raw appearance norm does not (issue 15's finding, on two videos)."""
    from sklearn.metrics import roc_auc_score

    from wsvad import methods
    from wsvad.data import collate
    from wsvad.data.groundtruth import snippet_to_frame
    from wsvad.data.readers import StoreSource
    from wsvad.data.streams import load_streams
    src = StoreSource(ped2_store / "store")
    labels = np.load(shared("ucsd_ped2", "frame_labels.npz"))
    videos = {n: load_streams(src, n, ("features", "motion_desc"))
              for n in ("Test001", "Train001")}
    flow = methods.create("flow_percentile", 1488)
    flow.fit(lambda: iter([collate([videos["Train001"]], labels=[0.0])]))
    y, s_flow, s_app = [], [], []
    for n, v in videos.items():
        frames = len(labels[n])
        y.append(labels[n])
        s_flow.append(snippet_to_frame(flow.score_streams(v)[0], frames, 16))
        app = np.linalg.norm(v["features"][:, 0, :1280], axis=1)
        s_app.append(snippet_to_frame(app, frames, 16))
    y = np.concatenate(y)
    assert roc_auc_score(y, np.concatenate(s_flow)) > 0.93    # measured 0.966
    assert roc_auc_score(y, np.concatenate(s_app)) < 0.7      # measured 0.52


def test_asking_a_store_for_tubes_adds_them_and_a_tube_follows_the_ped2_anomaly(ped2_store,
                                                                                tmp_path):
    """Re-running extract with more streams re-extracts the videos with them (the contract
    names them once every video has them); a later job keeps the streams a store holds. On
    Test001 (a cyclist and a cart among pedestrians) one of the MOG2 tubes overlaps the
    annotated anomaly (Test001 has two abnormal objects, boxed together)."""
    from wsvad.data.groundtruth import read_boxes
    from wsvad.data.instances import tube_track
    from wsvad.errors import WsvadError
    from wsvad.evaluation.spatial import s_loc
    store = tmp_path / "store"
    shutil.copytree(ped2_store / "store", store)
    rep = extract(ped2_store / "in", store, tubes=True, progress=False)
    assert sorted(rep.written) == ["Test001", "Train001"] and not rep.skipped
    names = [s["name"] for s in json.loads((store / "manifest.json").read_text())
             ["contract"]["streams"]]
    assert {"boxes", "tubes", "tube_regions"} <= set(names)
    # a later job without --tubes keeps them (nothing to do here); the writer itself refuses
    # to drop streams a store holds
    assert extract(ped2_store / "in", store, progress=False).skipped == ["Test001", "Train001"]
    from wsvad.backbones.video_encoder import VideoEncoder
    from wsvad.features.store import FeatureStoreWriter
    with pytest.raises(WsvadError, match="holds streams boxes, tube_regions, tubes"):
        FeatureStoreWriter(store, VideoEncoder().contract())
    tubes = np.load(store / "tubes" / "Test001.npy")
    regions = np.load(store / "tube_regions" / "Test001.npy")
    assert regions.shape[1] == 2 + 1488 and set(regions[:, 0]) == set(tubes[:, 0])
    gt = read_boxes(shared("ucsd_ped2", "test_mask_boxes.json"))["Test001"]
    best = max(s_loc(gt, {int(r[0]): tuple(r[1:5])
                          for r in tube_track(tubes, k, (0, 10 ** 6))})
               for k in np.unique(tubes[:, 0]))
    assert best > 0.15, best           # a random tube: about 0.03 on Ped2
