"""Backbones with real weights (no downloads): EfficientNet-Lite0, DIS-flow motion."""

from wsvad.backbones.video_encoder import BACKBONES, EncodedVideo, VideoEncoder

__all__ = ["BACKBONES", "EncodedVideo", "VideoEncoder"]
