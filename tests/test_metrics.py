import numpy as np
import pytest

from wsvad.evaluation import metrics as M

# Two videos: "a" abnormal (frames 2, 3 labelled), "b" normal.
S = {"a": np.array([0.1, 0.4, 0.35, 0.8]), "b": np.array([0.2, 0.5, 0.0, 0.3])}
Y = {"a": np.array([0, 0, 1, 1]), "b": np.array([0, 0, 0, 0])}


def test_frame_auc_hand_computed():
    # positives 0.35, 0.8; negatives 0.1 0.4 0.2 0.5 0.0 0.3.
    # 0.8 beats all 6; 0.35 beats 0.1 0.2 0.0 0.3 = 4 → (6 + 4) / 12
    assert M.frame_auc(S, Y) == pytest.approx(10 / 12)


def test_ap_sklearn_and_trapezoid_hand_computed():
    # ranking: .8(+) .5 .4 .35(+) .3 .2 .1 .0 → precision at hits: 1/1, 2/4 → AP = (1 + .5) / 2
    assert M.frame_ap(S, Y) == pytest.approx(0.75)
    # PR curve points (recall, precision) as sklearn returns them, cut at full recall:
    # (1, .5) (.5, 1/3) (.5, .5) (.5, 1) (0, 1) → trapezoids .5·(.5 + 1/3)/2 + .5·1 = 17/24
    trap = M.frame_pr_auc_trapezoid(S, Y)
    assert trap == pytest.approx(17 / 24)
    assert trap != pytest.approx(M.frame_ap(S, Y))


def test_abnormal_only_and_video_auc():
    # only video "a": positives .35 .8 vs negatives .1 .4 → (2 + 1) / 4
    assert M.abnormal_only_auc(S, Y) == pytest.approx(0.75)
    # video scores: a max .8 (abnormal), b max .5 → 1.0
    assert M.video_auc(S, Y) == 1.0


def test_false_alarm_rate():
    # normal video b: frames ≥ 0.3 are .5 and .3 → 2 / 4
    assert M.false_alarm_rate(S, Y, 0.3) == pytest.approx(0.5)
    assert M.false_alarm_rate(S, Y, 0.9) == 0.0


def test_classwise_auc_uses_class_videos_plus_normals():
    s = dict(S, c=np.array([0.9, 0.05]))
    y = dict(Y, c=np.array([1, 0]))
    cw = M.classwise_auc(s, y, {"a": "Fight", "b": "Normal", "c": "Fire"})
    assert cw["Fight"] == pytest.approx(10 / 12)
    # Fire: positive .9 vs negatives .05 .2 .5 .0 .3 → 1.0
    assert cw["Fire"] == 1.0


def test_single_class_gives_nan_not_crash():
    assert np.isnan(M.frame_auc({"b": S["b"]}, {"b": Y["b"]}))


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="frame scores"):
        M.frame_auc({"a": np.zeros(3)}, {"a": np.zeros(4)})


# -- spatial localisation, by hand ---------------------------------------------------------

def test_pointing_and_mass_in_boxes_hand_computed():
    from wsvad.evaluation.spatial import heatmap_scores
    # a 2×4 heat map over a 400×200 frame: cells are 100×100 px
    hm = np.zeros((2, 2, 4))
    hm[0, 0, 3] = 3.0           # snippet 0: peak in the top-right cell (300–400, 0–100)
    hm[0, 1, 0] = 1.0           # and a quarter of the mass bottom-left
    hm[1, 1, 1] = 1.0           # snippet 1: all mass in cell (100–200, 100–200)
    gt = {5: [(300, 0, 400, 100)],          # frame 5 (snippet 0): box = the top-right cell
          20: [(100, 100, 150, 200)]}        # frame 20 (snippet 1): the left half of the cell
    hits, mass = heatmap_scores(hm, gt, clip=16, size=(400, 200))
    # frame 5: peak centre (350, 50) inside → 1; mass inside 3 / 4
    # frame 20: peak centre (150, 150) on the box edge x2 = 150 → inside; mass: half the cell
    assert hits == [1.0, 1.0]
    assert mass == pytest.approx([0.75, 0.5])
    # a region: the maps cover only the right half of the frame
    hits, _ = heatmap_scores(hm[:1], {5: [(0, 0, 100, 100)]}, 16, (400, 200),
                             region=(0.5, 0.0, 1.0, 1.0))
    assert hits == [0.0]        # peak at x = 200 + 3.5·50 = 375, not in the box


def test_pointing_ceiling_hand_computed():
    """The best peak a geometry allows, per snippet, over the frames it must serve."""
    from wsvad.evaluation.spatial import heatmap_scores, pointing_ceiling
    # a 2×4 grid over 400×200 (100-px cells); snippet 0 has three annotated frames, the object
    # in the top-right cell twice and bottom-left once; snippet 1 one frame whose small box
    # holds no cell centre
    gt = {0: [(300, 0, 400, 100)], 1: [(300, 0, 400, 100)], 2: [(0, 100, 100, 200)],
          16: [(10, 10, 40, 40)]}
    got = pointing_ceiling(gt, clip=16, size=(400, 200), shape=(2, 2, 4))
    assert sorted(got) == [0.0, 0.0, 1.0, 1.0]          # 2 of 3 frames, then 0 of 1
    # a real heat map with that geometry cannot do better: peaking top-right it scores the same
    hm = np.zeros((2, 2, 4))
    hm[:, 0, 3] = 1.0
    assert sum(heatmap_scores(hm, gt, 16, (400, 200))[0]) == sum(got)
    # a 1×1 map can only point at the centre (200, 100): a box around it is always hit
    assert pointing_ceiling({0: [(150, 50, 250, 150)]}, 16, (400, 200), (1, 1, 1)) == [1.0]
    # SSRL-style composition: the mean of a 1×2 and a 2×1 grid on a 2×2 map has four possible
    # peaks (the cells), a 1×2 grid alone only two, at the halves' centres (100, 100), (300, 100)
    box = {0: [(50, 0, 150, 60)]}                         # holds cell centre (100, 50) only
    assert pointing_ceiling(box, 16, (400, 200), (1, 2, 2), grids=((1, 2), (2, 1))) == [1.0]
    assert pointing_ceiling(box, 16, (400, 200), (1, 2, 2), grids=((1, 2),)) == [0.0]
    with pytest.raises(ValueError, match="does not divide"):
        pointing_ceiling(box, 16, (400, 200), (1, 2, 2), grids=((3, 1),))


def test_spatial_metrics_report_the_floor_and_the_ceiling(tmp_path):
    """Evaluation puts every pointing accuracy between the flat map's and the geometry's best."""
    import json
    from types import SimpleNamespace

    from wsvad.methods.base import Localization
    from wsvad.training.evaluate import spatial_metrics
    boxes = tmp_path / "boxes.json"
    # frames 0–2 of snippet 0: the object in the top-right 100-px cell twice, bottom-left once
    boxes.write_text(json.dumps({"a": [[0, 300, 0, 400, 90], [1, 300, 0, 400, 90],
                                       [2, 0, 110, 90, 200]]}))
    hm = np.zeros((1, 2, 4))
    hm[0, 1, 0] = 1.0                                  # peaks bottom-left: 1 frame of 3
    ds = SimpleNamespace(spec=SimpleNamespace(boxes=boxes, snippet_frames=16),
                         frame_labels={"a": np.ones(16)}, test=[],
                         source=SimpleNamespace(frame_size=lambda name: (400, 200)))
    got = spatial_metrics(SimpleNamespace(localization={"a": Localization(heatmaps=hm)}), ds)
    assert got["pointing_accuracy"] == pytest.approx(1 / 3)
    assert "classwise_pointing" not in got             # no classes
    assert got["pointing_accuracy_ceiling"] == pytest.approx(2 / 3)   # top-right: 2 of 3
    assert got["pointing_accuracy_centre"] == 0.0      # (200, 100) is in no box
    # declared as the mean of a 1×2 grid, the map can only peak at the halves' centres
    # (100, 100) and (300, 100), which no box holds
    two = Localization(heatmaps=hm, grids=((1, 2),))
    assert spatial_metrics(SimpleNamespace(localization={"a": two}), ds)[
        "pointing_accuracy_ceiling"] == 0.0
    # with classes: pointing per class over its own videos' frames; "b" (a second class, its
    # one annotated frame in the bottom-left cell) is pointed at every time
    boxes.write_text(json.dumps({"a": json.loads(boxes.read_text())["a"],
                                 "b": [[0, 0, 110, 90, 200]]}))
    ds.frame_labels["b"] = np.ones(16)
    ds.test = [SimpleNamespace(name="a", cls="fall"), SimpleNamespace(name="b", cls="bag")]
    got = spatial_metrics(SimpleNamespace(localization={
        "a": Localization(heatmaps=hm), "b": Localization(heatmaps=hm)}), ds)
    assert got["classwise_pointing"] == pytest.approx({"bag": 1.0, "fall": 1 / 3})
    assert got["pointing_accuracy"] == pytest.approx(2 / 4)


def test_s_loc_iou_at_eps_and_mean_iou_hand_computed():
    from wsvad.evaluation.spatial import iou, localisation_summary, s_loc
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    gt = {0: [(0, 0, 10, 10)], 1: [(0, 0, 10, 10)], 2: [(0, 0, 10, 10)]}
    pred = {0: (0, 0, 10, 10), 1: (5, 0, 15, 10), 3: (0, 0, 4, 4)}
    # Γ (annotated frames 0–3, either has a box): 0 → 1, 1 → 1/3, 2 → 0 (no prediction),
    # 3 → 0 (no ground truth)
    assert s_loc(gt, pred, annotated={0, 1, 2, 3}) == pytest.approx((1 + 1 / 3) / 4)
    # frames without annotation are not in Γ
    assert s_loc(gt, pred) == pytest.approx((1 + 1 / 3) / 3)
    summary = localisation_summary([0.0, 0.15, 0.25, 0.9])
    assert summary == {"iou@0.1": 0.75, "iou@0.2": 0.5, "iou@0.3": 0.25,
                       "mean_iou": pytest.approx(0.325)}
