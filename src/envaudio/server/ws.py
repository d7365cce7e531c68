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
   received), "window_start", "window_end", "top_prediction", "top_k", "probabilities",
   "verdict" of this window ("sound", "silence" below SILENCE_DBFS, "unknown" below the
   unknown threshold), "level_dbfs" (this window's loudest short-term level),
   "current_dbfs" (the latest hop's level, for a level meter), "events" (the sound events
   of the last STREAM_HISTORY_SECONDS, times in stream seconds, as /predict's),
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
import time

import anyio
import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from ..audio import AudioError, resample
from ..events import LevelMeter, detect_events, loudest_level, window_verdict
from ..features import full_scale_db, log_mel_spectrogram, rms_gain_db
from ..predict import Classifier
from ..settings import Settings
from .inference import dumps, scores
from .schemas import STREAM_MAX_RATE, STREAM_MIN_RATE, TOP_K_DEFAULT, StreamConfig, validation_message
from .spectrogram import spectrogram_payload
from .state import get_state

log = logging.getLogger("envaudio.server")
router = APIRouter()

CLOSE_POLICY_VIOLATION = 1008
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
DURATION_TOLERANCE = 0.05  # seconds
STATUS_EVERY_SECONDS = 0.1
MAX_TEXT_CHARS = 4096  # a config or command is a few dozen characters
CONFIG_HINT = "the config must be a JSON object, e.g. {\"sample_rate\": 48000}"


class ConfigError(ValueError):
    pass


class RingBuffer:
    """The last `capacity` samples, in a fixed array (memory stays bounded however long
    the stream runs)."""

    def __init__(self, capacity: int):
        self.buf = np.zeros(capacity, dtype=np.float32)
        self.pos = 0  # next write index
        self.filled = 0

    @property
    def capacity(self) -> int:
        return len(self.buf)

    def clear(self) -> None:
        self.pos = self.filled = 0

    def write(self, x: np.ndarray) -> None:
        cap, n = self.capacity, len(x)
        if n >= cap:
            self.buf[:] = x[n - cap:]
            self.pos, self.filled = 0, cap
            return
        end = self.pos + n
        if end <= cap:
            self.buf[self.pos:end] = x
        else:
            k = cap - self.pos
            self.buf[self.pos:] = x[:k]
            self.buf[:n - k] = x[k:]
        self.pos = end % cap
        self.filled = min(cap, self.filled + n)

    def latest(self) -> np.ndarray:
        """A chronological copy of what is buffered."""
        if self.filled < self.capacity:
            return self.buf[:self.filled].copy()
        return np.concatenate([self.buf[self.pos:], self.buf[:self.pos]])


def parse_json(text: str):
    """The JSON value of a text message, or None if it is not one. Deep nesting raises
    RecursionError, not ValueError, and long text is refused unparsed."""
    if len(text) > MAX_TEXT_CHARS:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def parse_config(text: str, clf: Classifier) -> StreamConfig:
    raw = parse_json(text)
    if not isinstance(raw, dict):
        raise ConfigError(CONFIG_HINT)
    if "sample_rate" not in raw:
        raise ConfigError(f"the config needs a sample_rate (Hz, {STREAM_MIN_RATE}..{STREAM_MAX_RATE})")
    try:
        cfg = StreamConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError("invalid config: " + validation_message(e.errors())) from None
    model_duration = clf.window_seconds
    if cfg.duration is not None and abs(cfg.duration - model_duration) > DURATION_TOLERANCE:
        raise ConfigError(f"invalid config: duration {cfg.duration:g} s does not match the model's "
                          f"window of {model_duration:g} s")
    if cfg.top_k is not None and cfg.top_k > len(clf.labels):
        raise ConfigError(f"invalid config: top_k must be between 1 and {len(clf.labels)}")
    return cfg


class StreamSession:
    """One configured stream: buffering, cadence, and the prediction of a window."""

    def __init__(self, clf: Classifier, settings: Settings, cfg: StreamConfig, reduce_payload: bool):
        self.clf = clf
        self.sr = cfg.sample_rate
        self.top_k = cfg.top_k or min(TOP_K_DEFAULT, len(clf.labels))
        self.reduce_payload = bool(cfg.reduce_payload) if cfg.reduce_payload is not None else reduce_payload
        self.window_seconds = clf.window_seconds
        self.hop_seconds = settings.stream_hop_seconds
        self.max_frame_seconds = settings.stream_max_frame_seconds
        self.window = int(round(self.window_seconds * self.sr))
        self.hop = max(1, int(round(self.hop_seconds * self.sr)))
        self.max_frame = int(self.max_frame_seconds * self.sr)
        self.status_every = max(1, int(round(STATUS_EVERY_SECONDS * self.sr)))
        self.ring = RingBuffer(self.window)
        self.params = clf.event_params
        self.history_seconds = settings.stream_history_seconds
        self.meter = LevelMeter(self.sr, self.params.frame_seconds, self.history_seconds)
        self.reset()

    def reset(self) -> None:
        self.ring.clear()
        self.meter.reset()
        self.history: list[tuple[float, np.ndarray]] = []  # (window start s, probabilities)
        self.received = 0
        self.next_due = self.window
        self.last_status = -self.status_every

    def ready_message(self) -> dict:
        return {"type": "ready", "sample_rate": self.sr, "model_sample_rate": self.clf.sample_rate,
                "window_seconds": self.window_seconds, "hop_seconds": self.hop_seconds,
                "max_frame_seconds": self.max_frame_seconds, "top_k": self.top_k,
                "reduce_payload": self.reduce_payload, "labels": self.clf.labels}

    def check_frame(self, data: bytes) -> np.ndarray:
        """Binary frame -> samples, or ValueError with a message for the client."""
        if len(data) == 0:
            raise ValueError("empty audio frame")
        if len(data) % 4:
            raise ValueError(f"a frame must hold float32 samples (a multiple of 4 bytes); got "
                             f"{len(data)} bytes; frame dropped")
        n = len(data) // 4
        if n > self.max_frame:
            raise ValueError(f"frame too long: {n / self.sr:.2f} s of audio; the limit is "
                             f"{self.max_frame_seconds:g} s per frame; frame dropped")
        x = np.frombuffer(data, dtype="<f4")
        if not np.isfinite(x).all():
            raise ValueError("the frame contains NaN or infinite samples; frame dropped")
        return x

    def add(self, x: np.ndarray) -> str | None:
        """Buffer a frame. Returns "prediction" when one is due, "status" while the first
        window fills (throttled), else None."""
        self.ring.write(x)
        self.meter.push(x)
        self.received += len(x)
        if self.received >= self.next_due:
            missed = (self.received - self.next_due) // self.hop
            self.next_due += (missed + 1) * self.hop
            return "prediction"
        if self.received < self.window and self.received - self.last_status >= self.status_every:
            self.last_status = self.received
            return "status"
        return None

    def status_message(self) -> dict:
        return {"type": "status", "buffered_seconds": round(min(self.received, self.window) / self.sr, 4),
                "window_seconds": self.window_seconds, "current_dbfs": self.current_dbfs()}

    def current_dbfs(self) -> float:
        """The level of the latest hop of audio (the live level meter)."""
        return round(self.meter.recent(self.hop_seconds), 2)

    def recent_events(self, t: float, probs: np.ndarray) -> tuple[float, list[dict]]:
        """(the latest window's level, the events of the last STREAM_HISTORY_SECONDS)."""
        start = t - self.window_seconds
        self.history = [(s, p) for s, p in self.history if s >= t - self.history_seconds] + [(start, probs)]
        levels, t0 = self.meter.levels(self.params), self.meter.t0
        k = int(round((start - t0) / self.params.frame_seconds))
        level = loudest_level(levels[max(0, k):])
        starts = np.array([s for s, _ in self.history])
        events = detect_events(starts, self.window_seconds, np.stack([p for _, p in self.history]),
                               levels, self.clf.labels, self.params, t0)
        return level, [e.to_dict() for e in events]

    def predict(self, window: np.ndarray, received: int) -> str:
        """The prediction message (JSON text) for one window of client-rate audio.
        CPU-bound: runs in a worker thread."""
        t0 = time.perf_counter()
        clf, view = self.clf, self.clf.cfg
        waves = clf.at_model_rates(window, self.sr)
        probs, feats = clf.classify_window(waves)
        t = received / self.sr
        level, events = self.recent_events(t, probs)
        msg = {
            "type": "prediction",
            "time": round(t, 6),
            "window_start": round(t - self.window_seconds, 6),
            "window_end": round(t, 6),
            **scores(clf.labels, probs, self.top_k),
            "verdict": window_verdict(level, float(probs.max()), self.params),
            "level_dbfs": round(level, 2),
            "current_dbfs": self.current_dbfs(),
            "events": events,
        }
        if not self.reduce_payload:
            x = waves.get(view.sample_rate)
            if x is None:  # no member uses the view's log-mel: computed for display only
                x = resample(window, self.sr, view.sample_rate)
            spec = feats[view.key()][0] if view.key() in feats else log_mel_spectrogram(x, view)
            # dB re a full-scale sine: with gain_db taken off (as the web app does), dBFS
            msg["spectrogram"] = spectrogram_payload(spec - full_scale_db(view), view, duration=view.duration)
            msg["spectrogram"]["gain_db"] = round(rms_gain_db(x, view), 3)
        msg["compute_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        return dumps(msg).decode()


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
