"""The run's checkpoint: written whole after every epoch (by rank 0), read back by --resume."""

from __future__ import annotations

from pathlib import Path

import torch

from ..model import atomic_torch_save


class Checkpoints:
    def __init__(self, run_dir: str | Path, writer: bool = True):
        self.path = Path(run_dir) / "checkpoint.pt"
        self.writer = writer  # only rank 0 writes

    def clear_stale(self) -> None:
        """A kill during a save leaves its temp file behind (the checkpoint stays whole)."""
        if self.writer:
            for stale in self.path.parent.glob(self.path.name + ".*.tmp"):
                stale.unlink(missing_ok=True)

    def save(self, state: dict) -> None:
        if self.writer:
            atomic_torch_save(state, self.path)

    def load(self) -> dict | None:
        if not self.path.exists():
            return None
        return torch.load(self.path, map_location="cpu", weights_only=False)
