"""ONNX export: every registered method either exports a head that onnxruntime scores like
PyTorch (to 1e-4, on a length other than the one traced) or is refused with a reason; parity on
real published I3D features; ``detect --engine onnx`` gives the PyTorch engine's scores."""

import numpy as np
import pytest
import torch
from conftest import shared

from wsvad import methods
from wsvad.data import collate
from wsvad.errors import WsvadError
from wsvad.export.onnx import OnnxEngine, export_onnx

pytest.importorskip("onnxruntime", reason="ONNX is an optional extra: pip install "
                    "'wsvad[onnx]'")

NOT_EXPORTABLE = {"tube_motion"}      # no learned part: a NumPy statistic of the crops


def _streams(t: int, d: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    """Random time-first streams of every kind a method may read, tubes included (2 + seed % 3
    tubes over parts of the video)."""
    g = np.random.default_rng(seed)
    out = {"features": g.random((t, 3, d)), "motion": g.random(t),
           "motion_desc": g.random((t, 208)), "motion_grid": g.random((t, 12, 12, 16)),
           "static_desc": g.random((t, 20)), "static_grid": g.random((t, 12, 12)),
           "context": g.random((t, 10)),
           "maps": g.random((t, 3, 3, 8)), "maps_trunk": g.random((t, 2, 2, 192))}
    out.update({f"patches_{r}x{c}": g.random((t, r * c, 8)) for r, c in ((2, 3), (3, 5),
                                                                          (4, 7))})
    out = {k: v.astype(np.float32) for k, v in out.items()}
    spans = [(k, s) for k in range(2 + seed % 3) for s in range(k, min(t, k + t // 2))]
    out["tube_regions"] = np.array([[k, s, *g.random(d)] for k, s in spans], np.float32)
    out["tubes"] = np.array([[k, 16 * s + f, s, 10, 10, 40, 40, 0.9] for k, s in spans
                             for f in range(0, 16, 4)], np.float32)
    return out


def _fitted(name: str, dim: int, videos: list[dict[str, np.ndarray]], **config):
    torch.manual_seed(0)
    m = methods.create(name, dim=dim, batch_size=2, **config)
    keys = [k for k in videos[0] if k in m.needs or k == "features" or
            (k.startswith("patches_") and "patches" in m.needs)]
    if "tubes" not in m.needs:
        keys = [k for k in keys if k not in ("tubes", "tube_regions")]
    m.fit(lambda: iter(collate([{k: v[k] for k in keys}]) for v in videos))
    return m.eval()


@pytest.mark.parametrize("name", methods.names())
def test_every_method_exports_or_says_why(name, tmp_path):
    if name in NOT_EXPORTABLE:
        with pytest.raises(WsvadError, match="not exportable"):
            export_onnx(methods.create(name, dim=16), _streams(24), tmp_path / "model.onnx")
        return
    m = _fitted(name, 16, [_streams(24, seed=s) for s in range(3)])
    export_onnx(m, _streams(24), tmp_path / "model.onnx")
    eng = OnnxEngine(tmp_path, model=m)
    for t in (24, 9, 40):                                  # the traced length and two others
        s = _streams(t, seed=7)
        want = m.score_streams({k: v for k, v in s.items()})[0]
        got, out, _ = eng.score_streams(s)
        assert got.shape == (t,)
        assert np.abs(got - want).max() < 1e-4, (name, t)
        if m.predict(collate([s])).classes is not None:
            assert out.classes is not None
        if name == "wsstad":                               # its tubes come back too
            want_loc = m.localize(collate([s]), m.predict(collate([s])))[0]
            got_loc = m.localize(collate([s]), out)[0]
            assert [round(x.score, 4) for x in got_loc.tubes] == \
                [round(x.score, 4) for x in want_loc.tubes]


def test_late_fusion_with_a_mode_per_part_exports(tmp_path):
    """Two members, each normalising the appearance part with ``log`` and the motion part
    with ``abs`` (a fixed ``torch.where`` in the graph): onnxruntime scores like PyTorch."""
    cfg = {"parts": (("appearance", 10), ("motion", 6)), "fusion": "late",
           "input_norm": "appearance:log,motion:abs"}
    m = _fitted("mil", 16, [_streams(24, seed=s) for s in range(3)], **cfg)
    assert m.members[1].input_norm.part_modes.tolist() == [0] * 10 + [2] * 6
    export_onnx(m, _streams(24), tmp_path / "model.onnx")
    s = _streams(9, seed=7)
    got = OnnxEngine(tmp_path, model=m).score_streams(s)[0]
    assert np.abs(got - m.score_streams(s)[0]).max() < 1e-4


def test_parity_on_real_i3d_features(tmp_path):
    z = np.load(shared("feature_samples", "shanghaitech_i3d_r50_10crop_normal7_fp16.npz"))
    videos = [{"features": z[k].astype(np.float32)} for k in z.files]
    for name in ("mil", "rtfm", "feature_magnitude"):
        m = _fitted(name, 2048, videos[3:])
        export_onnx(m, videos[3], tmp_path / name / "model.onnx")
        eng = OnnxEngine(tmp_path / name, model=m)
        for v in videos[:3]:                               # 48, 49, 32 snippets × 10 crops
            diff = np.abs(eng.score_streams(v)[0] - m.score_streams(v)[0]).max()
            assert diff < 1e-4, (name, diff)


def test_engine_refuses_a_stale_or_missing_export(tmp_path):
    with pytest.raises(WsvadError, match="wsvad export"):
        OnnxEngine(tmp_path)
    m = _fitted("mil", 16, [_streams(8)])
    export_onnx(m, _streams(8), tmp_path / "model.onnx", source_hash="0" * 16)
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    with pytest.raises(WsvadError, match="another checkpoint"):
        OnnxEngine(tmp_path)


def test_detect_with_the_onnx_engine_matches_torch(scene_runs, tmp_path):
    from wsvad.cli import main
    from wsvad.detect.detector import Detector
    run = scene_runs / "rtfm"
    assert main(["export", "--run", str(run)]) == 0
    video = sorted((scene_runs / "scenes" / "videos").glob("*.mp4"))[0]
    a = Detector.load(run).score_video(video)
    b = Detector.load(run, engine="onnx").score_video(video)
    assert np.abs(a.frame_scores - b.frame_scores).max() < 1e-4
    assert [e.to_dict() for e in a.events] == [e.to_dict() for e in b.events]
    out = tmp_path / "det"
    assert main(["detect", str(video), "--run", str(run), "--out", str(out), "--engine",
                 "onnx", "--no-overlay"]) == 0
    assert (out / video.stem / "events.json").is_file()
