"""Decoding audio: any common file -> mono float32 at the model's sample rate.

soundfile (libsndfile) is tried first for what it reads natively (WAV of any bit depth,
FLAC, OGG, MP3): it is exact and needs no subprocess. Everything else (M4A/AAC, WMA,
video containers...) goes to the decoder named by AUDIO_LOADER, then to the others.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Union

import numpy as np

SAMPLE_RATE = 22050
AudioSource = Union[str, os.PathLike, bytes]


class AudioError(ValueError):
    """Input that cannot be turned into audio. The message is meant for a person."""


def load_audio(
    source: AudioSource,
    sr: int = SAMPLE_RATE,
    loader: str = "ffmpeg",
    ffmpeg_timeout: float = 20.0,
) -> np.ndarray:
    """Decode `source` (a path or the file's bytes) to mono float32 at `sr` Hz."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise AudioError("the file is empty")
        return _decode(data, None, sr, loader, ffmpeg_timeout)
    path = Path(source)
    if not path.is_file():
        raise AudioError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"{path.name}: the file is empty")
    return _decode(None, path, sr, loader, ffmpeg_timeout)


def _decode(data: bytes | None, path: Path | None, sr: int, loader: str, timeout: float) -> np.ndarray:
    order = {
        "ffmpeg": ("soundfile", "ffmpeg", "librosa"),
        "soundfile": ("soundfile", "librosa", "ffmpeg"),
        "librosa": ("librosa", "soundfile", "ffmpeg"),
    }.get(loader)
    if order is None:
        raise AudioError(f"unknown AUDIO_LOADER {loader!r} (use ffmpeg, soundfile or librosa)")
    name = path.name if path else "upload"
    for decoder in order:
        try:
            if decoder == "soundfile":
                wave, native_sr = _read_soundfile(data, path)
            elif decoder == "ffmpeg":
                if shutil.which("ffmpeg") is None:
                    continue
                wave, native_sr = _read_ffmpeg(data, path, sr, timeout), sr
            else:
                wave, native_sr = _read_librosa(data, path, sr)
        except AudioError:
            raise
        except Exception:  # this decoder can't read it: try the next one
            continue
        return _finish(wave, native_sr, sr, name)
    raise AudioError(
        f"{name}: could not decode this file as audio (unsupported or corrupt format)"
    )


def _read_soundfile(data: bytes | None, path: Path | None) -> tuple[np.ndarray, int]:
    import soundfile as sf

    wave, native_sr = sf.read(io.BytesIO(data) if data is not None else str(path),
                              dtype="float32", always_2d=True)
    return wave.mean(axis=1), native_sr


def _read_ffmpeg(data: bytes | None, path: Path | None, sr: int, timeout: float) -> np.ndarray:
    tmp = None
    try:
        if path is None:  # containers like MP4 need a seekable input, so not a pipe
            fd, tmp = tempfile.mkstemp(prefix="envaudio-", suffix=".bin")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            path = Path(tmp)
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vn",
               "-f", "f32le", "-ac", "1", "-ar", str(sr), "pipe:1"]
        try:
            out = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise AudioError(f"decoding took longer than {timeout:g} s (FFMPEG_TIMEOUT_SECONDS)") from None
        if out.returncode != 0 or not out.stdout:
            raise RuntimeError(out.stderr.decode(errors="replace")[-300:])
        return np.frombuffer(out.stdout, dtype="<f4").copy()
    finally:
        if tmp:
            os.unlink(tmp)


def _read_librosa(data: bytes | None, path: Path | None, sr: int) -> tuple[np.ndarray, int]:
    import warnings

    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wave, native_sr = librosa.load(io.BytesIO(data) if data is not None else str(path),
                                       sr=None, mono=True)
    return wave, native_sr


def _finish(wave: np.ndarray, native_sr: int, sr: int, name: str) -> np.ndarray:
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if wave.size == 0:
        raise AudioError(f"{name}: the file holds no audio samples")
    if not np.all(np.isfinite(wave)):
        raise AudioError(f"{name}: the audio contains NaN or infinite samples")
    return resample(wave, native_sr, sr)


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """High-quality resampling (soxr, as librosa's default)."""
    if orig_sr == target_sr:
        return np.ascontiguousarray(wave, dtype=np.float32)
    if orig_sr <= 0:
        raise AudioError(f"invalid sample rate {orig_sr}")
    import soxr

    return soxr.resample(wave, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def check_waveform(wave: np.ndarray) -> np.ndarray:
    """Validate an in-memory waveform (from a stream or the Python API)."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:  # (samples, channels) or (channels, samples): mix down
        wave = wave.mean(axis=int(np.argmin(wave.shape)))
    wave = wave.reshape(-1)
    if wave.size == 0:
        raise AudioError("the waveform is empty")
    if not np.all(np.isfinite(wave)):
        raise AudioError("the waveform contains NaN or infinite samples")
    return wave
