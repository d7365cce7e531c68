"""Inference: load the model once, classify files or waveforms.

    from envaudio import load_classifier
    clf = load_classifier()            # the bundled model
    result = clf.classify_file("street.wav")
    result.top_prediction           # the answer: Heard(label, seconds, ...) heard longest, or None
    result.top_prediction_reason    # why None: "silence" or "nothing heard confidently"
    result.heard, result.events     # every class heard, longest first; what was heard when
    result.verdict                  # "sound" | "silence" | "unknown"
    result.windows, result.top_k(3) # per-window guesses; the windows' average's best guesses
    result.levels                   # LAeq, LAFmax, LAFmin, L10/L50/L90 (dBFS; levels.py)

Files of any length stream through the streaming core (listen/): decoded, resampled,
windowed and classified in blocks, events given as they become final, so an hour or a
day of audio costs the memory of a few minutes. A waveform in memory goes through the
same core, so both give the same windows and events.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from .audio import AudioSource, check_waveform, decode_rate, load_audio, resample
from .errors import AudioError
from .events import Event, EventParams, loudest_level, verdict, window_verdict
from .levels import FrameLevels, LevelSummary, summarize, unit
from .limits import InputLimits
from .loading import LoadedModel, load_model
from .settings import Settings, get_settings

KEEP_SECONDS = 600.0  # a recording longer than this keeps no waveform and no features (memory)


@dataclass
class Heard:
    """One class heard in a recording: its total time in events and how sure."""

    label: str
    seconds: float  # time covered by its events (overlaps counted once)
    peak_confidence: float  # its most confident event's confidence
    confidence: float  # its events' confidence, weighted by their length

    def to_dict(self) -> dict:
        return {"label": self.label, "seconds": round(self.seconds, 3),
                "peak_confidence": round(self.peak_confidence, 4), "confidence": round(self.confidence, 4)}


def heard_classes(events: list[Event]) -> list[Heard]:
    """The classes of `events`, longest heard first (ties: the more confident first)."""
    by_label: dict[str, list[Event]] = {}
    for e in events:
        by_label.setdefault(e.label, []).append(e)
    out = []
    for label, evs in by_label.items():
        total, last = 0.0, -np.inf
        for e in sorted(evs, key=lambda e: e.start):  # the union of the intervals
            if e.end > last:
                total += e.end - max(e.start, last)
                last = e.end
        lengths = np.array([max(e.end - e.start, 1e-9) for e in evs])
        confs = np.array([e.confidence for e in evs])
        out.append(Heard(label, total, float(confs.max()), float((confs * lengths).sum() / lengths.sum())))
    return sorted(out, key=lambda h: (-round(h.seconds, 6), -h.peak_confidence, h.label))


NOTHING_CONFIDENT = "nothing heard confidently"


def file_answer(verdict: str, heard: list[Heard]) -> tuple[Heard | None, str | None]:
    """(the recording's answer: the longest-heard class, or None; why None: "silence"
    or "nothing heard confidently")."""
    if verdict == "silence":
        return None, "silence"
    if not heard:
        return None, NOTHING_CONFIDENT
    return heard[0], None


@dataclass
class WindowResult:
    """One analysis window: its best class and the window's verdict. `label` is the
    window's guess whatever its verdict (an "unknown" window keeps it, greyed), so a
    timeline or CSV row must read `verdict` beside it."""

    start: float  # seconds
    end: float
    label: str | None  # the best class; None where the window is silent
    confidence: float  # the best class's probability
    probabilities: dict[str, float]
    verdict: str = "sound"  # "sound", "silence" (no label) or "unknown" (not sure)


@dataclass(repr=False)
class Prediction:
    """What a recording holds. **The answer is `top_prediction`**: the class heard longest
    (the first of `heard`), or None with `top_prediction_reason`. It is what the REST API,
    the command line and the web app give as the result, so every face says one thing.

    The windows' average (`probabilities`, `average_label`, `top_k`) is a different
    thing: the mean of every window's probabilities. For a clip of one sound the two
    agree; for a file of several sounds the average can name a class heard nowhere, or a
    class no window was sure of, so it is kept under its own name, as a secondary figure
    (and as the benchmark's protocol, see docs/usage.md)."""

    labels: list[str]
    probabilities: np.ndarray  # (n_classes,), averaged over windows
    windows: list[WindowResult]
    duration: float  # seconds of audio
    features: dict = field(repr=False, default=None)  # {front end key: (n_windows, ...)}
    waveform: np.ndarray = field(repr=False, default=None)  # at the classifier's sample rate
    events: list[Event] = field(default_factory=list)  # what was heard when (events.py)
    verdict: str = "sound"  # "sound", "silence" or "unknown"
    level_dbfs: float = 0.0  # the loudest short-term level
    heard: list[Heard] = field(default_factory=list)  # the classes of `events`, longest first
    levels: LevelSummary | None = None  # A-weighted LAeq, LAFmax, ... of the whole recording
    levels_unit: str = "dBFS"  # "dB" (SPL) with CALIBRATION_DB
    frame_levels: FrameLevels = field(repr=False, default=None)  # per 0.1-s frame (level tables)
    embeddings: np.ndarray = field(repr=False, default=None)  # (n_windows, dim) when asked for

    @property
    def top_prediction(self) -> Heard | None:
        """The recording's answer: the class heard longest (file_answer), or None
        (silence, or nothing heard confidently: `top_prediction_reason`)."""
        return file_answer(self.verdict, self.heard)[0]

    @property
    def top_prediction_reason(self) -> str | None:
        return file_answer(self.verdict, self.heard)[1]

    @property
    def average_label(self) -> str:
        """The best class of the windows' mean probabilities, whatever the verdict: not
        the answer (`top_prediction`), which can differ for a file of several sounds."""
        return self.labels[int(np.argmax(self.probabilities))]

    @property
    def average_confidence(self) -> float:
        """`average_label`'s mean probability."""
        return float(np.max(self.probabilities))

    @property
    def top_label(self) -> str:
        """Deprecated: the windows' average's best class under a name that reads as the
        answer. Use `top_prediction` (the answer) or `average_label` (this)."""
        _deprecated("top_label", "average_label")
        return self.average_label

    @property
    def top_confidence(self) -> float:
        """Deprecated: `average_confidence`."""
        _deprecated("top_confidence", "average_confidence")
        return self.average_confidence

    def top_k(self, k: int = 3) -> list[tuple[str, float]]:
        """The k best guesses of the windows' mean probabilities (the API's `top_k`);
        none for silence. Guesses, not the answer: see `top_prediction`."""
        if self.verdict == "silence":
            return []
        order = np.argsort(-self.probabilities)[: max(1, k)]
        return [(self.labels[i], float(self.probabilities[i])) for i in order]

    def __repr__(self) -> str:
        # The answer first: a repr that opened with the probabilities array read as if
        # the average were the result.
        top = self.top_prediction
        answer = (f"{top.label!r} ({top.confidence:.2f}, {top.seconds:.1f} s)" if top
                  else f"None ({self.top_prediction_reason})")
        heard = ", ".join(f"{h.label} {h.seconds:.1f} s" for h in self.heard)
        return (f"Prediction(top_prediction={answer}, verdict={self.verdict!r}, heard=[{heard}], "
                f"events={len(self.events)}, duration={self.duration:.2f}, windows={len(self.windows)}, "
                f"average_label={self.average_label!r})")

    def to_dict(self, top_k: int = 3, include_windows: bool = True) -> dict:
        top, reason = file_answer(self.verdict, self.heard)
        d = {
            "top_prediction": None if top is None else {"label": top.label, "confidence": top.confidence},
            "top_prediction_reason": reason,
            "heard": [h.to_dict() for h in self.heard],
            "top_k": [{"label": l, "confidence": c} for l, c in self.top_k(top_k)],
            "probabilities": {l: float(p) for l, p in zip(self.labels, self.probabilities)},
            "duration": self.duration,
            "verdict": self.verdict,
            "level_dbfs": round(self.level_dbfs, 2),
            "levels": None if self.levels is None else {**self.levels.to_dict(), "unit": self.levels_unit},
            "events": [e.to_dict() for e in self.events],
        }
        if include_windows:
            d["windows"] = [
                {"window_start": w.start, "window_end": w.end, "label": w.label,
                 "confidence": w.confidence, "probabilities": w.probabilities, "verdict": w.verdict}
                for w in self.windows
            ]
        return d


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"Prediction.{old} is the windows' average, not the answer: use "
                  f"Prediction.top_prediction for the answer, or Prediction.{new} for this",
                  DeprecationWarning, stacklevel=3)


class Classifier:
    """A loaded model plus the settings to feed it. Audio is decoded at `decode_rate`
    (`sample_rate`, as for training) and resampled once per member rate."""

    def __init__(self, model: LoadedModel, settings: Settings | None = None):
        self.model = model
        self.settings = settings or get_settings()

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    @property
    def sample_rate(self) -> int:
        return decode_rate(self.model.sample_rates)

    @property
    def window_seconds(self) -> float:
        return self.model.duration

    @property
    def cfg(self):
        """The log-mel the spectrogram view shows (`LoadedModel.view_frontend`)."""
        return self.model.view_frontend

    def view_spectrogram(self, wave: np.ndarray, sr: int, fixed: bool = False) -> np.ndarray:
        """The view's log-mel in dB of `wave` (natural length unless `fixed`)."""
        from .features import log_mel_spectrogram

        return log_mel_spectrogram(resample(wave, sr, self.cfg.sample_rate), self.cfg, fixed=fixed)

    @property
    def limits(self) -> InputLimits:
        """MIN_AUDIO_SECONDS and MIN/MAX_SAMPLE_RATE (limits.py) for files and waveforms:
        any length. MAX_AUDIO_SECONDS bounds the server's uploads only."""
        return InputLimits.local(self.settings)

    def load(self, source: AudioSource) -> np.ndarray:
        """Decode `source` whole at the classifier's rate, within the input limits (AudioError)."""
        return load_audio(source, self.sample_rate, self.settings.audio_loader,
                          self.settings.ffmpeg_timeout_seconds, self.limits)

    def classify_file(self, source: AudioSource, keep_features: bool = True, progress=None,
                      embeddings: bool = False) -> Prediction:
        """A file (any length: streamed) or a file's bytes. `progress(seconds)` is called as
        the audio is analysed; `embeddings`: each `windows` window's embedding in
        `Prediction.embeddings`. A file longer than KEEP_SECONDS keeps no waveform or features."""
        if isinstance(source, (bytes, bytearray, memoryview)) or self.settings.audio_loader == "librosa":
            return self.classify_waveform(self.load(source), self.sample_rate, keep_features, embeddings=embeddings)
        from .listen.decode import DecodedFile

        dec = DecodedFile(source, self.sample_rate, self.limits, self.settings.audio_loader,
                          self.settings.ffmpeg_timeout_seconds)
        try:
            return self.classify_stream(dec, self.sample_rate, keep_features, progress=progress, name=dec.name,
                                        embeddings=embeddings)
        except (AudioError, MemoryError):
            raise
        except Exception as e:  # a decoder giving up half way through a damaged file
            raise AudioError(f"{dec.name}: could not decode this file as audio ({type(e).__name__}: {e})") from None

    def at_model_rates(self, wave: np.ndarray, sr: int) -> dict[int, np.ndarray]:
        """The waveform at each member's sample rate."""
        return {rate: resample(wave, sr, rate) for rate in {self.sample_rate, *self.model.sample_rates}}

    @property
    def event_params(self) -> EventParams:
        return EventParams.from_settings(self.settings, (self.model.calibration or {}).get("unknown_threshold", 0.0),
                                         self.labels)

    def classify_waveform(self, wave: np.ndarray, sample_rate: int | None = None,
                          keep_features: bool = True, embeddings: bool = False) -> Prediction:
        """A waveform in memory (mono, or (samples, channels)) at `sample_rate` (default the
        classifier's), through the streaming core as a file is."""
        wave = check_waveform(wave)
        rate = sample_rate or self.sample_rate
        self.limits.check(len(wave), rate)
        pred = self.classify_stream([wave], rate, keep_features, embeddings=embeddings)
        if keep_features:
            pred.waveform = wave if rate == self.sample_rate else resample(wave, rate, self.sample_rate)
        return pred

    def classify_stream(self, blocks, rate: int, keep_features: bool = False, *, progress=None,
                        name: str | None = None, embeddings: bool = False) -> Prediction:
        """Blocks of mono float32 audio at `rate`, in order -> the Prediction. Every window
        of the event grid and of the `windows` grid is classified once, in batches; the
        model inputs kept (`keep_features`) are the `windows` grid's."""
        from .listen import Listener

        listener = Listener(self, rate, keep_features=keep_features, embeddings=embeddings)
        out = _Collected(keep_features, rate)
        least = max(1, int(np.ceil(self.limits.min_seconds * rate)))
        head: list[np.ndarray] = []  # the first samples, held until there are enough to classify
        for block in blocks:
            block = np.asarray(block, dtype=np.float32).reshape(-1)
            if head is not None:
                head.append(block)
                if sum(len(b) for b in head) < least:
                    continue
                block, head = np.concatenate(head), None
            out.add(listener.push(block), block)
            if progress is not None:
                progress(listener.seconds)
        if head is not None:  # too short: the limits say so
            self.limits.check_length(sum(len(b) for b in head), rate, name)
        out.add(listener.finish())
        pred = out.prediction(self, listener)
        if keep_features and out.samples and rate == self.sample_rate:
            pred.waveform = np.concatenate(out.samples)
        return pred

    def classify_window(self, windows: dict[int, np.ndarray]) -> tuple[np.ndarray, dict]:
        """One window {rate: (samples,)} -> (probabilities, model inputs)."""
        feats = self.model.featurize({r: w[None] for r, w in windows.items()})
        return self.model.predict_windows(feats)[0], feats


class _Collected:
    """What a stream's updates add up to, for its Prediction: the windows, events, levels
    and (for recordings up to KEEP_SECONDS) the samples and model inputs."""

    def __init__(self, keep_features: bool, rate: int):
        self.keep = keep_features
        self.limit = KEEP_SECONDS * rate
        self.windows, self.events, self.envelope, self.frames, self.samples = [], [], [], [], []
        self.kept = 0

    def add(self, up, block: np.ndarray | None = None) -> None:
        self.windows += up.windows
        self.events += up.events
        self.envelope.append(up.envelope)
        self.frames.append(up.levels)
        if self.keep and block is not None and self.samples is not None:
            self.kept += len(block)
            self.samples.append(block)
            if self.kept > self.limit:  # too long to keep: none of it
                self.samples = None

    def prediction(self, clf: Classifier, listener) -> Prediction:
        p, labels, L = clf.event_params, clf.labels, clf.window_seconds
        duration = listener.streams[clf.sample_rate].end / clf.sample_rate
        levels = np.concatenate(self.envelope)
        coarse = [w for w in self.windows if w.coarse]
        windows = []
        for w in coarse:
            i = int(np.argmax(w.probs))
            windows.append(WindowResult(start=round(w.start, 4), end=round(min(duration, w.start + L), 4),
                                        label=labels[i], confidence=float(w.probs[i]),
                                        probabilities={l: float(v) for l, v in zip(labels, w.probs)}))
        probs = np.stack([w.probs for w in coarse]) if coarse else np.zeros((1, len(labels)), np.float32)
        feats = None
        if self.keep and duration <= KEEP_SECONDS and coarse and coarse[0].features is not None:
            feats = {k: np.concatenate([w.features[k] for w in coarse]) for k in coarse[0].features}
        pred = Prediction(labels=labels, probabilities=probs.mean(axis=0), windows=windows, duration=duration,
                          features=feats)
        if listener.embeddings:
            pred.embeddings = np.stack([w.embedding for w in coarse]) if coarse else None
        pred.level_dbfs = loudest_level(levels)
        pred.events = [] if pred.level_dbfs < p.silence_dbfs else self.events
        pred.verdict = verdict(pred.level_dbfs, pred.events, p)
        pred.heard = heard_classes(pred.events)
        for w in pred.windows:  # a silent window names no class
            a = min(len(levels) - 1, int(w.start / p.frame_seconds + 1e-9))
            b = max(a + 1, int(np.ceil(w.end / p.frame_seconds - 1e-9)))
            w.verdict = window_verdict(loudest_level(levels[a:b]), w.confidence, p, labels.index(w.label))
            if w.verdict == "silence":
                w.label = None
        pred.frame_levels = FrameLevels.concat(self.frames)
        cal = clf.settings.calibration_db
        pred.levels, pred.levels_unit = summarize(pred.frame_levels, cal), unit(cal)
        return pred


def load_classifier(model_path: str | os.PathLike | None = None, settings: Settings | None = None) -> Classifier:
    settings = settings or get_settings()
    return Classifier(load_model(settings.model_file(model_path), settings.inference_backend, settings), settings)
