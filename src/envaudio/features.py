"""The CNN's feature function: waveform -> log-mel spectrogram in dB.

Training, evaluation, the API and streaming all call `log_mel_spectrogram`, so a model
sees the same input wherever it runs. The computation lives in `npfeatures` (numpy only,
shipped with every ONNX export): centred STFT with a periodic Hann window, a Slaney-style
mel filterbank (as librosa's default), power in dB relative to full scale, floor at
`top_db` below the clip's peak. Torch-free: the server and the stream import it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .npfeatures import (AMIN, fix_length, mel_frequencies, prepare_waveform, rms_gain,
                         rms_normalize, slaney_filterbank)
from .npfeatures import log_mel_db as log_mel_spectrogram
from .frontends import FeatureConfig


def one_blas_thread() -> None:
    """numpy's OpenBLAS threads fight torch's and ONNX Runtime's for the cores: the YAMNet
    mel projection (398 x 257 by 257 x 64) took 12 ms instead of 0.24 ms on this 2-core
    machine under load. The feature matrices are small: one BLAS thread does them best."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1, user_api="blas")


one_blas_thread()

__all__ = ["AMIN", "fix_length", "log_mel_spectrogram", "mel_frequencies", "one_blas_thread",
           "prepare_waveform", "rms_gain_db", "rms_normalize", "slaney_filterbank"]


def rms_gain_db(wave: np.ndarray, cfg: FeatureConfig) -> float:
    """The level change (dB) the feature function applies to this waveform before the STFT
    (0 without RMS normalisation). Subtracting it from the features gives the input's own
    level: the live view does so, so that consecutive windows join without level jumps."""
    if not cfg.rms_normalize:
        return 0.0
    return 20.0 * float(np.log10(rms_gain(np.asarray(wave, dtype=np.float32), cfg.rms_target)))


@lru_cache(maxsize=8)
def full_scale_db(cfg: FeatureConfig) -> float:
    """The log-mel value (dB) of a full-scale 1 kHz sine's loudest band with these settings,
    without RMS normalisation: subtracted from the input's own level, it gives dBFS
    (0 dBFS = that sine), the unit of the spectrogram views' colour bars."""
    import dataclasses

    raw = dataclasses.replace(cfg, rms_normalize=False)
    t = np.arange(cfg.n_samples) / cfg.sample_rate
    return float(log_mel_spectrogram(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32), raw).max())
