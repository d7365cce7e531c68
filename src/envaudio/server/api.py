"""REST endpoints: /health, /labels, /config, /predict, /spectrogram."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from .. import __version__
from ..settings import bundled_name
from . import inference, schemas
from .schemas import STREAM_MAX_RATE, STREAM_MIN_RATE, TOP_K_DEFAULT
from .state import get_state
from .uploads import UPLOAD_OPENAPI, read_upload

router = APIRouter()

_ERRORS = {
    400: {"model": schemas.ErrorResponse, "description": "empty or malformed upload"},
    408: {"model": schemas.ErrorResponse, "description": "not received within UPLOAD_TIMEOUT_SECONDS"},
    413: {"model": schemas.ErrorResponse, "description": "larger than MAX_UPLOAD_MB, "
                                                         "or longer than MAX_AUDIO_SECONDS"},
    415: {"model": schemas.ErrorResponse, "description": "not multipart/form-data"},
    422: {"model": schemas.ErrorResponse, "description": "not decodable as audio (or not within "
          "FFMPEG_TIMEOUT_SECONDS), shorter than MIN_AUDIO_SECONDS, a sample rate outside "
          "MIN_SAMPLE_RATE..MAX_SAMPLE_RATE, samples out of range, missing `file` field, or bad query"},
    503: {"model": schemas.ErrorResponse, "description": "the model is not loaded, or the server "
                                                         "is shutting down"},
}


@router.get("/health", response_model=schemas.HealthResponse, tags=["service"],
            responses={503: {"model": schemas.HealthResponse}})
async def health(request: Request):
    state = get_state(request)
    clf = state.classifier
    if clf is None:
        body = {"status": "unavailable", "model_loaded": False,
                "detail": state.error or "the model is still loading", "version": __version__}
        return JSONResponse(body, status_code=503)
    return {"status": "ok", "model_loaded": True, "model": Path(clf.model.path).name,
            "model_name": bundled_name(clf.model.path),
            "n_classes": len(clf.labels), "threads": _threads(clf), "torch_threads": _threads(clf),
            "version": __version__}


def _threads(clf) -> int | None:
    """The intra-op threads of this process's engine (ONNX Runtime's, once made)."""
    engine = clf.model.__dict__.get("_engines", {}).get("onnxruntime")
    return getattr(engine, "threads", None) or clf.model.threads or None


@router.get("/labels", response_model=schemas.LabelsResponse, tags=["service"],
            responses={503: _ERRORS[503]})
async def labels(request: Request):
    clf = get_state(request).require_classifier()
    return {"labels": clf.labels, "n_classes": len(clf.labels)}


@router.get("/config", response_model=schemas.ConfigResponse, tags=["service"],
            responses={503: _ERRORS[503]})
async def config(request: Request):
    """The audio, window and streaming settings the web app needs (from the loaded model:
    the model file carries the feature settings it was trained with)."""
    state = get_state(request)
    clf, s = state.require_classifier(), state.settings
    cfg, model, window = clf.cfg, clf.model, clf.window_seconds
    return {
        "sample_rate": clf.sample_rate, "duration": window, "n_mels": cfg.n_mels,
        "n_fft": cfg.n_fft, "hop_length": cfg.hop_length, "fmin": cfg.fmin,
        "fmax": cfg.fmax if cfg.fmax is not None else cfg.sample_rate / 2, "top_db": cfg.top_db,
        "spectrogram_source": "cnn" if cfg in model.frontends else "display",
        "spectrogram_sample_rate": cfg.sample_rate,
        "members": [{"network": m.network, "sample_rate": m.frontend.sample_rate, "weight": round(float(w), 4)}
                    for m, w in zip(model.members, model.weights())],
        "window_overlap": s.window_overlap,
        "window_hop_seconds": round(window * (1 - s.window_overlap), 6),
        "stream_duration": window, "stream_hop_seconds": s.stream_hop_seconds,
        "stream_max_frame_seconds": s.stream_max_frame_seconds,
        "stream_history_seconds": s.stream_history_seconds, "silence_dbfs": s.silence_dbfs,
        **_thresholds(clf), "event_hop_seconds": s.event_hop_seconds,
        "stream_min_sample_rate": STREAM_MIN_RATE, "stream_max_sample_rate": STREAM_MAX_RATE,
        "max_upload_mb": s.max_upload_mb, "max_audio_seconds": s.max_audio_seconds,
        "top_k_default": TOP_K_DEFAULT, "labels": clf.labels, "n_classes": len(clf.labels),
        "model": Path(clf.model.path).name, "model_name": bundled_name(clf.model.path),
        "model_card": clf.model.card, "version": __version__,
    }


def _thresholds(clf) -> dict:
    """The unknown thresholds in force: one per class (THRESHOLDS, MIN_CONFIDENCE) and the
    lowest of them (the one number, where there is one)."""
    from ..thresholds import describe

    p = clf.event_params
    return {"unknown_threshold": p.threshold_of(),
            "unknown_thresholds": {label: p.threshold_of(i) for i, label in enumerate(clf.labels)},
            "thresholds_source": describe(clf.settings.thresholds, clf.settings.min_confidence) or None}


async def _decode(state, clf, upload) -> tuple:
    """(decoded audio, seconds spent decoding), in a thread outside the CPU slots."""
    t0 = time.perf_counter()
    wave = await state.decode(inference.decode_upload, clf, state.settings, upload.data)
    return wave, time.perf_counter() - t0


async def _receive_and_decode(request: Request, state, clf):
    """(upload, decoded audio, seconds spent decoding); the caller holds an upload slot."""
    s = state.settings
    upload = await read_upload(request, int(s.max_upload_mb * 1024 * 1024), s.upload_timeout_seconds)
    wave, seconds = await _decode(state, clf, upload)
    return upload, wave, seconds


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


@router.post("/predict", response_model=schemas.PredictResponse, tags=["predict"],
             openapi_extra=UPLOAD_OPENAPI, responses=_ERRORS)
async def predict(
    request: Request,
    top_k: int = Query(TOP_K_DEFAULT, ge=1, description="how many labels in `top_k` (1..n_classes)"),
    reduce_payload: bool = Query(False, description="leave the spectrogram out"),
):
    """Classify an uploaded audio file (multipart field `file`).

    The answer is `top_prediction`: the class heard longest (null, with
    `top_prediction_reason`, for silence or when nothing was heard confidently), as the
    command line, the Python API and the web app give it. `heard` lists every class heard
    and for how long (longest first), `events` what was heard when, and `verdict` whether
    anything was ("silence", "unknown" or "sound"). Audio longer than one window is cut
    into overlapping windows (`windows`, for a timeline); `probabilities` is their average
    and `top_k` its best guesses: guesses, not the answer (the average of a file of
    several sounds can rank first a sound heard in none of its events). The input limits (MIN_AUDIO_SECONDS,
    MAX_AUDIO_SECONDS, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE) are the command line's. The
    spectrogram covers the whole file at its natural length, so window [start, end]
    spans columns start/frame_seconds to end/frame_seconds."""
    state = get_state(request)
    clf = state.require_classifier()
    if top_k > len(clf.labels):
        raise HTTPException(422, f"top_k: must be between 1 and {len(clf.labels)} (the number of classes)")
    s = state.settings
    async with state.upload_slot():
        upload = await read_upload(request, int(s.max_upload_mb * 1024 * 1024), s.upload_timeout_seconds)
        body = await state.run(inference.predict_upload, clf, s, upload.data, top_k, reduce_payload,
                               upload.filename)
        if body is None:  # only ffmpeg reads it: decoded outside the CPU slots, then classified
            wave, decode_seconds = await _decode(state, clf, upload)
            body = await state.run(inference.predict_wave, clf, wave, top_k, reduce_payload,
                                   upload.filename, decode_seconds)
    return _json(body)


@router.post("/spectrogram", response_model=schemas.SpectrogramResponse, tags=["predict"],
             openapi_extra=UPLOAD_OPENAPI, responses=_ERRORS)
async def spectrogram(request: Request):
    """The log-mel spectrogram of an uploaded file (multipart field `file`), compact
    uint8 encoding with axis ticks; see the `Spectrogram` schema."""
    state = get_state(request)
    clf = state.require_classifier()
    async with state.upload_slot():
        upload, wave, _ = await _receive_and_decode(request, state, clf)
        body = await state.run(inference.spectrogram_wave, clf, wave, upload.filename)
    return _json(body)

