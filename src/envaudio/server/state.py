"""What the app holds for its lifetime: the settings, the loaded classifier (or why it
could not be loaded), the limiter for CPU-bound jobs and the caps on uploads and streams."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncIterator, Callable, TypeVar

import anyio
from fastapi import HTTPException
from starlette.requests import HTTPConnection

from ..settings import Settings, available_cpus

if TYPE_CHECKING:  # the model's packages stay out of `envaudio serve`'s master process
    from ..predict import Classifier

T = TypeVar("T")


def cpu_budget(settings: Settings) -> int:
    """CPU cores for one server process: available cores // SERVE_WORKERS (at least 1).

    It is both ONNX Runtime's intra-op thread count (unless THREADS says otherwise) and how
    many CPU-bound jobs (decode/features/model) run at once in the process; further jobs
    wait their turn, off the event loop, so /health and the streams stay responsive."""
    return max(1, available_cpus() // max(1, settings.serve_workers))


@dataclass
class ServingState:
    settings: Settings
    classifier: Classifier | None = None
    error: str | None = None
    limiter: anyio.CapacityLimiter | None = None  # CPU-bound jobs
    uploads: anyio.Semaphore | None = None  # MAX_CONCURRENT_UPLOADS
    decoders: anyio.CapacityLimiter | None = None  # decoding threads, as many as uploads
    streams: int = 0  # open WebSocket streams (MAX_STREAMS)

    def start(self) -> None:
        """Create the limiters (in the lifespan: they belong to the running event loop)."""
        self.limiter = anyio.CapacityLimiter(cpu_budget(self.settings))
        self.uploads = anyio.Semaphore(self.settings.max_concurrent_uploads)
        self.decoders = anyio.CapacityLimiter(self.settings.max_concurrent_uploads)

    def require_classifier(self) -> Classifier:
        if self.classifier is None:
            raise HTTPException(503, self.error or "the model is not loaded yet")
        return self.classifier

    async def run(self, fn: Callable[..., T], *args) -> T:
        """Run a CPU-bound function in a worker thread, at most `limiter` at a time.
        A cancelled request (shutdown) does not wait for the thread to finish."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter, abandon_on_cancel=True)

    async def decode(self, fn: Callable[..., T], *args) -> T:
        """Decoding, in a thread but outside the CPU limiter: it mostly waits on ffmpeg, and
        must not keep predictions and streams from their CPU slots meanwhile."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.decoders, abandon_on_cancel=True)

    @asynccontextmanager
    async def upload_slot(self) -> AsyncIterator[None]:
        """One of MAX_CONCURRENT_UPLOADS, for receiving, decoding and classifying an upload
        (memory: each holds up to MAX_UPLOAD_MB plus its decoded audio). Later uploads wait
        before their body is read."""
        async with self.uploads:
            yield


def get_state(conn: HTTPConnection) -> ServingState:
    return conn.app.state.serving
