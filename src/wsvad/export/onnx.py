"""ONNX export of a method's scoring head, and an onnxruntime engine that scores with it
(``wsvad export --run RUN --format onnx``; ``detect --engine onnx``; ``pip install
wsvad[onnx]``).

The graph is the method's eval-mode ``forward`` as a function of the video's temporal streams —
``features [B, C, T, D]``, ``motion [B, T]``, ``motion_desc``, ``context``, ``patches_<r>x<c>
[B, T, P, D]``, ``maps`` … (the ones the method needs, in that order) — to ``scores [B, T]`` and,
for methods that say "what", ``classes``. T (and B) are dynamic. It is written next to the
checkpoint as ``model.onnx`` with ``model.onnx.json`` (inputs, outputs, opset, the checkpoint's
hash) so a stale export is noticed.

Not exportable: methods whose instances are built from row streams (``tubes``,
``tube_regions``: ``wsstad``, ``tube_motion``) — their instance sets are assembled in NumPy per
video, which a static graph cannot hold; :func:`export_run` says so. Localisation ("where") needs
the PyTorch model's internals: the ONNX engine gives scores (and classes), not heat maps or tubes.

Uses the TorchScript-based exporter (``dynamo=False``): the torch.export-based one needs the
``onnxscript`` package, and these heads trace without control flow.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from wsvad.data.batch import TEMPORAL, Batch, collate
from wsvad.errors import WsvadError
from wsvad.fileio import atomic_write, write_json
from wsvad.methods.base import Method, Output

OPSET = 17
ROW_NEEDS = ("boxes", "tubes", "tube_regions")


def input_names(model: Method, streams: dict[str, np.ndarray]) -> list[str]:
    """The graph's inputs: the temporal streams the method reads, in :data:`TEMPORAL` order,
    then its patch scales."""
    names = [s for s in TEMPORAL if s in model.needs]
    if "patches" in model.needs:
        names += sorted(k for k in streams if k.startswith("patches_"))
    return names


def batch_tensors(batch: Batch, names: list[str]) -> list[torch.Tensor]:
    """The tensors of ``batch`` named by ``names`` (``patches_2x3`` → ``batch.patches["2x3"]``)."""
    return [batch.patches[n.removeprefix("patches_")] if n.startswith("patches_")
            else getattr(batch, n) for n in names]


def time_axis(name: str) -> int:
    return 2 if name == "features" else 1


class ScoringHead(nn.Module):
    """The method's eval-mode forward as ``(*stream tensors) → scores [B, T] (, classes)``."""

    def __init__(self, model: Method, names: list[str], with_classes: bool):
        super().__init__()
        self.model, self.names, self.with_classes = model.eval(), names, with_classes

    def forward(self, *tensors: torch.Tensor):
        kw: dict[str, Any] = {"patches": {}}
        for n, t in zip(self.names, tensors, strict=True):
            if n.startswith("patches_"):
                kw["patches"][n.removeprefix("patches_")] = t
            else:
                kw[n] = t
        b = tensors[0].shape[0]
        out = self.model(Batch(features=kw.pop("features", None), label=torch.zeros(b),
                               patches=kw.pop("patches") or None, **kw))
        return (out.scores, out.classes) if self.with_classes else out.scores


def checkpoint_hash(run: Path) -> str:
    return hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()[:16]


def export_onnx(model: Method, streams: dict[str, np.ndarray], path: str | Path,
                source_hash: str = "") -> dict[str, Any]:
    """Trace ``model`` on one video's ``streams`` (time-first arrays) and write ``path`` (+
    ``path.json``) atomically; returns the description."""
    blocked = [s for s in ROW_NEEDS if s in model.needs]
    if blocked:
        raise WsvadError(f"method '{model.name}' builds its instances from {', '.join(blocked)} "
                         "in NumPy for each video; a static ONNX graph cannot hold that, so it "
                         "is not exportable — score it with the PyTorch engine (the default)")
    names = input_names(model, streams)
    missing = [n for n in names if n not in streams]
    if missing:
        raise WsvadError(f"export needs example streams {missing} for method '{model.name}'")
    batch = collate([{n: streams[n] for n in names}])
    tensors = batch_tensors(batch, names)
    model.eval()
    with torch.no_grad():
        probe = model(batch)
    with_classes = probe.classes is not None
    outputs = ["scores"] + (["classes"] if with_classes else [])
    axes = {n: {0: "batch", time_axis(n): "time"} for n in names}
    axes["scores"] = {0: "batch", 1: "time"}
    if with_classes:
        axes["classes"] = {0: "batch", **({1: "time"} if probe.classes.ndim == 3 else {})}
    head = ScoringHead(model, names, with_classes)
    path = Path(path)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")           # the legacy exporter's notices
            torch.onnx.export(head, tuple(tensors), str(tmp), input_names=names,
                              output_names=outputs, dynamic_axes=axes, opset_version=OPSET,
                              dynamo=False)
    atomic_write(path, write)
    info = {"method": model.name, "inputs": names, "outputs": outputs, "opset": OPSET,
            "checkpoint": source_hash}
    write_json(path.with_name(path.name + ".json"), info)
    return info


def export_run(run: str | Path, streams: dict[str, np.ndarray] | None = None,
               out: str | Path | None = None) -> Path:
    """Export a run's checkpoint (``run/model.onnx`` by default). The trace needs one video's
    streams: given, or read from the first test video of the run's dataset."""
    from wsvad.training.checkpoint import load_checkpoint
    run = Path(run)
    model, _, meta = load_checkpoint(run / "model")
    if streams is None:
        streams = example_streams(meta, model)
    path = Path(out) if out else run / "model.onnx"
    export_onnx(model, streams, path, checkpoint_hash(run))
    return path


def example_streams(meta: dict[str, Any], model: Method) -> dict[str, np.ndarray]:
    """One video's streams from the dataset the run was trained on."""
    from wsvad.data import load_dataset
    from wsvad.data.streams import load_streams
    if not meta.get("data"):
        raise WsvadError("the run does not record its dataset; pass example streams")
    ds = load_dataset(meta["data"], False)
    needs = tuple(s for s in model.needs if s not in ROW_NEEDS)
    entry = (ds.test or ds.train)[0]
    return load_streams(ds.source, entry.name, ds.streams_for(needs, model.name))


class OnnxEngine:
    """Scores a video's streams with an exported head through onnxruntime (CPU).

    Example:
        >>> eng = OnnxEngine("runs/demo/rtfm")                                # doctest: +SKIP
        >>> scores, output, batch = eng.score_streams({"features": f})        # doctest: +SKIP
    """

    def __init__(self, run: str | Path, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise WsvadError("--engine onnx needs onnxruntime: pip install 'wsvad[onnx]'") \
                from exc
        run = Path(run)
        path, info_path = run / "model.onnx", run / "model.onnx.json"
        if not path.is_file() or not info_path.is_file():
            raise WsvadError(f"no ONNX export in {run}: run `wsvad export --run {run} --format "
                             "onnx` first")
        self.info = json.loads(info_path.read_text())
        if self.info.get("checkpoint") and (run / "model.safetensors").is_file() and \
                self.info["checkpoint"] != checkpoint_hash(run):
            raise WsvadError(f"{path} was exported from another checkpoint than {run}'s; "
                             "export it again")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.graph_inputs = {i.name for i in self.session.get_inputs()}  # unused ones are pruned

    def score_streams(self, streams: dict[str, np.ndarray], name: str | None = None
                      ) -> tuple[np.ndarray, Output, Batch]:
        """Like :meth:`Method.score_streams`: ``(scores [T] float64, Output, Batch)``."""
        names = self.info["inputs"]
        missing = [n for n in names if n not in streams]
        if missing:
            raise WsvadError(f"the ONNX head needs streams {missing}")
        batch = collate([{n: streams[n] for n in names}], names=[name] if name else None)
        feeds = {n: t.numpy().astype(np.float32) for n, t in
                 zip(names, batch_tensors(batch, names), strict=True) if n in self.graph_inputs}
        got = dict(zip(self.info["outputs"], self.session.run(None, feeds), strict=True))
        classes = torch.from_numpy(got["classes"]) if "classes" in got else None
        out = Output(scores=torch.from_numpy(got["scores"]), classes=classes)
        return got["scores"][0].astype(np.float64), out, batch
