"""Who runs the members' networks: ONNX Runtime, or PyTorch eager (INFERENCE_BACKEND).

Both take the model inputs of n windows ({front end key: (n, ...)}) and give each
member's class probabilities (n_members, n, n_classes). The ONNX Runtime engine runs one
graph that holds every member (one input `features_i` per distinct front end), so a batch
of windows goes through all members in a single call: a model file's own graph, or, for a
training file loaded with PyTorch, the graph exported from it (torchload.py, cached by
onnxcache.py). The PyTorch engine (torchload.TorchEngine) runs a training file's networks
eagerly: the reference the graphs are checked against.

`auto` picks ONNX Runtime when it is installed: measured on this 2-core machine it ran
the members 2-4x faster than PyTorch eager (docs/performance.md). This module imports no
PyTorch: the PyTorch engine is imported from torchload only when it is asked for.
"""

from __future__ import annotations

import importlib.util
import threading

import numpy as np

from .errors import BackendError
from .ortsession import open_session
from .settings import INFERENCE_BACKENDS as BACKENDS
from .settings import available_cpus

# Windows per ONNX Runtime call at most: 8-16 ran 4-10 % faster than 32 on this machine
# (1 and 2 threads; the activations of a few windows stay in the caches).
MAX_BATCH = 8


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def resolve_backend(name: str) -> str:
    """"auto" -> the fastest installed engine; "onnxruntime" must be installed."""
    if name not in BACKENDS:
        raise BackendError(f"INFERENCE_BACKEND must be one of {', '.join(BACKENDS)}, not {name!r}")
    if name == "auto":
        return "onnxruntime" if onnxruntime_installed() else "torch"
    if name == "onnxruntime" and not onnxruntime_installed():
        raise BackendError("INFERENCE_BACKEND=onnxruntime, but onnxruntime is not installed: "
                           "pip install onnxruntime")
    return name


class OrtEngine:
    name = "onnxruntime"
    max_batch = MAX_BATCH

    def __init__(self, model, threads: int | None = None, cache_dir: str | None = None):
        self.threads = threads or model.threads or available_cpus()
        if model.graph is not None:
            self.session = open_session(model.graph, self.threads)
        else:  # a training file: its graph exported from PyTorch (cached)
            from .torchload import training_session

            self.session = training_session(model, self.threads, cache_dir)
        keys = [fe.key() for fe in model.frontends]
        self.inputs = [(i.name, keys[int(i.name.rsplit("_", 1)[1])]) for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def _run(self, output: str, feats: dict[str, np.ndarray], batch_size: int, axis: int) -> np.ndarray:
        n = len(feats[self.inputs[0][1]])
        step = max(1, min(batch_size, self.max_batch))
        parts = [self.session.run([output], {name: np.ascontiguousarray(feats[k][i:i + step], np.float32)
                                             for name, k in self.inputs})[0]
                 for i in range(0, n, step)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)

    def __call__(self, feats: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
        return self._run("probabilities", feats, batch_size, axis=1)

    def embed(self, feats: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
        if "embeddings" not in self.outputs:
            raise BackendError("this model's graph has no embeddings output (its first member has no "
                               "linear layer)")
        return self._run("embeddings", feats, batch_size, axis=0).astype(np.float32, copy=False)


def TorchEngine(model):  # noqa: N802 (a class in torchload.py; named here where it always was)
    """PyTorch eager (envaudio[train]): torchload.TorchEngine."""
    from .torchload import TorchEngine as engine

    return engine(model)


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
