import numpy as np
import pytest
from conftest import shared

from wsvad.data.groundtruth import (
    concat_gt,
    parse_ucf_frame_counts,
    rtfm_pad,
    snippet_to_frame,
    split_concatenated_gt,
    ucf_crime_frame_labels,
)
from wsvad.data.readers import read_list, video_name
from wsvad.data.segments import resample_segments
from wsvad.errors import DataError


def test_resample_segments_matches_rtfm_rule():
    x = np.arange(10, dtype=np.float32)[:, None]
    # linspace(0, 10, 5).astype(int) = [0, 2, 5, 7, 10] → means of [0,1] [2,3,4] [5,6] [7,8,9]
    assert resample_segments(x, 4).ravel().tolist() == [0.5, 3.0, 5.5, 8.0]
    # T < length: linspace(0, 3, 5) = [0, .75, 1.5, 2.25, 3] → [0, 0, 1, 2]; empty spans take
    # the start snippet
    y = np.array([[1.0], [2.0], [3.0]], np.float32)
    assert resample_segments(y, 4).ravel().tolist() == [1.0, 1.0, 2.0, 3.0]


def test_resample_keeps_crop_axis():
    assert resample_segments(np.ones((50, 3, 8)), 32).shape == (32, 3, 8)


def test_snippet_to_frame_rules():
    s = np.array([0.2, 0.7])
    assert snippet_to_frame(s, clip=3).tolist() == [0.2] * 3 + [0.7] * 3
    assert snippet_to_frame(s, 4, clip=3).tolist() == [0.2] * 3 + [0.7]       # cut
    assert snippet_to_frame(s, 8, clip=3).tolist() == [0.2] * 3 + [0.7] * 5   # carry last


def test_rtfm_pad_repeats_last_label():
    assert rtfm_pad(np.array([0, 1, 1]), clip=2).tolist() == [0, 1, 1, 1]
    assert rtfm_pad(np.array([0, 1, 1, 0, 0]), clip=2, snippets=2).tolist() == [0, 1, 1, 0]


def test_split_concatenated_gt_checks_total():
    gt = np.array([0, 0, 1, 1, 0, 0])
    parts = split_concatenated_gt(gt, ["a", "b"], [2, 1], clip=2)
    assert parts["a"].tolist() == [0, 0, 1, 1] and parts["b"].tolist() == [0, 0]
    with pytest.raises(DataError, match="6 frame labels"):
        split_concatenated_gt(gt, ["a", "b"], [2, 2], clip=2)


def test_ucf_crime_labels_equal_published_for_all_290_videos():
    published = np.load(shared("ucf_crime", "test_frame_labels_pel4vad.npz"))
    counts = parse_ucf_frame_counts(shared("ucf_crime", "UCF_Annotation_with_nframes.txt"))
    ours = ucf_crime_frame_labels(shared("ucf_crime", "Temporal_Anomaly_Annotation.txt"), counts)
    assert len(published.files) == 290 and set(published.files) == set(ours)
    for name in published.files:
        ref = published[name]
        assert len(ref) % 16 == 0 and len(ref) <= len(ours[name])
        np.testing.assert_array_equal(ours[name][: len(ref)], ref, err_msg=name)


def test_shanghaitech_gt_equals_rtfm_gt_sh():
    gt_sh = np.load(shared("shanghaitech", "gt-sh.npy"))
    per_video = np.load(shared("shanghaitech", "test_frame_labels.npz"))
    names = [video_name(p) for p in read_list(shared("shanghaitech",
                                                      "shanghai-i3d-test-10crop.list"))]
    assert set(names) == set(read_list(shared("shanghaitech", "SH_Test.txt")))
    abnormal = [n for n in names if n in per_video.files]
    assert names[: len(abnormal)] == abnormal  # RTFM lists put abnormal videos first
    padded = {n: rtfm_pad(per_video[n]) for n in abnormal}
    head = concat_gt(padded, abnormal)
    np.testing.assert_array_equal(gt_sh[: len(head)], head)
    # the normal videos follow: all zeros, whole 16-frame snippets
    rest = gt_sh[len(head):]
    assert rest.sum() == 0 and len(rest) % 16 == 0 and len(rest) > 0


def test_real_box_ground_truth_reads_in_frame_coordinates():
    from wsvad.data.groundtruth import read_boxes
    ped2 = read_boxes(shared("ucsd_ped2", "test_mask_boxes.json"))
    labels = np.load(shared("ucsd_ped2", "frame_labels.npz"))
    assert len(ped2) == 12 and sorted(ped2["Test001"])[:1] == [60]
    assert set(ped2["Test001"]) == set(np.flatnonzero(labels["Test001"]))  # boxes ⇔ abnormal
    corners = np.array([b for v in ped2.values() for bs in v.values() for b in bs])
    assert corners.min() >= 0 and corners[:, 2].max() < 360 and corners[:, 3].max() < 240
    ucf = read_boxes(shared("ucf_crime", "bbox_test_liu_ma.json"))
    assert len(ucf) == 140 and ucf["Shoplifting010_x264"][813] == [(74.0, 101.0, 140.0, 206.0)]
