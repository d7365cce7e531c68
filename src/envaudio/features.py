"""The CNN's feature function: waveform -> log-mel spectrogram in dB.

Training, evaluation, the API and streaming all call `log_mel_spectrogram`, so a model
sees the same input wherever it runs. The computation lives in `npfeatures` (numpy only,
shipped with every ONNX export): centred STFT with a periodic Hann window, a Slaney-style
mel filterbank (as librosa's default), power in dB relative to full scale, floor at
`top_db` below the clip's peak.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

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

__all__ = ["AMIN", "fix_length", "log_mel_spectrogram", "mel_filterbank", "mel_frequencies",
           "prepare_waveform", "rms_gain_db", "rms_normalize", "start_torch_threads"]


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


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """(n_mels, 1 + n_fft // 2) Slaney mel filterbank, area-normalised (a tensor)."""
    return torch.from_numpy(slaney_filterbank(sr, n_fft, n_mels, fmin, fmax).copy())


def start_torch_threads() -> None:
    """Start torch's OpenMP thread pool from the calling thread, which must live as long as
    the process (the main thread). Started first from a short-lived worker thread, it made
    later calls from other threads ~40x slower in the server (~500 ms instead of ~10 ms)."""
    with torch.inference_mode():
        torch.nn.functional.conv2d(torch.zeros(1, 4, 16, 16), torch.zeros(4, 4, 3, 3), padding=1)
