"""DDP from torchrun's environment variables: one code path for one process or many.

`torchrun --nproc_per_node N -m hear_ssl.cli pretrain ...` sets RANK, LOCAL_RANK and WORLD_SIZE; without
them the run is a single process and nothing here touches torch.distributed. Across nodes (`torchrun --nnodes N
--rdzv-backend c10d ...`, docs/scale-out.md) RANK is global and LOCAL_RANK counts the node's own processes: the GPU
is chosen by LOCAL_RANK, while logging, the log-mel cache and checkpoints belong to global rank 0 alone, so the
run folder and cache must be on a filesystem every node sees.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_master(self) -> bool:
        # Only rank 0 logs, shows progress and writes checkpoints.
        return self.rank == 0


def init_distributed(device: str) -> DistributedContext:
    """Join the process group torchrun describes, if any; pins each rank to its local GPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistributedContext()
    context = DistributedContext(
        rank=int(os.environ["RANK"]), local_rank=int(os.environ["LOCAL_RANK"]), world_size=int(os.environ["WORLD_SIZE"])
    )
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if device.startswith("cuda"):
        torch.cuda.set_device(context.local_rank)
    dist.init_process_group(backend=backend)
    return context


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward hands each rank the summed gradient of its own slice."""

    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad):
        # Every rank computed the loss on the full gathered batch: sum their gradients, keep our rows.
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad.chunk(dist.get_world_size(), dim=0)[dist.get_rank()]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` over ranks along dim 0, keeping gradients (for global-batch loss statistics)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


def gather_objects(obj, context: DistributedContext) -> list:
    """Every rank's `obj` as a list indexed by rank (a one-element list without DDP)."""
    if not context.enabled:
        return [obj]
    out = [None] * context.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def shutdown(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
