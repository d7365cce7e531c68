"""ONNX Runtime, set up once for the package: its telemetry off, one way to make sessions.

Torch-free: the inference path's only engine.
"""

from __future__ import annotations

import os


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


def open_session(graph: bytes, threads: int):
    """An ONNX Runtime session of `graph` (bytes) on the CPU, `threads` intra-op threads."""
    return onnxruntime().InferenceSession(graph, session_options(threads), providers=["CPUExecutionProvider"])
