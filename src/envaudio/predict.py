"""Inference: load the model once, classify files or waveforms.

    from envaudio import load_classifier
    clf = load_classifier()            # the bundled model
    result = clf.classify_file("street.wav")
    result.top_label, result.top_k(3), result.windows
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .audio import AudioSource, check_waveform, load_audio, resample
from .model import LoadedModel, load_model
from .settings import Settings, get_settings
from .windows import window_features


@dataclass
class WindowResult:
    start: float  # seconds
    end: float
    label: str
    confidence: float
    probabilities: dict[str, float]


@dataclass
class Prediction:
    labels: list[str]
    probabilities: np.ndarray  # (n_classes,), averaged over windows
    windows: list[WindowResult]
    duration: float  # seconds of audio
    features: np.ndarray = field(repr=False, default=None)  # (n_windows, n_mels, frames)
    waveform: np.ndarray = field(repr=False, default=None)

    @property
    def top_label(self) -> str:
        return self.labels[int(np.argmax(self.probabilities))]

    @property
    def top_confidence(self) -> float:
        return float(np.max(self.probabilities))

    def top_k(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities)[: max(1, k)]
        return [(self.labels[i], float(self.probabilities[i])) for i in order]

    def to_dict(self, top_k: int = 3, include_windows: bool = True) -> dict:
        d = {
            "top_prediction": {"label": self.top_label, "confidence": self.top_confidence},
            "top_k": [{"label": l, "confidence": c} for l, c in self.top_k(top_k)],
            "probabilities": {l: float(p) for l, p in zip(self.labels, self.probabilities)},
            "duration": self.duration,
        }
        if include_windows:
            d["windows"] = [
                {"window_start": w.start, "window_end": w.end, "label": w.label,
                 "confidence": w.confidence, "probabilities": w.probabilities}
                for w in self.windows
            ]
        return d


class Classifier:
    """A loaded model plus the settings to feed it."""

    def __init__(self, model: LoadedModel, settings: Settings | None = None):
        self.model = model
        self.settings = settings or get_settings()
        self.cfg = model.features

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    def load(self, source: AudioSource) -> np.ndarray:
        return load_audio(source, self.cfg.sample_rate, self.settings.audio_loader,
                          self.settings.ffmpeg_timeout_seconds)

    def classify_file(self, source: AudioSource) -> Prediction:
        return self.classify_waveform(self.load(source), self.cfg.sample_rate)

    def classify_waveform(self, wave: np.ndarray, sample_rate: int | None = None,
                          keep_features: bool = True) -> Prediction:
        wave = check_waveform(wave)
        sr = sample_rate or self.cfg.sample_rate
        if sr != self.cfg.sample_rate:
            wave = resample(wave, sr, self.cfg.sample_rate)
        starts, feats = window_features(wave, self.cfg, self.settings.window_overlap)
        probs = self.predict_features(feats)
        return self._result(wave, starts, feats, probs, keep_features)

    def predict_features(self, feats: np.ndarray) -> np.ndarray:
        """(n, n_mels, frames) -> probabilities (n, n_classes)."""
        return self.model.predict_windows(feats)

    def _result(self, wave, starts, feats, probs, keep_features) -> Prediction:
        sr, labels = self.cfg.sample_rate, self.labels
        windows = []
        for s, p in zip(starts, probs):
            i = int(np.argmax(p))
            windows.append(WindowResult(
                start=round(s / sr, 4), end=round(min(len(wave), s + self.cfg.n_samples) / sr, 4),
                label=labels[i], confidence=float(p[i]),
                probabilities={l: float(v) for l, v in zip(labels, p)}))
        return Prediction(labels=labels, probabilities=probs.mean(axis=0), windows=windows,
                          duration=len(wave) / sr,
                          features=feats if keep_features else None,
                          waveform=wave if keep_features else None)


def load_classifier(model_path: str | os.PathLike | None = None, settings: Settings | None = None) -> Classifier:
    settings = settings or get_settings()
    return Classifier(load_model(model_path or settings.model_path), settings)
