"""The CPU-bound part of each request: decode, classify, draw. Plain synchronous
functions; the routes run them in worker threads (never on the event loop).

Results are rendered to JSON bytes here as well, so the event loop only copies bytes.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
from fastapi import HTTPException

from ..audio import AudioError, Undecodable, load_audio, resample
from ..features import full_scale_db, rms_gain_db
from ..limits import AudioTooLong, InputLimits
from ..predict import Classifier, Prediction
from ..settings import Settings
from .spectrogram import spectrogram_payload

log = logging.getLogger("envaudio.server")

PROB_DECIMALS = 5


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def _r(x: float) -> float:
    return round(float(x), PROB_DECIMALS)


def upload_limits(settings: Settings) -> InputLimits:
    """The input limits (limits.py), the same as the command line's and the Python API's."""
    return InputLimits.from_settings(settings)


# libsndfile (WAV, FLAC, OGG, MP3): decodes in this process, CPU-bound, no waiting.
IN_PROCESS = ("soundfile",)


def decode_upload(clf: Classifier, settings: Settings, data: bytes,
                  decoders: tuple[str, ...] | None = None) -> np.ndarray | None:
    """Upload bytes -> mono float32 at the model's rate, or an HTTPException
    (400 empty, 413 too long, 422 not decodable, too short, odd sample rate). With
    `decoders` (only those), None when none of them can read the upload.

    Decoding stops at MAX_AUDIO_SECONDS, whatever the file's header says (a 1-MB AAC can
    hold hours of silence), so memory and time stay bounded. Runs outside the CPU limiter:
    much of it is waiting on ffmpeg."""
    if not data:
        raise HTTPException(400, "the uploaded file is empty")
    try:
        return load_audio(data, clf.sample_rate, settings.audio_loader, settings.ffmpeg_timeout_seconds,
                          upload_limits(settings), decoders)
    except AudioTooLong as e:
        raise HTTPException(413, str(e)) from None
    except Undecodable as e:
        if decoders:
            return None
        raise HTTPException(422, str(e)) from None
    except AudioError as e:
        raise HTTPException(422, str(e)) from None
    except MemoryError:
        raise HTTPException(413, "the audio is too large to decode") from None


def scores(labels: list[str], probs: np.ndarray, top_k: int) -> dict:
    """`top_prediction`, `top_k` and `probabilities` of one probability vector, rounded
    (the stream's window, whose verdict then decides its answer: stream.window_answer;
    /predict's file-level `top_prediction` is the class heard longest, see prediction_dict)."""
    if not np.isfinite(probs).all():  # e.g. features overflowed on absurdly loud samples
        raise AudioError("the model's output is not finite: the audio's level is out of range")
    order = np.argsort(-probs)[:max(1, top_k)]
    return {"top_prediction": {"label": labels[order[0]], "confidence": _r(probs[order[0]])},
            "top_k": [{"label": labels[i], "confidence": _r(probs[i])} for i in order],
            "probabilities": {l: _r(p) for l, p in zip(labels, probs)}}


def prediction_dict(pred: Prediction, top_k: int) -> dict:
    """/predict's fields: Prediction.to_dict, rounded. `top_prediction` is the class heard
    longest (null for silence or when nothing was heard confidently, with
    `top_prediction_reason`); `top_k` the windows' mean guesses (none for silence)."""
    d = pred.to_dict(top_k=top_k, include_windows=True)
    s = scores(pred.labels, pred.probabilities, top_k)
    d["probabilities"] = s["probabilities"]
    d["top_k"] = s["top_k"] if d["top_k"] else []
    if d["top_prediction"] is not None:
        d["top_prediction"]["confidence"] = _r(d["top_prediction"]["confidence"])
    d["duration"] = round(float(d["duration"]), 6)
    for w in d["windows"]:
        w["confidence"] = _r(w["confidence"])
        w["probabilities"] = {k: _r(v) for k, v in w["probabilities"].items()}
    return d


def natural_spectrogram(clf: Classifier, wave: np.ndarray, feats: dict | None = None) -> dict:
    """The whole file's log-mel (the CNN member's feature function, not padded), so a window
    [start, end] maps to columns start/frame_seconds .. end/frame_seconds; in dBFS (the RMS
    normalisation taken off, 0 = a full-scale sine's band). `feats`: the model inputs of
    the file's windows, reused when the file is exactly one window (the same log-mel)."""
    view = clf.cfg
    own = (feats or {}).get(view.key())
    x = resample(wave, clf.sample_rate, view.sample_rate)  # the gain is that of what the view saw
    if own is not None and len(own) == 1 and clf.sample_rate == view.sample_rate and len(wave) == view.n_samples:
        db = own[0]
    else:
        db = clf.view_spectrogram(x, view.sample_rate)
    db = db - rms_gain_db(x, view) - full_scale_db(view)
    return spectrogram_payload(db, clf.cfg, duration=len(wave) / clf.sample_rate)


def predict_wave(clf: Classifier, wave: np.ndarray, top_k: int, reduce_payload: bool,
                 filename: str | None = None, decode_seconds: float = 0.0) -> bytes:
    """/predict's answer for a decoded upload (CPU-bound: runs under the CPU limiter)."""
    t0 = time.perf_counter()
    try:
        pred = clf.classify_waveform(wave, clf.sample_rate, keep_features=not reduce_payload)
        d = prediction_dict(pred, top_k)
        if not reduce_payload:
            d["spectrogram"] = natural_spectrogram(clf, wave, pred.features)
    except AudioError as e:  # the waveform checks of the Python API, non-finite results
        raise HTTPException(422, str(e)) from None
    d["sample_rate"] = clf.sample_rate
    d["filename"] = filename
    d["compute_ms"] = round((time.perf_counter() - t0 + decode_seconds) * 1000, 2)
    return dumps(d)


def predict_upload(clf: Classifier, settings: Settings, data: bytes, top_k: int, reduce_payload: bool,
                   filename: str | None = None) -> bytes | None:
    """/predict's answer straight from the upload's bytes when libsndfile reads them:
    decoding and classifying in one CPU-bound job (one thread hop, not two). None for
    what only ffmpeg reads: that is decoded outside the CPU slots (decode_upload)."""
    t0 = time.perf_counter()
    wave = decode_upload(clf, settings, data, IN_PROCESS)
    if wave is None:
        return None
    return predict_wave(clf, wave, top_k, reduce_payload, filename, time.perf_counter() - t0)


def spectrogram_wave(clf: Classifier, wave: np.ndarray, filename: str | None = None) -> bytes:
    try:
        sp = natural_spectrogram(clf, wave)
    except AudioError as e:
        raise HTTPException(422, str(e)) from None
    return dumps({"duration": round(len(wave) / clf.sample_rate, 6), "sample_rate": clf.sample_rate,
                  "filename": filename, "spectrogram": sp})


def warm_up(clf: Classifier) -> None:
    """One prediction on silence, so the first real request does not pay for creating the
    ONNX Runtime session and its first run (tens of ms)."""
    seconds = min(clf.window_seconds, clf.settings.max_audio_seconds)  # within the input limits
    wave = np.zeros(int(seconds * clf.sample_rate), dtype=np.float32)
    clf.classify_waveform(wave, clf.sample_rate, keep_features=False)
    spectrogram_payload(clf.view_spectrogram(wave, clf.sample_rate, fixed=True), clf.cfg)
