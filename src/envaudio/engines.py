"""Who runs the members' networks: PyTorch eager, or ONNX Runtime (INFERENCE_BACKEND).

Both take the model inputs of n windows ({front end key: (n, ...)}) and give each
member's class probabilities (n_members, n, n_classes). The ONNX Runtime engine runs one
graph that holds every member (one input per distinct front end), so a batch of windows
goes through all members in a single call; the graph is exported from the loaded PyTorch
networks when the model is first loaded (about a second) and kept in the cache folder for
the next loads (onnxcache.py: keyed by the model's weights and the code, each file checked
against its SHA-256 when read back).

`auto` picks ONNX Runtime when it is installed: measured on this 2-core machine it ran
the members 2-4x faster than PyTorch eager (docs/performance.md).
"""

from __future__ import annotations

import importlib.util
import threading

import numpy as np
import torch

from .errors import BackendError
from .graphs import stack_of
from .onnxcache import session_for, session_options
from .settings import INFERENCE_BACKENDS as BACKENDS


def onnxruntime_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def resolve_backend(name: str) -> str:
    """"auto" -> the fastest installed engine; "onnxruntime" must be installed."""
    if name not in BACKENDS:
        raise BackendError(f"INFERENCE_BACKEND must be one of {', '.join(BACKENDS)}, not {name!r}")
    if name == "auto":
        return "onnxruntime" if onnxruntime_installed() else "torch"
    if name == "onnxruntime" and not onnxruntime_installed():
        raise BackendError("INFERENCE_BACKEND=onnxruntime, but onnxruntime (and onnx) are not "
                           "installed: pip install onnxruntime onnx, or use INFERENCE_BACKEND=torch")
    return name


class TorchEngine:
    name = "torch"

    def __init__(self, model):
        self.keys = [fe.key() for fe in model.frontends]
        self.stack = stack_of(model)

    def __call__(self, feats: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
        n = len(feats[self.keys[0]])
        with torch.inference_mode():
            parts = [self.stack(*(torch.from_numpy(np.ascontiguousarray(feats[k][i:i + batch_size]))
                                  for k in self.keys)).numpy()
                     for i in range(0, n, batch_size)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


class OrtEngine:
    name = "onnxruntime"
    # Windows per call at most: 8-16 ran 4-10 % faster than 32 on this machine (1 and 2
    # threads; the activations of a few windows stay in the caches).
    max_batch = 8

    def __init__(self, model, threads: int | None = None, cache_dir: str | None = None):
        self.keys = [fe.key() for fe in model.frontends]
        self.names = [f"features_{i}" for i in range(len(self.keys))]
        self.session = session_for(model, self.names, session_options(threads or torch.get_num_threads()),
                                   cache_dir)

    def __call__(self, feats: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
        n, step = len(feats[self.keys[0]]), min(batch_size, self.max_batch)
        parts = [self.session.run(None, {name: np.ascontiguousarray(feats[k][i:i + step], np.float32)
                                         for name, k in zip(self.names, self.keys)})[0]
                 for i in range(0, n, step)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


_lock = threading.Lock()


def engine_for(model, backend: str):
    """The model's engine for `backend` ("auto" resolved), made once per model."""
    name = resolve_backend(backend)
    with _lock:  # two first requests at once must not export the graph twice
        engines = model.__dict__.setdefault("_engines", {})
        if name not in engines:
            engines[name] = (OrtEngine(model, cache_dir=model.cache_dir) if name == "onnxruntime"
                             else TorchEngine(model))
    return engines[name]
