"""``wsvad`` command line: a thin shell over :mod:`wsvad.api`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from wsvad import methods
from wsvad.errors import WsvadError
from wsvad.version import __version__

EPILOG = """examples:
  wsvad demo --out runs/demo
  wsvad extract ../shared/data/ucsd_ped2/videos --out store --workers 2
  wsvad train --method rtfm --data spec.yaml --out runs/rtfm --seeds 1,2,3
  wsvad train --config configs/rtfm-ucf_crime.yaml --data spec.yaml --out runs/ucf
  wsvad train --method mil --data spec.yaml --out runs/mil --set lr=0.01 --iterations 500
  wsvad compare --data ped2/spec.yaml --methods mil,rtfm --seeds 1,2,3 --out runs/compare
  wsvad evaluate --run runs/rtfm
  wsvad score --run runs/rtfm --features video_i3d.npy --out scores.csv
  wsvad detect --run runs/demo/rtfm videos/test_003.mp4 --out detections
  wsvad detect --run runs/rtfm rtsp://camera.local/stream1 --threshold 0.6
  wsvad report --run runs/demo/rtfm
"""


def _number(kind: type, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False):
    """An argparse type: a number of ``kind`` inside a range; the message names the range."""
    left = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
    right = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if value != value or (low is not None and (value < low or (low_open and value == low))) \
                or (high is not None and (value > high or (high_open and value == high))):
            raise argparse.ArgumentTypeError(f"{text} is out of range: allowed {left}, {right}")
        return value
    parse.__name__ = f"{kind.__name__} in {left}, {right}"
    return parse


def _seeds(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers such as 1,2,3, got {text!r}") from None


def _threshold(text: str) -> str | float:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a score in [0, 1], got {text!r}") \
            from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is out of range: scores are in [0, 1]")
    return value


def _overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        if "=" not in p:
            raise WsvadError(f"expected key=value, got {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _table(summary: dict) -> str:
    rows = [f"{'metric':<26}{'mean':>9}{'± std':>9}{'seeds':>7}"]
    for k, v in summary.items():
        rows.append(f"{k:<26}{v['mean']:>9.4f}{v['std']:>9.4f}{v['n']:>7d}")
    return "\n".join(rows)


def _detect(args: argparse.Namespace) -> int:
    from wsvad.api import detect

    def on_event(name, e):
        print(f"  alert {name}: {e.start:.2f}–{e.end:.2f} s, peak {e.peak_score:.3f} at "
              f"{e.peak_time:.2f} s", flush=True)

    rep = detect(args.run, args.input, args.out, args.threshold, args.stream, args.realtime,
                 not args.no_overlay, args.labels, args.boxes, args.hysteresis,
                 args.min_seconds, args.window, args.weights, on_event=on_event,
                 engine=args.engine)
    for name, row in rep.videos.items():
        print(f"{name}: {row['frames']} frames, {row['events']} alert(s), max score "
              f"{row['max_score']}, real-time factor {row['realtime_factor']}× → {row['dir']}")
        if row.get("stream_error"):
            print(f"  stream stopped early: {row['stream_error']} (partial results kept)",
                  file=sys.stderr)
    for name, why in rep.failed.items():
        print(f"failed {name}: {why}", file=sys.stderr)
    print(f"summary: {Path(args.out) / 'detections.json'}")
    bad = rep.failed or any(r.get("stream_error") for r in rep.videos.values())
    return 1 if bad else 0


def _command(sub, name: str, help: str) -> argparse.ArgumentParser:
    """A subcommand whose own ``--help`` opens with the line ``wsvad --help`` lists for it."""
    return sub.add_parser(name, help=help, description=help)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wsvad", description="Weakly-supervised video anomaly "
                                "detection: train, evaluate and score on snippet features.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"wsvad {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = _command(sub, "train", help="train a method on a dataset spec, pick the checkpoint on "
                       "held-out training videos, evaluate on the test set once")
    t.add_argument("--method", choices=methods.names(), help="method to train (or from --config)")
    t.add_argument("--config", type=Path, help="YAML with 'method:' and 'config:' (see configs/); "
                   "--set and --iterations override it")
    t.add_argument("--data", required=True, type=Path, help="dataset spec YAML")
    t.add_argument("--out", required=True, type=Path, help="run directory to write")
    t.add_argument("--iterations", type=_number(int, 1), help="upper bound on training steps "
                   "(default: the method's)")
    t.add_argument("--seed", type=int, default=0, help="seed of a one-seed run (default 0)")
    t.add_argument("--seeds", type=_seeds,
                   help="comma-separated seeds: one run each + mean ± std")
    t.add_argument("--val-fraction", type=_number(float, 0, 1, high_open=True), default=0.1,
                   help="share of training videos held out for model selection (default 0.1)")
    t.add_argument("--patience", type=_number(int, 0), default=20,
                   help="stop after this many validations without gain (0 = never)")
    t.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a method config value, e.g. variant=paper, lr=1e-4")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run")
    t.add_argument("--device", default="auto", help="auto (a GPU if torch sees one), cpu, "
                   "cuda or cuda:N: where training steps run. Data-parallel on N processes: "
                   "torchrun --standalone --nproc_per_node N -m wsvad train ...")
    t.add_argument("--max-minutes", type=_number(float, 0, low_open=True), help="time budget "
                   "for training (per seed); the best validated checkpoint so far is kept")
    t.add_argument("--allow-missing", action="store_true", help="report on the test videos "
                   "that can be scored when some cannot (default: stop, naming them)")

    e = _command(sub, "evaluate", help="re-evaluate a saved run at its calibrated threshold; "
                       "writes RUN/evaluation.json (another dataset: evaluation-NAME.json)")
    e.add_argument("--run", required=True, type=Path, help="run directory from `wsvad train` "
                   "(or one method x seed folder of a `wsvad compare` output)")
    e.add_argument("--data", type=Path, help="dataset spec (default: the run's own); another "
                   "store with the same feature contract evaluates across datasets")
    e.add_argument("--allow-missing", action="store_true", help="report on the test videos "
                   "that can be scored when some cannot (default: stop, naming them)")

    c = _command(sub, "compare", help="train and evaluate several methods x seeds on one "
                       "dataset; one table (compare.md, compare.json, compare.png)")
    c.add_argument("--data", required=True, type=Path, help="dataset spec YAML")
    c.add_argument("--methods", default="all", help="comma-separated learned methods, or "
                   "'all' (default); the training-free baselines are always included")
    c.add_argument("--seeds", type=_seeds, default=[1, 2, 3], help="default 1,2,3")
    c.add_argument("--out", required=True, type=Path, help="folder for runs and the table "
                   "(re-running skips finished method x seed runs)")
    c.add_argument("--set", dest="sets", action="append", default=[], metavar="[METHOD.]KEY=V",
                   help="config override for every learned method that has KEY, or "
                   "METHOD.KEY for one (a training-free baseline takes only METHOD.KEY)")
    c.add_argument("--config", dest="configs", action="append", default=[], type=Path,
                   metavar="FILE", help="a method config file (configs/*.yaml), repeatable: "
                   "its settings apply to its method, which joins --methods")
    c.add_argument("--iterations", type=_number(int, 1), help="cap on training steps of every "
                   "learned method (default: each method's)")
    c.add_argument("--val-fraction", type=_number(float, 0, 1, high_open=True), default=0.1,
                   help="share of the training videos held out to choose each run's checkpoint "
                   "and threshold (default 0.1)")
    c.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (see train)")

    s = _command(sub, "score", help="per-snippet and per-frame scores of one feature file")
    s.add_argument("--run", required=True, type=Path, help="run directory from `wsvad train`")
    s.add_argument("--features", required=True, type=Path, help=".npy [T, D] or [T, crops, D]")
    s.add_argument("--out", type=Path, help="CSV to write (frame,snippet,score)")
    s.add_argument("--stream", dest="streams", action="append", default=[],
                   metavar="NAME=FILE", help="another stream the method needs, e.g. "
                   "motion=Test001_motion.npy (repeatable)")

    d = _command(sub, "demo", help="generate plaza videos, extract features, train RTFM and "
                       "MIL, evaluate, write the HTML reports and an overlay video (~6 min)")
    d.add_argument("--out", type=Path, default=Path("runs/demo"),
                   help="folder for the scenes, store, runs and reports (runs/demo)")
    d.add_argument("--iterations", type=_number(int, 1),
                   help="training steps per run (default: each method's demo setting)")
    d.add_argument("--features", action="store_true", help="the feature-level demo instead: "
                   "generated feature benchmark, RTFM and MIL over 3 seeds")

    x = _command(sub, "extract", help="extract features of videos into a FeatureStore")
    x.add_argument("videos", type=Path, help="a video file, a folder of videos (or of frame "
                   "folders), or a .txt/.list file of paths")
    x.add_argument("--out", required=True, type=Path, help="store folder (created/resumed)")
    x.add_argument("--backbone", default="effnet-lite0+motion",
                   help="effnet-lite0+motion (default) | effnet-lite0 | motion | i3d-r50 | "
                   "i3d-inception | c3d (the last three need --weights)")
    x.add_argument("--weights", type=Path, help="weights file for the backbone")
    x.add_argument("--crops", type=int, default=1, choices=(1, 5, 10),
                   help="crops per snippet: 1 (default), or torchvision's FiveCrop/TenCrop order "
                   "as the published I3D releases")
    x.add_argument("--fps", type=_number(float, 0, low_open=True),
                   help="resample frames to this rate first")
    x.add_argument("--maps", action="store_true", help="also store 7x7 spatial maps (GIG)")
    x.add_argument("--motion-grid", action="store_true", default=None,
                   help="also store the flow of each cell of a 12x12 grid (comes with --maps, "
                        "--maps-trunk and --patches anyway)")
    x.add_argument("--maps-trunk", action="store_true",
                   help="also store the backbone's trunk output before its last block (7x7x192, "
                        "middle sampled frame), for GIG trained end to end (gig_e2e)")
    x.add_argument("--static", action="store_true",
                   help="also describe what has newly come to rest (a bag left behind, a "
                   "person lying still; two MOG2 background models, fixed cameras) and add it "
                   "to the features as a third part, 'static' (20 values)")
    x.add_argument("--boxes", action="store_true",
                   help="also store moving-object boxes per frame (MOG2; fixed cameras)")
    x.add_argument("--detector", choices=("mog2", "hog"), default="mog2",
                   help="boxes for --boxes/--tubes: mog2 (default) = moving objects by background "
                   "subtraction (fixed cameras); hog = OpenCV's HOG people detector (slower)")
    x.add_argument("--detections", type=Path,
                   help="folder with your own detector's boxes per video (<name>.csv with "
                   "frame,x1,y1,x2,y2,score[,class], or <name>.json), used instead of --detector")
    x.add_argument("--tubes", action="store_true",
                   help="also link the boxes into WSSTAD's unary and multivariate tubes and "
                   "store each tube's crop features per snippet (implies --boxes; a second "
                   "decoding pass)")
    x.add_argument("--patches", action="store_true",
                   help="also store per-tile features of SSRL's 2x3, 3x5, 4x7 grids")
    x.add_argument("--patch-mode", choices=("pooled", "tiles"), default="pooled",
                   help="pooled (default, ~9x faster): one pass at short side --patch-size, "
                   "each tile's region of the feature map averaged; tiles: the backbone on "
                   "every tile (SSRL's way)")
    x.add_argument("--patch-size", type=_number(int, 32), default=448,
                   help="short side of the frame for --patch-mode pooled (default 448)")
    x.add_argument("--frames-per-snippet", type=_number(int, 1, 16), default=4,
                   help="frames of each 16-frame snippet that the 2-D backbone sees")
    x.add_argument("--workers", type=_number(int, 1), default=1, help="processes on this machine")
    x.add_argument("--shard", help="i/n: this machine's share of the video list (Slurm arrays "
                   "and other schedulers: one job per shard, same --out)")
    x.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run one Ray task per video (pip install 'wsvad[ray]'): on the cluster "
                   "at ADDRESS (e.g. ray://head:10001 or auto; --out must be on a filesystem "
                   "every node sees), or without ADDRESS on a local cluster of --workers CPUs")
    x.add_argument("--view", choices=("full", "crop"), default="full",
                   help="how frames reach the 2-D backbone: the whole frame resized (default; "
                   "nothing at the edges is lost) or the short side resized and cropped (the "
                   "published releases)")
    x.add_argument("--format", choices=("store", "rtfm"), default="store",
                   help="rtfm also writes <name>_i3d.npy files at the top level")

    dt = _command(sub, "detect", help="score videos or a live stream with a trained run: "
                        "scores.csv, events.json, timeline.png, overlay.mp4 per video")
    dt.add_argument("input", help="a video file, a folder of videos, a frame folder, or a "
                    "stream: rtsp://…, http://…, webcam:0")
    dt.add_argument("--run", required=True, type=Path, help="run directory from `wsvad train`")
    dt.add_argument("--out", type=Path, default=Path("detections"),
                    help="output folder (default: detections/)")
    dt.add_argument("--threshold", type=_threshold, default="auto",
                    help="'auto' (calibrated on the run's validation videos, default) or a "
                    "score in [0, 1]")
    dt.add_argument("--hysteresis", type=_number(float, 0, 1, high_open=True), default=0.2,
                    help="an alert closes when the score falls below threshold·(1 − "
                    "hysteresis) (default 0.2)")
    dt.add_argument("--min-seconds", type=_number(float, 0), default=0.5,
                    help="drop alerts shorter than this (default 0.5 s)")
    dt.add_argument("--stream", action="store_true", help="process frames as they arrive "
                    "(automatic for stream URLs and webcams)")
    dt.add_argument("--realtime", action="store_true", help="read a file at its frame rate, "
                    "as a camera would deliver it (implies --stream)")
    dt.add_argument("--window", type=_number(int, 1), default=32,
                    help="streaming: snippets of context the model sees (default 32)")
    dt.add_argument("--no-overlay", action="store_true", help="skip overlay.mp4")
    dt.add_argument("--labels", type=Path, help="frame labels .npz (key = video name) to draw")
    dt.add_argument("--boxes", type=Path, help="ground-truth boxes .json to draw")
    dt.add_argument("--weights", type=Path, help="backbone weights file (I3D/C3D runs)")
    dt.add_argument("--engine", choices=("torch", "onnx"), default="torch",
                    help="score with PyTorch (default) or with the run's ONNX export through "
                    "onnxruntime (`wsvad export` first; no heat maps/tubes then)")

    ex = _command(sub, "export", help="export a run's scoring head for another runtime "
                        "(ONNX; detect --engine onnx uses it)")
    ex.add_argument("--run", required=True, type=Path, help="run directory (a multi-seed run: "
                    "the seed detect would pick)")
    ex.add_argument("--format", choices=("onnx",), default="onnx", help="onnx (the only one)")
    ex.add_argument("--out", type=Path, help="file to write (default: <run>/model.onnx)")

    sv = _command(sub, "serve", help="an HTTP detection service for a run (pip install "
                        "'wsvad[serve]'): POST /detect, /streams; GET /health, /metrics")
    sv.add_argument("--run", required=True, type=Path, help="run directory from `wsvad train`")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1: "
                    "this machine only; 0.0.0.0: every interface)")
    sv.add_argument("--port", type=_number(int, 0, 65535), default=8000, help="default 8000")
    sv.add_argument("--workers", type=_number(int, 1), default=1,
                    help="videos scored at once (one detector each)")
    sv.add_argument("--queue", type=_number(int, 0), default=4,
                    help="uploads that may wait beyond --workers; more get 503")
    sv.add_argument("--max-upload-mb", type=_number(float, 0, low_open=True), default=256.0,
                    help="larger uploads get 413 (default 256)")
    sv.add_argument("--max-streams", type=_number(int, 1), default=4,
                    help="streams watched at once (default 4)")
    sv.add_argument("--engine", choices=("torch", "onnx"), default="torch",
                    help="as detect --engine")
    sv.add_argument("--threshold", type=_threshold, default="auto",
                    help="alert threshold: auto (the run's calibrated τ) or a number")
    sv.add_argument("--allow-file-urls", action="store_true",
                    help="accept file:// stream URLs (they read this machine's disk)")

    r = _command(sub, "report", help="one self-contained HTML page of a run: metrics, ROC/PR, "
                       "timelines, top detections")
    r.add_argument("--run", required=True, type=Path, help="run directory from `wsvad train`")
    r.add_argument("--data", type=Path, help="dataset spec (default: the run's own)")
    r.add_argument("--out", type=Path, help="HTML file (default: <run>/report.html)")
    r.add_argument("--videos", type=Path, help="folder of the source videos, for thumbnails")

    i = _command(sub, "info", help="parameters and multiply-accumulates (FLOPs as papers count "
                       "them) of a method, on random inputs of the published I3D shape")
    i.add_argument("--method", required=True, choices=methods.names(), help="method to describe")
    i.add_argument("--dim", type=_number(int, 4), default=2048, help="feature width (2048)")
    i.add_argument("--patch-dim", type=_number(int, 4), help="patch feature width (= --dim)")
    i.add_argument("--crops", type=_number(int, 1), default=10, help="crops per snippet (10)")
    i.add_argument("--segments", type=_number(int, 1), default=32, help="snippets per bag (32)")
    i.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set share_psr=true")

    b = _command(sub, "make-benchmark", help="write a generated feature benchmark (RTFM layout)")
    b.add_argument("--out", required=True, type=Path, help="folder to write (features, lists, "
                   "labels, ground truth)")
    b.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")

    s = _command(sub, "make-scenes", help="render plaza scenes (videos, labels, boxes, split) "
                 "and a spec.yaml for them: another rendering than the demo's, to check a "
                 "setting on data it was not chosen on")
    s.add_argument("--out", required=True, type=Path, help="folder to write: scenes/ (the "
                   "videos and ground truth) and spec.yaml (features expected in store/)")
    s.add_argument("--seed", type=_number(int, 0), default=0,
                   help="scene seed (default 0, the demo's rendering); another seed gives other "
                        "cameras, actors and days")
    s.add_argument("--train", type=_pair, default=(30, 30), metavar="NORMAL,ABNORMAL",
                   help="training videos (default 30,30, as the demo)")
    s.add_argument("--test", type=_pair, default=(10, 10), metavar="NORMAL,ABNORMAL",
                   help="test videos (default 10,10, as the demo)")
    s.add_argument("--seconds", type=_number(float, 1), default=6.0,
                   help="length of each video (default 6)")
    s.add_argument("--cameras", type=_number(int, 1), default=4,
                   help="scenes the videos share (default 4)")
    return p


def _pair(text: str) -> tuple[int, int]:
    """An argparse type: ``N,M`` — two whole numbers ≥ 1 (weak labels need both kinds)."""
    try:
        normal, abnormal = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NORMAL,ABNORMAL (two whole numbers, e.g. "
                                         f"30,30), got {text!r}") from None
    if normal < 1 or abnormal < 1:
        raise argparse.ArgumentTypeError(f"expected at least one normal and one abnormal video, "
                                         f"got {text!r}")
    return normal, abnormal


def _train(args: argparse.Namespace) -> int:
    from wsvad import api
    method, over = args.method, {}
    if args.config:
        method, over = api.read_config(args.config, args.method)
    if method is None:
        raise WsvadError("train needs --method or a --config that names one")
    over.update(_overrides(args.sets))
    if args.iterations is not None:
        over["iterations"] = args.iterations
    res = api.train_seeds(args.data, method, args.out, args.seeds or [args.seed], over,
                          val_fraction=args.val_fraction, patience=args.patience or None,
                          resume=args.resume, max_minutes=args.max_minutes,
                          allow_missing=args.allow_missing, device=args.device)
    from wsvad.training.distributed import is_main_process
    if is_main_process():
        print(_table(res["summary"]))
        print(f"run written to {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from wsvad import api
    m = api.evaluate_run(args.run, args.data, allow_missing=args.allow_missing)
    print(json.dumps({k: m[k] for k in api.HEADLINE}, indent=2))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from wsvad import api
    over: dict = {}
    which = "all" if args.methods == "all" else [m.strip() for m in args.methods.split(",")]
    for path in args.configs:
        name, settings = api.read_config(path)
        over.update({f"{name}.{k}": v for k, v in settings.items()})
        if which != "all" and name not in which:
            which.append(name)
    over.update(_overrides(args.sets))
    if args.iterations is not None:
        over["iterations"] = args.iterations
    command = "wsvad " + " ".join(shlex.quote(a) for a in args.argv)
    api.compare(args.data, args.out, which, tuple(args.seeds), over, args.val_fraction,
                command=command, device=args.device)
    print(f"table written: {Path(args.out) / 'compare.md'}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from wsvad import api
    snippets, frames = api.score_features(args.run, args.features, args.out,
                                          _overrides(args.streams))
    print(f"{len(snippets)} snippets, {len(frames)} frames; max score "
          f"{snippets.max():.3f} at snippet {int(snippets.argmax())}")
    if args.out is None:
        print("snippet,score")
        print("\n".join(f"{i},{s:.4f}" for i, s in enumerate(snippets)))
    return 0


def _extract(args: argparse.Namespace) -> int:
    from wsvad import api
    rep = api.extract(args.videos, args.out, args.backbone, args.crops, args.fps, args.maps,
                      args.workers, args.shard, args.format,
                      frames_per_snippet=args.frames_per_snippet, weights=args.weights,
                      patches=((2, 3), (3, 5), (4, 7)) if args.patches else (),
                      boxes=args.boxes, view=args.view, patch_mode=args.patch_mode,
                      patch_size=args.patch_size, maps_trunk=args.maps_trunk,
                      tubes=args.tubes, detector=args.detector, detections=args.detections,
                      ray=args.ray, motion_grid=args.motion_grid, static=args.static)
    print(f"{len(rep.written)} written, {len(rep.skipped)} already done, "
          f"{len(rep.failed)} failed; {rep.frames} frames in {rep.seconds:.1f} s "
          f"({rep.frames / max(rep.seconds, 1e-9):.1f} frames/s) → {args.out}")
    for name, why in rep.failed.items():
        print(f"  failed {name}: {why}", file=sys.stderr)
    return 1 if rep.failed else 0


def _export(args: argparse.Namespace) -> int:
    from wsvad.detect.detector import pick_seed
    from wsvad.export.onnx import export_run
    run = pick_seed(args.run)
    path = export_run(run, out=args.out)
    print(f"exported {run} → {path} (+ {path.name}.json); score with: wsvad detect VIDEO "
          f"--run {args.run} --engine onnx")
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from wsvad.serve.app import ServiceConfig, create_app
    except ImportError as exc:
        raise WsvadError(f"wsvad serve needs FastAPI and uvicorn ({exc.name} is missing): "
                         "pip install 'wsvad[serve]'") from exc
    app = create_app(ServiceConfig(args.run, args.workers, args.queue, args.max_upload_mb,
                                   args.max_streams, args.engine, args.threshold,
                                   args.allow_file_urls))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def _report(args: argparse.Namespace) -> int:
    from wsvad import api
    print(f"report written: {api.write_report(args.run, args.data, args.out, args.videos)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from wsvad import api
    if args.features:
        api.run_demo(args.out, args.iterations)
    else:
        api.run_video_demo(args.out, args.iterations)
    return 0


def _make_benchmark(args: argparse.Namespace) -> int:
    from wsvad import api
    from wsvad.datasets import BenchmarkConfig
    print(api.make_benchmark(args.out, BenchmarkConfig(seed=args.seed)))
    return 0


def _make_scenes(args: argparse.Namespace) -> int:
    from wsvad.datasets.scenes import SceneDatasetConfig, make_scene_dataset
    from wsvad.demo import SPEC
    from wsvad.fileio import write_text
    cfg = SceneDatasetConfig(*args.train, *args.test, seconds=args.seconds, seed=args.seed,
                             cameras=args.cameras)
    make_scene_dataset(args.out / "scenes", cfg)
    spec = args.out / "spec.yaml"
    write_text(spec, SPEC.replace("`wsvad demo`", f"`wsvad make-scenes --seed {args.seed}`"))
    print(f"{sum(args.train) + sum(args.test)} videos in {args.out / 'scenes' / 'videos'}; "
          f"spec: {spec}\nnext: wsvad extract {args.out / 'scenes' / 'videos'} --out "
          f"{args.out / 'store'} --static   (as make demo; add --patches or --maps for the "
          f"methods that read them)\n      wsvad compare --data {spec} --methods mil,rtfm "
          f"--seeds 1,2,3")
    return 0


def _info(args: argparse.Namespace) -> int:
    from wsvad.methods.complexity import describe
    d = describe(args.method, args.dim, args.patch_dim, args.crops, args.segments,
                 **_overrides(args.overrides))
    p, macs = d["parameters"], d["macs_per_bag"]
    params = f"{p / 1e6:.1f}M" if p >= 1e5 else f"{p:,}"
    work = f"{macs / 1e9:.1f} GMACs" if macs >= 1e8 else f"{macs / 1e6:.1f} MMACs"
    print(f"{d['method']} ({d['paper'] or 'wsvad'}): {params} parameters; {work} per bag of "
          f"{d['segments']} snippets x {d['crops']} crops ({d['macs_per_snippet'] / 1e6:.2f} M "
          f"per snippet); features {d['dim']}-d"
          + (f", patches {d['patch_dim']}-d" if d["patch_dim"] else ""))
    return 0


COMMANDS = {"info": _info, "train": _train, "evaluate": _evaluate, "compare": _compare,
            "score": _score, "extract": _extract, "detect": _detect, "export": _export,
            "report": _report, "serve": _serve,
            "demo": _demo, "make-benchmark": _make_benchmark, "make-scenes": _make_scenes}


def main(argv: list[str] | None = None) -> int:
    """Run one command; a foreseeable error is one line on stderr and exit code 2 (an
    unexpected one keeps its traceback)."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return COMMANDS[args.command](args)
    except WsvadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # the file system said no: permissions, full disk, missing paths
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
