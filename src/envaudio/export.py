"""`envaudio export MODEL --format onnx --out DIR`: the model for other runtimes.

DIR gets:
  member<i>_<network>.onnx   one file per member (opset 17): input `features` (n, ...) the
                             member's front end output, output `probabilities` (n, n_classes)
  model.json                 labels, the front ends' settings, which front end feeds which
                             member, the combination rule (normalised weights), calibration,
                             the window length and overlap, and the check below
  envaudio_features.py       the feature functions in numpy alone (a copy of npfeatures.py)
  shared_weights.bin         the weights several members hold alike (a YAMNet tower kept
                             from AudioSet), once: ONNX external data the member files
                             point to (keep it beside them)

A check runs during every export: ONNX Runtime, reading the written files, must give the
PyTorch model's probabilities on real windows (tones, noise, clicks, silence) within
MAX_DIFF, or the export fails. `--int8` adds dynamically quantised copies
(member<i>_<network>.int8.onnx); `envaudio export` measures their accuracy change on
held-out folds when data is given, and says so either way.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from . import npfeatures
from .errors import ModelError
from .graphs import OPSET, example_features, example_inputs, onnx_bytes
from .loading import LoadedModel, calibrate
from .ortsession import onnxruntime, session_options
from .settings import available_cpus
from .torchload import member_nets

MAX_DIFF = 1e-4
FORMAT = "envaudio-onnx"
FEATURES_MODULE = "envaudio_features.py"
SHARED_WEIGHTS = "shared_weights.bin"
SHARE_MIN_BYTES = 1024  # smaller tensors stay inside their graph


def share_weights(graphs: list[bytes], out: Path) -> list[bytes]:
    """The graphs with every weight tensor that two or more of them hold byte for byte (the
    YAMNet tower of members that kept their AudioSet layers) moved once into
    SHARED_WEIGHTS, as ONNX external data that each graph points to. ONNX Runtime reads it
    when a member file is loaded from its path; a graph with nothing shared is unchanged."""
    import hashlib

    import onnx

    protos = [onnx.load_from_string(g) for g in graphs]
    seen: dict[str, int] = {}
    for p in protos:
        for init in p.graph.initializer:
            if len(init.raw_data) >= SHARE_MIN_BYTES:
                h = hashlib.sha256(init.raw_data).hexdigest()
                seen[h] = seen.get(h, 0) + 1
    if not any(n > 1 for n in seen.values()):
        return graphs
    offsets: dict[str, tuple[int, int]] = {}
    with open(out / SHARED_WEIGHTS, "wb") as blob:
        for p in protos:
            for init in p.graph.initializer:
                if len(init.raw_data) < SHARE_MIN_BYTES:
                    continue
                h = hashlib.sha256(init.raw_data).hexdigest()
                if seen[h] < 2:
                    continue
                if h not in offsets:
                    blob.write(b"\0" * (-blob.tell() % 4096))  # aligned, so it can be memory-mapped
                    offsets[h] = (blob.tell(), len(init.raw_data))
                    blob.write(init.raw_data)
                offset, length = offsets[h]
                init.ClearField("raw_data")
                init.data_location = onnx.TensorProto.EXTERNAL
                del init.external_data[:]
                for k, v in (("location", SHARED_WEIGHTS), ("offset", str(offset)), ("length", str(length))):
                    e = init.external_data.add()
                    e.key, e.value = k, v
    return [p.SerializeToString() for p in protos]


def member_file(i: int, member, int8: bool = False) -> str:
    return f"member{i}_{member.network}{'.int8' if int8 else ''}.onnx"


def manifest(model: LoadedModel, files: list[str], overlap: float) -> dict:
    keys = [fe.key() for fe in model.frontends]
    return {
        "format": FORMAT, "version": 1, "opset": OPSET, "labels": list(model.labels),
        "frontends": [fe.to_dict() for fe in model.frontends],
        "members": [{"file": f, "network": m.network, "frontend": keys.index(m.frontend.key()),
                     "input": "features", "output": "probabilities"}
                    for f, m in zip(files, model.members)],
        "combine": {"rule": model.combine.get("rule", "mean"),
                    "weights": [round(float(w), 8) for w in model.weights()]},
        "calibration": model.calibration,
        "window": {"seconds": model.duration, "overlap": overlap},
        "features_module": FEATURES_MODULE,
        "source": {"model": Path(model.path).name, "card": model.card},
    }


class OnnxFiles:
    """An exported model run with ONNX Runtime from its files (an engine for LoadedModel:
    {front end key: inputs} -> (n_members, n, n_classes))."""

    name = "onnx-files"

    def __init__(self, folder: Path, meta: dict, threads: int | None = None, int8: bool = False):
        ort = onnxruntime()

        so = session_options(threads or available_cpus())
        self.keys = [npfeatures.settings_of(fe) for fe in meta["frontends"]]
        self.members = []
        for m in meta["members"]:
            f = m["file"].replace(".onnx", ".int8.onnx") if int8 else m["file"]
            self.members.append((ort.InferenceSession(str(folder / f), so, providers=["CPUExecutionProvider"]),
                                 m["frontend"]))

    def __call__(self, feats_by_index: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
        return np.stack([np.concatenate([s.run(None, {"features": feats_by_index[fi][i:i + batch_size]})[0]
                                         for i in range(0, len(feats_by_index[fi]), batch_size)])
                         for s, fi in self.members])


def bound_engine(model: LoadedModel, files: OnnxFiles):
    """OnnxFiles as the model's engine (front end keys -> input order)."""
    keys = [fe.key() for fe in model.frontends]
    return lambda feats, batch_size: files([feats[k] for k in keys], batch_size)


def max_difference(model: LoadedModel, files: OnnxFiles) -> float:
    """Largest |ONNX Runtime - PyTorch| over the example windows' member and combined probabilities."""
    feats = example_features(model.frontends)
    torch_members = model.predict_member_windows(feats, engine="torch")
    ort_members = bound_engine(model, files)(feats, 32)
    w = model.weights()
    combined = [calibrate(np.tensordot(w, p, axes=1), model.calibration) for p in (torch_members, ort_members)]
    return float(max(np.abs(torch_members - ort_members).max(), np.abs(combined[0] - combined[1]).max()))


def export_onnx(model: LoadedModel, out: str | Path, overlap: float, int8: bool = False, log=print) -> dict:
    """Write the export (see the module docstring); returns model.json's content. The int8
    copies' accuracy is measured by the caller, on held-out clips (`envaudio export --folds`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [member_file(i, m) for i, m in enumerate(model.members)]
    feats = example_inputs(model.frontends)
    keys = [fe.key() for fe in model.frontends]
    (out / SHARED_WEIGHTS).unlink(missing_ok=True)
    graphs = []
    for f, m, member_net in zip(files, model.members, member_nets(model)):
        x = feats[keys.index(m.frontend.key())]
        net = nn.Sequential(member_net, nn.Softmax(dim=-1))
        graphs.append(onnx_bytes(net, (x,), ["features"], ["probabilities"]))
    for f, graph in zip(files, share_weights(graphs, out)):
        (out / f).write_bytes(graph)
        log(f"wrote {out / f} ({(out / f).stat().st_size / 1e6:.1f} MB)")
    if (out / SHARED_WEIGHTS).exists():
        log(f"wrote {out / SHARED_WEIGHTS} ({(out / SHARED_WEIGHTS).stat().st_size / 1e6:.1f} MB: the "
            "weights two or more members hold alike, stored once)")
    shutil.copyfile(Path(npfeatures.__file__), out / FEATURES_MODULE)
    meta = manifest(model, files, overlap)
    diff = max_difference(model, OnnxFiles(out, meta))
    meta["check"] = {"max_abs_difference": diff, "limit": MAX_DIFF, "onnxruntime": _ort_version(),
                     "torch": torch.__version__}
    log(f"check: ONNX Runtime vs PyTorch probabilities, max abs difference {diff:.2e} (limit {MAX_DIFF:g})")
    if not diff <= MAX_DIFF:
        for f in files + [SHARED_WEIGHTS]:
            (out / f).unlink(missing_ok=True)
        raise ModelError(f"the exported model differs from the PyTorch model by {diff:.2e} "
                         f"(more than {MAX_DIFF:g}): export removed")
    if int8:
        meta["int8"] = quantize(out, meta)
        q = meta["int8"]
        q["max_abs_difference"] = max_difference(model, OnnxFiles(out, meta, int8=True))
        log(f"int8: wrote {', '.join(q['files'])}; probabilities differ from PyTorch's by up to "
            f"{q['max_abs_difference']:.3f}")
    write_manifest(out, meta)
    log(f"wrote {out / 'model.json'} and {out / FEATURES_MODULE}")
    return meta


def write_manifest(out: Path, meta: dict) -> None:
    (Path(out) / "model.json").write_text(json.dumps(meta, indent=1) + "\n")


def quantize(out: Path, meta: dict) -> dict:
    """Dynamic int8 copies of the members' files (weights int8, activations quantised on
    the fly)."""
    onnxruntime()  # telemetry off before the quantiser imports it
    from onnxruntime.quantization import QuantType, quantize_dynamic

    files = []
    for m in meta["members"]:
        f = m["file"].replace(".onnx", ".int8.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)  # the quantiser's advice goes to the root logger
            try:
                quantize_dynamic(str(out / m["file"]), str(out / f), weight_type=QuantType.QInt8)
            finally:
                logging.disable(logging.NOTSET)
        files.append(f)
    return {"files": files, "method": "onnxruntime.quantization.quantize_dynamic, QInt8 weights"}


def _ort_version() -> str:
    return onnxruntime().__version__


def load_export(folder: str | Path) -> dict:
    folder = Path(folder)
    try:
        meta = json.loads((folder / "model.json").read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{folder} is not an envaudio ONNX export: {e}") from None
    if meta.get("format") != FORMAT:
        raise ModelError(f"{folder}/model.json is not an envaudio ONNX export")
    return meta
