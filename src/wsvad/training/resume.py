"""Resume state of an interrupted run, stored without pickle: nothing wsvad loads can run code.

Two files in the run directory, both written atomically:

* ``resume.safetensors`` — every tensor: the model (``model.*``), the best checkpoint so far
  (``best.*``), the optimiser's per-parameter state (``optim.<param>.<name>``) and the torch
  random state (``rng.torch``);
* ``resume.json`` — everything else as plain JSON: iteration, history, best validation row,
  patience counter, the optimiser's hyper-parameters, the sampler's NumPy generator state.

The JSON records a token that is also in the safetensors metadata, so a pair left inconsistent by
an interruption between the two writes is refused instead of half-loaded.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from wsvad.errors import WsvadError
from wsvad.fileio import atomic_write, write_json

TENSORS, META, LEGACY = "resume.safetensors", "resume.json", "resume.pt"


def save_resume_state(run: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                      state: dict[str, Any], best_state: dict[str, torch.Tensor] | None,
                      torch_rng: torch.Tensor) -> None:
    """Write the resume pair (see the module docstring). ``state`` must be JSON-serialisable."""
    run = Path(run)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if best_state is not None:
        tensors.update({f"best.{k}": v for k, v in best_state.items()})
    opt = optimizer.state_dict()
    for idx, per in opt["state"].items():
        for name, value in per.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{idx}.{name}"] = t
    tensors["rng.torch"] = torch_rng
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    token = secrets.token_hex(8)
    atomic_write(run / TENSORS, lambda p: save_file(tensors, str(p), metadata={"token": token}))
    write_json(run / META, {"token": token, "param_groups": opt["param_groups"],
                            "has_best": best_state is not None, **state})


def load_resume_state(run: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
                      ) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None, torch.Tensor]:
    """Restore model and optimiser in place; returns ``(state, best_state, torch_rng)``.

    Raises :class:`WsvadError` with what to do for a missing, corrupt, inconsistent or legacy
    (pickled ``resume.pt``) state — it never unpickles anything.
    """
    run = Path(run)
    tpath, mpath = run / TENSORS, run / META
    if not mpath.is_file() or not tpath.is_file():
        if (run / LEGACY).is_file():
            raise WsvadError(f"--resume: {run / LEGACY} is a pickle written by an older wsvad; "
                             "pickles can run code when loaded, so it is not read. Start the "
                             "run again without --resume (or delete the file)")
        raise WsvadError(f"--resume: no resume state in {run} ({META} and {TENSORS}); start "
                         "the run without --resume")
    try:
        meta = json.loads(mpath.read_text())
        tensors = load_file(str(tpath))
        from safetensors import safe_open
        with safe_open(str(tpath), "pt") as fh:
            token = (fh.metadata() or {}).get("token")
    except (ValueError, OSError, SafetensorError) as exc:
        raise WsvadError(f"--resume: the resume state in {run} is unreadable ({exc}); start the "
                         "run again without --resume") from exc
    if not isinstance(meta, dict) or token is None or meta.get("token") != token:
        raise WsvadError(f"--resume: {META} and {TENSORS} in {run} do not belong together (the "
                         "run was interrupted while saving); start it again without --resume")
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        per: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, idx, name = k.split(".", 2)
                per.setdefault(int(idx), {})[name] = v
        optimizer.load_state_dict({"state": per, "param_groups": meta["param_groups"]})
    except (RuntimeError, KeyError, ValueError) as exc:
        raise WsvadError(f"--resume: the resume state in {run} does not fit this method and "
                         f"config ({str(exc).splitlines()[0]}); resume with the settings the "
                         "run was started with, or start again without --resume") from exc
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")} \
        if meta.get("has_best") else None
    return meta, best, tensors["rng.torch"]
