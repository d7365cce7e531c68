"""The CPU-bound part of each request: decode, classify, draw. Plain synchronous
functions; the routes run them in worker threads (never on the event loop).

Results are rendered to JSON bytes here as well, so the event loop only copies bytes.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np
from fastapi import HTTPException

from ..audio import AudioError
from ..predict import Classifier, Prediction
from ..settings import Settings
from .spectrogram import spectrogram_payload

log = logging.getLogger("envaudio.server")

PROB_DECIMALS = 5


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def _r(x: float) -> float:
    return round(float(x), PROB_DECIMALS)


def probe_duration(data: bytes, ffmpeg_timeout: float) -> float | None:
    """Duration in seconds from the file's header, without decoding it; None if unknown.

    A compressed file far below the size limit can still decode to hours of audio (and
    gigabytes of samples): this lets such uploads be refused before they are decoded."""
    try:
        import soundfile as sf

        info = sf.info(io.BytesIO(data))
        if info.samplerate > 0 and info.frames > 0:
            return info.frames / info.samplerate
    except Exception:
        pass
    if shutil.which("ffprobe") is None:
        return None
    fd, tmp = tempfile.mkstemp(prefix="envaudio-probe-", suffix=".bin")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration",
             "-of", "default=noprint_wrappers=1:nokey=1", tmp],
            capture_output=True, timeout=min(10.0, ffmpeg_timeout), check=False)
        value = float(out.stdout.decode().strip().splitlines()[0])
        return value if math.isfinite(value) and value > 0 else None
    except Exception:
        return None
    finally:
        os.unlink(tmp)


def too_long(seconds: float, limit: float) -> HTTPException:
    return HTTPException(413, f"the audio is {seconds:.1f} s long; the limit is {limit:g} s "
                              "(MAX_AUDIO_SECONDS)")


def decode_upload(clf: Classifier, settings: Settings, data: bytes) -> np.ndarray:
    """Upload bytes -> mono float32 at the model's rate, or an HTTPException
    (400 empty, 413 too long, 422 not decodable)."""
    if not data:
        raise HTTPException(400, "the uploaded file is empty")
    limit = settings.max_audio_seconds
    probed = probe_duration(data, settings.ffmpeg_timeout_seconds)
    if probed is not None and probed > limit + 0.5:
        raise too_long(probed, limit)
    try:
        wave = clf.load(data)
    except AudioError as e:
        raise HTTPException(422, str(e)) from None
    except MemoryError:
        raise HTTPException(413, "the audio is too large to decode") from None
    if wave.size == 0:  # e.g. a couple of samples at 192 kHz: nothing left at the model's rate
        raise HTTPException(422, "the audio is too short to analyse")
    seconds = len(wave) / clf.sample_rate
    if seconds > limit + 0.5:  # half a second of slack for decoder padding
        raise too_long(seconds, limit)
    return wave


def scores(labels: list[str], probs: np.ndarray, top_k: int) -> dict:
    """`top_prediction`, `top_k` and `probabilities` of one probability vector, rounded
    (the fields /predict and the stream share)."""
    order = np.argsort(-probs)[:max(1, top_k)]
    return {"top_prediction": {"label": labels[order[0]], "confidence": _r(probs[order[0]])},
            "top_k": [{"label": labels[i], "confidence": _r(probs[i])} for i in order],
            "probabilities": {l: _r(p) for l, p in zip(labels, probs)}}


def prediction_dict(pred: Prediction, top_k: int) -> dict:
    d = pred.to_dict(top_k=top_k, include_windows=True)
    d.update(scores(pred.labels, pred.probabilities, top_k))
    d["duration"] = round(float(d["duration"]), 6)
    for w in d["windows"]:
        w["confidence"] = _r(w["confidence"])
        w["probabilities"] = {k: _r(v) for k, v in w["probabilities"].items()}
    return d


def natural_spectrogram(clf: Classifier, wave: np.ndarray) -> dict:
    """The whole file's log-mel (the CNN member's feature function, not padded), so a window
    [start, end] maps to columns start/frame_seconds .. end/frame_seconds."""
    db = clf.view_spectrogram(wave, clf.sample_rate)
    return spectrogram_payload(db, clf.cfg, duration=len(wave) / clf.sample_rate)


def predict_bytes(clf: Classifier, settings: Settings, data: bytes, top_k: int,
                  reduce_payload: bool, filename: str | None = None) -> bytes:
    t0 = time.perf_counter()
    wave = decode_upload(clf, settings, data)
    try:
        pred = clf.classify_waveform(wave, clf.sample_rate, keep_features=False)
    except AudioError as e:  # the waveform checks of the Python API
        raise HTTPException(422, str(e)) from None
    d = prediction_dict(pred, top_k)
    d["sample_rate"] = clf.sample_rate
    d["filename"] = filename
    if not reduce_payload:
        d["spectrogram"] = natural_spectrogram(clf, wave)
    d["compute_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    return dumps(d)


def spectrogram_bytes(clf: Classifier, settings: Settings, data: bytes,
                      filename: str | None = None) -> bytes:
    wave = decode_upload(clf, settings, data)
    return dumps({"duration": round(len(wave) / clf.sample_rate, 6), "sample_rate": clf.sample_rate,
                  "filename": filename, "spectrogram": natural_spectrogram(clf, wave)})


def warm_up(clf: Classifier) -> None:
    """One prediction on silence, so the first real request does not pay torch's
    one-off initialisation (tens of ms)."""
    wave = np.zeros(int(clf.window_seconds * clf.sample_rate), dtype=np.float32)
    clf.classify_waveform(wave, clf.sample_rate, keep_features=False)
    spectrogram_payload(clf.view_spectrogram(wave, clf.sample_rate, fixed=True), clf.cfg)
