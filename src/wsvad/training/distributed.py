"""Devices and data-parallel training under ``torchrun`` (DDP semantics, plain PyTorch).

``torchrun --standalone --nproc_per_node N -m wsvad train ...`` starts N processes; each one
finds its rank in the environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) and
joins a process group (gloo on the CPU, nccl on GPUs). Then:

* every rank draws the same balanced batch and loads its slice of it (``[rank::N]`` of each
  kind; :class:`wsvad.data.bags.BalancedBags`), so one step sees exactly the single-process
  batch — ``batch_size`` bags of each kind;
* gradients are averaged over the ranks before every optimiser step — the optimiser is wrapped
  (:class:`GradientAveraging`) rather than the model, because a method may step several times
  per iteration (WSSTAD's Alg. 3); buffers (BatchNorm statistics) follow rank 0 after each step;
* only rank 0 validates, keeps the checkpoint, writes the run and scores the test set; its
  decision to stop is broadcast (:meth:`Dist.agree`).

Why not ``DistributedDataParallel``: it averages gradients inside ``backward`` of one wrapped
``forward``; our methods call their parts directly and may step twice per batch, which DDP's
hooks do not follow. The arithmetic is the same (sum of gradients / N, unused parameters count
as zero). Without torchrun everything here is a no-op.

Example:
    >>> ctx = setup("cpu"); (ctx.rank, ctx.world, ctx.device.type)
    (0, 1, 'cpu')
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import distributed as dist
from torch import nn

from wsvad.errors import WsvadError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` → a GPU when torch sees one, else the CPU; ``cuda`` without a GPU is an error."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise WsvadError(f"--device {name!r}: use one of {', '.join(DEVICES)} (or cuda:N)")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise WsvadError(f"--device {name}: this PyTorch sees no CUDA GPU (a CPU build, or "
                             "no driver); use --device cpu")
        return torch.device(name if ":" in name else f"cuda:{local_rank}")
    return torch.device("cpu")


@dataclass
class Dist:
    """This process's place in the job: rank, world size and device."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self._comm_device)
        dist.broadcast(t, 0)
        return bool(t.item())

    def sync(self, module: nn.Module) -> None:
        """Every parameter and buffer of ``module`` as rank 0 has it."""
        if self.world == 1:
            return
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                dist.broadcast(t.data, 0)

    def wrap(self, optimizer: torch.optim.Optimizer, module: nn.Module):
        return optimizer if self.world == 1 else GradientAveraging(optimizer, module, self)

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    @property
    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def is_main_process() -> bool:
    """False on the ranks > 0 of a torchrun job (they leave the writing to rank 0)."""
    return int(os.environ.get("RANK", "0")) == 0


def setup(device: str = "auto") -> Dist:
    """The job's :class:`Dist`; joins the process group when torchrun started several ranks."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local)
    if world > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world, dev)


class GradientAveraging:
    """An optimiser whose ``step`` first averages every parameter's gradient over the ranks (one
    all-reduce of the flattened gradients; a parameter without a gradient on some rank counts as
    zero there, as in DDP), then steps, then copies rank 0's buffers. Everything else is the
    wrapped optimiser's (``zero_grad``, ``state_dict``, ``param_groups`` …)."""

    def __init__(self, optimizer: torch.optim.Optimizer, module: nn.Module, ctx: Dist):
        self.optimizer, self.module, self.ctx = optimizer, module, ctx

    def step(self, closure=None):
        params = [p for p in self.module.parameters() if p.requires_grad]
        if params:
            dev = params[0].device
            have = torch.tensor([float(p.grad is not None) for p in params], device=dev)
            flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                              for p in params])
            dist.all_reduce(have)
            dist.all_reduce(flat)
            flat /= self.ctx.world
            offset = 0
            for p, used in zip(params, have.tolist(), strict=True):
                n = p.numel()
                p.grad = flat[offset:offset + n].view_as(p).clone() if used else None
                offset += n
        out = self.optimizer.step(closure)
        with torch.no_grad():
            for b in self.module.buffers():
                dist.broadcast(b.data, 0)
        return out

    def __getattr__(self, name: str):
        return getattr(self.optimizer, name)
