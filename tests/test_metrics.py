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
