"""Decoding (PyAV / image folders), snippets, crops."""

from wsvad.video.decode import VideoInfo, iter_frames, probe
from wsvad.video.snippets import crop_clip, iter_snippets, resize_short_side

__all__ = ["VideoInfo", "crop_clip", "iter_frames", "iter_snippets", "probe",
           "resize_short_side"]
