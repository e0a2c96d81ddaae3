"""Loading a weights file into an architecture, strictly, with errors that say what to do."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from wsvad.errors import WsvadError


def load_strict(net: nn.Module, path: str | Path, expected: str) -> nn.Module:
    """Load the state dict at ``path`` into ``net`` (eval mode) with strict key checking.

    Accepts a bare state dict or ``{"state_dict": …}``, and strips DataParallel's ``module.``
    prefixes. ``expected`` names the checkpoint in error messages.
    """
    path = Path(path)
    if not path.is_file():
        raise WsvadError(f"weights file not found: {path} (expected {expected})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WsvadError(f"{path}: unreadable weights ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WsvadError(f"{path}: keys or shapes do not match "
                         f"({str(exc).splitlines()[0]}); expected {expected}") from exc
    return net.eval()
