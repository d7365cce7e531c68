"""What the app holds for its lifetime: the settings, the loaded classifier (or why it
could not be loaded) and the limiter for CPU-bound jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVar

import anyio
from fastapi import HTTPException
from starlette.requests import HTTPConnection

from ..predict import Classifier
from ..settings import Settings, available_cpus

T = TypeVar("T")


def cpu_budget(settings: Settings) -> int:
    """CPU cores for one server process: available cores // SERVE_WORKERS (at least 1).

    It is both torch's intra-op thread count (unless TORCH_THREADS says otherwise) and how
    many CPU-bound jobs (decode/features/model) run at once in the process; further jobs
    wait their turn, off the event loop, so /health and the streams stay responsive."""
    return max(1, available_cpus() // max(1, settings.serve_workers))


@dataclass
class ServingState:
    settings: Settings
    classifier: Classifier | None = None
    error: str | None = None
    limiter: anyio.CapacityLimiter | None = None

    def require_classifier(self) -> Classifier:
        if self.classifier is None:
            raise HTTPException(503, self.error or "the model is not loaded yet")
        return self.classifier

    async def run(self, fn: Callable[..., T], *args) -> T:
        """Run a CPU-bound function in a worker thread, at most `limiter` at a time."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)


def get_state(conn: HTTPConnection) -> ServingState:
    return conn.app.state.serving
