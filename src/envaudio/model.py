"""The training file format (version 2): one place that writes and reads it. PyTorch.

A training file (NAME.pt, torch.save of a plain dict, loadable with weights_only=True)
holds each member's state dict: what fine-tuning, `combine`, `distill`'s students and
`export --format onnx` start from. What inference runs is the model file written beside
it (modelfile.py: NAME.envaudio, no PyTorch needed), by `save_model_files`.

    {"format_version": 2,
     "labels": [...],
     "members": [{"network": "yamnet" | "cnn", "arch": {...}, "features": {...front end},
                  "state": {...state dict, float16 or float32}}, ...],
     "combine": {"rule": "mean"} | {"rule": "weighted", "weights": [...], "fitted_on": ...},
     "calibration": {"temperature": T, ...}  (optional),
     "card": {...}}

Members may have different front ends (the CNN's 22,050 Hz log-mel, YAMNet's 16 kHz
frames). Version 1 files (CNN members sharing one front end) are upgraded when read.
Turning a payload into runnable networks is torchload.py's work.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn as nn

from .errors import ModelError
from .fileio import atomic_write
from .modelfile import SUFFIX, model_meta, model_path_for, write_model_file
from .ortsession import open_session

FORMAT_VERSION = 2


def member_state(net: nn.Module) -> dict:
    net = getattr(net, "module", net)  # unwrap DistributedDataParallel
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}


def model_payload(members: list[dict], labels: list[str], card: dict, combine: dict | None = None,
                  calibration: dict | None = None) -> dict:
    """members: [{"network", "arch", "features", "state"}]."""
    payload = {"format_version": FORMAT_VERSION, "labels": list(labels), "members": members,
               "combine": combine or {"rule": "mean"}, "card": card}
    if calibration:
        payload["calibration"] = calibration
    return payload


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))


def save_model(path: str | os.PathLike, payload: dict) -> None:
    atomic_torch_save(payload, path)


def save_model_files(path: str | os.PathLike, payload: dict, log=None) -> Path:
    """The training file and, beside it, the model file that inference runs
    (NAME.envaudio, `save_deployable`) and what people read without loading either:
    NAME.pt.labels.json and NAME.pt.card.json. `path` may name either file (NAME.pt or
    NAME.envaudio): the other goes beside it. Returns the model file's path."""
    path = Path(path)
    training = path.with_suffix(".pt") if path.suffix == SUFFIX else path
    save_model(training, payload)
    Path(str(training) + ".labels.json").write_text(json.dumps(payload["labels"], indent=1) + "\n")
    Path(str(training) + ".card.json").write_text(json.dumps(payload.get("card", {}), indent=1) + "\n")
    out = model_path_for(training)
    save_deployable(payload, out, source=training.name, log=log)
    return out


CHECK_LIMIT = 1e-4  # |model file - PyTorch| on the example windows, as `envaudio export`'s


def save_deployable(payload: dict, out: str | os.PathLike, source: str = "", half: bool = False,
                    log=None) -> dict:
    """The model file (modelfile.py) of a training file's payload, checked: ONNX Runtime,
    running the written graph, must give PyTorch's member probabilities on real windows
    within CHECK_LIMIT, or nothing is written (ModelError). half: round float32 weights to
    float16 first (the check is then against PyTorch with the rounded weights, as
    `combine --half` would store them). Returns model.json's content."""
    from .graphs import example_features, payload_graph, stack_of

    payload = _upgrade(payload)
    if half:
        payload = {**payload, "members": [{**m, "state": {k: v.half() if v.is_floating_point() else v
                                                          for k, v in m["state"].items()}}
                                          for m in payload["members"]]}
    graph, info = payload_graph(payload)
    frontends = _frontends(payload)
    feats = example_features(frontends)
    inputs = {name: feats[fe.key()] for name, fe in zip(info["inputs"], frontends)}
    got = open_session(graph, 1).run(["probabilities"], inputs)[0]
    with torch.inference_mode():
        want = stack_of(_Labelled(payload))(*(torch.from_numpy(inputs[n]) for n in info["inputs"])).numpy()
    diff = float(abs(got - want).max())
    if not diff <= CHECK_LIMIT:
        raise ModelError(f"the model file's graph differs from the PyTorch networks by {diff:.2e} "
                         f"(more than {CHECK_LIMIT:g}): not written")
    source_info = {"training_file": source, "half": half,
                   "check": {"max_abs_difference": diff, "limit": CHECK_LIMIT, "torch": torch.__version__}}
    meta = model_meta(payload["labels"], payload["members"], payload.get("combine"),
                      payload.get("calibration"), payload.get("card", {}), info, source_info)
    write_model_file(out, meta, graph)
    if log:
        n = info["weights"]
        log(f"wrote {out} ({Path(out).stat().st_size / 1e6:.1f} MB: {n['float16']:,} weights in float16, "
            f"{n['float32']:,} in float32; ONNX Runtime vs PyTorch {diff:.1e})")
    return meta


class _Labelled:
    """The little of a loaded model that graphs.stack_of reads: the payload and labels."""

    def __init__(self, payload: dict):
        self.payload, self.labels = payload, payload["labels"]


def _frontends(payload: dict) -> list:
    from .graphs import distinct_frontends

    return distinct_frontends(payload["members"])


def _upgrade(payload: dict) -> dict:
    """Version 1 (CNN members sharing `arch` and `features`) -> version 2."""
    if payload.get("format_version", 1) >= 2:
        return payload
    return {**payload, "format_version": 2, "combine": {"rule": "mean"},
            "members": [{"network": "cnn", "arch": payload["arch"], "features": payload["features"],
                         "state": state} for state in payload["members"]]}


def read_payload(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        return _upgrade(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:
        raise ModelError(f"{path} is not a usable envaudio model: {e}") from None


def _stored_once(t: torch.Tensor, seen: dict[tuple, list[torch.Tensor]]) -> torch.Tensor:
    """`t`, or an equal tensor met before: torch.save writes a storage once however many
    state dicts hold it."""
    key = (t.dtype, tuple(t.shape))
    for other in seen.setdefault(key, []):
        if torch.equal(other, t):
            return other
    seen[key].append(t)
    return t
