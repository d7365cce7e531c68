"""The ONNX Runtime engine's graph, kept on disk between model loads.

Exporting the graph from the loaded PyTorch networks takes about a second at every load
(two on a busy machine); reading it back takes milliseconds. Files live in
<cache_dir>/onnx/<key>.onnx (ENVAUDIO_CACHE_DIR), key = SHA-256 of everything the graph
is made from: each member's network, architecture, front end and inference weights, the
graph's input names, the package's source code, and the torch and onnx versions. So a
changed model, code or exporter never meets an old graph.

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
from .graphs import OPSET, example_inputs, onnx_bytes, stack_of

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


def graph_key(model, names: list[str]) -> str:
    import onnx

    h = hashlib.sha256()
    h.update(json.dumps({"names": names, "opset": OPSET, "torch": torch.__version__, "onnx": onnx.__version__,
                         "source": source_digest()}).encode())
    for m in model.members:
        h.update(json.dumps({"network": m.network, "arch": m.arch, "frontend": m.frontend.key()},
                            sort_keys=True, default=str).encode())
        for k, v in m.net.state_dict().items():
            h.update(f"{k}:{v.dtype}:{tuple(v.shape)}".encode())
            h.update(v.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def _export(model, names: list[str]) -> bytes:
    return onnx_bytes(stack_of(model), example_inputs(model.frontends), names, ["probabilities"],
                      batch_axes={"probabilities": 1})


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


def session_for(model, names: list[str], options, cache_dir: str | os.PathLike | None):
    """An ONNX Runtime session of the model's member stack (graphs.MemberStack), its graph
    from the cache when a valid one is there (cache_dir None: no cache)."""
    ort = onnxruntime()

    def session(graph):
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    folder = Path(cache_dir) / "onnx" if cache_dir else None
    path = folder / f"{graph_key(model, names)}{SUFFIX}" if folder else None
    if path is not None and path.is_file():
        graph = _read(path)
        try:
            if graph is not None:
                s = session(graph)
                _touch(path)
                return s
        except Exception:  # ONNX Runtime refused it: exported afresh below
            pass
        log.info("envaudio: the cached ONNX graph %s is damaged; exporting it again", path)
    graph = _export(model, names)
    if path is not None:
        try:
            _write(folder, path, graph)
        except OSError as e:  # a read-only home, a full disk: no cache, no failure
            log.info("envaudio: cannot cache the ONNX graph in %s (%s)", folder, e)
    return session(graph)


def onnxruntime():
    """The onnxruntime module, with its telemetry off: ONNX Runtime 1.32 otherwise starts a
    telemetry session on import, which writes a `.ses` file into TMPDIR (found by the
    hardening tests: temp files must not outlive a request)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    return ort


def session_options(threads: int):
    ort = onnxruntime()
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, threads)
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # warnings about unused initialisers etc. are not the user's
    return so
