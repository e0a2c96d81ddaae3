"""Score whole videos of a dataset (full length, every crop) and turn snippet scores into frame
scores. Each video goes through :meth:`wsvad.methods.Method.score_streams`, the path ``detect``
and the Python API use too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from wsvad.data.batch import Batch, collate
from wsvad.data.groundtruth import snippet_to_frame
from wsvad.data.spec import FeatureDataset
from wsvad.data.streams import load_streams
from wsvad.errors import DataError
from wsvad.methods.base import Localization, Method


@dataclass
class VideoScores:
    """Scores of several videos; ``failed`` holds the videos that could not be scored, why."""

    frames: dict[str, np.ndarray] = field(default_factory=dict)
    snippets: dict[str, np.ndarray] = field(default_factory=dict)
    localization: dict[str, Localization] = field(default_factory=dict)
    classes: dict[str, np.ndarray] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def stream_names(model: Method, ds: FeatureDataset) -> tuple[str, ...]:
    """The dataset's streams that ``model`` needs (clear error when one is missing)."""
    return ds.streams_for(model.needs, model.name, model.wants)


def iter_videos(ds: FeatureDataset, names: list[str], labels: list[int] | None,
                streams: tuple[str, ...]) -> Iterator[Batch]:
    """One full-length video per :class:`Batch` (unreadable videos are skipped)."""
    for i, name in enumerate(names):
        try:
            video = load_streams(ds.source, name, streams)
        except DataError:
            continue
        yield collate([video], None if labels is None else [labels[i]], [name])


def score_videos(model: Method, ds: FeatureDataset, names: list[str],
                 frame_labels: dict[str, np.ndarray] | None = None, progress: bool = True,
                 localize: bool = False) -> VideoScores:
    """Frame scores per video (aligned with the frame labels when given), snippet scores, and
    the method's localisation and class predictions when asked. A video that fails to load is
    recorded in ``failed``, not fatal."""
    streams = stream_names(model, ds)
    clip = ds.spec.snippet_frames
    out = VideoScores()
    for name in tqdm(names, desc="scoring", unit="video", disable=not progress, leave=False):
        try:
            video = load_streams(ds.source, name, streams)
            s, output, batch = model.score_streams(video, name)
        except DataError as exc:
            out.failed[name] = str(exc)
            continue
        out.snippets[name] = s
        n = len(frame_labels[name]) if frame_labels is not None else None
        out.frames[name] = snippet_to_frame(s, n, clip)
        if output.classes is not None:
            out.classes[name] = output.classes[0].numpy()
        if localize:
            loc = model.localize(batch, output)
            if loc:
                out.localization[name] = loc[0]
    return out
