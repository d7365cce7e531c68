"""The one feature function: waveform -> log-mel spectrogram in dB.

Training, evaluation, the API and streaming all call `log_mel_spectrogram`, so a model
sees the same input wherever it runs. STFT via torch.stft, a Slaney-style mel
filterbank (as librosa's default), power in dB relative to full scale, floor at
`top_db` below the clip's peak.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .settings import FeatureConfig

AMIN = 1e-10


def _rms_gain(wave: np.ndarray, target: float) -> float:
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if len(wave) else 0.0
    return 1.0 if rms < 1e-6 else target / rms  # digital silence stays silence


def rms_normalize(wave: np.ndarray, target: float) -> np.ndarray:
    gain = _rms_gain(wave, target)
    return wave if gain == 1.0 else (wave * gain).astype(np.float32)


def rms_gain_db(wave: np.ndarray, cfg: FeatureConfig) -> float:
    """The level change (dB) the feature function applies to this waveform before the STFT
    (0 without RMS normalisation). Subtracting it from the features gives the input's own
    level: the live view does so, so that consecutive windows join without level jumps."""
    if not cfg.rms_normalize:
        return 0.0
    return 20.0 * float(np.log10(_rms_gain(np.asarray(wave, dtype=np.float32), cfg.rms_target)))


@lru_cache(maxsize=8)
def full_scale_db(cfg: FeatureConfig) -> float:
    """The log-mel value (dB) of a full-scale 1 kHz sine's loudest band with these settings,
    without RMS normalisation: subtracted from the input's own level, it gives dBFS
    (0 dBFS = that sine), the unit of the spectrogram views' colour bars."""
    import dataclasses

    raw = dataclasses.replace(cfg, rms_normalize=False)
    t = np.arange(cfg.n_samples) / cfg.sample_rate
    return float(log_mel_spectrogram(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32), raw).max())


def fix_length(wave: np.ndarray, n: int, mode: str = "loop") -> np.ndarray:
    """Trim to n samples, or extend a short clip by repeating it ("loop") or with silence."""
    if len(wave) >= n:
        return wave[:n]
    if mode == "loop" and len(wave) > 0:
        reps = -(-n // len(wave))
        return np.tile(wave, reps)[:n]
    return np.pad(wave, (0, n - len(wave)))


def _hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_frequencies(n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Centre frequencies (Hz) of the n_mels bands (for axis ticks)."""
    mels = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2)
    return _mel_to_hz(mels)[1:-1]


@lru_cache(maxsize=8)
def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """(n_mels, 1 + n_fft // 2) Slaney mel filterbank, area-normalised."""
    fmax = sr / 2 if fmax is None else fmax
    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


@lru_cache(maxsize=8)
def _window(n_fft: int) -> torch.Tensor:
    return torch.hann_window(n_fft)


def start_torch_threads() -> None:
    """Start torch's OpenMP thread pool from the calling thread, which must live as long as
    the process (the main thread). Started first from a short-lived worker thread, it made
    later calls from other threads ~40x slower in the server (~500 ms instead of ~10 ms)."""
    with torch.inference_mode():
        torch.nn.functional.conv2d(torch.zeros(1, 4, 16, 16), torch.zeros(4, 4, 3, 3), padding=1)


def prepare_waveform(wave: np.ndarray, cfg: FeatureConfig, fixed: bool = True) -> np.ndarray:
    """Level and length handling shared by every path (before the STFT)."""
    wave = np.asarray(wave, dtype=np.float32)
    if cfg.rms_normalize:
        wave = rms_normalize(wave, cfg.rms_target)
    if fixed:
        wave = fix_length(wave, cfg.n_samples, cfg.pad_mode)
    return wave


def log_mel_spectrogram(wave, cfg: FeatureConfig, fixed: bool = True) -> np.ndarray:
    """Waveform (samples,) or batch (B, samples) at cfg.sample_rate -> log-mel in dB,
    (n_mels, frames) or (B, n_mels, frames), float32.

    fixed=True brings each waveform to cfg.duration first (loop/zero padding or trimming);
    fixed=False keeps the natural length (used to draw a long file's spectrogram).
    """
    wave = np.asarray(wave, dtype=np.float32)
    batched = wave.ndim == 2
    rows = wave if batched else wave[None]
    rows = np.stack([prepare_waveform(w, cfg, fixed) for w in rows])
    x = torch.from_numpy(rows)
    with torch.no_grad():
        spec = torch.stft(x, cfg.n_fft, cfg.hop_length, window=_window(cfg.n_fft),
                          center=True, pad_mode="constant", return_complex=True)
        power = spec.real.square() + spec.imag.square()
        fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
        mel = torch.matmul(fb, power)
        db = 10.0 * torch.log10(torch.clamp(mel, min=AMIN))
        peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - cfg.top_db)
    out = db.numpy().astype(np.float32, copy=False)
    return out if batched else out[0]
