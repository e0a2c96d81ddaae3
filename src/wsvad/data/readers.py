"""Readers for the published feature layouts and our FeatureStore.

* ``rtfm``: one ``<name>_i3d.npy`` (or ``<name>.npy``) per video, ``[T, crops, D]`` or ``[T, D]``;
  list files hold paths (often the authors' absolute paths): only the file name is used, resolved
  against the feature directory (searched recursively).
* ``xd``: one file per crop, ``<name>__0.npy … <name>__4.npy`` (or ``__9``), each ``[T, D]``;
  list files name the crop files; crops are stacked in index order.
* ``store``: a folder written by wsvad (``manifest.json`` + ``features/<name>.npy``); list files
  hold video names.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from wsvad.contract import FeatureContract
from wsvad.data.features import VideoFeatures, as_snippet_array, load_npy
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
    lines = [ln.strip() for ln in list_file.read_text().splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise DataError(f"list file {list_file} is empty; it should hold one video per line")
    return lines


class FeatureSource(ABC):
    """Where features of named videos come from. Subclasses per layout."""

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
    def load(self, name: str) -> VideoFeatures:
        """Features of one video."""

    @abstractmethod
    def snippets(self, name: str) -> int:
        """Number of snippets T of a video, read from the header only."""

    def contract(self, any_name: str) -> FeatureContract:
        arr = self.load(any_name).features
        return FeatureContract(dim=int(arr.shape[2]), crops=int(arr.shape[1]),
                               clip_frames=self.clip_frames)


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

    def load(self, name: str) -> VideoFeatures:
        path = self._path(name)
        return VideoFeatures(name, as_snippet_array(load_npy(path), path), source=str(path))

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

    def load(self, name: str) -> VideoFeatures:
        files = self._files(name)
        arrays = [as_snippet_array(load_npy(p), p)[:, 0] for p in files]
        lengths = {a.shape[0] for a in arrays}
        if len(lengths) != 1:
            raise DataError(f"video '{name}': crop files have different lengths {sorted(lengths)}")
        return VideoFeatures(name, np.stack(arrays, axis=1), source=str(files[0].parent / name))

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

    def _path(self, name: str, stream: str = "features") -> Path:
        if name not in self.videos:
            raise DataError(f"unknown video '{name}': not in the store {self.feature_dir}")
        rel = self.videos[name].get("streams", {}).get(stream, f"{stream}/{name}.npy")
        return self.feature_dir / rel

    def load(self, name: str) -> VideoFeatures:
        path = self._path(name)
        return VideoFeatures(name, as_snippet_array(load_npy(path), path), source=str(path))

    def snippets(self, name: str) -> int:
        return _header_len(self._path(name))

    def contract(self, any_name: str) -> FeatureContract:
        return self._contract


SOURCES: dict[str, type[FeatureSource]] = {"rtfm": RTFMSource, "xd": XDSource,
                                          "store": StoreSource}


class MemorySource(FeatureSource):
    """Features already in memory: ``{name: [T, C, D] array}`` (notebooks, benchmarks, tests)."""

    format = "memory"

    def __init__(self, arrays: dict[str, np.ndarray], clip_frames: int = 16):
        self.feature_dir = Path("<memory>")
        self.clip_frames = clip_frames
        self.arrays = arrays

    def names(self, list_file: str | Path) -> list[str]:
        return [video_name(line) for line in read_list(list_file)]

    def load(self, name: str) -> VideoFeatures:
        if name not in self.arrays:
            raise DataError(f"unknown video '{name}' (not among the in-memory features)")
        return VideoFeatures(name, as_snippet_array(self.arrays[name], name), source=name)

    def snippets(self, name: str) -> int:
        return int(self.arrays[name].shape[0])
