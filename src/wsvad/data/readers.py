"""Readers for the published feature layouts and our FeatureStore.

* ``rtfm``: one ``<name>_i3d.npy`` (or ``<name>.npy``) per video, ``[T, crops, D]`` or ``[T, D]``;
  list files hold paths (often the authors' absolute paths): only the file name is used, resolved
  against the feature directory (searched recursively).
* ``xd``: one file per crop, ``<name>__0.npy … <name>__4.npy`` (or ``__9``), each ``[T, D]``;
  list files name the crop files; crops are stacked in index order.
* ``store``: a folder written by wsvad (``manifest.json`` + ``<stream>/<name>.npy`` for every
  stream of the feature contract); list files hold video names.

Every source answers :meth:`FeatureSource.load` ``(name, stream)``; the published layouts hold
``features`` only, and asking them for another stream is an error that says how to get it.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from wsvad.contract import FeatureContract
from wsvad.data.features import as_snippet_array, check_stream, load_npy
from wsvad.errors import DataError

_CROP_RE = re.compile(r"^(?P<name>.+)__(?P<crop>\d+)$")


def video_name(path: str | Path) -> str:
    """Video name from a feature file name.

    Example:
        >>> [video_name(p) for p in ["/x/01_0015_i3d.npy", "a__3.npy", "v.npy"]]
        ['01_0015', 'a', 'v']
    """
    stem = Path(str(path).strip()).name
    if stem.endswith(".npy"):
        stem = stem[:-4]
    m = _CROP_RE.match(stem)
    if m:
        return m.group("name")
    if stem.endswith("_i3d"):
        stem = stem[:-4]
    return stem


def read_list(list_file: str | Path) -> list[str]:
    """Non-empty, stripped lines of a list file."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise DataError(f"list file not found: {list_file}")
    try:
        lines = [ln.strip() for ln in list_file.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as exc:
        raise DataError(f"{list_file}: not a UTF-8 text file of video names ({exc})") from exc
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise DataError(f"list file {list_file} is empty; it should hold one video per line")
    return lines


class FeatureSource(ABC):
    """Where the streams of named videos come from. Subclasses per layout."""

    format = ""

    def __init__(self, feature_dir: str | Path, clip_frames: int = 16):
        self.feature_dir = Path(feature_dir)
        if not self.feature_dir.is_dir():
            raise DataError(f"feature directory not found: {self.feature_dir}")
        self.clip_frames = clip_frames

    @abstractmethod
    def names(self, list_file: str | Path) -> list[str]:
        """Video names in a list file, in order, without duplicates."""

    @abstractmethod
    def _features(self, name: str) -> np.ndarray:
        """``features [T, C, D]`` of one video, checked."""

    @abstractmethod
    def snippets(self, name: str) -> int:
        """Number of snippets T of a video, read from the header only."""

    def streams(self) -> tuple[str, ...]:
        """Streams this source can load (published layouts: ``features`` only)."""
        return ("features",)

    def load(self, name: str, stream: str = "features") -> np.ndarray:
        """One stream of one video, checked (shape, finiteness): ``features [T, C, D]`` float32,
        other streams as stored (see :class:`~wsvad.contract.StreamSpec`)."""
        if stream == "features":
            return self._features(name)
        raise DataError(missing_stream_message(stream, f"this dataset ({self.format} layout at "
                                                       f"{self.feature_dir})", self.streams()))

    def frame_size(self, name: str) -> tuple[int, int] | None:
        """``(width, height)`` of the video's frames when the source knows it (stores do)."""
        return None

    def contract(self, any_name: str) -> FeatureContract:
        arr = self.load(any_name)
        return FeatureContract(dim=int(arr.shape[2]), crops=int(arr.shape[1]),
                               clip_frames=self.clip_frames)


_HOW = {"patches": "wsvad extract VIDEOS --out STORE --patches",
        "maps": "wsvad extract VIDEOS --out STORE --maps",
        "maps_trunk": "wsvad extract VIDEOS --out STORE --maps-trunk",
        "boxes": "wsvad extract VIDEOS --out STORE --boxes",
        "tubes": "wsvad extract VIDEOS --out STORE --tubes",
        "tube_regions": "wsvad extract VIDEOS --out STORE --tubes",
        "motion": "wsvad extract VIDEOS --out STORE (a backbone with motion: the default)",
        "motion_desc": "wsvad extract VIDEOS --out STORE (a backbone with motion: the default)",
        "motion_grid": "wsvad extract VIDEOS --out STORE --patches or --maps (it comes with "
                       "every spatial stream), or --motion-grid",
        "context": "wsvad extract VIDEOS --out STORE (an effnet-lite0 backbone: the default)",
        "static_desc": "wsvad extract VIDEOS --out STORE --static",
        "static_grid": "wsvad extract VIDEOS --out STORE --static"}


def missing_stream_message(stream: str, where: str, have: tuple[str, ...]) -> str:
    """What to say when a method needs a stream a dataset lacks.

    Example:
        >>> print(missing_stream_message("patches_2x3", "store s", ("features",)))
        stream 'patches_2x3' is not in store s (it has: features); make it with ...--patches`
    """
    key = "patches" if stream.startswith("patches") else stream
    how = _HOW.get(key, "wsvad extract (or your own extractor writing that stream)")
    return f"stream '{stream}' is not in {where} (it has: {', '.join(have)}); make it with " \
        f"`{how}`"


def _header_len(path: Path) -> int:
    try:
        return int(np.load(path, mmap_mode="r").shape[0])
    except Exception as exc:
        raise DataError(f"{path}: cannot read as .npy ({exc})") from exc


class RTFMSource(FeatureSource):
    format = "rtfm"

    def __init__(self, feature_dir: str | Path, clip_frames: int = 16):
        super().__init__(feature_dir, clip_frames)
        self._paths: dict[str, Path] = {}
        for p in sorted(self.feature_dir.rglob("*.npy")):
            self._paths.setdefault(video_name(p), p)

    def names(self, list_file: str | Path) -> list[str]:
        out: list[str] = []
        for i, line in enumerate(read_list(list_file), 1):
            name = video_name(line)
            if name not in self._paths:
                raise DataError(
                    f"{list_file}, line {i}: no feature file for video '{name}' under "
                    f"{self.feature_dir} (looked for {name}_i3d.npy or {name}.npy). Check "
                    "feature_dir in the dataset spec, or remove the line.")
            if name not in out:
                out.append(name)
        return out

    def _features(self, name: str) -> np.ndarray:
        path = self._path(name)
        return as_snippet_array(load_npy(path), path)

    def snippets(self, name: str) -> int:
        return _header_len(self._path(name))

    def _path(self, name: str) -> Path:
        if name not in self._paths:
            raise DataError(f"unknown video '{name}': no feature file under {self.feature_dir}")
        return self._paths[name]


class XDSource(FeatureSource):
    """Crop-per-file layout (XD-Violence, Wu et al.)."""

    format = "xd"

    def __init__(self, feature_dir: str | Path, clip_frames: int = 16):
        super().__init__(feature_dir, clip_frames)
        self._crops: dict[str, dict[int, Path]] = {}
        for p in sorted(self.feature_dir.rglob("*__*.npy")):
            m = _CROP_RE.match(p.name[:-4])
            if m:
                self._crops.setdefault(m.group("name"), {})[int(m.group("crop"))] = p

    def names(self, list_file: str | Path) -> list[str]:
        out: list[str] = []
        for i, line in enumerate(read_list(list_file), 1):
            name = video_name(line)
            if name not in self._crops:
                raise DataError(
                    f"{list_file}, line {i}: no crop files {name}__0.npy … under "
                    f"{self.feature_dir}; check feature_dir in the dataset spec")
            if name not in out:
                out.append(name)
        return out

    def _files(self, name: str) -> list[Path]:
        crops = self._crops.get(name)
        if not crops:
            raise DataError(f"unknown video '{name}': no crop files under {self.feature_dir}")
        idx = sorted(crops)
        if idx != list(range(len(idx))):
            raise DataError(f"video '{name}': crop files {idx} are not numbered 0…{len(idx) - 1}; "
                            "a crop file is missing")
        return [crops[i] for i in idx]

    def _features(self, name: str) -> np.ndarray:
        files = self._files(name)
        arrays = [as_snippet_array(load_npy(p), p)[:, 0] for p in files]
        lengths = {a.shape[0] for a in arrays}
        if len(lengths) != 1:
            raise DataError(f"video '{name}': crop files have different lengths {sorted(lengths)}")
        return np.stack(arrays, axis=1)

    def snippets(self, name: str) -> int:
        return _header_len(self._files(name)[0])


class StoreSource(FeatureSource):
    """A FeatureStore folder: ``manifest.json`` + ``features/<name>.npy``."""

    format = "store"

    def __init__(self, feature_dir: str | Path, clip_frames: int = 16):
        super().__init__(feature_dir, clip_frames)
        manifest = self.feature_dir / "manifest.json"
        if not manifest.is_file():
            raise DataError(f"{self.feature_dir} is not a feature store: no manifest.json "
                            "(write one with `wsvad extract`, or use format: rtfm)")
        try:
            self.manifest = json.loads(manifest.read_text())
            self._contract = FeatureContract.from_dict(self.manifest["contract"])
            self.videos: dict[str, dict] = self.manifest["videos"]
        except (ValueError, KeyError) as exc:
            raise DataError(f"{manifest}: malformed manifest ({exc})") from exc

    def names(self, list_file: str | Path) -> list[str]:
        out: list[str] = []
        for i, line in enumerate(read_list(list_file), 1):
            name = video_name(line)
            if name not in self.videos:
                raise DataError(f"{list_file}, line {i}: video '{name}' is not in the store "
                                f"{self.feature_dir}; extract it first or remove the line")
            if name not in out:
                out.append(name)
        return out

    def streams(self) -> tuple[str, ...]:
        return self._contract.stream_names

    def _path(self, name: str, stream: str = "features") -> Path:
        if name not in self.videos:
            raise DataError(f"unknown video '{name}': not in the store {self.feature_dir}")
        rel = self.videos[name].get("streams", {}).get(stream, f"{stream}/{name}.npy")
        return self.feature_dir / rel

    def _features(self, name: str) -> np.ndarray:
        path = self._path(name)
        return as_snippet_array(load_npy(path), path)

    def load(self, name: str, stream: str = "features") -> np.ndarray:
        if stream == "features":
            return self._features(name)
        spec = self._contract.stream(stream)
        if spec is None:
            raise DataError(missing_stream_message(stream, f"the store {self.feature_dir}",
                                                   self.streams()))
        path = self._path(name, stream)
        if not path.is_file():
            raise DataError(f"{path}: stream '{stream}' of video '{name}' is missing from the "
                            "store; re-extract the video (delete its meta/<name>.json first)")
        return check_stream(load_npy(path, mmap=spec.dtype == "float16"), spec, path)

    def snippets(self, name: str) -> int:
        return _header_len(self._path(name))

    def frame_size(self, name: str) -> tuple[int, int] | None:
        meta = self.videos.get(name, {})
        return (int(meta["width"]), int(meta["height"])) if "width" in meta else None

    def contract(self, any_name: str) -> FeatureContract:
        return self._contract


SOURCES: dict[str, type[FeatureSource]] = {"rtfm": RTFMSource, "xd": XDSource,
                                          "store": StoreSource}


class MemorySource(FeatureSource):
    """Streams already in memory: ``{name: [T, C, D] array}`` (features only) or
    ``{name: {stream: array}}`` (notebooks, benchmarks, tests).

    Example:
        >>> src = MemorySource({"a": np.ones((4, 8))})
        >>> src.load("a").shape, src.snippets("a")
        ((4, 1, 8), 4)
    """

    format = "memory"

    def __init__(self, arrays: dict[str, np.ndarray | dict[str, np.ndarray]],
                 clip_frames: int = 16, contract: FeatureContract | None = None):
        self.feature_dir = Path("<memory>")
        self.clip_frames = clip_frames
        self.arrays = {k: (v if isinstance(v, dict) else {"features": v})
                       for k, v in arrays.items()}
        self._contract = contract

    def names(self, list_file: str | Path) -> list[str]:
        return [video_name(line) for line in read_list(list_file)]

    def streams(self) -> tuple[str, ...]:
        first = next(iter(self.arrays.values()), {})
        return tuple(first)

    def _get(self, name: str) -> dict[str, np.ndarray]:
        if name not in self.arrays:
            raise DataError(f"unknown video '{name}' (not among the in-memory features)")
        return self.arrays[name]

    def _features(self, name: str) -> np.ndarray:
        return as_snippet_array(self._get(name)["features"], name)

    def load(self, name: str, stream: str = "features") -> np.ndarray:
        if stream == "features":
            return self._features(name)
        if stream not in self._get(name):
            raise DataError(missing_stream_message(stream, "the in-memory features",
                                                   tuple(self._get(name))))
        return self._get(name)[stream]

    def snippets(self, name: str) -> int:
        return int(self._get(name)["features"].shape[0])

    def contract(self, any_name: str) -> FeatureContract:
        return self._contract or super().contract(any_name)
