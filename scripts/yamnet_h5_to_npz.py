#!/usr/bin/env python
"""Convert the official YAMNet Keras weights (TensorFlow Model Garden, research/audioset/yamnet,
`yamnet.h5`, Apache-2.0) into the npz that `envaudio train --pretrained` reads.

    pip install h5py
    python scripts/yamnet_h5_to_npz.py yamnet.h5 yamnet.npz

The Keras model has batch norm after every convolution (centre, no scale, epsilon 1e-4); it is
folded into the convolution here, as in the TF-Lite export the project's npz came from, so the
npz holds one weight and one bias per convolution, in PyTorch layouts:
`layer1.conv.weight` [32,1,3,3], `layer{2..14}.depthwise.weight` [C,1,3,3],
`layer{2..14}.pointwise.weight` [Cout,Cin,1,1], their `.bias`, and `logits.weight` [521,1024]
/ `logits.bias`. The official weights are float32 throughout (not int8 like the TF-Lite file),
so the result is, if anything, closer to the published network.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

BN_EPSILON = 1e-4  # yamnet_params.py: batchnorm_epsilon
N_LAYERS = 14


def read_h5(path: str) -> dict[str, np.ndarray]:
    """Every dataset of a Keras weights file, keyed by its name without the ':0' suffix and
    without the per-layer group prefixes Keras adds (e.g. 'layer3/depthwise_conv/bn/beta')."""
    import h5py

    out: dict[str, np.ndarray] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            key = name.split(":")[0]
            # Keras stores 'layer3/depthwise_conv/bn/beta:0' under group 'layer3/depthwise_conv/bn'
            # (and under 'model_weights/' in full-model files): keep the part from 'layerN/' or 'logits/'.
            parts = key.split("/")
            for i, p in enumerate(parts):
                if (p.startswith("layer") and p[5:].isdigit()) or p == "logits":
                    key = "/".join(parts[i:])
            out[key] = np.asarray(obj, dtype=np.float32)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def _folded(kernel_pt: np.ndarray, w: dict, bn: str) -> tuple[np.ndarray, np.ndarray]:
    """Batch norm y = (x - mean) / sqrt(var + eps) + beta folded into the preceding conv."""
    for k in ("moving_mean", "moving_variance", "beta"):
        if f"{bn}/{k}" not in w:
            raise KeyError(f"{bn}/{k} not in the weights file")
    inv = 1.0 / np.sqrt(w[f"{bn}/moving_variance"] + BN_EPSILON)
    gamma = w.get(f"{bn}/gamma", np.ones_like(inv))
    scale = inv * gamma
    weight = kernel_pt * scale.reshape(-1, *([1] * (kernel_pt.ndim - 1)))
    bias = w[f"{bn}/beta"] - w[f"{bn}/moving_mean"] * scale
    return weight.astype(np.float32), bias.astype(np.float32)


def convert(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras YAMNet weights -> the npz's tensors (PyTorch layouts, batch norm folded)."""
    out = {}
    k = w["layer1/conv/kernel"]  # Keras Conv2D: [kh, kw, in, out]
    out["layer1.conv.weight"], out["layer1.conv.bias"] = _folded(k.transpose(3, 2, 0, 1), w, "layer1/conv/bn")
    for i in range(2, N_LAYERS + 1):
        dw = w[f"layer{i}/depthwise_conv/depthwise_kernel"]  # [kh, kw, in, 1]
        out[f"layer{i}.depthwise.weight"], out[f"layer{i}.depthwise.bias"] = _folded(
            dw.transpose(2, 3, 0, 1), w, f"layer{i}/depthwise_conv/bn")
        pw = w[f"layer{i}/pointwise_conv/kernel"]  # [1, 1, in, out]
        out[f"layer{i}.pointwise.weight"], out[f"layer{i}.pointwise.bias"] = _folded(
            pw.transpose(3, 2, 0, 1), w, f"layer{i}/pointwise_conv/bn")
    out["logits.weight"] = w["logits/kernel"].T.copy()  # Dense: [in, out]
    out["logits.bias"] = w["logits/bias"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("h5", help="yamnet.h5 (Keras weights from the TensorFlow Model Garden release)")
    ap.add_argument("out", help="npz to write")
    args = ap.parse_args(argv)
    try:
        weights = convert(read_h5(args.h5))
    except ImportError:
        print("error: this converter needs h5py (pip install h5py)", file=sys.stderr)
        return 1
    except (OSError, KeyError) as e:
        print(f"error: {args.h5} is not YAMNet's Keras weights file ({e})", file=sys.stderr)
        return 1
    np.savez(args.out, **weights)
    n = sum(v.size for v in weights.values())
    print(f"wrote {args.out}: {len(weights)} tensors, {n:,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
