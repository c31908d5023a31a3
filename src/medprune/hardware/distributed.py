"""Data-parallel training on PyTorch's own engine: processes launched by `torchrun`, gradients averaged by
DistributedDataParallel (gloo on CPUs, NCCL on GPUs).

Every process draws the same global batches (one seeded order, one augmentation stream) and trains on its own
stride of each, so N processes see exactly the cases one process would with the same global batch size; only
rank 0 writes files. Dropout and other random layers draw from a seed per rank.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place among the data-parallel processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """The one process that writes files and prints."""
        return self.rank == 0

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        """This process's stride of a global batch."""
        return x if self.size == 1 else x[self.rank::self.size]

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The model that trains: DistributedDataParallel over `model` (sharing its parameters) when there are
        several processes. BatchNorm is synchronised across GPUs, whose per-process batches of volumes are small;
        on CPUs (gloo) PyTorch has no synchronised BatchNorm and each process normalises its own stride."""
        if self.size == 1:
            return model
        if device.type == "cuda":
            return nn.parallel.DistributedDataParallel(synced_batchnorm(model), device_ids=[device.index])
        return nn.parallel.DistributedDataParallel(model)

    def unwrap(self, model: nn.Module) -> nn.Module:
        """`model` as it was before `wrap` (its BatchNorm layers plain again, sharing the trained tensors)."""
        return plain_batchnorm(model)

    def first_reason(self, reason: str) -> str:
        """`reason` to stop, the same on every process: a process that would go on stops with the others (a time
        budget can run out on one process first, and DDP needs all of them in every step)."""
        if self.size == 1:
            return reason
        flag = torch.tensor([1 if reason else 0])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return reason or ("another process stopped" if flag.item() else "")


def launched_rank() -> int:
    """The rank torchrun gave this process (0 when not launched by it); readable before any set-up."""
    return int(os.environ.get("RANK", 0))


def launched_processes() -> int:
    """How many processes torchrun launched (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", 1))


def wait_for_all(device: torch.device) -> None:
    """Every process waits here for the others, so what rank 0 wrote before it is there for all to read; nothing
    to wait for in one process."""
    if launched_processes() > 1:
        world(device)
        dist.barrier()


def world(device: torch.device) -> World:
    """This process's World, joining the process group on first use when launched by torchrun."""
    size = launched_processes()
    if size == 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return World(rank=dist.get_rank(), size=dist.get_world_size())


def synced_batchnorm(model: nn.Module) -> nn.Module:
    """Replace `model`'s BatchNorm layers by SyncBatchNorm ones sharing their tensors, remembering each one's
    class so plain_batchnorm can put it back (a checkpoint, an export and the CPU need the plain layer)."""
    for module in model.modules():
        for name, child in module.named_children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, nn.SyncBatchNorm):
                synced = nn.SyncBatchNorm.convert_sync_batchnorm(child)
                synced._medprune_plain = type(child)
                setattr(module, name, synced)
    return model


def plain_batchnorm(model: nn.Module) -> nn.Module:
    """Undo synced_batchnorm, in place."""
    for module in model.modules():
        for name, child in module.named_children():
            plain_class = getattr(child, "_medprune_plain", None)
            if plain_class is not None:
                plain = plain_class(child.num_features, child.eps, child.momentum, child.affine,
                                    child.track_running_stats)
                plain.weight, plain.bias = child.weight, child.bias
                plain.running_mean, plain.running_var = child.running_mean, child.running_var
                plain.num_batches_tracked = child.num_batches_tracked
                plain.train(child.training)
                setattr(module, name, plain)
    return model
