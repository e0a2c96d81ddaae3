"""The dataset spec (YAML that ``--data`` takes) and the dataset it resolves to."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from wsvad.contract import FeatureContract
from wsvad.data.groundtruth import split_concatenated_gt
from wsvad.data.readers import SOURCES, FeatureSource
from wsvad.errors import DataError

_KEYS = {"format", "feature_dir", "train_list", "test_list", "labels", "abnormal_first", "gt",
         "snippet_frames", "name", "videos", "boxes"}


@dataclass
class DatasetSpec:
    """Where the features, lists, labels and frame labels of a dataset are.

    Example:
        >>> spec = DatasetSpec(format="rtfm", feature_dir=Path("feats"), train_list=Path("t.list"))
        >>> spec.snippet_frames
        16
    """

    format: str
    feature_dir: Path
    train_list: Path | None = None
    test_list: Path | None = None
    labels: Path | None = None
    abnormal_first: int | None = None
    gt: Path | None = None
    snippet_frames: int = 16
    name: str = "dataset"
    videos: Path | None = None     # folder of the source videos (report thumbnails, overlays)
    boxes: Path | None = None      # spatial ground truth {name: [[frame, x1, y1, x2, y2], …]}
    path: Path | None = None

    @classmethod
    def load(cls, path: str | Path) -> DatasetSpec:
        """Read a spec file; relative paths resolve against the file's folder."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"dataset spec not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise DataError(f"{path}: not valid YAML ({exc})") from exc
        if not isinstance(raw, dict):
            raise DataError(f"{path}: expected a mapping of keys like 'format', 'feature_dir'")
        unknown = set(raw) - _KEYS
        if unknown:
            raise DataError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
        for key in ("format", "feature_dir"):
            if key not in raw:
                raise DataError(f"{path}: missing required key '{key}'")
        if raw["format"] not in SOURCES:
            raise DataError(f"{path}: format '{raw['format']}' unknown; use one of "
                            f"{sorted(SOURCES)}")
        base = path.parent

        def p(key: str) -> Path | None:
            return (base / raw[key]).resolve() if raw.get(key) is not None else None

        return cls(format=raw["format"], feature_dir=p("feature_dir"), train_list=p("train_list"),
                   test_list=p("test_list"), labels=p("labels"),
                   abnormal_first=raw.get("abnormal_first"), gt=p("gt"),
                   snippet_frames=int(raw.get("snippet_frames", 16)),
                   name=str(raw.get("name", path.stem)), videos=p("videos"), boxes=p("boxes"),
                   path=path.resolve())


@dataclass
class VideoEntry:
    """A video of a split: its name and video-level label (1 = abnormal)."""

    name: str
    label: int
    cls: str | None = None


@dataclass
class FeatureDataset:
    """A resolved dataset: feature source, labelled train/test videos, test frame labels."""

    spec: DatasetSpec
    source: FeatureSource
    train: list[VideoEntry] = field(default_factory=list)
    test: list[VideoEntry] = field(default_factory=list)
    frame_labels: dict[str, np.ndarray] = field(default_factory=dict)
    contract: FeatureContract | None = None


def read_labels_csv(path: Path) -> dict[str, tuple[int, str | None]]:
    """``name,label[,class]`` rows (a header row is skipped) → ``{name: (label, class)}``."""
    if not path.is_file():
        raise DataError(f"labels file not found: {path}")
    out: dict[str, tuple[int, str | None]] = {}
    with path.open(newline="") as fh:
        for i, row in enumerate(csv.reader(fh), 1):
            if not row or row[0].startswith("#"):
                continue
            if i == 1 and not row[1].strip().lstrip("-").isdigit():
                continue  # header
            if len(row) < 2 or row[1].strip() not in ("0", "1"):
                raise DataError(f"{path}, line {i}: expected 'name,label[,class]' with label 0 "
                                f"(normal) or 1 (abnormal), got {row!r}")
            cls = row[2].strip() if len(row) > 2 and row[2].strip() else None
            out[row[0].strip()] = (int(row[1]), cls)
    return out


def load_dataset(spec: DatasetSpec | str | Path, need_test: bool = True) -> FeatureDataset:
    """Resolve a spec: lists → names, labels for every video, test frame labels.

    Example:
        >>> from wsvad.datasets import make_benchmark        # doctest: +SKIP
        >>> ds = load_dataset(make_benchmark("bench") / "spec.yaml")  # doctest: +SKIP
    """
    if not isinstance(spec, DatasetSpec):
        spec = DatasetSpec.load(spec)
    source = SOURCES[spec.format](spec.feature_dir, spec.snippet_frames)
    ds = FeatureDataset(spec=spec, source=source)
    csv_labels = read_labels_csv(spec.labels) if spec.labels else {}
    if spec.train_list:
        names = source.names(spec.train_list)
        ds.train = [_entry(n, i, spec, csv_labels, None) for i, n in enumerate(names)]
        ds.contract = source.contract(names[0])
    if spec.test_list and need_test:
        names = source.names(spec.test_list)
        if spec.gt is None:
            raise DataError(f"{spec.path}: 'gt' (frame labels of the test videos) is required "
                            "to evaluate; add gt: <file>.npy|.npz")
        ds.frame_labels = _read_gt(spec, source, names)
        ds.test = [_entry(n, -1, spec, csv_labels, ds.frame_labels[n]) for n in names]
        if ds.contract is None:
            ds.contract = source.contract(names[0])
    return ds


def _entry(name: str, index: int, spec: DatasetSpec, csv_labels: dict,
           frames: np.ndarray | None) -> VideoEntry:
    if name in csv_labels:
        label, cls = csv_labels[name]
        return VideoEntry(name, label, cls)
    if spec.format == "xd":
        return VideoEntry(name, 0 if "label_A" in name else 1)
    if frames is not None:
        return VideoEntry(name, int(frames.max() > 0))
    if spec.abnormal_first is not None and index >= 0:
        return VideoEntry(name, int(index < spec.abnormal_first))
    raise DataError(f"no label for training video '{name}': add it to the labels file "
                    "(name,label) or set abnormal_first: N in the dataset spec")


def _read_gt(spec: DatasetSpec, source: FeatureSource, names: list[str]) -> dict[str, np.ndarray]:
    gt = spec.gt
    if not gt.is_file():
        raise DataError(f"ground-truth file not found: {gt}")
    if gt.suffix == ".npz":
        with np.load(gt) as z:
            missing = [n for n in names if n not in z.files]
            if missing:
                raise DataError(f"{gt}: no frame labels for {len(missing)} test videos, e.g. "
                                f"{missing[:3]}; the npz needs one array per video (key = name)")
            return {n: np.asarray(z[n]).astype(np.uint8).ravel() for n in names}
    arr = np.load(gt).ravel()
    return split_concatenated_gt(arr, names, [source.snippets(n) for n in names],
                                 spec.snippet_frames, str(gt))
