"""The networks as one graph, and as ONNX: what a model file's graph (modelfile.py), the
graph a training file runs with when it is loaded with torch (onnxcache.py) and
`envaudio export` are all built from. PyTorch and onnx: the training side only.

`MemberStack` puts a model's members side by side (layers they share run once);
`payload_graph` is a training file's members as that one ONNX graph, with its weights in
float16 where that is exact (`half_weights`) and the first member's embedding as a second
output (`WithEmbeddings`); `onnx_bytes` exports a module with a variable number of
windows; `example_inputs` gives real windows (tones, noise, clicks, a chirp, silence) to
trace and to check exports with.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import npfeatures
from .frontends import frontend_from_dict
from .networks import build_net, get_network

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
               batch_axes: dict[str, int] | None = None, keep_batchnorm: bool = False) -> bytes:
    """`module` as an ONNX graph (opset OPSET) with a variable number of windows: axis 0 of
    every input, and of every output unless `batch_axes` says otherwise. keep_batchnorm:
    BatchNorm stays a node of its own (ONNX Runtime folds it into the convolution when it
    loads the graph) instead of being folded here, so the weights keep the values, and the
    float16 exactness, they were stored with."""
    axes = {name: {0: "n"} for name in input_names}
    axes.update({name: {(batch_axes or {}).get(name, 0): "n"} for name in output_names})
    mode = torch.onnx.TrainingMode.PRESERVE if keep_batchnorm else torch.onnx.TrainingMode.EVAL
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on its own future
        torch.onnx.export(module.eval(), inputs, buf, opset_version=OPSET, dynamo=False, training=mode,
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


class WithEmbeddings(nn.Module):
    """A MemberStack whose forward also gives the first member's embedding: the input of
    its last linear layer (YAMNet's tower's 1024-d patch average under a linear head, the
    CNN's pooled 128-d features, mn04's hidden layer), what `envaudio analyze
    --embeddings` writes. ONNX Runtime computes it anyway; asking for it costs nothing."""

    def __init__(self, stack: MemberStack):
        super().__init__()
        self.stack = stack
        linears = [m for m in stack.nets[0].modules() if isinstance(m, nn.Linear)]
        self.layer = linears[-1] if linears else None

    def forward(self, *xs: torch.Tensor):
        got: list[torch.Tensor] = []
        hook = self.layer.register_forward_pre_hook(lambda _m, inputs: got.append(inputs[0]))
        try:
            probs = self.stack(*xs)
        finally:
            hook.remove()
        return probs, got[0]


def input_names(n: int) -> list[str]:
    return [f"features_{i}" for i in range(n)]


def distinct_frontends(members: list[dict]) -> list:
    """A payload's distinct front ends, in the order the members first use them."""
    return list({fe.key(): fe for fe in (frontend_from_dict(m["features"]) for m in members)}.values())


def member_stack(members: list[dict], n_classes: int, inference: bool = True) -> MemberStack:
    """A payload's members, built, side by side."""
    keys = [fe.key() for fe in distinct_frontends(members)]
    return MemberStack([build_net(m, n_classes, inference) for m in members],
                       [keys.index(frontend_from_dict(m["features"]).key()) for m in members],
                       [m["network"] for m in members])


def payload_graph(payload: dict) -> tuple[bytes, dict]:
    """A training file's members as one ONNX graph (modelfile.py's model.onnx) and what
    model.json says of it. The networks are exported in their stored form (BatchNorm
    unfolded: ONNX Runtime folds it at load), so every weight keeps its stored value and
    those stored in float16 stay float16 (`half_weights`)."""
    frontends = distinct_frontends(payload["members"])
    stack = member_stack(payload["members"], len(payload["labels"]), inference=False)
    names = input_names(len(frontends))
    module = WithEmbeddings(stack)
    outputs = ["probabilities"] + (["embeddings"] if module.layer is not None else [])
    module = module if module.layer is not None else stack
    graph = onnx_bytes(module, example_inputs(frontends), names, outputs, batch_axes={"probabilities": 1},
                       keep_batchnorm=True)
    graph, counts = half_weights(graph)
    info = {"opset": OPSET, "inputs": names, "outputs": outputs, "weights": counts}
    if "embeddings" in outputs:
        info["embedding_dim"] = int(module.layer.in_features)
    return graph, info


HALF_MIN_SIZE = 16  # smaller tensors (shapes, scalars) are not worth a Cast


def half_weights(graph: bytes) -> tuple[bytes, dict]:
    """The graph with each float32 weight whose values float16 holds exactly stored as
    float16, behind a Cast to float32 (folded by ONNX Runtime at load: the same numbers,
    half the bytes); {"float16": values, "float32": values} stored each way."""
    import onnx
    from onnx import helper, numpy_helper

    g = onnx.load_from_string(graph)
    casts, counts = [], {"float16": 0, "float32": 0}
    for init in list(g.graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(init)
        h = a.astype(np.float16)
        if a.size < HALF_MIN_SIZE or not np.array_equal(h.astype(np.float32), a):
            counts["float32"] += int(a.size)
            continue
        counts["float16"] += int(a.size)
        stored = numpy_helper.from_array(h, init.name + "_f16")
        casts.append(helper.make_node("Cast", [stored.name], [init.name], to=onnx.TensorProto.FLOAT,
                                      name=init.name + "_to_f32"))
        g.graph.initializer.remove(init)
        g.graph.initializer.append(stored)
    nodes = casts + list(g.graph.node)
    del g.graph.node[:]
    g.graph.node.extend(nodes)
    return g.SerializeToString(), counts


def stack_of(model) -> MemberStack:
    """A loaded training file's members side by side, in their inference form (the
    PyTorch engine)."""
    return member_stack(model.payload["members"], len(model.labels), inference=True)
