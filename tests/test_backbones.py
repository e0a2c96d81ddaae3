import numpy as np
import pytest
import torch

from wsvad.backbones.effnet_lite import EfficientNetLite0, load_effnet_lite0
from wsvad.backbones.motion import MotionEncoder
from wsvad.errors import WsvadError


def test_effnet_lite0_recognises_grace_hopper():
    import matplotlib.image as mpimg
    from matplotlib import cbook

    from wsvad.video import crop_clip, resize_short_side
    img = mpimg.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    x = crop_clip(resize_short_side(img, 224)[None], 224, 1)[0, 0].astype(np.float32)
    x = torch.from_numpy((x - 127.5) / 127.5).permute(2, 0, 1)[None]
    net = load_effnet_lite0()
    with torch.no_grad():
        maps, pooled, logits = net(x)
    assert maps.shape == (1, 1280, 7, 7) and pooled.shape == (1, 1280)
    assert int(logits.argmax()) == 652  # ImageNet "military uniform"


def test_effnet_wrong_weights_is_a_clear_error(tmp_path):
    p = tmp_path / "w.pth"
    torch.save({"conv.weight": torch.zeros(1)}, p)
    with pytest.raises(WsvadError, match="do not match.*EfficientNet-Lite0"):
        load_effnet_lite0(p)
    with pytest.raises(WsvadError, match="not found"):
        load_effnet_lite0(tmp_path / "missing.pth")
    assert sum(p.numel() for p in EfficientNetLite0().parameters()) == 4_652_008


def _texture(h=120, w=160, seed=0):
    rng = np.random.default_rng(seed)
    import cv2
    t = cv2.GaussianBlur(rng.integers(0, 255, (h, w)).astype(np.uint8), (7, 7), 2)
    return np.repeat(t[..., None], 3, axis=2)


def test_motion_static_scene_is_zero_and_translation_is_measured():
    enc = MotionEncoder()
    still = np.stack([_texture()] * 4)
    intensity, desc = enc.encode(still)
    assert intensity == pytest.approx(0.0, abs=0.05)
    enc.reset()
    base = _texture(120, 200)
    # content moves +2 px per frame
    clip = np.stack([base[:, 8 - 2 * i: 168 - 2 * i] for i in range(4)])
    intensity, desc = enc.encode(clip)
    # frames of short side 120 are analysed at 160 px: 2 px/frame → 2.67 px/frame
    assert intensity == pytest.approx(2 * 160 / 120, abs=0.5)
    assert desc.shape == (208,)
    cells = desc[:192].reshape(16, 12)
    orient = cells[:, :8].sum(0)
    assert int(orient.argmax()) in (0, 7)  # rightward flow: orientation bin around 0 rad
    # location-free summary: per frame pair the max over cells, then averaged over the pairs
    # (so at least the max over cells of the averaged cells)
    assert np.all(desc[192:204] >= cells.max(0) - 1e-6) and desc[192:204].max() > 0
    assert desc[204 + 1] == pytest.approx(2 * 160 / 120 / 4, abs=0.15)  # 90th pct. ÷ 4


def test_padded_last_snippet_keeps_the_motion_of_its_real_frames():
    from wsvad.video import iter_snippets
    base = _texture(120, 200)
    # 20 frames moving +2 px per frame: one full snippet of 16, then 4 real frames + 12 repeats
    frames = [base[:, 40 - 2 * i: 160 - 2 * i] for i in range(20)]
    first, last = list(iter_snippets(iter(frames), 16))
    enc = MotionEncoder()
    full, _ = enc.encode(first)
    padded, desc = enc.encode(last)
    # the 4 real pairs of the last snippet (15→16 … 18→19) move like the first 15, and the
    # 12 repeats of frame 19 are not averaged in (they would give 4/16 of it)
    assert full == pytest.approx(2 * 160 / 120, abs=0.5)
    assert padded == pytest.approx(full, rel=0.1)
    alone = MotionEncoder()
    alone.encode(first)
    real, real_desc = alone.encode(np.stack(frames[16:]))
    assert padded == pytest.approx(real, abs=1e-6)
    np.testing.assert_allclose(desc, real_desc, atol=1e-6)
    # a clip with no distinct pair at all: zero motion, as before
    enc.reset()
    assert enc.encode(np.stack([base[:, :120]] * 5))[0] == 0.0


def test_moving_object_boxes_find_a_moving_square():
    from wsvad.backbones.boxes import MovingObjectDetector
    det = MovingObjectDetector(warmup=5)
    rng = np.random.default_rng(0)
    bg = rng.integers(90, 110, (120, 160, 3)).astype(np.uint8)
    boxes = []
    for i in range(30):
        f = bg.copy()
        if i >= 15:
            x = 20 + 3 * i
            f[40:60, x:x + 20] = 250
        boxes.append(det.detect(f))
    assert all(b == [] for b in boxes[:15])
    last = boxes[-1]
    assert len(last) == 1
    b = last[0]
    x = 20 + 3 * 29
    assert abs(b.x1 - x) <= 2 and abs(b.x2 - (x + 20)) <= 2 and abs(b.y1 - 40) <= 2
    assert b.score > 0.8


@pytest.mark.parametrize("name,dim", [("i3d-r50", 2048), ("i3d-inception", 1024), ("c3d", 4096)])
def test_clip_nets_load_user_weights_strictly_and_encode(name, dim, tmp_path):
    from wsvad.backbones.clip_nets import CLIP_NETS, ClipNetEncoder, load_clip_net
    torch.manual_seed(0)
    net = CLIP_NETS[name].build()
    path = tmp_path / "w.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
    enc = ClipNetEncoder(name, path, crops=1)
    clip = np.random.default_rng(0).integers(0, 255, (16, 120, 160, 3)).astype(np.uint8)
    a = enc.encode([clip])
    assert a.shape == (1, 1, dim) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, enc.encode([clip]))  # deterministic in eval mode
    with pytest.raises(WsvadError, match="needs a weights file"):
        load_clip_net(name, None)
    bad = tmp_path / "bad.pth"
    torch.save({"other.weight": torch.zeros(2)}, bad)
    with pytest.raises(WsvadError, match="keys or shapes do not match"):
        load_clip_net(name, bad)


def test_i3d_r50_first_pool_does_not_pad():
    """Reference (pytorch-resnet3d I3Res50, Caffe2): maxpool1 = kernel (2, 3, 3), stride 2, no
    padding. On a 2×5×5 input the four windows are rows/cols 0–2 and 2–4 (hand-computed)."""
    from wsvad.backbones.i3d_resnet import I3DResNet50
    net = I3DResNet50()
    x = torch.arange(50, dtype=torch.float32).view(1, 1, 2, 5, 5)
    x[0, 0, 0, 0, 0] = 100.0    # a padded pool would give it a window of its own
    out = net.maxpool1(x)
    # frame 1 holds 25..49; window maxima: (r2,c2)=37, (r2,c4)=39, (r4,c2)=47, (r4,c4)=49,
    # except the top-left window, which contains the planted 100
    assert out.shape == (1, 1, 1, 2, 2)
    assert out.flatten().tolist() == [100.0, 39.0, 47.0, 49.0]
    h = net.maxpool1(torch.zeros(1, 64, 8, 112, 112))
    assert tuple(h.shape[-2:]) == (55, 55)


def test_c3d_sees_bgr_minus_the_bgr_mean_and_i3d_sees_rgb(tmp_path):
    from wsvad.backbones.c3d import MEAN_BGR
    from wsvad.backbones.clip_nets import CLIP_NETS, ClipNetEncoder
    red = np.zeros((16, 128, 171, 3), np.uint8)
    red[..., 0] = 255                                   # pure red, RGB
    for name in ("c3d", "i3d-r50"):
        path = tmp_path / f"{name}.pth"
        torch.save(CLIP_NETS[name].build().state_dict(), path)
        x = ClipNetEncoder(name, path, crops=1).to_input([red])
        per_channel = x[0].mean((1, 2, 3)).tolist()
        if name == "c3d":   # channel 0 = blue: 0 − 90.2; channel 2 = red: 255 − 101.4
            assert per_channel == pytest.approx([0 - MEAN_BGR[0], 0 - MEAN_BGR[1],
                                                 255 - MEAN_BGR[2]])
        else:               # (x − 114.75) / 57.375, red first
            assert per_channel == pytest.approx([(255 - 114.75) / 57.375,
                                                 -114.75 / 57.375, -114.75 / 57.375])
