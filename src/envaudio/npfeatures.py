"""The model inputs of every front end, in numpy alone.

This file is the one implementation of the feature functions: the package uses it for
training, evaluation, the API and the stream, and `envaudio export` copies it, as
`envaudio_features.py`, next to the exported ONNX files, so a device with only numpy and
onnxruntime computes exactly the inputs the model was trained on. Keep it free of
imports other than numpy and the standard library.

A front end is described by its settings (a dict, as in a model file and the export's
model.json, or any object with the same attributes):

  kind "logmel" (the CNN's): sample_rate, duration, n_fft, hop_length, n_mels, fmin, fmax
      (null: Nyquist), top_db, rms_normalize, rms_target, pad_mode. Hann window (periodic)
      of n_fft samples, centred frames (n_fft // 2 zeros each side), power spectrum,
      Slaney mel filterbank (area-normalised, as librosa's default), 10 log10 (floor 1e-10),
      values below the window's peak minus top_db raised to it. -> (n_mels, frames)
  kind "yamnet": sample_rate 16000, win_length 400, hop_length 160, n_fft 512, n_mels 64,
      fmin 125, fmax 7500, log_offset 0.001. Periodic Hann of 400 samples, no centring,
      magnitude of an n_fft rFFT, HTK mel triangles of peak 1 (DC bin left out),
      log(mel + log_offset); computed in float64 (float32 moved YAMNet's embeddings of a
      pure tone 1.5e-3 from the published reference; float64 keeps them within 7e-4).
      -> (frames, n_mels)
  kind "mn04" (EfficientAT's): sample_rate 32000, n_fft 1024, win_length 800, hop_length
      320, n_mels 128, fmin 0, fmax 15000, preemphasis 0.97, log_offset 1e-5, shift 4.5,
      scale 5. Pre-emphasis x[n] - 0.97 x[n-1] (one sample shorter), centred frames
      (reflect-padded by n_fft // 2), a symmetric Hann window of win_length samples in the
      middle of each n_fft frame (as torch.stft places a shorter window), power, Kaldi's
      mel triangles (1127 ln(1 + f/700), peak 1, no area normalisation, nothing from the
      Nyquist bin), (log(mel + log_offset) + shift) / scale. -> (n_mels, frames), frames
      = 1 + (samples - 1) // hop_length

Before any of them: the window is scaled to RMS `rms_target` if `rms_normalize` (digital
silence stays silent), then brought to `duration` seconds: longer is cut, shorter is
repeated ("loop") or padded with zeros ("zero").
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace

import numpy as np

AMIN = 1e-10  # the log-mel's power floor (-100 dB)

try:  # the same pocketfft, ~8x faster than numpy 2.4's build for 1024 points here; optional
    from scipy.fft import rfft
except ImportError:
    rfft = np.fft.rfft


def settings_of(fe):
    """A front end's settings with attribute access, from a dict or a dataclass."""
    return SimpleNamespace(**fe) if isinstance(fe, dict) else fe


# ------------------------------------------------------------------ level and length

def rms_gain(wave: np.ndarray, target: float) -> float:
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if len(wave) else 0.0
    return 1.0 if rms < 1e-6 else target / rms  # digital silence stays silence


def rms_normalize(wave: np.ndarray, target: float) -> np.ndarray:
    gain = rms_gain(wave, target)
    return wave if gain == 1.0 else (wave * gain).astype(np.float32)


def fix_length(wave: np.ndarray, n: int, mode: str = "loop") -> np.ndarray:
    """Trim to n samples, or extend a short clip by repeating it ("loop") or with silence."""
    if len(wave) >= n:
        return wave[:n]
    if mode == "loop" and len(wave) > 0:
        reps = -(-n // len(wave))
        return np.tile(wave, reps)[:n]
    return np.pad(wave, (0, n - len(wave)))


def n_samples(fe) -> int:
    return int(round(fe.sample_rate * fe.duration))


def prepare_waveform(wave: np.ndarray, fe, fixed: bool = True) -> np.ndarray:
    """Level and length handling shared by every front end (before the spectrum)."""
    fe = settings_of(fe)
    wave = np.asarray(wave, dtype=np.float32)
    if fe.rms_normalize:
        wave = rms_normalize(wave, fe.rms_target)
    if fixed:
        wave = fix_length(wave, n_samples(fe), fe.pad_mode)
    return wave


def _rows(waves, fe, fixed: bool = True) -> tuple[np.ndarray, bool]:
    """(B, samples) prepared windows, and whether the input was a batch."""
    waves = np.asarray(waves, dtype=np.float32)
    batched = waves.ndim == 2
    rows = waves if batched else waves[None]
    return np.stack([prepare_waveform(w, fe, fixed) for w in rows]), batched


def _frames(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """(B, samples) -> (B, frames, length) strided view."""
    return np.lib.stride_tricks.sliding_window_view(x, length, axis=-1)[:, ::hop]


@lru_cache(maxsize=8)
def periodic_hann(n: int, dtype: str = "float32") -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(dtype)


# ------------------------------------------------------------------ the CNN's log-mel (dB)

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
def slaney_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) Slaney mel filterbank, area-normalised, float32."""
    fmax = sr / 2 if fmax is None else fmax
    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    weights = weights.astype(np.float32)
    weights.flags.writeable = False  # shared by every caller (cached)
    return weights


def log_mel_db(waves, fe, fixed: bool = True) -> np.ndarray:
    """kind "logmel": (samples,) or (B, samples) -> (n_mels, frames) or (B, n_mels, frames)
    float32. fixed=False keeps the natural length (a long file's spectrogram)."""
    fe = settings_of(fe)
    rows, batched = _rows(waves, fe, fixed)
    half = fe.n_fft // 2
    frames = _frames(np.pad(rows, ((0, 0), (half, half))), fe.n_fft, fe.hop_length)
    spec = rfft(frames * periodic_hann(fe.n_fft), axis=-1)
    fb = slaney_filterbank(fe.sample_rate, fe.n_fft, fe.n_mels, fe.fmin, fe.fmax)
    with np.errstate(over="ignore", invalid="ignore"):  # absurd levels: callers check finiteness
        power = np.square(spec.real) + np.square(spec.imag)
        mel = np.matmul(power.astype(np.float32, copy=False), fb.T).transpose(0, 2, 1)
    db = 10.0 * np.log10(np.maximum(mel, AMIN))
    db = np.maximum(db, db.max(axis=(-2, -1), keepdims=True) - fe.top_db).astype(np.float32, copy=False)
    return db if batched else db[0]


# ------------------------------------------------------------------ YAMNet's log-mel

def hz_to_mel_htk(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz_htk(m):
    return 700.0 * np.expm1(np.asarray(m, dtype=np.float64) / 1127.0)


@lru_cache(maxsize=4)
def htk_mel_matrix(sample_rate: int = 16000, n_fft: int = 512, n_mels: int = 64,
                   fmin: float = 125.0, fmax: float = 7500.0) -> np.ndarray:
    """(1 + n_fft // 2, n_mels) float64, as tf.signal.linear_to_mel_weight_matrix: triangles
    in the mel domain with peak 1, the DC bin left out."""
    n_bins = 1 + n_fft // 2
    bin_mel = hz_to_mel_htk(np.linspace(0.0, sample_rate / 2, n_bins))[1:]
    edges = np.linspace(hz_to_mel_htk(fmin), hz_to_mel_htk(fmax), n_mels + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (bin_mel[:, None] - lower) / (centre - lower)
    down = (upper - bin_mel[:, None]) / (upper - centre)
    w = np.vstack([np.zeros((1, n_mels)), np.maximum(0.0, np.minimum(up, down))])
    w.flags.writeable = False
    return w


def yamnet_log_mel(waves, fe) -> np.ndarray:
    """YAMNet's log-mel of raw 16-kHz samples, (samples,) or (B, samples) -> (B?, frames,
    n_mels) float32, frames = 1 + (samples - win_length) // hop_length (no padding)."""
    fe = settings_of(fe)
    x = np.asarray(waves, dtype=np.float64)
    single = x.ndim == 1
    x = x.reshape(-1, x.shape[-1])
    if x.shape[-1] < fe.win_length:
        x = np.pad(x, ((0, 0), (0, fe.win_length - x.shape[-1])))
    frames = _frames(x, fe.win_length, fe.hop_length) * periodic_hann(fe.win_length, "float64")
    mag = np.abs(rfft(frames, n=fe.n_fft, axis=-1))
    mel = mag @ htk_mel_matrix(fe.sample_rate, fe.n_fft, fe.n_mels, fe.fmin, fe.fmax)
    out = np.log(mel + fe.log_offset).astype(np.float32)
    return out[0] if single else out


# ------------------------------------------------------------------ mn04's log-mel (EfficientAT)

def kaldi_mel_scale(f):
    """Kaldi's mel scale: 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def kaldi_mel_scale_inverse(m):
    return 700.0 * np.expm1(np.asarray(m, dtype=np.float64) / 1127.0)


def kaldi_mel_banks(n_mels: int = 128, n_fft: int = 1024, sample_rate: int = 32000,
                    fmin: float = 0.0, fmax: float = 15000.0) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float64 triangular filters as Kaldi makes them (without
    VTLN warping): band i rises from 0 at mel edge i to 1 at edge i + 1 and falls to 0 at
    edge i + 2, the n_mels + 2 edges evenly spaced in mel from fmin to fmax; each FFT bin k
    (frequency k * sample_rate / n_fft, k < n_fft / 2) is weighted by the triangle at its
    mel value; the Nyquist bin gets 0 (the extra zero column). The one definition: mn04's
    torch front end uses it too."""
    if fmax <= 0:
        fmax += sample_rate / 2  # Kaldi's convention: an offset from Nyquist
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"mel range {fmin}-{fmax} Hz does not fit {sample_rate} Hz audio")
    edges = np.linspace(kaldi_mel_scale(fmin), kaldi_mel_scale(fmax), n_mels + 2)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    mel = kaldi_mel_scale(np.arange(n_fft // 2) * (sample_rate / n_fft))[None, :]
    up = (mel - left) / (centre - left)
    down = (right - mel) / (right - centre)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1)))


MEL_GROUPS = 8  # mel bands per matrix product: a group uses only its own bins


@lru_cache(maxsize=8)
def _kaldi_mel_plan(n_mels: int, n_fft: int, sample_rate: int, fmin: float, fmax: float):
    """The banks as (band slice, first bin, last bin + 1, (bins, bands) float32) groups of
    neighbouring bands: the low bands are a few bins wide, so the products skip the zeros
    that make up most of the dense matrix. Each weight is repeated for the spectrum's real
    and imaginary parts (squared in place, they sum to the power inside the product)."""
    banks = kaldi_mel_banks(n_mels, n_fft, sample_rate, fmin, fmax)
    plan = []
    for g in range(min(MEL_GROUPS, n_mels)):
        bands = slice(g * n_mels // MEL_GROUPS, (g + 1) * n_mels // MEL_GROUPS)
        used = np.flatnonzero(banks[bands].any(axis=0))
        if len(used) == 0:  # bands too narrow to hold a bin stay at 0
            plan.append((bands, 0, 0, None))
            continue
        lo, hi = int(used[0]), int(used[-1]) + 1
        w = np.repeat(banks[bands, lo:hi].T, 2, axis=0).astype(np.float32)
        w.flags.writeable = False
        plan.append((bands, 2 * lo, 2 * hi, w))
    return tuple(plan)


@lru_cache(maxsize=4)
def symmetric_hann(n: int, dtype: str = "float32") -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / (n - 1))).astype(dtype)


def kaldi_log_mel(waves, fe, fixed: bool = True) -> np.ndarray:
    """kind "mn04": (samples,) or (B, samples) at 32 kHz -> (n_mels, frames) or (B, n_mels,
    frames) float32, as mn04_frontend.log_mel computes it with torch. One window at a time
    (its spectra stay in the CPU's cache), float32 throughout: float32 is what torch.stft
    gives the network in training."""
    fe = settings_of(fe)
    rows, batched = _rows(waves, fe, fixed)
    if rows.shape[-1] < 2:
        raise ValueError("a waveform needs at least 2 samples")
    n_fft, win, hop = fe.n_fft, fe.win_length, fe.hop_length
    n_frames = 1 + (rows.shape[-1] - 1) // hop  # pre-emphasis drops a sample, centring adds one frame
    window = symmetric_hann(win)
    start = (n_fft - win) // 2  # torch.stft centres a shorter window in the frame
    plan = _kaldi_mel_plan(fe.n_mels, n_fft, fe.sample_rate, float(fe.fmin), float(fe.fmax))
    out = np.zeros((len(rows), n_frames, fe.n_mels), np.float32)
    k = np.float32(fe.preemphasis)
    padded = np.zeros((n_frames, n_fft), np.float32)  # each frame windowed, then zeros to n_fft
    for wave, mel in zip(rows, out):
        x = np.pad(wave[1:] - k * wave[:-1], n_fft // 2, mode="reflect")
        frames = np.lib.stride_tricks.sliding_window_view(x, win)[start::hop][:n_frames]
        with np.errstate(over="ignore", invalid="ignore"):  # absurd levels: callers check finiteness
            np.multiply(frames, window, out=padded[:, :win])
            spec = rfft(padded, axis=-1).view(np.float32)  # re, im interleaved
            np.multiply(spec, spec, out=spec)
            for bands, lo, hi, w in plan:
                if w is not None:
                    np.matmul(spec[:, lo:hi], w, out=mel[:, bands])
    np.log(out + np.float32(fe.log_offset), out=out)
    out += np.float32(fe.shift)
    out /= np.float32(fe.scale)
    out = np.ascontiguousarray(out.transpose(0, 2, 1))
    return out if batched else out[0]


# ------------------------------------------------------------------ the entry point

def features(windows, fe) -> np.ndarray:
    """Windows (B, samples) at the front end's sample_rate -> the model input (B, ...):
    what each member's ONNX file takes as `features`."""
    fe = settings_of(fe)
    kind = getattr(fe, "kind", "logmel")
    if kind == "logmel":
        return log_mel_db(windows, fe)
    if kind == "yamnet":
        rows, batched = _rows(windows, fe)
        out = yamnet_log_mel(rows, fe)
        return out if batched else out[0]
    if kind == "mn04":
        return kaldi_log_mel(windows, fe)
    raise ValueError(f"unknown front end {kind!r}")
