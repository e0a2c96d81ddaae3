"""Safety and silent-wrong-result cases: each of these failed before its fix."""

import json
import os
import pickle
import shutil
import stat

import av
import numpy as np
import pytest

from wsvad.cli import main
from wsvad.errors import DataError
from wsvad.video import iter_frames


class _Exploit:
    """Unpickling this creates a file: proof that a load ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_resume_never_unpickles(tiny_bench, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--method", "mil", "--data", str(tiny_bench), "--out", str(run),
            "--set", "batch_size=4", "--patience", "0", "--val-fraction", "0"]
    assert main(args + ["--iterations", "10"]) == 0
    assert {"resume.json", "resume.safetensors"} <= {p.name for p in run.iterdir()}
    assert not (run / "resume.pt").exists()
    marker = tmp_path / "pwned"
    # a planted pickle under every name the run directory uses
    for name in ("resume.pt", "resume.safetensors"):
        (run / name).write_bytes(pickle.dumps(_Exploit(str(marker))))
    assert main(args + ["--iterations", "20", "--resume"]) == 2
    assert not marker.exists()
    assert "unreadable" in capsys.readouterr().err
    # an old-style pickled resume.pt alone is refused with the reason
    (run / "resume.safetensors").unlink()
    (run / "resume.json").unlink()
    assert main(args + ["--iterations", "20", "--resume"]) == 2
    assert "pickle" in capsys.readouterr().err and not marker.exists()


def test_resume_pair_from_different_saves_is_refused(tiny_bench, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--method", "mil", "--data", str(tiny_bench), "--out", str(run),
            "--set", "batch_size=4", "--patience", "0", "--val-fraction", "0"]
    assert main(args + ["--iterations", "10"]) == 0
    meta = json.loads((run / "resume.json").read_text())
    meta["token"] = "0" * 16
    (run / "resume.json").write_text(json.dumps(meta))
    assert main(args + ["--iterations", "20", "--resume"]) == 2
    assert "do not belong together" in capsys.readouterr().err


def _faststart_mp4(path, frames=60):
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for _ in range(frames):
            f = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def test_truncated_faststart_video_is_reported_broken(tmp_path):
    full = _faststart_mp4(tmp_path / "full.mp4")
    assert len(list(iter_frames(full))) == 60
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: int(0.3 * len(data))])
    with pytest.raises(DataError, match="truncated"):
        list(iter_frames(cut))


def test_extract_skips_a_truncated_video_with_nonzero_exit(tmp_path, capsys):
    d = tmp_path / "videos"
    d.mkdir()
    _faststart_mp4(d / "good.mp4", 32)
    data = _faststart_mp4(tmp_path / "x.mp4").read_bytes()
    (d / "cut.mp4").write_bytes(data[: int(0.3 * len(data))])
    assert main(["extract", str(d), "--out", str(tmp_path / "store"), "--backbone",
                 "motion"]) == 1
    err = capsys.readouterr().err
    assert "cut" in err and "truncated" in err
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert sorted(manifest["videos"]) == ["good"]


def test_outputs_follow_the_umask(tmp_path):
    from wsvad.fileio import write_text
    old = os.umask(0o022)
    try:
        p = write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644


# -- every foreseeable bad input: one clear line on stderr, exit code 2, no traceback ----------

def _spec(tiny_bench, tmp_path, **changes):
    """A copy of the tiny benchmark's spec with some keys changed (paths stay absolute)."""
    import yaml
    raw = yaml.safe_load(tiny_bench.read_text())
    for k in ("feature_dir", "train_list", "test_list", "labels", "gt"):
        if raw.get(k):
            raw[k] = str((tiny_bench.parent / raw[k]).resolve())
    raw.update(changes)
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


@pytest.fixture(scope="module")
def small_run(tiny_bench, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "--method", "mil", "--data", str(tiny_bench), "--out", str(run),
                 "--iterations", "5", "--set", "batch_size=4"]) == 0
    return run


def _case_out_is_file(tb, run, tmp):
    (tmp / "f").write_text("x")
    return ["train", "--method", "mil", "--data", str(tb), "--out", str(tmp / "f")], "is a file"


def _case_out_under_file(tb, run, tmp):
    (tmp / "f").write_text("x")
    return ["extract", str(tmp), "--out", str(tmp / "f" / "store")], "is a file, not a folder"


def _case_score_out_under_file(tb, run, tmp):
    (tmp / "f").write_text("x")
    feat = next((tb.parent / "features").glob("*.npy"))
    return ["score", "--run", str(run), "--features", str(feat), "--out",
            str(tmp / "f" / "s.csv")], "is a file, not a folder"


def _case_detect_out_is_file(tb, run, tmp):
    (tmp / "f").write_text("x")
    return ["detect", "--run", str(run), str(tmp / "v.mp4"), "--out", str(tmp / "f")], \
        "is a file"


def _case_report_out_under_file(tb, run, tmp):
    (tmp / "f").write_text("x")
    return ["report", "--run", str(run), "--out", str(tmp / "f" / "r.html")], "is a file"


def _case_only_normal_videos(tb, run, tmp):
    rows = [ln for ln in (tb.parent / "labels.csv").read_text().splitlines()[1:]]
    (tmp / "labels.csv").write_text("name,label\n" + "".join(
        f"{r.split(',')[0]},0\n" for r in rows))
    return ["train", "--method", "mil", "--data", str(_spec(tb, tmp, labels=str(
        tmp / "labels.csv"))), "--out", str(tmp / "r")], "are normal"


def _case_object_gt(tb, run, tmp):
    np.save(tmp / "gt.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return ["train", "--method", "mil", "--data", str(_spec(tb, tmp, gt=str(tmp / "gt.npy"))),
            "--out", str(tmp / "r")], "cannot read frame labels"


def _case_corrupt_gt_npz(tb, run, tmp):
    (tmp / "gt.npz").write_bytes(b"PK\x03\x04 broken")
    return ["train", "--method", "mil", "--data", str(_spec(tb, tmp, gt=str(tmp / "gt.npz"))),
            "--out", str(tmp / "r")], "cannot read frame labels"


def _case_model_json_not_json(tb, run, tmp):
    import shutil
    shutil.copytree(run, tmp / "run")
    (tmp / "run" / "model.json").write_text("{ not json")
    return ["evaluate", "--run", str(tmp / "run")], "unreadable checkpoint metadata"


def _case_model_json_wrong_types(tb, run, tmp):
    import shutil
    shutil.copytree(run, tmp / "run")
    meta = json.loads((tmp / "run" / "model.json").read_text())
    meta["config"] = ["lr", 1]
    (tmp / "run" / "model.json").write_text(json.dumps(meta))
    return ["evaluate", "--run", str(tmp / "run")], "unreadable checkpoint metadata"


def _case_labels_without_header(tb, run, tmp):
    rows = (tb.parent / "labels.csv").read_text().splitlines()[1:]
    first = rows[0].split(",")[0]
    (tmp / "labels.csv").write_text(f"{first},maybe\n" + "\n".join(rows[1:]) + "\n")
    return ["train", "--method", "mil", "--data", str(_spec(tb, tmp, labels=str(
        tmp / "labels.csv"))), "--out", str(tmp / "r")], "line 1: expected 'name,label"


def _case_labels_one_column(tb, run, tmp):
    (tmp / "labels.csv").write_text("name,label\nvideo_without_label\n")
    return ["train", "--method", "mil", "--data", str(_spec(tb, tmp, labels=str(
        tmp / "labels.csv"))), "--out", str(tmp / "r")], "line 2: expected 'name,label"


def _case_labels_not_utf8(tb, run, tmp):
    (tmp / "labels.csv").write_bytes(b"\xff\xfe\x00bad")
    return ["train", "--method", "mil", "--data", str(_spec(tb, tmp, labels=str(
        tmp / "labels.csv"))), "--out", str(tmp / "r")], "not a UTF-8 CSV"


def _case_snippet_frames_text(tb, run, tmp):
    return ["train", "--method", "mil", "--data", str(_spec(tb, tmp, snippet_frames="abc")),
            "--out", str(tmp / "r")], "snippet_frames must be a whole number"


def _case_bad_config_yaml(tb, run, tmp):
    (tmp / "c.yaml").write_text("method: mil\nconfig: [unclosed\n")
    return ["train", "--config", str(tmp / "c.yaml"), "--data", str(tb), "--out",
            str(tmp / "r")], "not valid YAML"


def _case_detect_labels_corrupt(tb, run, tmp):
    (tmp / "l.npz").write_bytes(b"nope")
    return ["detect", "--run", str(run), str(tmp), "--labels", str(tmp / "l.npz"), "--out",
            str(tmp / "o")], "--labels"


def _case_detect_boxes_malformed(tb, run, tmp):
    (tmp / "b.json").write_text('{"v": [[1, 2]]}')
    return ["detect", "--run", str(run), str(tmp), "--boxes", str(tmp / "b.json"), "--out",
            str(tmp / "o")], "rows must be"


def _case_spec_path_not_a_string(tb, run, tmp):
    return ["train", "--method", "mil", "--data", str(_spec(tb, tmp, train_list=[1, 2])),
            "--out", str(tmp / "r")], "'train_list' must be a path"


CASES = [_case_out_is_file, _case_out_under_file, _case_score_out_under_file,
         _case_detect_out_is_file, _case_report_out_under_file, _case_only_normal_videos,
         _case_object_gt, _case_corrupt_gt_npz, _case_model_json_not_json,
         _case_model_json_wrong_types, _case_labels_without_header, _case_labels_one_column,
         _case_labels_not_utf8, _case_snippet_frames_text, _case_bad_config_yaml,
         _case_detect_labels_corrupt, _case_detect_boxes_malformed,
         _case_spec_path_not_a_string]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[6:] for c in CASES])
def test_bad_input_is_one_clear_line(case, tiny_bench, small_run, tmp_path, capsys):
    argv, message = case(tiny_bench, small_run, tmp_path)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv,message", [
    (["train", "--method", "mil", "--data", "x", "--out", "y", "--iterations", "0"],
     "--iterations: 0 is out of range: allowed [1, inf)"),
    (["train", "--method", "mil", "--data", "x", "--out", "y", "--val-fraction", "1.5"],
     "allowed [0, 1)"),
    (["train", "--method", "mil", "--data", "x", "--out", "y", "--seeds", "1,a"],
     "comma-separated whole numbers"),
    (["extract", "v", "--out", "o", "--fps", "-1"], "allowed (0, inf)"),
    (["extract", "v", "--out", "o", "--fps", "0"], "allowed (0, inf)"),
    (["extract", "v", "--out", "o", "--frames-per-snippet", "0"], "allowed [1, 16]"),
    (["detect", "v", "--run", "r", "--threshold", "-0.5"], "scores are in [0, 1]"),
    (["detect", "v", "--run", "r", "--hysteresis", "1"], "allowed [0, 1)"),
    (["detect", "v", "--run", "r", "--window", "0"], "allowed [1, inf)"),
])
def test_numeric_arguments_name_their_range(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("kv,message", [("lr=-1", "allowed (0, inf)"),
                                        ("dropout=2", "allowed [0, 1)"),
                                        ("batch_size=0", "allowed [1, inf)")])
def test_config_overrides_name_their_range(kv, message, tiny_bench, tmp_path, capsys):
    assert main(["train", "--method", "mil", "--data", str(tiny_bench), "--out",
                 str(tmp_path / "r"), "--set", kv]) == 2
    assert message in capsys.readouterr().err


def test_iterations_zero_is_not_the_default(tiny_bench, tmp_path):
    """--iterations 1 trains one step (it used to fall back to the default when falsy)."""
    assert main(["train", "--method", "mil", "--data", str(tiny_bench), "--out",
                 str(tmp_path / "r"), "--iterations", "1", "--set", "batch_size=4"]) == 0
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["iterations_run"] == 1


def test_unreadable_test_video_stops_evaluation_unless_allowed(tiny_bench, small_run, tmp_path,
                                                               capsys):
    data = tmp_path / "bench"
    shutil.copytree(tiny_bench.parent, data)
    bad = sorted((data / "features").glob("test_anom*_i3d.npy"))[0]
    x = np.load(bad)
    x[3] = np.nan
    np.save(bad, x)
    name = bad.name[:-len("_i3d.npy")]
    capsys.readouterr()
    assert main(["evaluate", "--run", str(small_run), "--data", str(data / "spec.yaml")]) == 2
    err = capsys.readouterr().err
    assert name in err and "NaN" in err and "--allow-missing" in err
    assert main(["evaluate", "--run", str(small_run), "--data", str(data / "spec.yaml"),
                 "--allow-missing"]) == 0
    err = capsys.readouterr().err
    assert "WARNING: metrics cover 15 of 16 test videos" in err and name in err
    # a copy of the data is another dataset to the run: its own evaluation file
    metrics = json.loads((small_run / "evaluation-synthetic.json").read_text())
    assert metrics["requested_videos"] == 16 and list(metrics["failed_videos"]) == [name]


def test_evaluate_reports_false_alarms_at_the_runs_threshold(tiny_bench, small_run, capsys):
    assert main(["evaluate", "--run", str(small_run)]) == 0
    tau = json.loads((small_run / "model.json").read_text())["threshold"]["value"]
    metrics = json.loads((small_run / "evaluation.json").read_text())
    assert tau != 0.5 and metrics["false_alarm_threshold"] == pytest.approx(tau)
    trained = json.loads((small_run / "metrics.json").read_text())
    assert metrics["false_alarm_rate"] == pytest.approx(trained["false_alarm_rate"])
