"""Hours of synthetic street audio for the long-running benchmarks (bench_long.py,
bench_monitor.py): the bundled example clips dropped into faint noise (or silence) at random
gaps and levels, generated block by block so an hour never sits in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def scene_blocks(seconds: float, rate: int, block_seconds: float, gap: tuple[float, float],
                 noise: bool = True, seed: int = 0):
    """float32 blocks of `block_seconds`: noise at -50 dBFS (or silence), an example clip
    every `gap` seconds (uniform between the two), each at -20..0 dB; clipped to [-1, 1]."""
    from envaudio.audio import load_audio

    clips = [load_audio(p, rate) for p in sorted((ROOT / "src/envaudio/assets/examples").glob("*.flac"))]
    rng = np.random.default_rng(seed)
    total, block = int(seconds * rate), int(block_seconds * rate)
    next_clip, pending = int(rng.uniform(5, 20) * rate), np.zeros(0, np.float32)
    for start in range(0, total, block):
        n = min(block, total - start)
        x = (rng.standard_normal(n) * 10 ** (-50 / 20)).astype(np.float32) if noise else np.zeros(n, np.float32)
        k = min(len(pending), n)
        x[:k] += pending[:k]
        pending = pending[k:]
        while next_clip < start + n:  # a clip that runs past the block continues in the next
            c = clips[rng.integers(len(clips))] * 10 ** (rng.uniform(-20, 0) / 20)
            at = next_clip - start
            k = min(len(c), n - at)
            x[at:at + k] += c[:k]
            pending = np.concatenate([pending, c[k:]])
            next_clip += int(rng.uniform(*gap) * rate)
        yield np.clip(x, -1, 1)
