"""A training file (NAME.pt, model.py's format 2) loaded with PyTorch (envaudio[train]).

`load_model` hands a training file here to be read. It becomes the same
`loading.LoadedModel` a model file does (loading.from_payload), run by the same ONNX
Runtime engine: its graph is exported from its networks
(graphs.payload_graph, the builder of the model file's own graph) and kept in CACHE_DIR
(onnxcache.py), so a training file and the model file written from it give the same
probabilities. The networks themselves are built only when something asks for them: the
PyTorch engine (`INFERENCE_BACKEND=torch`, the reference the graphs are checked against),
`envaudio export --format onnx` (`member_nets`), training's validation.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .errors import BackendError
from .graphs import member_stack
from .model import read_payload
from .networks import build_net
from .onnxcache import session_for


def read_training_file(path) -> dict:
    """A training file's content (model.py's payload); ModelError if it is not one."""
    return read_payload(path)


def training_session(model, threads: int, cache_dir: str | os.PathLike | None):
    """The ONNX Runtime session of a training file's graph (exported, or read from the cache)."""
    return session_for(model.payload, threads, cache_dir)


def member_nets(model, inference: bool = True) -> list:
    """A training file's networks (built once per model and form)."""
    if model.payload is None:
        raise BackendError(f"{model.path or 'this model'} is a model file (ONNX): it holds no PyTorch "
                           "networks; use its training file (NAME.pt)")
    cache = model.__dict__.setdefault("_nets", {})
    if inference not in cache:
        cache[inference] = [build_net(d, len(model.labels), inference) for d in model.payload["members"]]
    return cache[inference]


class TorchEngine:
    name = "torch"

    def __init__(self, model):
        if model.payload is None:
            raise BackendError(f"INFERENCE_BACKEND=torch runs a training file's PyTorch networks; "
                               f"{model.path or 'this model'} is a model file (ONNX): use auto or onnxruntime")
        if model.threads:
            torch.set_num_threads(model.threads)
        self.keys = [fe.key() for fe in model.frontends]
        inference = model.__dict__.get("_inference_form", True)
        self.stack = member_stack(model.payload["members"], len(model.labels), inference)
        self.layer = [m for m in self.stack.nets[0].modules() if isinstance(m, torch.nn.Linear)][-1]

    def _inputs(self, feats, i, j):
        return (torch.from_numpy(np.ascontiguousarray(feats[k][i:j], np.float32)) for k in self.keys)

    def __call__(self, feats: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
        n = len(feats[self.keys[0]])
        with torch.inference_mode():
            parts = [self.stack(*self._inputs(feats, i, i + batch_size)).numpy() for i in range(0, n, batch_size)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def embed(self, feats: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
        """The first member's last linear layer's input, as the graph's `embeddings`."""
        got: list[torch.Tensor] = []
        hook = self.layer.register_forward_pre_hook(lambda _m, inputs: got.append(inputs[0].detach().clone()))
        n = len(feats[self.keys[0]])
        try:
            with torch.inference_mode():
                for i in range(0, n, batch_size):
                    self.stack(*self._inputs(feats, i, i + batch_size))
        finally:
            hook.remove()
        return torch.cat(got).numpy().astype(np.float32) if got else np.zeros((0, self.layer.in_features), np.float32)
