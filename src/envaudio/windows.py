"""Long audio: fixed-length windows with overlap, cut at the same times for every member's
sample rate."""

from __future__ import annotations

import numpy as np


def window_starts(n_samples: int, window: int, overlap: float = 0.5) -> list[int]:
    """Start sample of each window. Audio no longer than one window gives one window (0);
    otherwise windows every `window * (1 - overlap)` samples, plus one window ending
    exactly at the end when the regular grid would leave a tail uncovered."""
    if not 0.0 <= overlap < 1.0:
        raise ValueError("overlap must be in [0, 1)")
    if n_samples <= window:
        return [0]
    hop = max(1, int(round(window * (1.0 - overlap))))
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return starts


def window_grid(waves: dict[int, np.ndarray], duration: float, overlap: float = 0.5) -> list[float]:
    """Window starts in seconds for {sample rate: waveform} (the same audio at each rate),
    laid out at the highest rate so every member sees the same stretch of time."""
    ref = max(waves)
    return [s / ref for s in window_starts(len(waves[ref]), int(round(ref * duration)), overlap)]


def cut_at(waves: dict[int, np.ndarray], seconds: list[float], duration: float) -> dict[int, np.ndarray]:
    """{rate: (len(seconds), samples)}: the windows starting at `seconds`. Audio no longer
    than one window is one window of its natural length (the feature function loops it)."""
    out = {}
    for rate, wave in waves.items():
        wave = np.asarray(wave, dtype=np.float32)
        n = int(round(rate * duration))
        if len(wave) <= n:
            out[rate] = wave[None]
            continue
        firsts = [min(int(round(s * rate)), len(wave) - n) for s in seconds]
        out[rate] = np.stack([wave[f:f + n] for f in firsts])
    return out


def cut_windows(waves: dict[int, np.ndarray], duration: float, overlap: float = 0.5
                ) -> tuple[list[float], dict[int, np.ndarray]]:
    """(window starts in seconds, {rate: (n_windows, samples)}): every window at once."""
    seconds = window_grid(waves, duration, overlap)
    return seconds, cut_at(waves, seconds, duration)
