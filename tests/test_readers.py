import json

import numpy as np
import pytest
from conftest import shared

from wsvad.contract import FeatureContract
from wsvad.data import load_dataset
from wsvad.data.features import as_snippet_array
from wsvad.data.readers import RTFMSource, StoreSource, XDSource, video_name
from wsvad.errors import ContractMismatch, DataError


def _write_spec(d, **kv):
    import yaml
    (d / "spec.yaml").write_text(yaml.safe_dump(kv))
    return d / "spec.yaml"


def test_video_names():
    assert video_name("/home/yu/SH_Test/01_0015_i3d.npy") == "01_0015"
    assert video_name("test/Bad.Boys.1995__#01-11_label_G-B2-B6__3.npy") == \
        "Bad.Boys.1995__#01-11_label_G-B2-B6"
    assert video_name("Normal_Videos_006_x264.npy") == "Normal_Videos_006_x264"


def test_rtfm_list_with_author_paths_resolves_by_file_name(tmp_path):
    (tmp_path / "f" / "sub").mkdir(parents=True)
    np.save(tmp_path / "f" / "sub" / "v1_i3d.npy", np.ones((5, 3, 8), np.float32))
    np.save(tmp_path / "f" / "v2_i3d.npy", np.zeros((7, 3, 8), np.float32))
    (tmp_path / "train.list").write_text("/home/authors/x/v1_i3d.npy\n/home/y/v2_i3d.npy\n")
    src = RTFMSource(tmp_path / "f")
    assert src.names(tmp_path / "train.list") == ["v1", "v2"]
    assert src.load("v2").shape == (7, 3, 8) and src.snippets("v1") == 5


def test_any_dim_and_crop_count(tmp_path):
    for d, c in [(1024, 5), (4096, 1), (256, 10)]:
        arr = np.random.rand(4, c, d) if c > 1 else np.random.rand(4, d)
        assert as_snippet_array(arr, "x").shape == (4, c, d)


@pytest.mark.parametrize("arr,match", [
    (np.ones((3, 2, 2, 2)), "expected \\[T, D\\]"),
    (np.ones((0, 8)), "empty"),
    (np.array([[1.0, np.nan]]), "NaN"),
    (np.array([[np.inf, 1.0]]), "NaN/inf"),
])
def test_bad_feature_arrays(arr, match):
    with pytest.raises(DataError, match=match):
        as_snippet_array(arr, "bad.npy")


def test_missing_video_and_empty_list(tmp_path):
    (tmp_path / "f").mkdir()
    np.save(tmp_path / "f" / "a.npy", np.ones((3, 4), np.float32))
    (tmp_path / "l.list").write_text("a.npy\nzzz_i3d.npy\n")
    with pytest.raises(DataError, match="line 2: no feature file for video 'zzz'"):
        RTFMSource(tmp_path / "f").names(tmp_path / "l.list")
    (tmp_path / "e.list").write_text("\n")
    with pytest.raises(DataError, match="empty"):
        RTFMSource(tmp_path / "f").names(tmp_path / "e.list")


def test_corrupt_npy_is_a_clear_error(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match="corrupt"):
        RTFMSource(tmp_path / "f").load("a")


def test_xd_crop_files_stack(tmp_path):
    for i in range(5):
        np.save(tmp_path / f"v_label_A__{i}.npy", np.full((6, 16), i, np.float32))
    (tmp_path / "t.list").write_text("\n".join(f"test/v_label_A__{i}.npy" for i in range(5)))
    src = XDSource(tmp_path)
    assert src.names(tmp_path / "t.list") == ["v_label_A"]
    f = src.load("v_label_A")
    assert f.shape == (6, 5, 16) and f[0, :, 0].tolist() == [0, 1, 2, 3, 4]
    (tmp_path / "v_label_A__3.npy").unlink()
    with pytest.raises(DataError, match="crop file is missing"):
        XDSource(tmp_path).load("v_label_A")


def test_store_reader_and_contract(tmp_path):
    (tmp_path / "features").mkdir()
    np.save(tmp_path / "features" / "cam1.npy", np.ones((9, 1, 12), np.float32))
    c = FeatureContract(dim=12, crops=1, backbone="effnet-lite0", fps=10.0)
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"contract": c.to_dict(), "videos": {"cam1": {"frames": 140, "snippets": 9}}}))
    src = StoreSource(tmp_path)
    assert src.contract("cam1") == c and src.snippets("cam1") == 9
    with pytest.raises(ContractMismatch, match="dim: run has 2048, data has 12"):
        FeatureContract(dim=2048, crops=1).check_compatible(c, "run", "data")


def test_labels_and_gt_errors(tmp_path, tiny_bench):
    spec = tiny_bench
    ds = load_dataset(spec)
    assert {e.label for e in ds.train} == {0, 1}
    assert all(len(ds.frame_labels[e.name]) == 16 * ds.source.snippets(e.name) for e in ds.test)
    base = dict(format="rtfm", feature_dir=str(spec.parent / "features"),
                train_list=str(spec.parent / "train.list"))
    with pytest.raises(DataError, match="no label for training video"):
        load_dataset(_write_spec(tmp_path, **base))
    (tmp_path / "labels.csv").write_text("name,label\nx,2\n")
    with pytest.raises(DataError, match="label 0"):
        load_dataset(_write_spec(tmp_path, labels="labels.csv", **base))
    np.save(tmp_path / "gt.npy", np.zeros(10))
    with pytest.raises(DataError, match="10 frame labels"):
        load_dataset(_write_spec(tmp_path, abnormal_first=16, test_list=str(
            spec.parent / "test.list"), gt="gt.npy", **base))
    with pytest.raises(DataError, match="unknown keys"):
        load_dataset(_write_spec(tmp_path, colour="red", **base))


def test_real_shanghaitech_i3d_sample_loads_as_published():
    z = np.load(shared("feature_samples", "shanghaitech_i3d_r50_10crop_normal7_fp16.npz"))
    for key in z.files:
        arr = as_snippet_array(z[key], key)
        assert arr.shape[1:] == (10, 2048) and arr.dtype == np.float32
        assert (arr >= 0).all()  # post-ReLU I3D features


def test_real_ucf_c3d_sample_loads_as_32_segments():
    z = np.load(shared("feature_samples", "ucf_crime_c3d_fc6_32seg.npz"))
    for key in z.files:
        arr = as_snippet_array(z[key], key)
        assert arr.shape == (32, 1, 4096)
        np.testing.assert_allclose(np.linalg.norm(arr[:, 0], axis=1), 1.0, atol=1e-3)
