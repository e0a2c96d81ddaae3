"""WSSTAD: tube streams from video, instances, the model's pieces by hand, and learning which
tube is abnormal on data where the answer is known."""

import json

import numpy as np
import pytest
import torch
from conftest import TORCH_THREADS, scene_run, shared, write_store_spec

from wsvad.backbones.tube_regions import build_tubes, crop_window
from wsvad.backbones.video_encoder import VideoEncoder
from wsvad.contract import FeatureContract, StreamSpec
from wsvad.data import collate
from wsvad.data.instances import tube_instances
from wsvad.errors import ConfigError, ContractMismatch, DataError
from wsvad.evaluation.spatial import candidate_bounds
from wsvad.features.store import EncodedVideo, FeatureStoreWriter
from wsvad.methods import Output
from wsvad.methods.wsstad import WSSTAD, RelationModule, WSSTADConfig
from wsvad.training.trainer import train
from wsvad.video.writer import VideoWriter


def _square_video(path, n=80, fps=10):
    """A grey background (64×96); from frame 32 on (once MOG2's background has settled: early
    on it learns fast and would absorb a slow object) a white 20×20 square moving right 1 px a
    frame."""
    with VideoWriter(path, fps) as w:
        for f in range(n):
            frame = np.full((64, 96, 3), 90, np.uint8)
            if f >= 32:
                frame[20:40, f - 28:f - 8] = 255
            w.write(frame)
    return path


def test_extracted_tube_follows_the_object_and_its_crop_features_are_the_extractors(tmp_path):
    enc = VideoEncoder("motion", tubes=True)
    out = enc.encode(_square_video(tmp_path / "sq.mp4"))
    tubes, regions = out.streams["tubes"], out.streams["tube_regions"]
    assert tubes.shape[1] == 8 and regions.shape[1] == 2 + enc.dim
    assert {s.name for s in enc.contract().streams} >= {"boxes", "tubes", "tube_regions"}
    first = tubes[tubes[:, 0] == 0]
    assert len(first) >= 33                        # ζ1 = 100 frames at 30 fps → 33 at 10 fps
    centre_x = (first[:, 3] + first[:, 5]) / 2
    np.testing.assert_allclose(centre_x, first[:, 1] - 18, atol=3)     # the square's centre
    assert (first[:, 2] == first[:, 1] // 16).all()                     # snippet of each frame
    # one region row per (tube, snippet it spans), equal to the extractor on that crop
    assert sorted(regions[regions[:, 0] == 0, 1]) == sorted(set(first[:, 2]))
    s = int(first[-1, 2])
    clip = np.stack([f for f, _ in __import__("wsvad.video.decode", fromlist=["x"])
                     .iter_frames(tmp_path / "sq.mp4")][16 * s:16 * s + 16])
    x1, y1, x2, y2 = crop_window(first[first[:, 2] == s], 96, 64)
    want = enc.region_features([clip[:, y1:y2, x1:x2]], 64)[0]
    got = regions[(regions[:, 0] == 0) & (regions[:, 1] == s), 2:][0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_crop_flow_is_in_whole_frame_units_whatever_the_crop_size():
    """A textured 20×20 square moving 2 px a frame in a 192×128 frame: the whole-frame flow is
    measured at short side 160, i.e. 2 × 160 / 128 = 2.5 units a frame. Crops of short side 30,
    70 and 128 px are each resized to 64 px for DIS; their descriptors' top flow percentile
    (stored ÷ 4) must read 2.5 for all three — in the crops' own pixels it read 4.3, 1.8, 1.0."""
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
    clip = np.full((17, 128, 192, 3), 90, np.uint8)
    for f in range(17):
        clip[f, 50:70, 60 + 2 * f:80 + 2 * f] = tex
    enc = VideoEncoder("motion")
    for y1, y2, x1, x2 in ((45, 75, 55, 110), (30, 100, 40, 130), (0, 128, 0, 192)):
        top = enc.region_features([clip[:, y1:y2, x1:x2]], frame_short_side=128)[0, -1] * 4
        assert abs(top - 2.5) < 0.15, (y2 - y1, top)
    # stores made before record no method for tube_regions: read as the old crop-pixel units,
    # and a model made on one kind refuses the other
    old = StreamSpec.from_dict({"name": "tube_regions", "shape": None})
    assert old.method == "crop-px"
    assert enc.contract().stream("tube_regions") is None
    new = VideoEncoder("motion", tubes=True).contract()
    assert new.stream("tube_regions").method == "frame-px"
    legacy = FeatureContract.from_dict({**new.to_dict(), "streams": [
        s.to_dict() | ({"method": None} if s.name == "tube_regions" else {})
        for s in new.streams]})
    with pytest.raises(ContractMismatch, match="tube_regions.*crop-px"):
        legacy.check_compatible(new, "run", "data")


def test_build_tubes_rows_and_limit_by_hand():
    boxes = np.array([[f, 0, 0, 10, 10, 0.9] for f in range(40)] +
                     [[f, 50, 50, 60, 60, 0.5] for f in range(10, 50)], float)
    t = build_tubes(boxes, fps=30.0 / 3, n_snippets=4, stride=16)
    # two unary tubes (their multivariate copies dropped), the better-scoring first
    assert sorted(set(t[:, 0])) == [0, 1]
    a, b = t[t[:, 0] == 0], t[t[:, 0] == 1]
    assert a[0, 3:7].tolist() == [0, 0, 10, 10] and b[0, 3:7].tolist() == [50, 50, 60, 60]
    assert b[:, 2].tolist() == [f // 16 for f in range(10, 50)]
    assert set(build_tubes(boxes, 10.0, 4, 16, max_tubes=1)[:, 0]) == {0}   # same length: 1st
    assert build_tubes(np.zeros((0, 6)), 10.0, 4, 16).shape == (0, 8)


def test_instances_pool_crops_and_frames_and_fall_back_to_the_whole_frame():
    feats = np.arange(6.0)[:, None] * np.ones((1, 2))                  # [T=6, D=2]
    rows = np.array([[3, s, s * 10, 1] for s in (1, 2, 3, 4)], float)
    inst = tube_instances(rows, feats, pieces=2)
    assert inst.tube.tolist() == [3, 3] and inst.span.tolist() == [[1, 2], [3, 4]]
    assert inst.region.tolist() == [[15, 1], [35, 1]]
    assert inst.image.tolist() == [[1.5, 1.5], [3.5, 3.5]]
    none = tube_instances(np.zeros((0, 4)), feats)
    assert none.tube.tolist() == [-1] and none.span.tolist() == [[0, 5]]
    assert none.region.tolist() == none.image.tolist() == [[2.5, 2.5]]


def test_relation_module_with_one_instance_adds_its_value_projection():
    m = RelationModule(4, heads=2)
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    v = m.qkv.weight[8:]                                   # W^V of both heads, stacked
    want = x + x @ v.T                                     # softmax over one key is 1 (Eq. 1–3)
    torch.testing.assert_close(m(x, torch.ones(1, 1, dtype=torch.bool)), want)
    # padding never receives attention
    x2 = torch.cat([x, torch.full((1, 1, 4), 1e3)], 1)
    out = m(x2, torch.tensor([[True, False]]))
    torch.testing.assert_close(out[:, :1], want)


def test_without_the_relation_module_an_instance_is_scored_on_its_own():
    """Table 4's "w/o RMM": an instance's logit is the FC scorer of its feature alone — other
    instances of the video do not move it (the default); with the paper's module they do."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 8)
    crowd = torch.cat([x[:, :1], 10 * torch.randn(1, 2, 8)], 1)   # same first instance
    full = torch.ones(1, 3, dtype=torch.bool)
    for relation, moves in ((False, False), (True, True)):
        m = WSSTAD(8, WSSTADConfig(relation=relation, heads=2)).eval()
        a, b = m.tube.logits(x, full)[0, 0], m.tube.logits(crowd, full)[0, 0]
        assert (not torch.isclose(a, b)) == moves
        if not relation:
            assert m.tube.relation is None and m.temporal.relation is None
            torch.testing.assert_close(a, m.tube.scorer.net(x[0, :1])[0, 0])

def test_runs_saved_before_the_relation_switch_keep_the_module():
    """The default changed to relation=false; a model.json from before the key existed was
    trained with the module, so it is rebuilt with it (its weights then fit)."""
    assert WSSTADConfig().relation is False
    assert WSSTADConfig.stored({"heads": 8})["relation"] is True
    assert WSSTADConfig.stored({"relation": False})["relation"] is False


def test_mutually_guided_losses_by_hand():
    m = WSSTAD(8, WSSTADConfig())
    label = torch.tensor([0.0, 1.0])
    ones = torch.ones(2, 3, dtype=torch.bool)
    e = {"pv_videolet": torch.tensor([[0.1, 0.3, 0.2], [0.2, 0.6, 0.4]]),
         "pt_videolet": torch.tensor([[0.5, 0.5, 0.5], [0.1, 0.8, 0.3]]),
         "pt_tube": torch.tensor([[0.4, 0.2, 0.0], [0.7, 0.1, 0.0]]),
         "pv_tube": torch.tensor([[0.9, 0.9, 0.0], [0.25, 0.9, 0.0]]),
         "tube_mask": torch.tensor([[True, True, False], [True, True, False]])}
    from wsvad.data import Batch
    batch = Batch(torch.zeros(2, 1, 3, 8), label, mask=ones)
    t = m.losses(batch, Output(torch.zeros(2, 3), e))
    # temporal (Eq. 5): max videolets 0.6 (abnormal) and 0.3 (normal); weight p_t(V_m^a) = 0.8
    assert t["rank_temporal"].item() == pytest.approx(0.8 * (1 - 0.6 + 0.3))
    assert t["ce_temporal"].item() == pytest.approx(-(np.log(0.6) + np.log(1 - 0.3)))
    # tube (Eq. 4): max tubes 0.7 (abnormal, tube 0) and 0.4; weight p_v(T_m^{a,g}) = 0.25
    assert t["rank_tube"].item() == pytest.approx(0.25 * (1 - 0.7 + 0.4))
    assert t["ce_tube"].item() == pytest.approx(-(np.log(0.7) + np.log(1 - 0.4)))
    plain = WSSTAD(8, WSSTADConfig(guidance=False, ce=False)).losses(
        batch, Output(torch.zeros(2, 3), e))
    assert set(plain) == {"rank_temporal", "rank_tube"}
    assert plain["rank_tube"].item() == pytest.approx(1 - 0.7 + 0.4)


def test_each_half_step_moves_only_its_branch():
    torch.manual_seed(0)
    m = WSSTAD(8, WSSTADConfig())
    v = {"features": np.random.rand(6, 1, 8).astype(np.float32), "tubes": np.zeros((0, 8)),
         "tube_regions": np.array([[0, s, *np.random.rand(8)] for s in range(4)], np.float32)}
    batch = collate([v, v], [0, 1])
    for branch, other in (("temporal", m.tube), ("tube", m.temporal)):
        m.zero_grad(set_to_none=True)
        sum(m._branch_terms(batch, m(batch).extras, branch).values()).backward()
        assert all(p.grad is None for p in other.parameters()), branch
        assert any(p.grad is not None for p in getattr(m, branch).parameters()), branch
    before = {k: v.clone() for k, v in m.state_dict().items()}
    terms = m.train_step(batch, m.optimizer())
    assert set(terms) == {"rank_temporal", "ce_temporal", "rank_tube", "ce_tube"}
    moved = {k.split(".")[0] for k, v in m.state_dict().items() if not torch.equal(v, before[k])}
    assert moved == {"tube", "temporal"}


def test_saturated_branches_still_rank_the_tubes_by_their_logits():
    """A trained branch's logits reach 20–30, where float32 sigmoids are exactly 1.0: the top
    tube must still be the one the branches rate highest, not the first in instance order."""
    torch.manual_seed(0)
    m = WSSTAD(8, WSSTADConfig(pieces=1, relation=True)).eval()
    regions = np.array([[k, 0, *([float(k)] * 8)] for k in range(3)], np.float32)
    tubes = np.array([[k, 0, 0, 10 * k, 0, 10 * k + 5, 5, 0.9] for k in range(3)], float)
    v = {"features": np.zeros((2, 1, 8), np.float32), "tubes": tubes, "tube_regions": regions}
    batch = collate([v], [1])
    for branch in (m.tube, m.temporal):       # logit = 20 + 5 × the instance's mean feature
        last = branch.scorer.net[-1]
        with torch.no_grad():
            branch.relation.qkv.weight.zero_()
            for layer in branch.scorer.net:
                if isinstance(layer, torch.nn.Linear):
                    layer.weight.zero_()
                    layer.bias.zero_()
            branch.scorer.net[0].weight[0].fill_(1.0 / 8)     # hidden unit 0 = the value
            branch.scorer.net[3].weight[0, 0] = 1.0
            last.weight[0, 0], last.bias[0] = 5.0, 20.0
    out = m.predict(batch)
    p32 = out.extras["pt_tube"][0]
    assert p32.dtype == torch.float32 and p32.tolist() == [1.0, 1.0, 1.0]    # float32 ties
    # Eq. 9 in float64: the tube branch sees the crops (k), the temporal branch the frames (0)
    tube = torch.sigmoid(torch.tensor([20.0, 25.0, 30.0], dtype=torch.float64))
    want = (tube + torch.sigmoid(torch.tensor(20.0, dtype=torch.float64))) / 2
    torch.testing.assert_close(out.extras["tube_score"][0], want, rtol=0, atol=1e-15)
    ranked = m.localize(batch, out)[0].tubes
    assert [t.boxes[0, 1] for t in ranked] == [20.0, 10.0, 0.0]        # tube 2, then 1, then 0
    assert m.video_score(out).item() == pytest.approx(want[2].item(), abs=1e-15)


def test_candidate_bounds_by_hand():
    out = candidate_bounds([[0.05, 0.25, 0.5], []])
    assert out["random_iou@0.2"] == pytest.approx((2 / 3 + 0) / 2)
    assert out["upper_iou@0.3"] == 0.5 and out["upper_mean_iou"] == pytest.approx(0.25)


def _tube_store(root, n_train=48, n_test=24, t=12, d=16, seed=0):
    """Every video has 3 objects, each a tube over 6 snippets at its own place (boxes of 20 px
    on a 240 × 160 frame). In an abnormal video one object (a random one) is abnormal: its
    crops carry +3 on the first quarter of the dims, and the whole frames over its snippets
    +1 there. Ground truth: that object's boxes and snippets."""
    rng = np.random.default_rng(seed)
    contract = FeatureContract(dim=d, crops=1, streams=(
        StreamSpec("features", (1, d)), StreamSpec("tubes", None),
        StreamSpec("tube_regions", None)))
    w = FeatureStoreWriter(root / "store", contract)
    videos, boxes = [], {}
    for i in range(n_train + n_test):
        name, y = f"v{i:03d}", int(i % 2)
        feats = rng.normal(size=(t, 1, d)).astype(np.float32)
        odd = int(rng.integers(0, 3)) if y else -1
        tubes, regions = [], []
        for k in range(3):
            start = int(rng.integers(0, t - 6))
            x = 70 * k + 10
            for s in range(start, start + 6):
                crop = rng.normal(size=d)
                if k == odd:
                    crop[:d // 4] += 3.0
                    feats[s, 0, :d // 4] += 1.0
                regions.append([k, s, *crop])
                tubes += [[k, f, s, x, 50, x + 20, 70, 0.9] for f in range(16 * s, 16 * s + 16)]
            if k == odd:
                a, gt = start, {f: [[x, 50, x + 20, 70]] for f in range(16 * start,
                                                                     16 * start + 96)}
        w.write(name, EncodedVideo({"features": feats, "tubes": np.array(tubes, np.float32),
                                    "tube_regions": np.array(regions, np.float32)},
                                   frames=16 * t, fps=25.0, snippets=t))
        videos.append((name, y, a if y else 0))
        if y and i >= n_train:
            boxes[name] = [[f, *b[0]] for f, b in gt.items()]
    w.finalize()
    spec = write_store_spec(root, videos, t, n_train)
    # the abnormal snippets are the odd object's 6 (write_store_spec marks 4)
    gt_frames = dict(np.load(root / "gt.npz"))
    for name, y, a in videos[n_train:]:
        gt_frames[name][16 * a:16 * (a + 6)] = y
    np.savez(root / "gt.npz", **gt_frames)
    (root / "boxes.json").write_text(json.dumps(boxes))
    spec.write_text(spec.read_text() + "boxes: boxes.json\n")
    return spec


@pytest.mark.parametrize("relation", [False, True], ids=["default", "relation_module"])
def test_wsstad_learns_which_tube_when_and_where(tmp_path, relation):
    spec = _tube_store(tmp_path)
    torch.set_num_threads(TORCH_THREADS)
    res = train(spec, "wsstad", tmp_path / "run", {"iterations": 150, "relation": relation},
                seed=0, val_every=25, patience=None, progress=False)
    m = res.metrics
    assert m["tube_video_auc"] > 0.95, m
    assert m["frame_auc"] > 0.85, m
    # whole tubes (pieces = 1): the odd object's tube is its ground truth exactly → S_loc 1
    assert m["iou@0.3"] > 0.9 and m["upper_mean_iou"] == pytest.approx(1.0), m
    assert m["random_iou@0.3"] < 0.4 and m["mean_iou"] > 1.5 * m["random_mean_iou"], m
    assert m["tube_false_alarm_rate"] < 0.5, m


def test_tubes_from_the_users_detections_and_clear_errors(tmp_path):
    video = _square_video(tmp_path / "sq.mp4")
    det = tmp_path / "det"
    det.mkdir()
    rows = [f"{f},{f - 28},20,{f - 8},40,0.9,box" for f in range(32, 80)]
    (det / "sq.csv").write_text("frame,x1,y1,x2,y2,score,class\n" + "\n".join(rows) + "\n")
    enc = VideoEncoder("motion", tubes=True, detections=det)
    assert [s.method for s in enc.contract().streams if s.name == "boxes"] == ["file"]
    out = enc.encode(video)
    np.testing.assert_array_equal(out.streams["boxes"][:, 0], np.arange(32, 80))
    tube = out.streams["tubes"][out.streams["tubes"][:, 0] == 0]
    np.testing.assert_array_equal(tube[:, 3], tube[:, 1] - 28)           # the given boxes
    (det / "sq.csv").rename(det / "other.csv")
    with pytest.raises(DataError, match=r"no detections for video 'sq'.*sq.csv or sq.json"):
        enc.encode(video)
    with pytest.raises(ConfigError, match="not a folder"):
        VideoEncoder("motion", tubes=True, detections=tmp_path / "nope")
    with pytest.raises(ConfigError, match="box detector 'yolo' unknown"):
        VideoEncoder("motion", tubes=True, detector="yolo")


def test_hog_people_detector_boxes_on_ped2_and_a_clear_error_without_it(monkeypatch):
    from wsvad.backbones import boxes as B
    from wsvad.video.decode import iter_frames
    frame = next(iter(iter_frames(shared("ucsd_ped2", "videos", "Test004.mp4"))))[0]
    found = B.PeopleDetector().detect(frame)
    assert found and all(0 <= b.x1 < b.x2 <= 360 and 0 <= b.y1 < b.y2 <= 240 and
                         0.5 < b.score < 1 for b in found)
    assert all(b.y2 - b.y1 > b.x2 - b.x1 for b in found)                 # upright windows
    monkeypatch.delattr(B.cv2, "HOGDescriptor")
    with pytest.raises(ConfigError, match="no HOG people detector"):
        B.PeopleDetector()


def test_detect_draws_and_reports_the_top_tube(tmp_path, plaza_scenes):
    """Video → boxes → tubes → a wsstad run → detect: the top tube is in localization.json,
    each alert carries its box track, and the overlay is written."""
    from wsvad.detect.job import detect
    res = scene_run(tmp_path, plaza_scenes, "wsstad", backbone="motion", tubes=True)
    assert "tube_video_auc" in res.metrics and "upper_mean_iou" in res.metrics
    video = next(p for p in sorted((tmp_path / "scenes" / "videos").glob("test_*.mp4"))
                 if len(np.load(tmp_path / "store" / "tubes" / f"{p.stem}.npy")))
    detect(tmp_path / "run", video, tmp_path / "det", threshold=0.0, progress=False)
    out = tmp_path / "det" / video.stem
    loc = json.loads((out / "localization.json").read_text())
    top = loc["tubes"][0]
    assert top["boxes"] and top["score"] >= max(t["score"] for t in loc["tubes"])
    events = json.loads((out / "events.json").read_text())["events"]
    track = [r for e in events for r in e["where"]["box_track"]]
    assert track and {r[0] for r in track} <= {r[0] for r in top["boxes"]}
    assert (out / "overlay.mp4").stat().st_size > 0
