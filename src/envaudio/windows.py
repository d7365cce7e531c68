"""Long audio: fixed-length windows with overlap."""

from __future__ import annotations

import numpy as np

from .features import log_mel_spectrogram
from .settings import FeatureConfig


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


def window_features(wave: np.ndarray, cfg: FeatureConfig, overlap: float = 0.5
                    ) -> tuple[list[int], np.ndarray]:
    """(window starts in samples, log-mels (n_windows, n_mels, frames)).
    Each window goes through the same feature function as a training clip."""
    wave = np.asarray(wave, dtype=np.float32)
    starts = window_starts(len(wave), cfg.n_samples, overlap)
    if len(starts) == 1:
        return starts, log_mel_spectrogram(wave, cfg)[None]
    batch = np.stack([wave[s:s + cfg.n_samples] for s in starts])
    return starts, log_mel_spectrogram(batch, cfg)
