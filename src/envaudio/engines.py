"""Who runs the members' networks: PyTorch eager, or ONNX Runtime (INFERENCE_BACKEND).

Both take the model inputs of n windows ({front end key: (n, ...)}) and give each
member's class probabilities (n_members, n, n_classes). The ONNX Runtime engine runs one
graph that holds every member (one input per distinct front end), so a batch of windows
goes through all members in a single call; the graph is exported from the loaded PyTorch
networks when the model is first loaded (about a second) and kept in the cache folder for
the next loads (onnxcache.py: keyed by the model's weights and the code, each file checked
against its SHA-256 when read back).

`auto` picks ONNX Runtime when it is installed: measured on this 2-core machine it ran
the members 2-4x faster than PyTorch eager (README, "Speed").
"""

from __future__ import annotations

import importlib.util
import os
import threading

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .settings import INFERENCE_BACKENDS as BACKENDS


class BackendError(RuntimeError):
    """INFERENCE_BACKEND names an engine that cannot run here."""


def onnxruntime_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def onnxruntime():
    """The onnxruntime module, with its telemetry off: ONNX Runtime 1.32 otherwise starts a
    telemetry session on import, which writes a `.ses` file into TMPDIR (found by the
    hardening tests: temp files must not outlive a request)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    return ort


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


class MemberStack(nn.Module):
    """The members side by side: forward(x_0, ..., x_k) (one input per distinct front end)
    -> probabilities (n_members, n, n_classes). Members of one network type that hold their
    first layers identically (`shared_layers` of the network module; YAMNet's linear-head
    and top-fine-tuned members share 10 of 14) run those layers once; members with equal
    whole towers (`share_towers`) run them once."""

    def __init__(self, nets: list[nn.Module], inputs: list[int], networks: list[str]):
        super().__init__()
        from .networks import get_network

        self.nets = nn.ModuleList(nets)
        self.inputs = inputs
        # (the network module when members share layers, member indices, shared layers)
        self.groups: list[tuple[object, list[int], int]] = []
        for i, name in enumerate(networks):
            module = get_network(name)
            for g, (_, members, k) in enumerate(self.groups):
                first = members[0]
                if networks[first] != name or inputs[first] != inputs[i] or not hasattr(module, "shared_layers"):
                    continue
                shared = module.shared_layers(nets[first], nets[i])
                if shared:
                    self.groups[g] = (module, members + [i], min(k, shared) if k else shared)
                    break
            else:
                self.groups.append((None, [i], 0))
        for module, members, k in self.groups:
            if k and hasattr(module, "share_towers"):
                module.share_towers([nets[i] for i in members])

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out: list[torch.Tensor | None] = [None] * len(self.nets)
        for module, members, k in self.groups:
            x = xs[self.inputs[members[0]]]
            if k:
                logits = module.forward_shared([self.nets[i] for i in members], x, k)
            else:
                logits = [self.nets[i](x) for i in members]
            for i, z in zip(members, logits):
                out[i] = F.softmax(z, -1)
        return torch.stack(out)


def stack_of(model) -> MemberStack:
    keys = [fe.key() for fe in model.frontends]
    return MemberStack([m.net for m in model.members], [keys.index(m.frontend.key()) for m in model.members],
                       [m.network for m in model.members])


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


def session_options(threads: int):
    ort = onnxruntime()
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, threads)
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # warnings about unused initialisers etc. are not the user's
    return so


class OrtEngine:
    name = "onnxruntime"
    # Windows per call at most: 8-16 ran 4-10 % faster than 32 on this machine (1 and 2
    # threads; the activations of a few windows stay in the caches).
    max_batch = 8

    def __init__(self, model, threads: int | None = None):
        from .onnxcache import session_for
        from .settings import get_settings

        self.keys = [fe.key() for fe in model.frontends]
        self.names = [f"features_{i}" for i in range(len(self.keys))]
        self.session = session_for(model, self.names, session_options(threads or torch.get_num_threads()),
                                   get_settings().cache_dir)

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
            engines[name] = OrtEngine(model) if name == "onnxruntime" else TorchEngine(model)
    return engines[name]
