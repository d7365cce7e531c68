"""Running under torchrun: which process this is, the process group, the device.

torchrun describes the processes in RANK, LOCAL_RANK and WORLD_SIZE: its protocol, read
here, not settings (nothing a user sets)."""

from __future__ import annotations

import os
from datetime import timedelta

import torch

from ..errors import DatasetError


def dist_info() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's environment (1 process otherwise)."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
            int(os.environ.get("WORLD_SIZE", 1)))


def init_distributed(device: torch.device, timeout_minutes: float = 120.0) -> bool:
    rank, _, world = dist_info()
    if world <= 1:
        return False
    import torch.distributed as dist

    if not dist.is_initialized():
        # Rank 0 may spend long on the feature cache while the others wait at a barrier.
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                timeout=timedelta(minutes=timeout_minutes))
    return True


def pick_device(name: str) -> torch.device:
    _, local_rank, _ = dist_info()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DatasetError("--device cuda was asked for, but no CUDA GPU is available")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device(name)
