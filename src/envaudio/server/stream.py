"""The live stream's logic, without a socket: the ring buffer, the config, the session.

A StreamSession takes the client's frames and returns the JSON messages to send (ws.py,
the route, only moves them over the WebSocket; the protocol is described there), so
the stream can be tested without a server. Its events and levels come from the streaming
core (listen/), the same as a file's: an event is final once the stream has moved past it
("final": true) and is never recomputed after that; the latest ones are sent as they stand
("final": false) and may still change.
"""

from __future__ import annotations

import json
import time
from collections import deque

import numpy as np
from pydantic import ValidationError

from ..audio import resample
from ..events import FLOOR_DBFS, level_envelope, loudest_level, power_db, window_verdict
from ..errors import AudioError
from ..levels import FrameLevels, leq, level_db
from ..limits import check_rate
from ..features import full_scale_db, log_mel_spectrogram, rms_gain_db
from ..listen import Listener
from ..predict import NOTHING_CONFIDENT, Classifier
from ..settings import Settings
from .inference import dumps, scores
from .schemas import STREAM_MAX_RATE, STREAM_MIN_RATE, TOP_K_DEFAULT, StreamConfig, validation_message
from .spectrogram import spectrogram_payload

# WebSocket close codes (RFC 6455)


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
    try:  # the settings' bounds, as for files and uploads (the stream's own may be narrower)
        check_rate(cfg.sample_rate, clf.settings)
    except AudioError as e:
        raise ConfigError(f"invalid config: {e}") from None
    model_duration = clf.window_seconds
    if cfg.duration is not None and abs(cfg.duration - model_duration) > DURATION_TOLERANCE:
        raise ConfigError(f"invalid config: duration {cfg.duration:g} s does not match the model's "
                          f"window of {model_duration:g} s")
    if cfg.top_k is not None and cfg.top_k > len(clf.labels):
        raise ConfigError(f"invalid config: top_k must be between 1 and {len(clf.labels)}")
    return cfg


def window_answer(s: dict, verdict: str) -> dict:
    """The window's answer by /predict's rule: its best class when the verdict is
    "sound"; null under the unknown threshold or in silence, with the reason, and no
    guesses for silence (/predict gives none either)."""
    if verdict == "sound":
        return {**s, "top_prediction_reason": None}
    reason = "silence" if verdict == "silence" else NOTHING_CONFIDENT
    return {**s, "top_prediction": None, "top_prediction_reason": reason,
            "top_k": [] if verdict == "silence" else s["top_k"]}


class StreamSession:
    """One configured stream: buffering, cadence, and the prediction of a window. The
    audio goes into a Listener (events, levels) in the worker thread that predicts, not on
    the event loop: `add` only buffers it."""

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
        self.reset()

    def reset(self) -> None:
        self.ring.clear()
        self.listener = Listener(self.clf, self.sr, batch=1)
        self.pending: list[np.ndarray] = []  # audio not yet in the listener
        self.final: deque = deque()  # final events of the recent history
        self.recent = FrameLevels.empty()  # A-weighted levels of the last seconds
        self.energy, self.samples = 0.0, 0.0  # since the start: A-weighted energy and samples
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
        self.pending.append(np.array(x, dtype=np.float32))
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
        x = self.ring.latest()[-self.hop:].astype(np.float64)
        return round(float(power_db(np.mean(np.square(x)))) if len(x) else FLOOR_DBFS, 2)

    def listen(self) -> None:
        """The buffered audio into the listener: final events and A-weighted levels kept
        for the recent history. CPU-bound (it classifies the event grid's windows)."""
        x = np.concatenate(self.pending) if self.pending else np.zeros(0, np.float32)
        self.pending = []
        up = self.listener.push(x)
        self.final.extend(up.events)
        t = self.listener.seconds
        while self.final and self.final[0].end < t - self.history_seconds:
            self.final.popleft()
        fr = up.levels
        self.energy += float((fr.energy * fr.samples).sum())
        self.samples += float(fr.samples.sum())
        keep = int(np.ceil(max(self.hop_seconds, 1.0) / self.params.frame_seconds)) + 1
        self.recent = FrameLevels.concat([self.recent, fr])[-keep:]

    def levels_payload(self) -> dict:
        """The A-weighted levels for a meter (dBFS): LAeq and LAFmax of the latest hop,
        LAeq since the start (or the last reset). The meter's frames lag the audio by the
        A-weighting filter's delay (half a second)."""
        k = max(1, int(round(self.hop_seconds / self.params.frame_seconds)))
        last = self.recent[-k:]
        total = level_db(self.energy / self.samples) if self.samples else FLOOR_DBFS
        return {"laeq": round(leq(last), 2), "lamax": round(float(level_db(last.fast_max.max())) if len(last)
                                                            else FLOOR_DBFS, 2),
                "laeq_total": round(float(total), 2), "unit": "dBFS"}

    def recent_events(self, t: float) -> list[dict]:
        """The events of the last STREAM_HISTORY_SECONDS: final ones, then the latest as
        they stand."""
        since = t - self.history_seconds
        out = [{**e.to_dict(), "final": True} for e in self.final if e.end > since]
        out += [{**e.to_dict(), "final": False} for e in self.listener.provisional_events(max(0.0, since))]
        return out

    def predict(self, window: np.ndarray, received: int) -> str:
        """The prediction message (JSON text) for one window of client-rate audio.
        CPU-bound: runs in a worker thread."""
        t0 = time.perf_counter()
        self.listen()
        clf, view = self.clf, self.clf.cfg
        waves = clf.at_model_rates(window, self.sr)
        probs, feats = clf.classify_window(waves)
        t = received / self.sr
        level = loudest_level(level_envelope(window, self.sr, self.params))
        verdict = window_verdict(level, float(probs.max()), self.params, int(probs.argmax()))
        msg = {
            "type": "prediction",
            "time": round(t, 6),
            "window_start": round(t - self.window_seconds, 6),
            "window_end": round(t, 6),
            **window_answer(scores(clf.labels, probs, self.top_k), verdict),
            "verdict": verdict,
            "level_dbfs": round(level, 2),
            "current_dbfs": self.current_dbfs(),
            "levels": self.levels_payload(),
            "events": self.recent_events(t),
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
