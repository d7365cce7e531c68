"""The networks as one graph, and as ONNX: what the ONNX Runtime engine, its graph cache
and `envaudio export` are all built from.

`MemberStack` puts a model's members side by side (layers they share run once);
`onnx_bytes` exports a module with a variable number of windows; `example_inputs` gives
real windows (tones, noise, clicks, a chirp, silence) to trace and to check exports with.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import npfeatures
from .networks import get_network

OPSET = 17


def example_waves(seconds: float, sr: int) -> np.ndarray:
    """A few real windows (B, samples) at `sr`: a tone, noise, clicks, a chirp, silence."""
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    rng = np.random.default_rng(0)
    clicks = np.zeros(n)
    clicks[:: max(1, sr // 10)] = 0.8
    waves = [0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * rng.standard_normal(n), clicks,
             0.3 * np.sin(2 * np.pi * (200 + 900 * t) * t), np.zeros(n)]
    return np.stack(waves).astype(np.float32)


def example_features(frontends: list) -> dict[str, np.ndarray]:
    """{front end key: model input of the example windows}: the same sounds at each rate."""
    return {fe.key(): npfeatures.features(example_waves(fe.duration, fe.sample_rate), fe) for fe in frontends}


def example_inputs(frontends: list) -> tuple[torch.Tensor, ...]:
    feats = example_features(frontends)
    return tuple(torch.from_numpy(feats[fe.key()][:2]) for fe in frontends)


def onnx_bytes(module: nn.Module, inputs: tuple, input_names: list[str], output_names: list[str],
               batch_axes: dict[str, int] | None = None) -> bytes:
    """`module` as an ONNX graph (opset OPSET) with a variable number of windows: axis 0 of
    every input, and of every output unless `batch_axes` says otherwise."""
    axes = {name: {0: "n"} for name in input_names}
    axes.update({name: {(batch_axes or {}).get(name, 0): "n"} for name in output_names})
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on its own future
        torch.onnx.export(module.eval(), inputs, buf, opset_version=OPSET, dynamo=False,
                          input_names=input_names, output_names=output_names, dynamic_axes=axes)
    return without_empty_inputs(buf.getvalue())


def without_empty_inputs(graph: bytes) -> bytes:
    """The graph with trailing empty ("" = not given) inputs of its nodes left out, which
    ONNX defines as the same thing. The exporter writes YAMNet's pads as Pad(x, pads, ""):
    ONNX Runtime folds a Pad into the convolution after it only without that third input
    (measured: the networks 12 % faster, identical outputs)."""
    import onnx

    g = onnx.load_from_string(graph)
    for node in g.graph.node:
        while len(node.input) and node.input[-1] == "":
            node.input.pop()
    return g.SerializeToString()


class MemberStack(nn.Module):
    """The members side by side: forward(x_0, ..., x_k) (one input per distinct front end)
    -> probabilities (n_members, n, n_classes). Members of one network type that hold their
    first layers identically (`shared_layers` of the network module; YAMNet's linear-head
    and top-fine-tuned members share 10 of 14) run those layers once; members with equal
    whole towers (`share_towers`) run them once."""

    def __init__(self, nets: list[nn.Module], inputs: list[int], networks: list[str]):
        super().__init__()
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
