"""`wsvad compare`: every method × seed, one table with the training-free baselines, resumable."""

import json

import numpy as np

from wsvad.cli import main
from wsvad.data.bags import BagSet


def test_compare_writes_the_table_and_resumes(tiny_bench, tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--data", str(tiny_bench), "--methods", "mil", "--seeds", "1,2",
            "--out", str(out), "--iterations", "8", "--set", "batch_size=4"]
    assert main(argv) == 0
    table = (out / "compare.md").read_text()
    assert "| mil |" in table and "feature_magnitude (training-free)" in table
    assert "the best training-free baseline (" in table
    assert "flow_percentile` not run" in table and "motion_desc" in table
    res = json.loads((out / "compare.json").read_text())
    s = res["methods"]["mil"]["summary"]["frame_auc"]
    per_seed = [res["methods"]["mil"]["seeds"][k]["frame_auc"] for k in ("1", "2")]
    assert s["n"] == 2 and abs(s["mean"] - np.mean(per_seed)) < 1e-6
    assert abs(s["std"] - np.std(per_seed)) < 1e-6
    # an unscoped --set reaches the learned methods, not the training-free references
    assert str(res["methods"]["mil"]["overrides"]["batch_size"]) == "4"
    assert "batch_size" not in res["methods"]["feature_magnitude"]["overrides"]
    assert (out / "compare.png").stat().st_size > 3000
    assert "Frame AUC per anomaly class" in table and "| mil |" in table.split("class")[-1]
    assert res["methods"]["mil"]["classwise"] and (out / "classwise.png").stat().st_size > 3000
    stamp = (out / "mil" / "seed_1" / "metrics.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 0                      # finished runs are read back, not retrained
    assert (out / "mil" / "seed_1" / "metrics.json").stat().st_mtime_ns == stamp
    assert "compare: mil seed 1" not in capsys.readouterr().out
    assert "Command: `wsvad compare --data" in (out / "compare.md").read_text()
    # a run saved before a config key existed (here: `ica`) ran with its default: reused;
    # a run whose stored value differs from what is asked is retrained
    meta_path = out / "mil" / "seed_1" / "model.json"
    meta = json.loads(meta_path.read_text())
    del meta["config"]["ica"]
    meta_path.write_text(json.dumps(meta))
    assert main(argv) == 0
    assert (out / "mil" / "seed_1" / "metrics.json").stat().st_mtime_ns == stamp
    meta["config"]["ica"] = True
    meta_path.write_text(json.dumps(meta))
    assert main(argv) == 0
    assert (out / "mil" / "seed_1" / "metrics.json").stat().st_mtime_ns != stamp


def test_compare_takes_method_config_files(tiny_bench, tmp_path):
    cfg = tmp_path / "mil-small.yaml"
    cfg.write_text("method: mil\nconfig:\n  batch_size: 3\n  iterations: 4\n")
    out = tmp_path / "cmp"
    assert main(["compare", "--data", str(tiny_bench), "--methods", "mil", "--seeds", "1",
                 "--out", str(out), "--config", str(cfg)]) == 0
    res = json.loads((out / "compare.json").read_text())
    assert res["methods"]["mil"]["overrides"] == {"batch_size": 3, "iterations": 4}
    saved = json.loads((out / "mil" / "seed_1" / "model.json").read_text())
    assert saved["config"]["batch_size"] == 3 and saved["config"]["iterations"] == 4


def test_bags_over_budget_live_on_disk_and_read_the_same(tmp_path):
    rng = np.random.default_rng(0)
    data = {str(i): {"features": rng.normal(size=(9, 1, 4)).astype(np.float32),
                     "patches_2x3": rng.normal(size=(9, 6, 4)).astype(np.float16)}
            for i in range(5)}
    ram = BagSet(list(data), [0, 1, 0, 1, 0], data.__getitem__, 4)
    disk = BagSet(list(data), [0, 1, 0, 1, 0], data.__getitem__, 4, budget=0,
                  cache_dir=tmp_path)
    assert not ram.on_disk and disk.on_disk and any(tmp_path.iterdir())
    a, b = ram.batch([3, 1]), disk.batch([3, 1])
    np.testing.assert_array_equal(a.patches["2x3"].numpy(), b.patches["2x3"].numpy())
    assert a.patches["2x3"].shape == (2, 4, 6, 4) and ram.arrays["patches_2x3"].dtype == np.float16
    disk.close()
    assert not any(tmp_path.iterdir())


def test_tube_table_has_the_context_rows_and_each_method_where_it_applies():
    from wsvad.compare import tube_table

    def s(**kv):
        return {k: {"mean": v, "std": 0.0, "n": 3} for k, v in kv.items()}
    results = {
        "wsstad": {"trains": True, "summary": s(
            tube_video_auc=0.9, tube_false_alarm_rate=0.25, frame_auc=0.93, video_auc=0.8,
            **{"iou@0.1": 0.5, "iou@0.2": 0.4, "iou@0.3": 0.2}, mean_iou=0.15,
            **{"random_iou@0.1": 0.06, "random_iou@0.2": 0.03, "random_iou@0.3": 0.0},
            random_mean_iou=0.02, **{"upper_iou@0.1": 1.0, "upper_iou@0.2": 0.7,
                                     "upper_iou@0.3": 0.2}, upper_mean_iou=0.22)},
        "rtfm": {"trains": True, "summary": s(frame_auc=0.95, video_auc=0.97)},
        "flow_mean": {"trains": False, "summary": s(frame_auc=0.89, video_auc=0.9)}}
    rows = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]]
            for r in tube_table(results).splitlines() if r.startswith("| ") and "---" not in r}
    assert rows["Random tube (candidates of wsstad)"] == [
        "–", "0.060 ± 0.000", "0.030 ± 0.000", "0.000 ± 0.000", "0.020 ± 0.000", "–", "–"]
    assert rows["Upper bound (candidates of wsstad)"][1] == "1.000 ± 0.000"
    assert rows["wsstad"] == ["0.900 ± 0.000", "0.500 ± 0.000", "0.400 ± 0.000",
                              "0.200 ± 0.000", "0.150 ± 0.000", "0.250 ± 0.000", "0.930 ± 0.000"]
    assert rows["rtfm"] == ["0.970 ± 0.000", "–", "–", "–", "–", "–", "0.950 ± 0.000"]
    assert "flow_mean (training-free)" in rows
    # a second tube method with the same candidates does not repeat the context rows
    same = dict(results, tube_motion={**results["wsstad"], "trains": False})
    assert tube_table(same).count("Random tube") == 1
    assert tube_table({"rtfm": results["rtfm"]}) == ""


def test_compare_of_baselines_alone_and_a_method_that_cannot_run(tiny_bench, tmp_path, capsys):
    out = tmp_path / "base"
    assert main(["compare", "--data", str(tiny_bench), "--methods", "feature_magnitude",
                 "--seeds", "1", "--out", str(out)]) == 0
    assert "feature_magnitude (training-free)" in (out / "compare.md").read_text()
    capsys.readouterr()
    # the reason names the missing stream of the method asked for, not an empty list
    assert main(["compare", "--data", str(tiny_bench), "--methods", "flow_percentile",
                 "--seeds", "1", "--out", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "none of the asked-for methods can run" in err and "motion_desc" in err


def test_baseline_check_names_learned_methods_below_the_best_baseline():
    from wsvad.compare import baseline_check

    def r(trains, **kv):
        return {"trains": trains, "summary": {k: {"mean": v} for k, v in kv.items()}}
    results = {"mil": r(True, frame_auc=0.94), "rtfm": r(True, frame_auc=0.95),
               "gig": r(True, frame_auc=float("nan")),
               "flow_mean": r(False, frame_auc=0.908), "flow_percentile": r(False, frame_auc=0.96)}
    line = baseline_check(results)
    assert "(flow_percentile, frame AUC 0.960): mil (0.940), rtfm (0.950)." in line
    assert "Above it" not in line and "gig" not in line
    results["flow_percentile"] = r(False, frame_auc=0.945)
    assert baseline_check(results).strip().endswith(
        "(flow_percentile, frame AUC 0.945): mil (0.940). Above it: rtfm (0.950).")
    assert baseline_check({"mil": results["mil"]}) == ""          # no baseline: no line
    assert baseline_check({"flow_mean": results["flow_mean"]}) == ""
    results = {"ssrl": r(True, frame_auc=0.945, pointing_accuracy=0.547),
               "flow_percentile": r(False, frame_auc=0.992, pointing_accuracy=0.785),
               "flow_mean": r(False, frame_auc=0.908)}                  # no heat map
    assert baseline_check(results, "pointing_accuracy").strip() == (
        "Below the best training-free baseline (flow_percentile, pointing 0.785): ssrl (0.547).")


def test_classwise_tables_for_auc_and_pointing():
    from wsvad.compare import classwise_table
    cell = {"fall": {"mean": 0.5, "std": 0.1}, "bag": {"mean": 0.25, "std": 0.0}}
    results = {"ssrl": {"trains": True, "classwise_pointing": cell},
               "flow_percentile": {"trains": False, "classwise_pointing": cell}}
    table = classwise_table(results, "classwise_pointing")
    assert table.startswith("\nPointing per anomaly class")
    assert "| method | bag | fall |" in table
    assert table.index("| ssrl | 0.250 ± 0.000 | 0.500 ± 0.100 |") < table.index(
        "| flow_percentile |")                                    # learned methods first
    assert classwise_table(results) == ""                         # no frame AUC per class
