"""Training bags: every training video's needed streams resampled once to T segments, held in
memory when they fit a budget and in a memory-mapped cache file when they do not, and a
sampler that draws balanced normal/abnormal batches from them.

Memory per stream = videos × T × per-snippet size. SSRL-style patches (6 + 15 + 28 = 49 tiles)
of 1280-d EfficientNet features in float16 take 49 × 1280 × 2 B × 32 = 3.8 MiB per video: 38 MiB
for Ped2's 10 training videos, 6.1 GiB for UCF-Crime's 1610 — above the default 2 GiB budget, so
they are cached on disk and read per batch (the page cache keeps what fits).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from wsvad.contract import ROW_STREAMS
from wsvad.data.batch import Batch, collate
from wsvad.data.streams import VideoStreams, resample_streams
from wsvad.errors import DataError

DEFAULT_BUDGET = 2 * 2**30


class BagSet:
    """Resampled streams of N videos: ``arrays[stream]`` is ``[N, T, ...]`` (RAM or memmap).

    ``load(name)`` returns a video's streams (full length); videos it cannot load are skipped
    and reported in :attr:`skipped`. Row streams (``boxes``, ``tubes``, ``tube_regions``) are
    kept per video.

    Example:
        >>> load = lambda n: {"features": np.ones((10, 1, 4)) * int(n)}
        >>> bags = BagSet(["1", "2"], [0, 1], load, segments=4)
        >>> bags.arrays["features"].shape, bags.batch([1]).features.mean().item()
        ((2, 4, 1, 4), 2.0)
    """

    def __init__(self, names: list[str], labels: list[int], load: Callable[[str], VideoStreams],
                 segments: int, budget: int = DEFAULT_BUDGET, progress: bool = False,
                 cache_dir: str | Path | None = None, classes: np.ndarray | None = None):
        self.segments, self.capacity, self.budget = segments, len(names), budget
        self.cache_dir = cache_dir
        self.names: list[str] = []
        self.labels: list[int] = []
        self.skipped: dict[str, str] = {}
        self.classes: np.ndarray | None = None     # [N, K] multi-hot, when the data has classes
        kept: list[int] = []
        self.arrays: dict[str, np.ndarray] = {}
        self.rows: dict[str, list[np.ndarray]] = {}    # row streams (boxes, tubes…) per video
        self._tmp: Path | None = None
        for j, (name, label) in enumerate(tqdm(list(zip(names, labels, strict=True)),
                                               desc="loading bags", unit="video",
                                               disable=not progress, leave=False)):
            try:
                video = resample_streams(load(name), segments)
                for k, v in video.items():
                    if k not in ROW_STREAMS and not np.isfinite(np.asarray(v, np.float32)).all():
                        raise DataError(f"video '{name}': NaN/inf values in stream '{k}'; "
                                        "re-extract it")
            except DataError as exc:
                self.skipped[name] = str(exc)
                continue
            self._add(video)
            self.names.append(name)
            self.labels.append(int(label))
            kept.append(j)
        if not self.names:
            raise DataError("no training video could be loaded: "
                            + "; ".join(f"{k}: {v}" for k, v in list(self.skipped.items())[:3]))
        n = len(self.names)
        self.arrays = {k: v[:n] for k, v in self.arrays.items()}
        if classes is not None:
            self.classes = np.asarray(classes, np.float32)[kept]

    def _add(self, video: VideoStreams) -> None:
        i = len(self.names)
        for k, v in video.items():
            if k in ROW_STREAMS:
                self.rows.setdefault(k, []).append(v)
            else:
                if k not in self.arrays:
                    self.arrays[k] = self._allocate(k, v)
                self.arrays[k][i] = v

    def _allocate(self, key: str, v: np.ndarray) -> np.ndarray:
        """Room for every video of this stream: in RAM within the budget, else a memmap."""
        shape = (self.capacity,) + v.shape
        if v.nbytes * self.capacity <= self.budget:
            return np.empty(shape, v.dtype)
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="wsvad-bags-", dir=self.cache_dir))
        return np.lib.format.open_memmap(self._tmp / f"{key}.npy", mode="w+", dtype=v.dtype,
                                         shape=shape)

    def video(self, i: int, streams: tuple[str, ...] | None = None) -> VideoStreams:
        """Video ``i``'s streams (only ``streams`` of the array streams, when given)."""
        out = {k: v[i] for k, v in self.arrays.items() if streams is None or k in streams}
        out.update({k: v[i] for k, v in self.rows.items()})
        return out

    def batch(self, idx: list[int] | np.ndarray) -> Batch:
        idx = list(map(int, idx))
        return self.collate(idx, [self.video(i) for i in idx])

    def collate(self, idx: list[int], videos: list[VideoStreams]) -> Batch:
        """The :class:`Batch` of videos ``idx`` (their streams given): labels, names, classes."""
        return collate(videos, [self.labels[i] for i in idx], [self.names[i] for i in idx],
                       None if self.classes is None else self.classes[idx])

    @property
    def on_disk(self) -> bool:
        return self._tmp is not None

    def close(self) -> None:
        """Remove the on-disk cache, if one was made."""
        self.arrays = {}
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


class BalancedBags:
    """Draws B normal + B abnormal bags per step from a :class:`BagSet`.

    Every step samples without replacement inside an epoch of each class (like two shuffled
    loaders), so each video is seen once per pass over its class. A class with fewer training
    videos than B contributes each of them once per batch (a data loader without ``drop_last``
    would; repeating a video inside one batch only re-weights it).

    ``part = (rank, world)``: data-parallel training. Every rank draws the same full batch (same
    seed, same random stream) and loads only its slice ``[rank::world]`` of each class, so the
    ranks together see exactly the single-process batch (as PyTorch's DistributedSampler does).
    """

    def __init__(self, bags: BagSet, batch: int, seed: int, crops_per_step: int | None = None,
                 part: tuple[int, int] = (0, 1), streams: tuple[str, ...] | None = None):
        self.bags, self.batch, self.crops_per_step = bags, batch, crops_per_step
        self.streams = streams          # collate only these array streams (None: all)
        self.rank, self.world = part
        self.labels = np.asarray(bags.labels, int)
        self.rng = np.random.default_rng(seed)
        self._pools = {c: np.flatnonzero(self.labels == c) for c in (0, 1)}
        for c, pool in self._pools.items():
            if len(pool) == 0:
                kind = "abnormal" if c else "normal"
                raise DataError(f"no {kind} training videos: weak supervision needs both kinds "
                                "(check the labels file, and that --val-fraction leaves some "
                                "of each kind for training)")
        self._queues: dict[int, list[int]] = {0: [], 1: []}

    def _take(self, c: int, n: int) -> list[int]:
        out = []
        while len(out) < n:
            if not self._queues[c]:
                self._queues[c] = list(self.rng.permutation(self._pools[c]))
            out.append(int(self._queues[c].pop()))
        return out

    def next(self) -> Batch:
        """Normal bags first, then abnormal (the order RTFM's loss code relies on)."""
        normal = self._take(0, min(self.batch, len(self._pools[0])))
        abnormal = self._take(1, min(self.batch, len(self._pools[1])))
        full = normal + abnormal
        mine = set(range(len(full))) if self.world == 1 else \
            set(range(self.rank, len(normal), self.world)) | \
            {len(normal) + j for j in range(self.rank, len(abnormal), self.world)}
        keep = [k for k in range(len(full)) if k in mine]
        idx = [full[k] for k in keep]
        videos = [self.bags.video(i, self.streams) for i in idx]
        if self.crops_per_step is not None and videos and "features" in videos[0]:
            c = videos[0]["features"].shape[1]
            if self.crops_per_step < c:        # drawn for the full batch: the streams agree
                picks = [np.sort(self.rng.choice(c, self.crops_per_step, replace=False))
                         for _ in full]
                videos = [{**v, "features": v["features"][:, picks[k]]}
                          for k, v in zip(keep, videos, strict=True)]
        return self.bags.collate(idx, videos)
