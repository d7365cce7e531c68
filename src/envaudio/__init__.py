"""envaudio: recognise urban sounds (sirens, dog barks, drilling...) in audio.

    import envaudio
    clf = envaudio.load_classifier()          # bundled model, loaded once
    clf.classify_file("clip.wav").top_prediction   # the answer: the sound heard longest, or None
"""

from importlib import import_module

__version__ = "0.1.0"

# Imported on first use: `import envaudio` (and so every `envaudio` command) does not load
# torch until something needs it; `envaudio serve`'s master process never does.
_EXPORTS = {
    "AudioError": "errors", "load_audio": "audio",
    "log_mel_spectrogram": "features",
    "ModelError": "errors", "load_model": "loading",
    "Classifier": "predict", "Prediction": "predict", "load_classifier": "predict",
    "FeatureConfig": "frontends", "Settings": "settings", "get_settings": "settings",
}

__all__ = sorted(_EXPORTS, key=str.lower)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
