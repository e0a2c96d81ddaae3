"""The embedded plaza-scene generator: deterministic, labels agree with boxes, videos decode."""

import hashlib
import json

import numpy as np
import pytest

from wsvad.datasets.scenes import KINDS, SceneDatasetConfig, make_scene_dataset, render_scene
from wsvad.video.decode import iter_frames, probe


def test_same_seed_same_video_and_other_seed_differs():
    a_gt, a = render_scene("a", 5, "fight", seconds=1)
    b_gt, b = render_scene("b", 5, "fight", seconds=1)
    fa, fb = np.stack(list(a)), np.stack(list(b))
    assert np.array_equal(fa, fb) and np.array_equal(a_gt.labels, b_gt.labels)
    c = np.stack(list(render_scene("c", 6, "fight", seconds=1)[1]))
    assert np.abs(fa.astype(int) - c.astype(int)).mean() > 5


@pytest.mark.parametrize("kind", KINDS)
def test_each_anomaly_is_labelled_where_its_boxes_are(kind):
    gt, frames = render_scene(kind, 11, kind, seconds=8)
    frames = list(frames)   # ground truth is complete once the frames are drawn
    assert len(frames) == gt.frames == 200 and gt.label == 1
    boxed = sorted({int(r[0]) for r in gt.boxes})
    assert boxed == np.flatnonzero(gt.labels).tolist()
    assert 10 <= gt.labels.sum() < gt.frames, "the anomaly occupies part of the video"
    for _f, x1, y1, x2, y2 in gt.boxes:
        assert 0 <= x1 < x2 <= 319 and 0 <= y1 < y2 <= 239
    # the anomaly starts after the video's opening normal part
    assert np.flatnonzero(gt.labels)[0] >= 0.1 * gt.frames


def test_normal_video_has_no_labels():
    gt, frames = render_scene("n", 2, None, seconds=4)
    assert len(list(frames)) == 100 and gt.labels.sum() == 0 and gt.boxes == [] and gt.label == 0


def test_dataset_files(tmp_path):
    cfg = SceneDatasetConfig(2, 2, 1, 2, seconds=2.0, cameras=2)
    videos = make_scene_dataset(tmp_path, cfg, progress=False)
    assert (tmp_path / "train.txt").read_text().split() == [f"train_{i:03d}" for i in range(4)]
    assert len((tmp_path / "test.txt").read_text().split()) == 3
    rows = (tmp_path / "labels.csv").read_text().splitlines()
    assert rows[0] == "name,label,class" and len(rows) == 8
    kinds = [v.kind for v in videos.values() if v.kind]
    assert kinds == list(KINDS[:4]), "kinds cycle through the list"
    with np.load(tmp_path / "frame_labels.npz") as z:
        for n, v in videos.items():
            assert np.array_equal(z[n], v.labels)
    boxes = json.loads((tmp_path / "boxes.json").read_text())
    assert all(len(boxes[n]) == len(v.boxes) for n, v in videos.items())
    info = probe(tmp_path / "videos" / "train_001.mp4")
    assert (info.width, info.height, info.fps) == (320, 240, 25.0)
    assert sum(1 for _ in iter_frames(tmp_path / "videos" / "train_001.mp4")) == 50
    assert not list(tmp_path.rglob("*.part*")), "no temporary files left"


def test_cameras_do_not_give_the_label_away(tmp_path):
    videos = make_scene_dataset(tmp_path, SceneDatasetConfig(4, 4, 2, 2, seconds=0.2, cameras=2),
                                progress=False)
    by_camera = {}
    for v in videos.values():
        by_camera.setdefault(v.camera, set()).add(v.label)
    assert len(by_camera) == 2 and all(labels == {0, 1} for labels in by_camera.values())


def test_same_config_gives_byte_identical_videos(tmp_path):
    """x264's SIMD code made the same frames encode differently from run to run (writer.py);
    the datasets are written with its C code, so a config always gives the same files."""
    cfg = SceneDatasetConfig(3, 3, 2, 2, seconds=2.0)
    digests = []
    for run in ("a", "b"):
        make_scene_dataset(tmp_path / run, cfg, progress=False)
        digests.append({p.name: hashlib.md5(p.read_bytes()).hexdigest()
                        for p in sorted((tmp_path / run / "videos").glob("*.mp4"))})
    assert len(digests[0]) == 10
    differ = [n for n in digests[0] if digests[0][n] != digests[1][n]]
    assert not differ, f"videos differ between two runs of the same config: {differ}"
