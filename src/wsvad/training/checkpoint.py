"""Checkpoints: ``model.safetensors`` + ``model.json`` (method, config, feature contract, code
version, seed). A checkpoint is all that scoring needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from wsvad import methods
from wsvad.contract import FeatureContract
from wsvad.errors import WsvadError
from wsvad.fileio import atomic_write, write_json
from wsvad.version import __version__


def save_checkpoint(model: methods.Method, contract: FeatureContract, path: str | Path,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write ``<path>.safetensors`` and ``<path>.json`` atomically (weights first)."""
    path = Path(path)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    meta = {"method": model.name, "config": model.cfg.to_dict(), "dim": model.dim,
            "contract": contract.to_dict(), "wsvad_version": __version__, **(extra or {})}
    if model.class_names():
        meta["class_names"] = model.class_names()     # what detect and report call each class
    atomic_write(path.with_suffix(".safetensors"),
                 lambda p: save_file(state, str(p), metadata={"method": model.name}))
    write_json(path.with_suffix(".json"), meta)
    return path.with_suffix(".safetensors")


def load_checkpoint(path: str | Path) -> tuple[methods.Method, FeatureContract, dict[str, Any]]:
    """Rebuild a method from a checkpoint; clear errors for missing or unreadable files.

    Example:
        >>> model, contract, meta = load_checkpoint("runs/demo/model")  # doctest: +SKIP
    """
    path = Path(path)
    weights, meta_path = path.with_suffix(".safetensors"), path.with_suffix(".json")
    for p in (weights, meta_path):
        if not p.is_file():
            raise WsvadError(f"checkpoint file missing: {p}; a run directory holds "
                             "model.safetensors and model.json written by `wsvad train`")
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise ValueError("expected a mapping with 'method', 'dim', 'config', 'contract'")
        contract = FeatureContract.from_dict(meta["contract"])
        config = methods.get(meta["method"]).Config.stored(meta["config"])
        model = methods.create(meta["method"], dim=int(meta["dim"]), parts=contract.parts,
                               **config)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, WsvadError) as exc:
        raise WsvadError(f"{meta_path}: unreadable checkpoint metadata ({exc}); restore the "
                         "file written by `wsvad train`, or retrain") from exc
    try:
        state = load_file(str(weights))
    except Exception as exc:
        raise WsvadError(f"{weights}: unreadable weights ({exc}); the file is truncated or "
                         "not a safetensors file — retrain or restore it") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WsvadError(f"{weights}: weights do not fit method '{meta['method']}' "
                         f"({str(exc).splitlines()[0]})") from exc
    model.eval()
    return model, contract, meta

