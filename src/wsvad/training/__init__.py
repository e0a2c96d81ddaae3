"""Training, checkpoints, validation split, scoring."""

from wsvad.training.checkpoint import load_checkpoint, save_checkpoint
from wsvad.training.evaluate import evaluate_model
from wsvad.training.trainer import TrainResult, train

__all__ = ["TrainResult", "evaluate_model", "load_checkpoint", "save_checkpoint", "train"]
