"""ONNX export of a method's scoring graph, and an onnxruntime engine that scores with it
(``wsvad export --run RUN --format onnx``; ``detect --engine onnx``; ``pip install
wsvad[onnx]``).

The graph is what :meth:`Method.graph_forward` computes from :meth:`Method.graph_inputs`: for
most methods their eval-mode ``forward`` on the temporal streams they read — ``features [B, C,
T, D]``, ``motion [B, T]``, ``motion_desc``, ``motion_grid``, ``context``,
``patches_<r>x<c> [B, T, P, D]``, ``maps`` … — to ``scores [B, T]`` (and ``classes`` for
methods that say "what"); for ``wsstad`` the two branches on the instances that it assembles
per video in NumPy (``x``, ``region``, ``image`` and their masks) to the four branch scores,
Eq. 9 applied after the graph
(:meth:`Method.from_graph`). Every dimension but a feature width is dynamic. It is written next
to the checkpoint as ``model.onnx`` with ``model.onnx.json`` (inputs, outputs, opset, the
checkpoint's hash) so a stale export is refused. The engine loads the checkpoint too: it builds
the graph's inputs and reads its outputs the method's way; the graph does the arithmetic.

Not exportable: ``tube_motion`` (no learned part; its score is a NumPy statistic of the tubes'
crops). Localisation needs the model's internals: with the ONNX engine only ``wsstad`` still says
where (its tubes come back through :meth:`Method.from_graph`).

Uses the TorchScript-based exporter (``dynamo=False``): the torch.export-based one needs the
``onnxscript`` package, and these graphs trace without data-dependent control flow.
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

from wsvad.data.batch import Batch, collate
from wsvad.errors import WsvadError
from wsvad.fileio import atomic_write, write_json
from wsvad.methods.base import Method, Output

OPSET = 17


def dynamic_axes(name: str, t: torch.Tensor) -> dict[int, str]:
    """Every axis dynamic but the last of a ≥ 3-d tensor (a feature width)."""
    last = t.ndim - 1 if t.ndim >= 3 else t.ndim
    return {i: f"{name}_{i}" for i in range(last)}


class ScoringGraph(nn.Module):
    """``(*inputs in order) → outputs in order`` of :meth:`Method.graph_forward`."""

    def __init__(self, model: Method, inputs: list[str], outputs: list[str]):
        super().__init__()
        self.model, self.inputs, self.outputs = model.eval(), inputs, outputs

    def forward(self, *tensors: torch.Tensor):
        out = self.model.graph_forward(dict(zip(self.inputs, tensors, strict=True)))
        return tuple(out[k] for k in self.outputs)


def checkpoint_hash(run: Path) -> str:
    return hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()[:16]


def export_onnx(model: Method, streams: dict[str, np.ndarray], path: str | Path,
                source_hash: str = "") -> dict[str, Any]:
    """Trace ``model`` on one video's ``streams`` (time-first arrays) and write ``path`` (+
    ``path.json``) atomically; returns the description."""
    if model.exportable:
        raise WsvadError(f"method '{model.name}' is not exportable: {model.exportable}; score "
                         "it with the PyTorch engine (the default)")
    model.eval()
    batch = collate([dict(streams)])
    with torch.no_grad():
        inputs = model.graph_inputs(batch)
        outputs = model.graph_forward(inputs)
    names, out_names = list(inputs), list(outputs)
    axes = {n: dynamic_axes(n, t) for n, t in {**inputs, **outputs}.items()}
    graph = ScoringGraph(model, names, out_names)
    path = Path(path)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")           # the legacy exporter's notices
            torch.onnx.export(graph, tuple(inputs.values()), str(tmp), input_names=names,
                              output_names=out_names, dynamic_axes=axes, opset_version=OPSET,
                              dynamo=False)
    atomic_write(path, write)
    info = {"method": model.name, "inputs": names, "outputs": out_names, "opset": OPSET,
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
    entry = (ds.test or ds.train)[0]
    return load_streams(ds.source, entry.name, ds.streams_for(model.needs, model.name))


class OnnxEngine:
    """Scores a video's streams with a run's exported graph through onnxruntime (CPU).

    Example:
        >>> eng = OnnxEngine("runs/demo/rtfm")                                # doctest: +SKIP
        >>> scores, output, batch = eng.score_streams({"features": f})        # doctest: +SKIP
    """

    def __init__(self, run: str | Path, threads: int | None = None,
                 model: Method | None = None):
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
        if model is None:
            from wsvad.training.checkpoint import load_checkpoint
            model = load_checkpoint(run / "model")[0]
        self.model = model.eval()
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.graph_inputs = {i.name for i in self.session.get_inputs()}  # unused ones are pruned

    @torch.no_grad()
    def score_streams(self, streams: dict[str, np.ndarray], name: str | None = None
                      ) -> tuple[np.ndarray, Output, Batch]:
        """Like :meth:`Method.score_streams`: ``(scores [T] float64, Output, Batch)``."""
        batch = collate([dict(streams)], names=[name] if name else None)
        inputs = self.model.graph_inputs(batch)
        missing = sorted(self.graph_inputs - set(inputs))
        if missing:
            raise WsvadError(f"the ONNX graph needs inputs {missing} that these streams lack")
        feeds = {k: v.cpu().numpy() for k, v in inputs.items() if k in self.graph_inputs}
        got = dict(zip(self.info["outputs"], self.session.run(None, feeds), strict=True))
        out = self.model.from_graph(batch, inputs, {k: torch.from_numpy(np.asarray(v))
                                                    for k, v in got.items()})
        return out.scores[0].double().numpy(), out, batch
