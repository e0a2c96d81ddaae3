"""The dataset spec (YAML that ``--data`` takes) and the dataset it resolves to."""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from wsvad.contract import FeatureContract
from wsvad.data.groundtruth import split_concatenated_gt
from wsvad.data.readers import SOURCES, FeatureSource
from wsvad.data.streams import resolve_needs
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
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
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
            if raw.get(key) is None:
                return None
            if not isinstance(raw[key], str):
                raise DataError(f"{path}: '{key}' must be a path, got {raw[key]!r}")
            return (base / raw[key]).resolve()

        first = raw.get("abnormal_first")
        if first is not None and (isinstance(first, bool) or not isinstance(first, int)
                                  or first < 0):
            raise DataError(f"{path}: abnormal_first must be a whole number >= 0, got {first!r}")

        return cls(format=raw["format"], feature_dir=p("feature_dir"), train_list=p("train_list"),
                   test_list=p("test_list"), labels=p("labels"),
                   abnormal_first=raw.get("abnormal_first"), gt=p("gt"),
                   snippet_frames=_positive_int(raw.get("snippet_frames", 16), path),
                   name=str(raw.get("name", path.stem)), videos=p("videos"), boxes=p("boxes"),
                   path=path.resolve())


def _positive_int(value, path: Path) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        v = 0
    if v < 1 or str(value).strip() not in (str(v), f"{v}.0"):
        raise DataError(f"{path}: snippet_frames must be a whole number >= 1, got {value!r}")
    return v


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

    def streams_for(self, needs: tuple[str, ...], method: str = "",
                    wants: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Concrete stream names for a method's ``needs``, or a :class:`DataError` that says
        which stream is missing and how to extract it; then those of its ``wants`` (streams it
        uses when they are there) that the dataset has."""
        try:
            names = resolve_needs(needs, self.source.streams(),
                                  f"the dataset {self.spec.name!r} ({self.spec.format} layout)")
        except DataError as exc:
            raise DataError(f"method {method!r} cannot run here: {exc}") from None
        have = set(self.source.streams())
        return names + tuple(w for w in wants if w in have and w not in names)


_HEADER_WORDS = {"label", "labels", "y", "target", "abnormal", "anomaly", "class"}


def read_labels_csv(path: Path) -> dict[str, tuple[int, str | None]]:
    """``name,label[,class]`` rows → ``{name: (label, class)}``. A first row is a header only
    when its second cell names the column (``label``, …); any other row must be data, so a
    file without a header never loses its first video.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "l.csv"
        >>> _ = p.write_text("v1,1,Bike" + chr(10) + "v2,0" + chr(10))
        >>> read_labels_csv(p)
        {'v1': (1, 'Bike'), 'v2': (0, None)}
    """
    if not path.is_file():
        raise DataError(f"labels file not found: {path}")
    out: dict[str, tuple[int, str | None]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a UTF-8 CSV file ({exc})") from exc
    seen_data = False
    for i, row in enumerate(rows, 1):
        if not row or not "".join(row).strip() or row[0].startswith("#"):
            continue
        if not seen_data and len(row) >= 2 and row[1].strip().lower() in _HEADER_WORDS:
            seen_data = True
            continue  # the header
        seen_data = True
        if len(row) < 2 or row[1].strip() not in ("0", "1") or not row[0].strip():
            raise DataError(f"{path}, line {i}: expected 'name,label[,class]' with label 0 "
                            f"(normal) or 1 (abnormal), got {','.join(row)!r} (a header row "
                            "must read name,label[,class])")
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
    try:
        if gt.suffix == ".npz":
            with np.load(gt, allow_pickle=False) as z:
                missing = [n for n in names if n not in z.files]
                if missing:
                    raise DataError(f"{gt}: no frame labels for {len(missing)} test videos, "
                                    f"e.g. {missing[:3]}; the npz needs one array per video "
                                    "(key = name)")
                out = {n: _labels(z[n], f"{gt}[{n}]") for n in names}
            return out
        arr = _labels(np.load(gt, allow_pickle=False), str(gt))
    except DataError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{gt}: cannot read frame labels ({exc}); expected a numeric .npy of "
                        "0/1 (RTFM's gt-*.npy) or an .npz with one array per video") from exc
    return split_concatenated_gt(arr, names, [source.snippets(n) for n in names],
                                 spec.snippet_frames, str(gt))


def _labels(arr: np.ndarray, where: str) -> np.ndarray:
    """0/1 frame labels as uint8, checked."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        raise DataError(f"{where}: frame labels must be a non-empty numeric 0/1 array, got "
                        f"{arr.dtype} {arr.shape}")
    flat = arr.ravel()
    if not np.isin(flat, (0, 1)).all():
        raise DataError(f"{where}: frame labels must be 0 or 1, found {np.unique(flat)[:5]}")
    return flat.astype(np.uint8)
