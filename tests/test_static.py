"""The static-foreground stream: what has newly come to rest, and nothing else."""

import numpy as np
import pytest

from wsvad.backbones.static import StaticConfig, StaticForeground
from wsvad.backbones.video_encoder import VideoEncoder
from wsvad.errors import ConfigError


def _ground(rng, f, h=120, w=160, flicker=0.08):
    """A textured ground with sensor noise and a slow gain flicker (the plaza's camera)."""
    base = np.add.outer(np.arange(h) % 23 * 3, np.arange(w) % 17 * 4).astype(np.float32) + 60
    g = base * (1 + flicker * np.sin(f / 10.0)) + rng.normal(0, 2, (h, w))
    return np.repeat(np.clip(g, 0, 255)[..., None], 3, -1).astype(np.uint8)


def _largest(snippets):
    return [float(s.descriptor[-4]) for s in snippets]


def _scene(draw, frames: int, seed: int):
    """``frames`` frames of the ground with ``draw(frame, f)`` on top → the static snippets."""
    rng = np.random.default_rng(seed)
    enc = StaticForeground()
    video = []
    for f in range(frames):
        x = _ground(rng, f)
        draw(x, f)
        video.append(x)
    return [enc.encode_snippet(c) for c in np.stack(video).reshape(-1, 16, 120, 160, 3)]


def test_a_bag_left_behind_is_static_and_a_passer_by_or_the_flicker_is_not():
    def draw(x, f):
        c = -20 + 3 * f                      # a walker crossing the whole frame
        x[50:80, max(c, 0):max(c + 12, 0)] = 230
        if f >= 48:                          # from frame 48 a bag lies at rows 90-100
            x[90:100, 60:72] = 20
    snippets = _scene(draw, 160, 0)
    largest = _largest(snippets)
    bag_share = 10 * 12 / (120 * 160)        # its area at 120 px short side (size 160: ×1.78)
    assert largest[:3] == [0.0, 0.0, 0.0]     # the walker alone, and the flicker: nothing
    # from the second snippet after the drop the bag is static, at about its own area
    assert all(0.5 * bag_share < v < 3 * bag_share for v in largest[5:])
    # the fine cells say where: the peak is the cell under the bag (rows 90-100, cols 60-72
    # of 120 x 160 -> row 9, col 4 or 5 of 12 x 12)
    peak = np.unravel_index(snippets[-1].grid.argmax(), snippets[-1].grid.shape)
    assert peak[0] == 9 and peak[1] in (4, 5)
    assert snippets[-1].grid.shape == (12, 12)


def test_no_static_foreground_in_a_scene_where_nothing_stops():
    def draw(x, f):
        for k in range(3):                   # three walkers, all moving
            c = (40 * k + 2 * f) % 180 - 20
            x[20 + 30 * k:40 + 30 * k, max(c, 0):max(c + 10, 0)] = 200
    assert max(_largest(_scene(draw, 96, 1))) == 0.0


def test_encoder_writes_the_static_part_and_stream():
    enc = VideoEncoder("motion", static=True, batch_snippets=2)
    c = enc.contract()
    assert c.dim == 208 + 20
    spec = {s.name: s for s in c.streams}
    assert spec["features"].parts == (("motion", 208), ("static", 20))
    assert spec["static_desc"].shape == (20,) and spec["static_grid"].shape == (12, 12)
    assert StaticConfig().tag in c.weights_hash
    s = enc.session()
    rng = np.random.default_rng(2)
    clip = np.stack([_ground(rng, f) for f in range(16)])
    s.push(clip)
    out = s.push(clip)
    assert out["features"].shape == (2, 1, 228)
    np.testing.assert_array_equal(out["features"][:, 0, 208:], out["static_desc"])
    assert out["static_grid"].shape == (2, 12, 12) and out["static_grid"].dtype == np.float16
    plain = VideoEncoder("motion").contract()
    assert "static" not in plain.weights_hash and plain.dim == 208


def test_overlapping_snippets_feed_each_frame_once():
    enc = VideoEncoder("motion", static=True, stride=8, batch_snippets=8)
    s = enc.session()
    rng = np.random.default_rng(3)
    frames = np.stack([_ground(rng, f) for f in range(32)])
    for start in (0, 8, 16):
        s.push(frames[start:start + 16])
    assert s.static.seen == 32


def test_static_with_tubes_or_a_3d_backbone_is_refused():
    with pytest.raises(ConfigError, match="--static and --tubes"):
        VideoEncoder("motion", static=True, tubes=True)
    with pytest.raises(ConfigError, match="--static needs"):
        VideoEncoder("c3d", static=True)


def test_detect_rebuilds_the_static_encoder_from_a_runs_contract():
    from wsvad.detect.detector import encoder_for
    contract = VideoEncoder("motion", static=True).contract()
    assert encoder_for(contract, None, "run").static
    assert not encoder_for(VideoEncoder("motion").contract(), None, "run").static


def test_video_to_static_store_to_run_to_detect(tmp_path, plaza_scenes):
    """extract --static → a store with the static part and streams → a MIL run → detect on a
    new video rebuilds the same encoder (the contract check passes) and scores it."""
    import json

    from conftest import scene_run

    from wsvad.data.readers import StoreSource
    from wsvad.detect.job import detect

    scene_run(tmp_path, plaza_scenes, "mil", backbone="motion", static=True)
    store = StoreSource(tmp_path / "store")
    name = store.names(tmp_path / "scenes" / "train.txt")[0]
    assert store.contract(name).parts == (("motion", 208), ("static", 20))
    assert store.load(name, "static_desc").shape[1:] == (20,)
    assert store.load(name, "static_grid").shape[1:] == (12, 12)
    video = next((tmp_path / "scenes" / "videos").glob("test_*.mp4"))
    detect(tmp_path / "run", video, tmp_path / "det", threshold=0.0, progress=False,
           overlay=False)
    scores = json.loads((tmp_path / "det" / "detections.json").read_text())
    assert video.stem in json.dumps(scores)
