"""mn04's front end (EfficientAT's): 32 kHz, pre-emphasis, STFT, 128 Kaldi mel bands, log.

Apart from the network (networks/mn04.py) so that each file stays readable. Two forms of
one computation: numpy's (npfeatures.kaldi_log_mel, with the mel banks' one definition) for
arrays, so inference, the feature cache and an ONNX export need no torch for it; torch's
(`log_mel`) for tensors, on their device and differentiable, for training.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .. import npfeatures
from ..frontends import Mn04Frontend  # noqa: F401 (defined there, torch-free; the module API)
from ..npfeatures import kaldi_mel_banks, kaldi_mel_scale, kaldi_mel_scale_inverse  # noqa: F401 (one definition)


def mel_centres(fe: Mn04Frontend = Mn04Frontend()) -> np.ndarray:
    """Centre frequency (Hz) of each band (for axis ticks)."""
    edges = np.linspace(kaldi_mel_scale(fe.fmin), kaldi_mel_scale(fe.fmax), fe.n_mels + 2)
    return kaldi_mel_scale_inverse(edges[1:-1])


@lru_cache(maxsize=8)
def _mel_banks_tensor(n_mels: int, n_fft: int, sample_rate: int, fmin: float, fmax: float) -> torch.Tensor:
    return torch.from_numpy(kaldi_mel_banks(n_mels, n_fft, sample_rate, fmin, fmax).astype(np.float32))


@lru_cache(maxsize=8)
def _window(win_length: int) -> torch.Tensor:
    return torch.hann_window(win_length, periodic=False, dtype=torch.float32)


def _fix_length(x: torch.Tensor, n: int, mode: str) -> torch.Tensor:
    """(B, samples) -> (B, n): trimmed, or a short clip looped ("loop") or padded with silence."""
    length = x.shape[-1]
    if length >= n:
        return x[..., :n]
    if mode == "loop" and length > 0:
        return x.repeat(1, -(-n // length))[..., :n]
    return F.pad(x, (0, n - length))


def _rms_normalize(x: torch.Tensor, target: float) -> torch.Tensor:
    """Each row to RMS `target` (digital silence stays silence), as npfeatures.rms_normalize."""
    rms = x.double().square().mean(dim=-1, keepdim=True).sqrt()
    gain = torch.where(rms < 1e-6, torch.ones_like(rms), target / rms.clamp_min(1e-6))
    return (x * gain).to(x.dtype)


# Windows per STFT call on CPU: a batch's spectra stay in cache (32 windows at once cost ~2.5x the
# CPU time per window of 4 at a time here).
CHUNK = 4


def log_mel(waves: torch.Tensor, fe: Mn04Frontend = Mn04Frontend()) -> torch.Tensor:
    """(B, samples) float waveforms at 32 kHz, any length -> (B, n_mels, frames) normalised
    log-mel, frames = 1 + (samples - 1) // hop. Differentiable, on the input's device."""
    if waves.dim() != 2:
        raise ValueError(f"expected (batch, samples) waveforms, got shape {tuple(waves.shape)}")
    if waves.shape[-1] < 2:
        raise ValueError("a waveform needs at least 2 samples")
    if waves.shape[0] > CHUNK and waves.device.type == "cpu":
        return torch.cat([log_mel(part, fe) for part in waves.split(CHUNK)])
    x = waves.float()
    x = x[:, 1:] - fe.preemphasis * x[:, :-1]
    spec = torch.stft(x, fe.n_fft, hop_length=fe.hop_length, win_length=fe.win_length,
                      window=_window(fe.win_length).to(x.device), center=True, pad_mode="reflect",
                      normalized=False, onesided=True, return_complex=True)
    power = spec.real.square() + spec.imag.square()  # (B, 1 + n_fft // 2, frames)
    banks = _mel_banks_tensor(fe.n_mels, fe.n_fft, fe.sample_rate, float(fe.fmin), float(fe.fmax))
    mel = torch.matmul(banks.to(x.device), power)
    return (torch.log(mel + fe.log_offset) + fe.shift) / fe.scale


def features(windows, fe: Mn04Frontend = Mn04Frontend()):
    """Windows (B, samples) at 32 kHz -> (B, 128, frames) float32, the network's input: the
    one feature function of mn04 members. Each window is first brought to the front end's
    length (and level, where it asks for it), as the other networks' features do. A numpy
    array gives a numpy array, computed by npfeatures (the feature cache, the API); a tensor
    gives a tensor on its device, differentiable; one window (samples,) gives one
    (128, frames)."""
    if not isinstance(windows, torch.Tensor):
        return npfeatures.kaldi_log_mel(windows, fe)
    x = windows.float()
    batched = x.dim() == 2
    if not batched:
        x = x.reshape(1, -1)
    if fe.rms_normalize:
        x = _rms_normalize(x, fe.rms_target)
    out = log_mel(_fix_length(x, fe.n_samples, fe.pad_mode), fe)
    return out if batched else out[0]
