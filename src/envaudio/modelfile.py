"""The model file format (version 3): one place that writes and reads it, without PyTorch.

A model file (`NAME.envaudio`) is what `predict`, `analyze`, `serve` and `load_classifier`
run: a zip archive of two entries, readable with the standard library and ONNX Runtime.

    model.json   {"format": "envaudio-model", "format_version": 3,
                  "labels": [...],
                  "members": [{"network": "mn04" | "yamnet" | "cnn", "arch": {...},
                               "features": {...front end}}, ...],
                  "combine": {"rule": "mean"} | {"rule": "weighted", "weights": [...], ...},
                  "calibration": {"temperature": T, "unknown_threshold": u, ...} | null,
                  "card": {...},
                  "graph": {"file": "model.onnx", "opset": 17,
                            "inputs": ["features_0", ...],
                            "outputs": ["probabilities", "embeddings"],
                            "embedding_dim": D,
                            "weights": {"float16": n, "float32": n}},
                  "source": {"training_file": "NAME.pt", "check": {...}}}
    model.onnx   every member in one ONNX graph: an input `features_i` (n, ...) per distinct
                 front end (in the order the members first use them), the output
                 `probabilities` (n_members, n, n_classes) (each member's softmax, combined
                 and calibrated outside the graph, from model.json) and `embeddings` (n, D),
                 the input of the first member's last linear layer

The weights are stored in float16 wherever that is exact (a training file kept in float16
by `combine --half`, or a BatchNorm's statistics kept beside its convolution): an
initializer in float16 and a Cast to float32, which ONNX Runtime folds once when it loads
the graph. Weights that are not exactly float16 stay float32. So a model file gives the
probabilities of the training file it was written from, to float rounding.

The training file (model.py, format 2, a PyTorch pickle of the networks' state dicts) is
what training, `combine` and `export --format onnx` need; every command that writes one
writes this file beside it (graphs.py builds the graph).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .fileio import atomic_write

FORMAT = "envaudio-model"
FORMAT_VERSION = 3
SUFFIX = ".envaudio"
META = "model.json"
GRAPH = "model.onnx"
REQUIRED = ("labels", "members", "graph")


@dataclass
class ModelFile:
    meta: dict  # model.json
    graph: bytes  # model.onnx


def is_model_file(path: str | os.PathLike) -> bool:
    """A zip with model.json at its top (a training file is a zip too: torch.save's)."""
    try:
        with zipfile.ZipFile(path) as z:
            return META in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def read_model_file(path: str | os.PathLike) -> ModelFile:
    """The model file at `path`; ModelError, saying what is wrong, if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:  # zipfile checks each entry's CRC-32 as it reads it
            meta = json.loads(z.read(META))
            check_meta(meta)
            graph = z.read(meta["graph"].get("file", GRAPH))
    except ModelError as e:
        raise ModelError(f"{path} is not a usable envaudio model: {e}") from None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise ModelError(f"{path} is not a usable envaudio model: {e}") from None
    return ModelFile(meta, graph)


def read_meta(path: str | os.PathLike) -> dict:
    """model.json alone (the card, the labels), without reading the graph."""
    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read(META))
        check_meta(meta)
        return meta
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, ModelError) as e:
        raise ModelError(f"{path} is not a usable envaudio model: {e}") from None


def check_meta(meta: dict) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{META} is not an envaudio model's")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"format version {meta.get('format_version')} is newer than this envaudio reads "
                         f"({FORMAT_VERSION}): upgrade envaudio")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ModelError(f"{META} lacks {', '.join(missing)}")
    if len(meta["members"]) < 1 or len(meta["graph"].get("inputs", [])) < 1:
        raise ModelError(f"{META} names no member or no graph input")


def model_meta(labels: list[str], members: list[dict], combine: dict | None, calibration: dict | None,
               card: dict, graph: dict, source: dict | None = None) -> dict:
    """model.json's content. members: [{"network", "arch", "features"}] (no weights)."""
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "labels": list(labels),
            "members": [{"network": m["network"], "arch": dict(m["arch"]), "features": dict(m["features"])}
                        for m in members],
            "combine": combine or {"rule": "mean"}, "calibration": calibration or None,
            "card": card or {}, "graph": {"file": GRAPH, **graph}, "source": source or {}}
    check_meta(meta)
    return meta


def write_model_file(path: str | os.PathLike, meta: dict, graph: bytes) -> None:
    """Write atomically (a kill never leaves half a file). The graph is stored, not
    deflated: deflating saves ~15 % of float16 weights (2 MB of the accurate model) but
    inflating them took 0.1-0.4 s at every load, a third of a one-clip `predict`."""
    check_meta(meta)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, how in ((META, (json.dumps(meta, indent=1) + "\n").encode(), zipfile.ZIP_DEFLATED),
                                (meta["graph"].get("file", GRAPH), graph, zipfile.ZIP_STORED)):
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # the same model, the same bytes
            entry.compress_type, entry.external_attr = how, 0o644 << 16
            z.writestr(entry, data)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def with_calibration(src: str | os.PathLike, out: str | os.PathLike, calibration: dict, card: dict) -> None:
    """The model file `src` written to `out` with a new calibration and card (`envaudio
    calibrate`): the graph is unchanged, only model.json is rewritten."""
    mf = read_model_file(src)
    write_model_file(out, {**mf.meta, "calibration": calibration, "card": card}, mf.graph)


def model_path_for(training_file: str | os.PathLike) -> Path:
    """Where the model file of a training file goes: beside it, NAME.pt -> NAME.envaudio."""
    p = Path(training_file)
    return p.with_suffix(SUFFIX) if p.suffix else p.with_name(p.name + SUFFIX)
