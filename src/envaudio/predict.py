"""Inference: load the model once, classify files or waveforms.

    from envaudio import load_classifier
    clf = load_classifier()            # the bundled model
    result = clf.classify_file("street.wav")
    result.top_prediction           # the answer: Heard(label, seconds, ...) heard longest, or None
    result.top_prediction_reason    # why None: "silence" or "nothing heard confidently"
    result.heard, result.events     # every class heard, longest first; what was heard when
    result.verdict                  # "sound" | "silence" | "unknown"
    result.windows, result.top_k(3) # per-window guesses; the windows' average's best guesses
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from .audio import AudioSource, check_waveform, decode_rate, load_audio, resample
from .events import Event, EventParams, detect_events, level_envelope, loudest_level, verdict, window_verdict
from .limits import InputLimits
from .loading import BATCH, LoadedModel, load_model
from .settings import Settings, get_settings
from .windows import cut_at, window_grid


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
        """MIN/MAX_AUDIO_SECONDS and MIN/MAX_SAMPLE_RATE (limits.py): the same for files,
        waveforms, the server's uploads and the stream."""
        return InputLimits.from_settings(self.settings)

    def load(self, source: AudioSource) -> np.ndarray:
        """Decode `source` at the classifier's rate, within the input limits (AudioError)."""
        return load_audio(source, self.sample_rate, self.settings.audio_loader,
                          self.settings.ffmpeg_timeout_seconds, self.limits)

    def classify_file(self, source: AudioSource) -> Prediction:
        return self.classify_waveform(self.load(source), self.sample_rate)

    def at_model_rates(self, wave: np.ndarray, sr: int) -> dict[int, np.ndarray]:
        """The waveform at each member's sample rate."""
        return {rate: resample(wave, sr, rate) for rate in {self.sample_rate, *self.model.sample_rates}}

    @property
    def event_params(self) -> EventParams:
        return EventParams.from_settings(self.settings, (self.model.calibration or {}).get("unknown_threshold", 0.0),
                                         self.labels)

    def window_starts(self, waves: dict[int, np.ndarray], levels: np.ndarray | None = None
                      ) -> tuple[list[float], list[bool]]:
        """Every analysis window's start (s), and which of them form the `windows` grid
        (WINDOW_OVERLAP). The others fill in the event grid (a window every
        EVENT_HOP_SECONDS), so events are placed finely without changing `windows`; of
        those, windows that are quiet throughout (per `levels`) are left out: quiet frames
        are gaps whatever a window says (a 10-min silent file costs no extra windows)."""
        L = self.window_seconds
        coarse = window_grid(waves, L, self.settings.window_overlap)
        hop = min(self.settings.event_hop_seconds, L)
        fine = window_grid(waves, L, 1.0 - hop / L) if hop < L else []
        if levels is not None and len(fine):
            p = self.event_params
            active = np.concatenate([[0], np.cumsum(levels >= p.silence_dbfs)])
            lo = np.clip((np.asarray(fine) / p.frame_seconds).astype(int), 0, len(levels))
            hi = np.clip(np.ceil((np.asarray(fine) + L) / p.frame_seconds).astype(int), 0, len(levels))
            fine = [s for s, a, b in zip(fine, lo, hi) if active[b] > active[a]]
        starts = sorted(set(coarse) | set(fine))
        in_coarse = set(coarse)
        return starts, [s in in_coarse for s in starts]

    def classify_waveform(self, wave: np.ndarray, sample_rate: int | None = None,
                          keep_features: bool = True) -> Prediction:
        wave = check_waveform(wave)
        self.limits.check(len(wave), sample_rate or self.sample_rate)
        waves = self.at_model_rates(wave, sample_rate or self.sample_rate)
        levels = level_envelope(waves[self.sample_rate], self.sample_rate, self.event_params)
        starts, coarse = self.window_starts(waves, levels)
        # Every window in one pass (the event grid's and the `windows` grid's, batched
        # together); the features kept are the `windows` grid's only.
        probs, feats = self._classify_at(waves, starts, coarse if keep_features else None)
        grid = [t for t, c in zip(starts, coarse) if c]
        pred = self._result(waves[self.sample_rate], grid, feats, probs[np.asarray(coarse, dtype=bool)],
                            keep_features)
        self.add_events(pred, levels, starts, probs)
        return pred

    def _classify_at(self, waves: dict[int, np.ndarray], starts: list[float], keep: list[bool] | None = None):
        """(probabilities, model inputs of the windows `keep` marks, or None) of the windows
        at `starts`, a chunk of BATCH at a time: a 10-min file's samples and features all at
        once took ~750 MB."""
        probs, kept = [], []
        for i in range(0, len(starts), BATCH):
            feats = self.model.featurize(cut_at(waves, starts[i:i + BATCH], self.window_seconds))
            probs.append(self.model.predict_windows(feats))
            if keep is not None and any(keep[i:i + BATCH]):
                mask = np.asarray(keep[i:i + BATCH], dtype=bool)
                kept.append({k: v[mask] for k, v in feats.items()})
        feats = {k: np.concatenate([f[k] for f in kept]) for k in kept[0]} if kept else None
        return (np.concatenate(probs) if probs else np.zeros((0, len(self.labels)), np.float32)), feats

    def add_events(self, pred: Prediction, levels: np.ndarray, starts: list[float], probs: np.ndarray) -> None:
        """The events, verdict, level and classes heard of `pred` (see events.py), and each
        window's verdict (a silent window names no class)."""
        p = self.event_params
        pred.level_dbfs = loudest_level(levels)
        silent = pred.level_dbfs < p.silence_dbfs
        pred.events = [] if silent else detect_events(starts, self.window_seconds, probs, levels,
                                                      self.labels, p, end_time=pred.duration)
        pred.verdict = verdict(pred.level_dbfs, pred.events, p)
        pred.heard = heard_classes(pred.events)
        for w in pred.windows:
            a = min(len(levels) - 1, int(w.start / p.frame_seconds + 1e-9))
            b = max(a + 1, int(np.ceil(w.end / p.frame_seconds - 1e-9)))
            w.verdict = window_verdict(loudest_level(levels[a:b]), w.confidence, p, self.labels.index(w.label))
            if w.verdict == "silence":
                w.label = None

    def classify_window(self, windows: dict[int, np.ndarray]) -> tuple[np.ndarray, dict]:
        """One window {rate: (samples,)} -> (probabilities, model inputs)."""
        feats = self.model.featurize({r: w[None] for r, w in windows.items()})
        return self.model.predict_windows(feats)[0], feats

    def _result(self, wave, starts, feats, probs, keep_features) -> Prediction:
        labels, duration = self.labels, len(wave) / self.sample_rate
        windows = []
        for s, p in zip(starts, probs):
            i = int(np.argmax(p))
            windows.append(WindowResult(
                start=round(s, 4), end=round(min(duration, s + self.window_seconds), 4),
                label=labels[i], confidence=float(p[i]),
                probabilities={l: float(v) for l, v in zip(labels, p)}))
        return Prediction(labels=labels, probabilities=probs.mean(axis=0), windows=windows,
                          duration=duration,
                          features=feats if keep_features else None,
                          waveform=wave if keep_features else None)


def load_classifier(model_path: str | os.PathLike | None = None, settings: Settings | None = None) -> Classifier:
    settings = settings or get_settings()
    return Classifier(load_model(settings.model_file(model_path), settings.inference_backend, settings), settings)
