"""Procedural surveillance scenes: the embedded default video data (``make demo``)."""

from wsvad.datasets.scenes.actors import KINDS
from wsvad.datasets.scenes.dataset import SceneDatasetConfig, make_scene_dataset
from wsvad.datasets.scenes.generate import SceneVideo, render_scene

__all__ = ["KINDS", "SceneDatasetConfig", "SceneVideo", "make_scene_dataset", "render_scene"]
