"""Which streams a method needs, loading them for a video, and resampling them together.

``needs`` names streams as methods declare them; ``patches`` stands for every patch grid the
dataset holds (``patches_2x3``, ``patches_3x5``, …) unless the method names grids itself.
Training bags resample every temporal stream to the same T segments (Sultani's 32-segment rule,
RTFM's ``process_feat``); test scoring keeps the full length.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from wsvad.contract import ROW_STREAMS
from wsvad.data.readers import FeatureSource, missing_stream_message
from wsvad.data.segments import resample_rows, resample_segments
from wsvad.errors import DataError

VideoStreams = dict[str, np.ndarray]


def resolve_needs(needs: Iterable[str], available: Iterable[str], where: str) -> tuple[str, ...]:
    """Concrete stream names for ``needs``; a clear error for any the dataset lacks.

    Example:
        >>> resolve_needs(("features", "patches"), ("features", "patches_2x3", "motion"), "s")
        ('features', 'patches_2x3')
        >>> resolve_needs(("maps",), ("features",), "store s")
        Traceback (most recent call last):
        ...
        wsvad.errors.DataError: stream 'maps' is not in store s (it has: features); make it ...
    """
    available = tuple(available)
    out: list[str] = []
    for need in needs:
        if need == "patches":
            grids = sorted((s for s in available if s.startswith("patches_")),
                           key=lambda s: [int(x) for x in s[8:].split("x")])
            if not grids:
                raise DataError(missing_stream_message("patches", where, available))
            out += grids
        elif need in available:
            out.append(need)
        else:
            raise DataError(missing_stream_message(need, where, available))
    return tuple(dict.fromkeys(out))


def load_streams(source: FeatureSource, name: str, streams: Iterable[str]) -> VideoStreams:
    """The named streams of one video, temporal ones checked to share T snippets."""
    out = {s: source.load(name, s) for s in streams}
    lengths = {s: len(a) for s, a in out.items() if s not in ROW_STREAMS}
    if len(set(lengths.values())) > 1:
        raise DataError(f"video '{name}': streams have different snippet counts {lengths}; "
                        "re-extract the video so that all streams come from one pass")
    return out


# row streams whose rows name a snippet (the column): re-indexed to segments on resampling
SNIPPET_COLUMN = {"tubes": 2, "tube_regions": 1}


def resample_streams(streams: VideoStreams, length: int) -> VideoStreams:
    """Every temporal stream averaged into ``length`` segments (:func:`resample_segments`;
    float16 streams stay float16); ``boxes`` (frame-indexed rows) pass through unchanged, and
    rows that name a snippet (``tubes``, ``tube_regions``) are re-indexed to the segments
    (:func:`~wsvad.data.segments.resample_rows`).

    Example:
        >>> out = resample_streams({"features": np.ones((7, 1, 4)), "motion": np.arange(7.)}, 2)
        >>> out["features"].shape, out["motion"].tolist()
        ((2, 1, 4), [1.0, 4.5])
    """
    t = next((len(v) for k, v in streams.items() if k not in ROW_STREAMS), 0)
    out = {}
    for k, v in streams.items():
        if k in SNIPPET_COLUMN:
            out[k] = resample_rows(np.asarray(v), SNIPPET_COLUMN[k], t, length)
        elif k in ROW_STREAMS:
            out[k] = v
        else:
            out[k] = resample_segments(np.asarray(v), length)
    return out
