"""The CLI as a user runs it: train → evaluate → score, resume, and clear errors."""

import json

import numpy as np
import pytest

from wsvad.cli import main


def test_train_evaluate_score(tiny_bench, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--method", "rtfm", "--data", str(tiny_bench), "--out", str(run),
                 "--iterations", "12", "--set", "batch_size=4"]) == 0
    for f in ("model.safetensors", "model.json", "config.yaml", "metrics.json", "roc.png",
              "pr.png", "timelines.png", "training.png", "history.json"):
        assert (run / f).is_file(), f
    metrics = json.loads((run / "metrics.json").read_text())
    for k in ("frame_auc", "frame_ap", "frame_pr_auc_trapezoid", "abnormal_only_auc"):
        assert 0.0 <= metrics[k] <= 1.0
    assert main(["evaluate", "--run", str(run)]) == 0
    assert json.loads((run / "evaluation.json").read_text())["frame_auc"] == \
        pytest.approx(metrics["frame_auc"])
    # cross-dataset: another store with the same feature contract, its own evaluation file
    from wsvad.datasets import BenchmarkConfig, make_benchmark
    other = make_benchmark(tmp_path / "other", BenchmarkConfig(
        train_normal=4, train_abnormal=4, test_normal=4, test_abnormal=4, dim=32, crops=2,
        min_snippets=20, max_snippets=30, seed=9))
    other_text = other.read_text().replace("name: synthetic", "name: other-bench")
    other.write_text(other_text)
    assert main(["evaluate", "--run", str(run), "--data", str(other)]) == 0
    cross = json.loads((run / "evaluation-other-bench.json").read_text())
    assert cross["data"] == str(other) and cross["frame_auc"] != metrics["frame_auc"]
    assert json.loads((run / "evaluation.json").read_text())["frame_auc"] == \
        pytest.approx(metrics["frame_auc"])                     # the own evaluation is kept
    feat = next((tiny_bench.parent / "features").glob("test_anom*_i3d.npy"))
    out_csv = tmp_path / "s.csv"
    assert main(["score", "--run", str(run), "--features", str(feat), "--out", str(out_csv)]) == 0
    rows = out_csv.read_text().splitlines()
    assert rows[0] == "frame,snippet,score" and len(rows) - 1 == 16 * np.load(feat).shape[0]


def test_resume_continues_where_it_stopped(tiny_bench, tmp_path):
    run = tmp_path / "r"
    args = ["train", "--method", "mil", "--data", str(tiny_bench), "--out", str(run),
            "--set", "batch_size=4", "--patience", "0"]
    assert main(args + ["--iterations", "20"]) == 0
    assert main(args + ["--iterations", "40", "--resume"]) == 0
    hist = json.loads((run / "history.json").read_text())
    assert [h["iteration"] for h in hist] == list(range(1, 41))


def test_seeds_give_mean_and_std(tiny_bench, tmp_path, capsys):
    assert main(["train", "--method", "mil", "--data", str(tiny_bench), "--out",
                 str(tmp_path / "s"), "--iterations", "10", "--seeds", "1,2",
                 "--set", "batch_size=4"]) == 0
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["summary"]["frame_auc"]["n"] == 2
    assert "± std" in capsys.readouterr().out


def test_contract_mismatch_and_bad_inputs(tiny_bench, tmp_path, capsys):
    run = tmp_path / "run"
    main(["train", "--method", "mil", "--data", str(tiny_bench), "--out", str(run),
          "--iterations", "5", "--set", "batch_size=4"])
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.ones((6, 2, 48), np.float32))
    assert main(["score", "--run", str(run), "--features", str(wrong)]) == 2
    assert "dim: run" in capsys.readouterr().err
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((6, 2, 32), np.nan, np.float32))
    assert main(["score", "--run", str(run), "--features", str(nan)]) == 2
    assert "NaN" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(tmp_path / "none")]) == 2
    assert "checkpoint file missing" in capsys.readouterr().err
    assert main(["train", "--method", "mil", "--data", str(tmp_path / "no.yaml"), "--out",
                 str(tmp_path / "x")]) == 2
    assert "dataset spec not found" in capsys.readouterr().err


def test_bad_training_video_is_skipped_and_reported(tiny_bench, tmp_path):
    import shutil
    d = tmp_path / "bench"
    shutil.copytree(tiny_bench.parent, d)
    victim = next((d / "features").glob("train_norm*_i3d.npy"))
    victim.write_bytes(victim.read_bytes()[:200])  # truncated file
    assert main(["train", "--method", "mil", "--data", str(d / "spec.yaml"), "--out",
                 str(tmp_path / "run"), "--iterations", "5", "--set", "batch_size=4",
                 "--val-fraction", "0"]) == 0
    skipped = json.loads((tmp_path / "run" / "metrics.json").read_text())["skipped_videos"]
    name = victim.name.removesuffix("_i3d.npy")
    assert list(skipped) == [name] and "corrupt" in skipped[name]


def test_shipped_configs_build_their_methods():
    from pathlib import Path

    from wsvad import api, methods
    configs = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert len(configs) >= 4
    for c in configs:
        name, cfg = api.read_config(c)
        methods.create(name, dim=64, **cfg)  # unknown keys or bad values raise


def test_config_file_drives_training(tiny_bench, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("method: mil\nconfig:\n  batch_size: 4\n  iterations: 6\n")
    assert main(["train", "--config", str(cfg), "--data", str(tiny_bench), "--out",
                 str(tmp_path / "r")]) == 0
    import yaml
    resolved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert resolved["method"] == "mil" and resolved["config"]["iterations"] == 6


def test_detect_and_report_from_the_command_line(scene_runs, tmp_path, capsys):
    video = scene_runs / "scenes" / "videos" / "test_001.mp4"
    out = tmp_path / "det"
    assert main(["detect", "--run", str(scene_runs / "mil"), str(video), "--out", str(out),
                 "--threshold", "0.5", "--no-overlay"]) == 0
    text = capsys.readouterr().out
    assert "test_001: 75 frames" in text and "real-time factor" in text
    assert (out / "test_001" / "events.json").is_file()
    assert not (out / "test_001" / "overlay.mp4").exists()
    assert main(["detect", "--run", str(tmp_path / "nothing"), str(video)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert main(["detect", "--run", str(scene_runs / "mil"), str(tmp_path / "missing.mp4"),
                 "--out", str(out)]) == 2
    assert "input not found" in capsys.readouterr().err
    assert main(["detect", "--run", str(scene_runs / "mil"), "webcam:7", "--out", str(out)]) == 1
    assert "camera 7 cannot be opened" in capsys.readouterr().err
    html = tmp_path / "r.html"
    assert main(["report", "--run", str(scene_runs / "mil"), "--out", str(html)]) == 0
    assert html.read_text().startswith("<!DOCTYPE html>")


def test_detect_help_is_readable(capsys):
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    text = capsys.readouterr().out
    for word in ("rtsp://", "webcam:0", "--threshold", "hysteresis", "--realtime"):
        assert word in text


def test_every_subcommand_and_option_says_what_it_is(capsys):
    """`wsvad CMD --help` opens with what CMD does, and no option or positional is left bare."""
    import argparse

    from wsvad.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    bare = [f"{name} {a.option_strings or a.dest}" for name, p in sub.choices.items()
            for a in p._actions if a.help is None and "-h" not in a.option_strings]
    assert not bare, bare
    assert all(p.description for p in sub.choices.values())
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "calibrated threshold" in capsys.readouterr().out


def test_make_scenes_renders_another_rendering_with_its_spec(tmp_path, capsys):
    """Same seed → byte-identical videos; another seed → other videos; the spec names the
    split the labels and the ground truth describe; bad counts are one clear line."""
    import yaml
    args = ["make-scenes", "--train", "1,1", "--test", "1,2", "--seconds", "1", "--cameras", "2"]
    assert main(args + ["--out", str(tmp_path / "a"), "--seed", "7"]) == 0
    assert "wsvad extract" in capsys.readouterr().out
    assert main(args + ["--out", str(tmp_path / "b"), "--seed", "7"]) == 0
    assert main(args + ["--out", str(tmp_path / "c"), "--seed", "8"]) == 0
    scenes = tmp_path / "a" / "scenes"
    names = sorted(p.name for p in (scenes / "videos").glob("*.mp4"))
    assert names == ["test_000.mp4", "test_001.mp4", "test_002.mp4", "train_000.mp4",
                     "train_001.mp4"]
    same = (tmp_path / "b" / "scenes" / "videos" / "test_001.mp4").read_bytes()
    other = (tmp_path / "c" / "scenes" / "videos" / "test_001.mp4").read_bytes()
    assert (scenes / "videos" / "test_001.mp4").read_bytes() == same != other
    spec = yaml.safe_load((tmp_path / "a" / "spec.yaml").read_text())
    assert spec["feature_dir"] == "store" and spec["videos"] == "scenes/videos"
    assert (scenes / "test.txt").read_text().split() == ["test_000", "test_001", "test_002"]
    labels = [r.split(",")[1] for r in (scenes / "labels.csv").read_text().split()[1:]]
    assert sorted(labels) == ["0", "0", "1", "1", "1"]
    with pytest.raises(SystemExit):
        main(["make-scenes", "--out", str(tmp_path / "d"), "--train", "2,0"])
    assert "at least one normal and one abnormal" in capsys.readouterr().err
