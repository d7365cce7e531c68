"""The C allocator's thresholds, set once before inference (glibc only; elsewhere nothing).

Why: a 4-s window's work allocates a few arrays of 1-3 MB (the STFT frames, the spectra,
the A-weighting's FFT). glibc serves each allocation over its mmap threshold (128 KiB to
start) with a fresh mmap and returns it on free, so every array's pages are faulted in again
on every call; in a virtual machine a fault is expensive, and on this project's 2-core VM
that doubled a 4-s clip's compute (a batch of 401 1,024-point rFFTs: 4.7 ms against 0.85 ms
with the thresholds raised; benchmarks/bench_fast.py, docs/performance.md). Raising the
mmap threshold keeps those arrays in the heap, where freed memory is reused without faults;
the trim threshold keeps glibc from handing the heap's top back after every call. Memory
held stays bounded: it is what one call needs at most, reused by the next.

Set MALLOC_MMAP_THRESHOLD_ yourself (glibc's environment variable) and it is left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest on 64-bit
TRIM_THRESHOLD = 128 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # malloc.h
_done = False


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds (once per process). True if they were set."""
    global _done
    if _done:
        return False
    _done = True
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl (Alpine) and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
