"""The graph of a training file (NAME.pt) loaded with PyTorch, kept on disk between loads.

A model file (modelfile.py) carries its graph; a training file does not, so loading one
(with envaudio[train]) exports the graph from its networks (graphs.payload_graph): about
a second at every load (two on a busy machine); reading it back takes milliseconds. Files
live in <cache_dir>/onnx/<key>.onnx-cache (ENVAUDIO_CACHE_DIR), key = SHA-256 of
everything the graph is made from: each member's network, architecture, front end and
weights, the package's source code, and the torch and onnx versions. So a changed model,
code or exporter never meets an old graph.

Safe by construction: a file is written to a temp name and renamed (a kill mid-write
leaves no half file under the key) and holds the graph's SHA-256 before the graph; a
cached graph is used only if it matches its SHA-256 and ONNX Runtime loads it, else it is
exported afresh and replaced; a cache that cannot be written only means exporting at
every load. The KEEP most recently used files stay, older ones are removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch

from .fileio import atomic_write
from .graphs import OPSET, payload_graph
from .ortsession import onnxruntime, open_session, session_options  # noqa: F401 (their old home)

log = logging.getLogger("envaudio")

KEEP = 4  # graphs kept (~25 MB each for the bundled model)
SUFFIX = ".onnx-cache"  # not a plain .onnx file: the graph's SHA-256 comes first
DIGEST = 32
PACKAGE_DIR = Path(__file__).resolve().parent


def source_digest() -> str:
    """SHA-256 of the package's Python source (the networks, the member stack and the
    exporter are all in it)."""
    h = hashlib.sha256()
    for p in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(str(p.relative_to(PACKAGE_DIR)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def graph_key(payload: dict) -> str:
    import onnx

    h = hashlib.sha256()
    h.update(json.dumps({"opset": OPSET, "torch": torch.__version__, "onnx": onnx.__version__,
                         "labels": payload["labels"], "source": source_digest()}).encode())
    for m in payload["members"]:
        h.update(json.dumps({"network": m["network"], "arch": m["arch"], "features": m["features"]},
                            sort_keys=True, default=str).encode())
        for k, v in m["state"].items():
            h.update(f"{k}:{v.dtype}:{tuple(v.shape)}".encode())
            h.update(v.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def _export(payload: dict) -> bytes:
    return payload_graph(payload)[0]


def _read(path: Path) -> bytes | None:
    """The graph in a cache file (its SHA-256, then the graph), None if it is not intact."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, graph = data[:DIGEST], data[DIGEST:]
    return graph if graph and hashlib.sha256(graph).digest() == digest else None


def _write(folder: Path, path: Path, graph: bytes) -> None:
    atomic_write(path, lambda f: f.write(hashlib.sha256(graph).digest() + graph))
    for old in sorted(folder.glob(f"*{SUFFIX}"), key=_mtime, reverse=True)[KEEP:]:
        old.unlink(missing_ok=True)


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:  # removed meanwhile by another process
        return 0.0


def _touch(path: Path) -> None:
    """Mark a graph as recently used (pruning keeps the newest)."""
    try:
        os.utime(path)
    except OSError:
        pass


def session_for(payload: dict, threads: int, cache_dir: str | os.PathLike | None):
    """An ONNX Runtime session of a training file's graph (graphs.payload_graph), from the
    cache when a valid one is there (cache_dir None: no cache)."""
    folder = Path(cache_dir) / "onnx" if cache_dir else None
    path = folder / f"{graph_key(payload)}{SUFFIX}" if folder else None
    if path is not None and path.is_file():
        graph = _read(path)
        try:
            if graph is not None:
                s = open_session(graph, threads)
                _touch(path)
                return s
        except Exception:  # ONNX Runtime refused it: exported afresh below
            pass
        log.info("envaudio: the cached ONNX graph %s is damaged; exporting it again", path)
    graph = _export(payload)
    if path is not None:
        try:
            _write(folder, path, graph)
        except OSError as e:  # a read-only home, a full disk: no cache, no failure
            log.info("envaudio: cannot cache the ONNX graph in %s (%s)", folder, e)
    return open_session(graph, threads)
