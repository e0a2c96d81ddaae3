import av
import cv2
import numpy as np
import pytest

from wsvad.errors import DataError
from wsvad.video import crop_clip, iter_frames, iter_snippets, probe, resize_short_side
from wsvad.video.snippets import crop_boxes


def write_video(path, frames, fps=10, codec="libx264", pix="yuv420p"):
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = pix
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def ramp(n, h=48, w=64):
    return [np.full((h, w, 3), 10 * i, np.uint8) for i in range(n)]


def test_snippet_windows_and_padding():
    f = [np.full((1, 1, 3), i, np.uint8) for i in range(7)]
    got = [s[:, 0, 0, 0].tolist() for s in iter_snippets(iter(f), 4, 2)]
    assert got == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 6]]
    assert len(list(iter_snippets(iter(f[:6]), 3))) == 2  # exact multiple: no padded snippet


def _torchvision_five(img, size):
    """torchvision's five_crop written out: TL, TR, BL, BR, centre (round((h - s) / 2))."""
    h, w = img.shape[:2]
    t, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return [img[:size, :size], img[:size, w - size:], img[h - size:, :size],
            img[h - size:, w - size:], img[t:t + size, left:left + size]]


def test_crop_order_matches_torchvision_five_and_ten_crop():
    assert crop_boxes(10, 12, 8, 1) == [(1, 2, False)]
    assert crop_boxes(10, 12, 8, 5) == [(0, 0, False), (0, 4, False), (2, 0, False),
                                        (2, 4, False), (1, 2, False)]
    # odd margins: torchvision rounds half to even (round(2.5) == 2), not floor
    assert crop_boxes(13, 13, 8, 1) == [(2, 2, False)]
    assert crop_boxes(15, 15, 8, 1) == [(4, 4, False)]
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (11, 15, 3), dtype=np.uint8)
    ref = _torchvision_five(img, 8) + _torchvision_five(img[:, ::-1], 8)   # TenCrop
    out = crop_clip(img[None], 8, 10)[:, 0]
    assert out.shape == (10, 8, 8, 3)
    for i in range(10):
        np.testing.assert_array_equal(out[i], ref[i], err_msg=f"crop {i}")
    # crop 5 is the mirrored frame's top-left = the mirror image of the original's top-right
    np.testing.assert_array_equal(out[5], out[1][:, ::-1])
    five = crop_clip(img[None], 8, 5)[:, 0]
    for i in range(5):
        np.testing.assert_array_equal(five[i], ref[i])


def test_resize_short_side():
    assert resize_short_side(np.zeros((240, 360, 3), np.uint8), 224).shape == (224, 336, 3)


def test_decode_odd_size_and_fps_resampling(tmp_path):
    # odd size: lossless FFV1 in Matroska (H.264 4:2:0 needs even sizes)
    p = write_video(tmp_path / "a.mkv", ramp(20, 75, 97), fps=20, codec="ffv1", pix="yuv444p")
    info = probe(p)
    assert (info.width, info.height, info.fps) == (97, 75, 20.0)
    frames = list(iter_frames(p))
    assert len(frames) == 20 and frames[0][0].shape == (75, 97, 3)
    assert frames[1][1] == pytest.approx(0.05)
    half = list(iter_frames(p, fps=10))
    assert len(half) == 10 and half[1][1] == pytest.approx(0.1)
    # content survives (grey levels 0, 10, 20 …, lossless up to colour conversion)
    assert abs(int(frames[5][0].mean()) - 50) <= 2
    mp4 = write_video(tmp_path / "b.mp4", ramp(12, 48, 64))
    assert len(list(iter_frames(mp4))) == 12


def test_decode_grey_avi_and_frame_folder(tmp_path):
    p = write_video(tmp_path / "g.avi", ramp(6), codec="mpeg4", pix="yuv420p")
    assert len(list(iter_frames(p))) == 6
    d = tmp_path / "frames"
    d.mkdir()
    for i in range(5):
        cv2.imwrite(str(d / f"{i:03d}.png"), np.full((20, 30), 40 * i, np.uint8))
    got = list(iter_frames(d, folder_fps=5))
    assert len(got) == 5 and got[2][0].shape == (20, 30, 3) and got[2][1] == pytest.approx(0.4)
    assert int(got[3][0][0, 0, 0]) == 120


@pytest.mark.parametrize("content", [b"", b"\x00" * 1000, b"garbage that is not a video"])
def test_corrupt_or_empty_video_is_a_clear_error(tmp_path, content):
    p = tmp_path / "bad.mp4"
    p.write_bytes(content)
    with pytest.raises(DataError, match="bad.mp4"):
        list(iter_frames(p))


def test_ssrl_patch_grids_tile_the_frame():
    from wsvad.video.snippets import SSRL_GRIDS, patch_boxes, patch_clip
    sizes = {g: patch_boxes(480, 840, g) for g in SSRL_GRIDS}
    assert {(b - t, r - left) for t, left, b, r in sizes[(2, 3)]} == {(240, 280)}
    assert {(b - t, r - left) for t, left, b, r in sizes[(3, 5)]} == {(160, 168)}
    assert {(b - t, r - left) for t, left, b, r in sizes[(4, 7)]} == {(120, 120)}
    # other resolutions: same grid, windows scaled (Ped2 360×240, 2×3 → 120×120)
    assert patch_boxes(240, 360, (2, 3))[-1] == (120, 240, 240, 360)
    clip = np.zeros((4, 240, 360, 3), np.uint8)
    clip[:, :120, :120] = 255
    p = patch_clip(clip, (2, 3), 32)
    assert p.shape == (6, 4, 32, 32, 3) and p[0].min() == 255 and p[1].max() == 0


def test_variable_frame_rate_is_resampled_by_timestamp(tmp_path):
    from fractions import Fraction
    p = tmp_path / "vfr.mkv"
    times_ms = [0, 40, 80, 300, 320, 340, 360, 1000]  # bursts and gaps
    with av.open(str(p), "w") as c:
        s = c.add_stream("ffv1", rate=1000)  # millisecond clock: timestamps kept exactly
        s.width, s.height, s.pix_fmt = 32, 16, "yuv444p"
        s.time_base = s.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            f = av.VideoFrame.from_ndarray(np.full((16, 32, 3), 20 * i, np.uint8), format="rgb24")
            f.pts, f.time_base = t, Fraction(1, 1000)
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    got = [t for _, t in iter_frames(p)]
    np.testing.assert_allclose(got, np.array(times_ms) / 1000, atol=1e-3)
    # 10 fps clock ticks at 0, .1, .2, …: the first frame at or after each tick is kept
    kept = [round(t, 3) for _, t in iter_frames(p, fps=10)]
    assert kept == [0.0, 0.3, 1.0]
