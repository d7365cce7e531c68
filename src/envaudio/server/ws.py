"""WS /ws/predict: live classification of a PCM stream.

Protocol (all server messages are JSON text with a "type"):

1. The client sends a JSON config: {"sample_rate": 8000..192000, "duration": optional
   window seconds (must match the model's, within 0.05 s), "top_k": optional 1..n_classes,
   "reduce_payload": optional bool (or ?reduce_payload=true on the URL)}.
   The server answers {"type": "ready", "sample_rate", "model_sample_rate",
   "window_seconds", "hop_seconds", ...}.
2. The client sends binary frames: little-endian float32 mono samples at its rate, at
   most STREAM_MAX_FRAME_SECONDS per frame. The server keeps the last window of audio in
   a ring buffer. Until a full window has arrived it sends {"type": "status",
   "buffered_seconds", "window_seconds", "current_dbfs"} (at most one per 0.1 s of audio); from then on,
   every STREAM_HOP_SECONDS of received audio, {"type": "prediction", "time" (seconds
   received), "window_start", "window_end", "top_prediction" (the window's answer by
   /predict's rule: its best class, or null with "top_prediction_reason" in silence or
   under the unknown threshold), "top_k" (its guesses; none in silence), "probabilities",
   "verdict" of this window ("sound", "silence" below SILENCE_DBFS, "unknown" below the
   unknown threshold), "level_dbfs" (this window's loudest short-term level),
   "current_dbfs" (the latest hop's level, for a level meter), "levels" (A-weighted,
   IEC 61672-1: "laeq" and "lamax" of the latest hop, "laeq_total" since the start or the
   last reset, "unit": dBFS, or dB SPL with CALIBRATION_DB), "events" (the sound events
   of the last STREAM_HISTORY_SECONDS, times in stream seconds, as /predict's, each with
   "final": true once the stream has moved past it and it can no longer change, false for
   the latest ones as they stand; from the streaming core, as a file's),
   "spectrogram" (the exact log-mel window the model saw, in dB re a full-scale sine, plus
   "gain_db": the level change its RMS normalisation applied: subtract it for dBFS), "compute_ms"}. The cadence
   follows the audio received, not the wall clock: 6 s sent in 0.25-s frames gives
   predictions at 4.0, 4.5, 5.0, 5.5 and 6.0 s. A frame that crosses several hops gives
   one prediction (on the latest audio).
3. Text "reset" (or {"type": "reset"}) empties the buffer and restarts the count
   ("time" is counted from the last reset); answer {"type": "reset"}. A new JSON config
   reconfigures the stream (and resets it).

Errors. A bad frame (size not a multiple of 4 bytes, empty, NaN/inf samples, longer than
STREAM_MAX_FRAME_SECONDS), an invalid re-config or an unknown or unparseable text message
gets {"type": "error", "error": "..."}; the frame is dropped and the stream goes on.
Samples so large that resampling overflows them to infinity get an error instead of the
prediction of each window they are in.
Fatal protocol errors get the error message, then a close with code 1008 (policy
violation): audio (or anything but a valid JSON config) before the config, no config
within STREAM_CONFIG_TIMEOUT_SECONDS, nothing received for STREAM_IDLE_TIMEOUT_SECONDS.
If the model is not loaded the socket is closed with 1011 after an error message; when
MAX_STREAMS streams are open on this worker, with 1013 (try again later). A connection
from a browser origin that is neither in ALLOWED_ORIGINS nor the server's own, or for a
host name that is not allowed (ALLOWED_HOSTS), is refused (HTTP 403 at the handshake).
"""

from __future__ import annotations

import json
import logging

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ..errors import AudioError
from .state import get_state
from .stream import (CLOSE_INTERNAL_ERROR, CLOSE_POLICY_VIOLATION, CLOSE_TRY_AGAIN_LATER, ConfigError,
                     StreamSession, parse_config, parse_json)

log = logging.getLogger("envaudio.server")
router = APIRouter()


def _origin_allowed(ws: WebSocket, allowed: list[str]) -> bool:
    origin = ws.headers.get("origin")
    if origin is None or "*" in allowed or origin in allowed:
        return True  # non-browser clients send no Origin
    host = ws.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")  # the app served by this server


async def _send(ws: WebSocket, msg: dict | str) -> None:
    await ws.send_text(msg if isinstance(msg, str) else json.dumps(msg, separators=(",", ":")))


async def _fatal(ws: WebSocket, error: str, code: int = CLOSE_POLICY_VIOLATION) -> None:
    await _send(ws, {"type": "error", "error": error})
    await ws.close(code=code, reason=error[:120])


@router.websocket("/ws/predict")
async def ws_predict(websocket: WebSocket, reduce_payload: bool = False):
    state = get_state(websocket)
    if not _origin_allowed(websocket, state.settings.origins):
        await websocket.close(code=CLOSE_POLICY_VIOLATION)  # before accept: HTTP 403
        return
    await websocket.accept()
    try:
        if state.classifier is None:
            await _fatal(websocket, state.error or "the model is not loaded", CLOSE_INTERNAL_ERROR)
            return
        limit = state.settings.max_streams
        if state.streams >= limit:
            await _fatal(websocket, f"this server is streaming to {limit} clients already "
                                    "(MAX_STREAMS); try again later", CLOSE_TRY_AGAIN_LATER)
            return
        state.streams += 1
        try:
            await _serve_stream(websocket, state, reduce_payload)
        finally:
            state.streams -= 1
    except WebSocketDisconnect:
        pass


async def _serve_stream(ws: WebSocket, state, reduce_payload: bool) -> None:
    clf, s = state.classifier, state.settings
    session: StreamSession | None = None
    while True:
        timeout = s.stream_config_timeout_seconds if session is None else s.stream_idle_timeout_seconds
        with anyio.move_on_after(timeout) as waited:
            msg = await ws.receive()
        if waited.cancelled_caught:
            if session is None:
                await _fatal(ws, f"no config received within {timeout:g} s (STREAM_CONFIG_TIMEOUT_SECONDS)")
            else:
                await _fatal(ws, f"nothing received for {timeout:g} s (STREAM_IDLE_TIMEOUT_SECONDS); "
                                 "closing the stream")
            return
        if msg["type"] == "websocket.disconnect":
            return
        text, data = msg.get("text"), msg.get("bytes")
        if session is None:  # the first message must be a valid config
            if text is None:
                await _fatal(ws, "send the JSON config (e.g. {\"sample_rate\": 48000}) before any audio")
                return
            try:
                session = StreamSession(clf, state.settings, parse_config(text, clf), reduce_payload)
            except ConfigError as e:
                await _fatal(ws, str(e))
                return
            await _send(ws, session.ready_message())
            continue

        if data is not None:
            try:
                x = session.check_frame(data)
            except ValueError as e:
                await _send(ws, {"type": "error", "error": str(e)})
                continue
            due = session.add(x)
            if due == "prediction":
                window, received = session.ring.latest(), session.received
                try:
                    out = await state.run(session.predict, window, received)
                except AudioError as e:  # e.g. resampling overflowed: this window only
                    out = {"type": "error", "error": f"{e}; window skipped"}
                await _send(ws, out)
            elif due == "status":
                await _send(ws, session.status_message())
            continue

        stripped = (text or "").strip()
        if stripped.lower() == "reset":
            session.reset()
            await _send(ws, {"type": "reset"})
            continue
        parsed = parse_json(stripped)
        if isinstance(parsed, dict) and parsed.get("type") == "reset":
            session.reset()
            await _send(ws, {"type": "reset"})
        elif isinstance(parsed, dict) and ("sample_rate" in parsed or parsed.get("type") == "config"):
            try:
                session = StreamSession(clf, state.settings, parse_config(stripped, clf), reduce_payload)
            except ConfigError as e:
                await _send(ws, {"type": "error", "error": f"{e} (keeping the previous config)"})
                continue
            await _send(ws, session.ready_message())
        else:
            await _send(ws, {"type": "error", "error": "unknown message: send binary float32 audio, "
                                                       "'reset', or a JSON config"})
