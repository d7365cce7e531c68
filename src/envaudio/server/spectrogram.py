"""The compact spectrogram payload the web app draws (with axes and a colorbar).

A log-mel spectrogram in dB, (n_mels, n_frames) float32, becomes:

    {"encoding": "uint8-base64", "data": base64 of n_mels * n_frames uint8, row-major,
     row 0 = lowest mel band, "shape": [n_mels, n_frames], "db_min", "db_max"
     (uint8 0 -> db_min, 255 -> db_max, linear), the feature settings, "frame_seconds",
     "duration", "mel_frequencies", and ready-made "time_ticks", "freq_ticks", "db_ticks"}

A 4-s clip (64 x 173) is ~15 KB of JSON. Long files are max-pooled over time so that
there are at most MAX_COLUMNS columns (frame_seconds grows accordingly).
"""

from __future__ import annotations

import base64
import math

import numpy as np

from ..audio import AudioError
from ..features import mel_frequencies
from ..frontends import FeatureConfig

ENCODING = "uint8-base64"
MIN_RANGE_DB = 40.0  # the web app's live view uses the same floor (frontend/src/lib/rolling.js)
MAX_COLUMNS = 2000
_NICE_SECONDS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)
_FREQ_CANDIDATES = (50, 100, 125, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000)


def pool_time(db: np.ndarray, max_columns: int = MAX_COLUMNS) -> tuple[np.ndarray, int]:
    """Max-pool (n_mels, n_frames) over time so that at most `max_columns` columns remain.
    Returns (pooled, factor); factor 1 means unchanged. Max (not mean) keeps short events
    (a gun shot, a click) visible in an overview of a long file."""
    n_frames = db.shape[1]
    if n_frames <= max_columns:
        return db, 1
    factor = math.ceil(n_frames / max_columns)
    cols = math.ceil(n_frames / factor)
    pad = cols * factor - n_frames
    if pad:
        db = np.concatenate([db, np.repeat(db[:, -1:], pad, axis=1)], axis=1)
    return db.reshape(db.shape[0], cols, factor).max(axis=2), factor


def quantize(db: np.ndarray) -> tuple[bytes, float, float]:
    """dB values -> (uint8 bytes, db_min, db_max), 0 -> db_min and 255 -> db_max."""
    lo = math.floor(float(db.min()) * 100) / 100
    # At least MIN_RANGE_DB, reaching up from the quietest value: silence (flat, or a few dB of
    # hiss) is then drawn dark under a readable colour bar, not stretched over the whole scale.
    hi = max(math.ceil(float(db.max()) * 100) / 100, lo + MIN_RANGE_DB)
    q = np.rint((db - lo) * (255.0 / (hi - lo)))
    return np.clip(q, 0, 255).astype(np.uint8).tobytes(), lo, hi


def _format_seconds(value: float, step: float) -> str:
    if step >= 60:
        m, s = divmod(int(round(value)), 60)
        return f"{m}:{s:02d}"
    if step >= 1:  # "0, 5, 10", not "0.0, 5.0, 10.0"
        return f"{value:.0f}"
    return f"{value:.1f}"


def time_ticks(duration: float, target: int = 8) -> list[dict]:
    """Evenly spaced ticks at a 'nice' step, about `target` of them, from 0 to duration."""
    if duration <= 0:
        return [{"value": 0.0, "label": "0.0"}]
    step = next((s for s in _NICE_SECONDS if duration / s <= target), _NICE_SECONDS[-1])
    n = int(math.floor(duration / step + 1e-9))
    return [{"value": round(i * step, 6), "label": _format_seconds(i * step, step)}
            for i in range(n + 1)]


def _format_hz(hz: float) -> str:
    if hz >= 1000:
        k = hz / 1000
        return f"{k:g}k"
    return f"{hz:g}"


def freq_ticks(centres: np.ndarray, fmin: float, fmax: float) -> list[dict]:
    """Ticks at round frequencies, with `position` = fractional row index (0 = lowest
    band), interpolated between the band centres; only those inside the drawn rows."""
    rows = np.arange(len(centres), dtype=np.float64)
    ticks = []
    for hz in _FREQ_CANDIDATES:
        if hz < max(fmin, centres[0]) or hz > min(fmax, centres[-1]):
            continue
        pos = float(np.interp(hz, centres, rows))
        ticks.append({"value": float(hz), "position": round(pos, 3), "label": _format_hz(hz)})
    # Keep the axis readable: if the low end is crowded (< 2 rows apart), drop ticks there.
    out: list[dict] = []
    for t in reversed(ticks):
        if not out or out[-1]["position"] - t["position"] >= 2.0:
            out.append(t)
    return out[::-1]


def db_ticks(db_min: float, db_max: float, target: int = 5) -> list[dict]:
    span = db_max - db_min
    step = next((s for s in (1, 2, 5, 10, 20, 40) if span / s <= target), 80)
    first = math.ceil(db_min / step) * step
    values = np.arange(first, db_max + 1e-9, step)
    return [{"value": float(v), "label": f"{v:.0f}"} for v in values]


def spectrogram_payload(db: np.ndarray, cfg: FeatureConfig, duration: float | None = None,
                        max_columns: int = MAX_COLUMNS) -> dict:
    """(n_mels, n_frames) log-mel in dB (as `features.log_mel_spectrogram` returns it)
    -> the JSON-ready payload described in the module docstring."""
    db = np.asarray(db, dtype=np.float32)
    if db.ndim != 2 or db.shape[1] == 0:
        raise ValueError(f"expected a (n_mels, n_frames) spectrogram, got shape {db.shape}")
    if not np.isfinite(db).all():  # e.g. absurdly loud samples without RMS normalisation
        raise AudioError("the spectrogram is not finite: the audio's level is out of range")
    pooled, factor = pool_time(db, max_columns)
    data, lo, hi = quantize(pooled)
    fmax = float(cfg.fmax) if cfg.fmax is not None else cfg.sample_rate / 2
    frame_seconds = factor * cfg.hop_length / cfg.sample_rate
    if duration is None:
        duration = (db.shape[1] - 1) * cfg.hop_length / cfg.sample_rate
    centres = mel_frequencies(cfg.n_mels, cfg.fmin, fmax)
    return {
        "encoding": ENCODING,
        "data": base64.b64encode(data).decode("ascii"),
        "shape": [int(pooled.shape[0]), int(pooled.shape[1])],
        "db_min": lo,
        "db_max": hi,
        "sample_rate": cfg.sample_rate,
        "hop_length": cfg.hop_length,
        "n_fft": cfg.n_fft,
        "n_mels": cfg.n_mels,
        "fmin": float(cfg.fmin),
        "fmax": fmax,
        "frame_seconds": frame_seconds,
        "time_downsample": factor,
        "duration": round(float(duration), 6),
        "mel_frequencies": [round(float(f), 1) for f in centres],
        "time_ticks": time_ticks(float(duration)),
        "freq_ticks": freq_ticks(centres, float(cfg.fmin), fmax),
        "db_ticks": db_ticks(lo, hi),
    }


def decode_payload(payload: dict) -> np.ndarray:
    """The inverse (up to quantization), for tests and Python clients: -> dB (n_mels, n_frames)."""
    raw = np.frombuffer(base64.b64decode(payload["data"]), dtype=np.uint8)
    q = raw.reshape(payload["shape"]).astype(np.float32)
    return payload["db_min"] + q * ((payload["db_max"] - payload["db_min"]) / 255.0)
