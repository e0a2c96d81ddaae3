"""Score whole test videos and turn snippet scores into frame scores."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from wsvad.data.features import VideoFeatures
from wsvad.data.groundtruth import snippet_to_frame
from wsvad.data.readers import FeatureSource
from wsvad.errors import DataError
from wsvad.methods.base import Method


def score_video(model: Method, video: VideoFeatures) -> np.ndarray:
    """Snippet scores ``[T]`` of one video (all T snippets, every crop)."""
    x = torch.from_numpy(video.features).permute(1, 0, 2)[None]   # [1, C, T, D]
    if x.shape[-1] != model.dim:
        raise DataError(f"{video.source}: features have {x.shape[-1]} dims, the model expects "
                        f"{model.dim}")
    return model.score(x)[0].numpy().astype(np.float64)


def score_videos(model: Method, source: FeatureSource, names: list[str],
                 frame_labels: dict[str, np.ndarray] | None, clip: int, progress: bool = True
                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, str]]:
    """Frame scores per video (aligned with the frame labels when given) and snippet scores.

    A video that fails to load is reported in the third dict and skipped, not fatal.
    """
    frames, snippets, failed = {}, {}, {}
    for name in tqdm(names, desc="scoring", unit="video", disable=not progress, leave=False):
        try:
            s = score_video(model, source.load(name))
        except DataError as exc:
            failed[name] = str(exc)
            continue
        snippets[name] = s
        n = len(frame_labels[name]) if frame_labels is not None else None
        frames[name] = snippet_to_frame(s, n, clip)
    return frames, snippets, failed
