"""WSSTAD's tube proposals (appendix Alg. 1 and 2) on boxes whose answer is known by hand."""

import numpy as np

from wsvad.backbones.tubes import min_length, multivariate_tubes, unary_tubes


def _track(x0, frames, score, cls=None, dx=1.0, size=20.0):
    rows = [[f, x0 + dx * f, 10, x0 + dx * f + size, 10 + size, score] for f in frames]
    return np.array([r + [cls] for r in rows] if cls is not None else rows, float)


def test_unary_tubes_follow_each_object_and_drop_short_ones():
    boxes = np.vstack([_track(0, range(6), 0.9), _track(200, range(6), 0.6),
                       _track(400, range(2), 0.99)])            # far apart: IoU 0 between them
    tubes = unary_tubes(boxes, min_len=3)
    assert [len(t) for t in tubes] == [6, 6]                   # the 2-frame object is dropped
    assert tubes[0][:, 5].tolist() == [0.9] * 6                # best mean score first
    assert tubes[0][:, 0].tolist() == list(range(6)) and tubes[1][0, 1] == 200


def test_linking_score_weighs_overlap_by_eta():
    # frame 0: (0,0,10,10) s=.95, the start. Frame 1: A in the same place, s=.1 →
    # S_l = .95 + .1 + 2·1 = 3.05; B shifted by 5 (IoU 50/150), s=.9 → .95 + .9 + 2/3 = 2.52:
    # A is linked. With η = 0: A 1.05, B 1.85 → B is linked.
    boxes = np.array([[0, 0, 0, 10, 10, 0.95], [1, 0, 0, 10, 10, 0.1], [1, 5, 0, 15, 10, 0.9]])
    for eta, x1 in ((2.0, 0.0), (0.0, 5.0)):
        tubes = unary_tubes(boxes, min_len=1, eta=eta)
        assert sorted(len(t) for t in tubes) == [1, 2]
        assert [t for t in tubes if len(t) == 2][0][1, 1] == x1


def test_unary_tubes_are_per_class_and_lengths_scale_with_fps():
    boxes = np.vstack([_track(0, range(4), 0.8, cls=0), _track(0, range(4), 0.7, cls=1)])
    assert len(unary_tubes(boxes, min_len=4)) == 2             # same place, two classes
    assert min_length(100, 30.0) == 100 and min_length(100, 10.0) == 33
    assert min_length(50, 25.0) == 42


def test_multivariate_tubes_join_intersecting_boxes():
    a = _track(0, range(5), 0.9)                                # two people, side by side
    b = _track(15, range(5), 0.5)                               # overlapping a by 5 px
    far = _track(300, range(5), 0.4)
    tubes = multivariate_tubes(np.vstack([a, b, far]), min_len=3)
    assert len(tubes) == 2
    joint = tubes[0]
    assert joint[:, 0].tolist() == list(range(5))
    # the union of a and b in frame 2: x from 0+2 to 15+2+20, score = the best member's
    assert joint[2, 1:].tolist() == [2.0, 10.0, 37.0, 30.0, 0.9]
    assert tubes[1][0, 1] == 300 and len(multivariate_tubes(far, min_len=6)) == 0


def test_user_detections_are_read_from_json_and_bad_boxes_refused(tmp_path):
    import json

    import pytest

    from wsvad.backbones.boxes import read_detections
    from wsvad.errors import DataError
    p = tmp_path / "det.json"
    p.write_text(json.dumps([{"frame": 0, "box": [1, 2, 5, 9], "score": 0.7, "class": "person"},
                             {"frame": 1, "box": [2, 2, 6, 9], "score": 0.6, "class": "bag"}]))
    rows, names = read_detections(p)
    assert names == ["bag", "person"]
    assert rows.tolist() == [[0, 1, 2, 5, 9, 0.7, 1], [1, 2, 2, 6, 9, 0.6, 0]]
    assert len(unary_tubes(rows, min_len=1)) == 2          # one per class
    p.write_text(json.dumps([{"frame": 0, "box": [5, 2, 1, 9], "score": 0.7}]))
    with pytest.raises(DataError, match="x2 > x1"):
        read_detections(p)
    (tmp_path / "d.csv").write_text("frame,x1,y1\n0,1,2\n")
    with pytest.raises(DataError, match="frame,x1,y1,x2,y2,score"):
        read_detections(tmp_path / "d.csv")
