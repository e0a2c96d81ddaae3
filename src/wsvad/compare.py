"""``wsvad compare``: every method × seed on one dataset, one table.

Each method trains with its paper defaults (updated by ``overrides``) once per seed, its
checkpoint and τ chosen on held-out training videos, the test set scored once; the table gives
mean ± std over seeds of every metric, training seconds and parameters. The training-free
baselines whose streams the dataset has are always in it; on a dataset with anomaly classes a
second table (and ``classwise.png``) gives the frame AUC per class. Resumable: a method × seed whose
``metrics.json`` exists (same config) is read back, not retrained.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from wsvad import methods
from wsvad.data.spec import FeatureDataset, load_dataset
from wsvad.errors import ConfigError, DataError
from wsvad.evaluation.metrics import summarize
from wsvad.fileio import atomic_write, check_writable, write_json, write_text

COLUMNS = (("frame_auc", "frame AUC"), ("frame_ap", "AP"),
           ("frame_pr_auc_trapezoid", "PR-AUC (trap.)"), ("abnormal_only_auc", "abn.-only AUC"),
           ("video_auc", "video AUC"), ("false_alarm_rate", "FAR@τ"),
           ("pointing_accuracy", "pointing"), ("pointing_accuracy_centre", "pointing (centre)"),
           ("pointing_accuracy_ceiling", "pointing (ceiling)"),
           ("heatmap_mass_in_boxes", "heat in boxes"), ("s_loc", "S_loc"), ("mean_iou", "mean IoU"),
           ("mf1", "MF1"),
           ("seconds", "train s"))

# WSSTAD's Table 1 context: what the tube metrics are called for a method and for the two rows
# (Random, Upper bound) computed from that method's candidate tubes
TUBE_COLUMNS = (("video_auc", "VAUC"), ("iou@0.1", "IoU@0.1"), ("iou@0.2", "IoU@0.2"),
                ("iou@0.3", "IoU@0.3"), ("mean_iou", "mean IoU"),
                ("false_alarm_rate", "FAR@0.2 (normal videos)"), ("frame_auc", "frame AUC"))
TUBE_KEYS = ("tube_video_auc", "tube_false_alarm_rate", "iou@0.1", "iou@0.2", "iou@0.3",
             *(f"{row}_{k}" for row in ("random", "upper")
               for k in ("iou@0.1", "iou@0.2", "iou@0.3", "mean_iou")))


def _method_overrides(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """``key=value`` applies to every *learned* method whose config has ``key``;
    ``method.key=value`` to that method only. A training-free baseline takes only settings
    addressed to it by name, so that its row is the same reference in every table on a store
    (``--set input_norm=abs`` once silently changed ``normal_distance``'s input).

    Example:
        >>> _method_overrides("normal_distance", {"input_norm": "abs"})
        {}
        >>> _method_overrides("normal_distance", {"normal_distance.input_norm": "abs"})
        {'input_norm': 'abs'}
    """
    keys = set(methods.get(name).Config().to_dict())
    learned = methods.get(name).trains
    out = {}
    for k, v in overrides.items():
        scope, _, key = k.rpartition(".")
        if (scope and scope != name) or (not scope and not learned):
            continue
        if key in keys:
            out[key] = v
        elif scope == name:
            raise ConfigError(f"{k}: method '{name}' has no config key '{key}'")
    return out


def plan(ds: FeatureDataset, which: str | list[str]) -> tuple[list[str], dict[str, str]]:
    """Methods to run (asked-for learned methods + every applicable baseline) and the ones
    skipped because the dataset lacks a stream they need (with the reason)."""
    asked = methods.names(trains=True) if which in ("all", ["all"]) else list(which)
    for m in asked:
        methods.get(m)  # unknown names fail here
    names = list(dict.fromkeys(asked + methods.names(trains=False)))
    run, skipped = [], {}
    for m in names:
        try:
            ds.streams_for(methods.get(m).needs, m)
            run.append(m)
        except DataError as exc:
            skipped[m] = str(exc)
    if not any(m in run for m in asked):
        raise DataError("none of the asked-for methods can run on this dataset: "
                        + "; ".join(skipped[m] for m in asked))
    return run, skipped


def compare(data: str | Path, out: str | Path, which: str | list[str] = "all",
            seeds: tuple[int, ...] = (1, 2, 3), overrides: dict[str, Any] | None = None,
            val_fraction: float = 0.1, progress: bool = True,
            command: str | None = None, device: str = "auto") -> dict[str, Any]:
    """Train and evaluate every method × seed; write ``compare.md``, ``compare.json`` and
    ``compare.png`` into ``out`` (see the module docstring). ``command``: how it was called,
    recorded in ``compare.json`` and under the table (default: the equivalent Python call).

    Example:
        >>> res = compare("ped2/spec.yaml", "runs/cmp", ["mil", "rtfm"])  # doctest: +SKIP
        >>> res["methods"]["rtfm"]["summary"]["frame_auc"]["mean"]       # doctest: +SKIP
    """
    from wsvad.training.trainer import train
    out = check_writable(out)
    ds = load_dataset(data)
    run, skipped = plan(ds, which)
    overrides = dict(overrides or {})
    results: dict[str, Any] = {}
    for m in run:
        over = _method_overrides(m, overrides)
        per_seed = {}
        for s in seeds:
            rdir = out / m / f"seed_{s}"
            metrics = _finished(rdir, m, over, s)
            if metrics is None:
                if progress:
                    print(f"compare: {m} seed {s}", flush=True)
                t0 = time.time()
                metrics = train(ds, m, rdir, over, seed=s, val_fraction=val_fraction,
                                progress=progress, device=device).metrics
                metrics.setdefault("seconds", round(time.time() - t0, 1))
            per_seed[s] = metrics
        vals = list(per_seed.values())
        results[m] = {"trains": methods.get(m).trains, "paper": methods.get(m).paper,
                      "overrides": over, "parameters": vals[0].get("parameters"),
                      "summary": summarize(vals, [k for k, _ in COLUMNS] + list(TUBE_KEYS)),
                      "seeds": {str(s): {k: v.get(k) for k, _ in COLUMNS}
                                for s, v in per_seed.items()}}
        for key, metric in (("classwise", "classwise_auc"),
                            ("classwise_pointing", "classwise_pointing")):
            per_class = [v.get(metric) or {} for v in vals]
            if any(per_class):
                results[m][key] = summarize(per_class, sorted(set().union(*per_class)))
    table = markdown_table(results, ds.spec.name, seeds) + baseline_check(results) + \
        baseline_check(results, "pointing_accuracy") + classwise_table(results) + \
        classwise_table(results, "classwise_pointing") + tube_table(results)
    report = {"data": str(ds.spec.path or data), "dataset": ds.spec.name, "seeds": list(seeds),
              "val_fraction": val_fraction, "methods": results, "skipped": skipped,
              "command": command or f"wsvad.compare.compare({str(data)!r}, {str(out)!r}, "
                                    f"{which!r}, {tuple(seeds)!r}, {overrides!r})"}
    write_json(out / "compare.json", report)
    notes = "".join(f"\n- `{m}` not run: {why}" for m, why in skipped.items())
    write_text(out / "compare.md", table + (("\n" + notes.strip() + "\n") if notes else "")
               + f"\nCommand: `{report['command']}`\n")
    plot_comparison(results, out / "compare.png", ds.spec.name)
    if any("classwise" in r for r in results.values()):
        plot_classwise(results, out / "classwise.png", ds.spec.name)
    print(table)
    return report


def _finished(rdir: Path, method: str, over: dict, seed: int) -> dict | None:
    """Metrics of a finished run with the same config, else None."""
    mpath, cpath = rdir / "metrics.json", rdir / "model.json"
    if not (mpath.is_file() and cpath.is_file()):
        return None
    try:
        meta = json.loads(cpath.read_text())
        cls = methods.get(method).Config
        want = cls.build(over).to_dict()
        # a run from before a config key existed ran as that key's SINCE value says (or, for
        # a key without one, as its default, which keeps the old behaviour)
        had = cls.build(cls.stored(meta.get("config") or {})).to_dict()
        if meta.get("method") != method or had != want or meta.get("seed") != seed:
            return None
        return json.loads(mpath.read_text())
    except (ValueError, ConfigError):
        return None


def _cell(summary: dict, key: str) -> str:
    s = summary.get(key)
    if not s or s["mean"] is None or math.isnan(s["mean"]):
        return "–"
    if key == "seconds":
        return f"{s['mean']:.0f}"
    return f"{s['mean']:.3f} ± {s['std']:.3f}"


def markdown_table(results: dict[str, Any], dataset: str, seeds: tuple[int, ...]) -> str:
    """The comparison as Markdown: learned methods first, then the training-free baselines."""
    keys = [(k, label) for k, label in COLUMNS
            if any(k in r["summary"] for r in results.values())]
    head = "| method | " + " | ".join(label for _, label in keys) + " | params |"
    rule = "|---" * (len(keys) + 2) + "|"
    rows = []
    for m, r in sorted(results.items(), key=lambda kv: (not kv[1]["trains"], kv[0])):
        name = m if r["trains"] else f"{m} (training-free)"
        cells = " | ".join(_cell(r["summary"], k) for k, _ in keys)
        rows.append(f"| {name} | {cells} | {r['parameters'] or 0:,} |")
    title = (f"{dataset}: mean ± std over seeds {', '.join(map(str, seeds))} (test set scored "
             "once per run; checkpoints and τ chosen on held-out training videos)\n\n")
    return title + "\n".join([head, rule, *rows]) + "\n"


def baseline_check(results: dict[str, Any], key: str = "frame_auc") -> str:
    """One line under the table: which learned methods score below the best training-free
    baseline in ``key`` (mean over seeds) — a learned method that loses to a statistic of its
    own input has not learned what its input carries. ``compare`` writes it for frame AUC and
    for pointing (*where*: the learned heat maps against the largest-motion cell). Empty when
    no baseline or no learned method has the metric.

    Example:
        >>> r = {"mil": {"trains": True, "summary": {"frame_auc": {"mean": 0.94}}},
        ...      "ssrl": {"trains": True, "summary": {"frame_auc": {"mean": 0.995}}},
        ...      "flow_percentile": {"trains": False, "summary": {"frame_auc": {"mean": 0.992}}}}
        >>> print(baseline_check(r).strip())
        Below the best training-free baseline (flow_percentile, frame AUC 0.992): mil (0.940). \
Above it: ssrl (0.995).
    """
    def mean(r: dict) -> float | None:
        v = (r["summary"].get(key) or {}).get("mean")
        return None if v is None or math.isnan(v) else float(v)
    free = {m: mean(r) for m, r in results.items() if not r["trains"] and mean(r) is not None}
    learned = {m: mean(r) for m, r in results.items() if r["trains"] and mean(r) is not None}
    if not free or not learned:
        return ""
    best = max(free, key=free.__getitem__)
    label = dict(COLUMNS).get(key, key)
    below = [f"{m} ({v:.3f})" for m, v in sorted(learned.items()) if v < free[best]]
    above = [f"{m} ({v:.3f})" for m, v in sorted(learned.items()) if v >= free[best]]
    line = f"\nBelow the best training-free baseline ({best}, {label} {free[best]:.3f}): " \
        f"{', '.join(below) or 'none'}."
    return line + (f" Above it: {', '.join(above)}." if above else "") + "\n"


CLASS_TABLES = {
    "classwise": "Frame AUC per anomaly class (its test videos and all normal test videos)",
    "classwise_pointing": "Pointing per anomaly class (the heat-map peak inside a box, over "
                          "that class's abnormal test frames)",
}


def classwise_table(results: dict[str, Any], key: str = "classwise") -> str:
    """A metric per anomaly class, mean ± std over seeds, as Markdown — ``classwise``: frame
    AUC (that class's test videos + every normal one); ``classwise_pointing``: pointing. Empty
    when no method has it."""
    have = {m: r[key] for m, r in results.items() if r.get(key)}
    if not have:
        return ""
    classes = sorted(set().union(*have.values()))
    rows = [f"| {m} | " + " | ".join(_cell(c, k) for k in classes) + " |"
            for m, c in sorted(have.items(), key=lambda kv: (not results[kv[0]]["trains"],
                                                              kv[0]))]
    return (f"\n{CLASS_TABLES[key]}:\n\n"
            "| method | " + " | ".join(classes) + " |\n" + "|---" * (len(classes) + 1) + "|\n"
            + "\n".join(rows) + "\n")


def tube_table(results: dict[str, Any]) -> str:
    """WSSTAD's Table 1 as Markdown when a method predicts tubes: the Random and Upper-bound
    rows (a uniformly drawn candidate tube, exact expectation; the best candidate), every
    method's video AUC (the top tube's score for tube methods, the top snippet's otherwise),
    IoU@ε, mean IoU, false alarms on normal videos and frame AUC; empty otherwise."""
    tubed = {m: r for m, r in results.items() if r["summary"].get("tube_video_auc")}
    if not tubed:
        return ""

    def cells(summary: dict, tube: bool) -> str:
        if not tube:          # a temporal method: only its video and frame AUC apply
            return " | ".join(_cell(summary, k) if k in ("video_auc", "frame_auc") else "–"
                              for k, _ in TUBE_COLUMNS)
        return " | ".join(_cell(summary, f"tube_{k}" if k in ("video_auc", "false_alarm_rate")
                                else k) for k, _ in TUBE_COLUMNS)

    rows: list[str] = []
    for m, r in sorted(tubed.items(), key=lambda kv: (not kv[1]["trains"], kv[0])):
        for prefix, label in (("random_", "Random tube"), ("upper_", "Upper bound")):
            line = " | ".join(_cell(r["summary"], prefix + k) if k.startswith(("iou", "mean"))
                              else "–" for k, _ in TUBE_COLUMNS)
            if not any(row.endswith(f"| {line} |") for row in rows):    # same candidates: once
                rows.append(f"| {label} (candidates of {m}) | {line} |")
    for m, r in sorted(results.items(), key=lambda kv: (not kv[1]["trains"], kv[0])):
        rows.append(f"| {m if r['trains'] else m + ' (training-free)'} | "
                    + cells(r["summary"], m in tubed) + " |")
    head = "| method | " + " | ".join(label for _, label in TUBE_COLUMNS) + " |"
    return ("\nSpatio-temporal localisation (WSSTAD Table 1 style; IoU@ε = share of abnormal "
            "test videos whose top tube has S_loc > ε; FAR at a 0.2 score):\n\n" + head + "\n"
            + "|---" * (len(TUBE_COLUMNS) + 1) + "|\n" + "\n".join(rows) + "\n")


def plot_classwise(results: dict[str, Any], path: Path, dataset: str) -> Path:
    """Grouped bars: frame AUC per anomaly class and method (mean ± std over seeds)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    have = {m: r["classwise"] for m, r in results.items() if r.get("classwise")}
    names = sorted(have, key=lambda m: (not results[m]["trains"], m))
    classes = sorted(set().union(*have.values()))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(1.3 * len(classes) + 2.5, 3.6))
    for i, m in enumerate(names):
        x = np.arange(len(classes)) + (i - (len(names) - 1) / 2) * width
        mean = [have[m].get(c, {}).get("mean", np.nan) for c in classes]
        std = [have[m].get(c, {}).get("std", 0.0) for c in classes]
        ax.bar(x, mean, width, yerr=std, capsize=2, label=m,
               hatch=None if results[m]["trains"] else "//")
    ax.set_xticks(np.arange(len(classes)), classes, rotation=20)
    ax.set(ylim=(0.0, 1.0), ylabel="frame AUC", title=f"{dataset}: AUC per anomaly class")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path


def plot_comparison(results: dict[str, Any], path: Path, dataset: str) -> Path:
    """Frame AUC (mean ± std) per method; training-free baselines hatched."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = sorted(results, key=lambda m: (not results[m]["trains"], m))
    mean = [results[m]["summary"].get("frame_auc", {}).get("mean", np.nan) for m in names]
    std = [results[m]["summary"].get("frame_auc", {}).get("std", 0.0) for m in names]
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2, 3.4))
    bars = ax.bar(names, mean, yerr=std, capsize=4, color="tab:blue")
    for b, m in zip(bars, names, strict=True):
        if not results[m]["trains"]:
            b.set(color="tab:gray", hatch="//")
    ax.set(ylim=(0.4, 1.0), ylabel="frame AUC", title=f"{dataset} (grey: training-free)")
    ax.tick_params(axis="x", rotation=30)
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path
