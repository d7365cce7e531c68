"""envaudio: recognise urban sounds (sirens, dog barks, drilling...) in audio.

    import envaudio
    clf = envaudio.load_classifier()          # bundled model, loaded once
    clf.classify_file("clip.wav").top_k(3)
"""

from .audio import AudioError, load_audio
from .features import log_mel_spectrogram
from .model import ModelError, load_model
from .predict import Classifier, Prediction, load_classifier
from .settings import FeatureConfig, Settings, get_settings

__version__ = "0.1.0"

__all__ = [
    "AudioError", "Classifier", "FeatureConfig", "ModelError", "Prediction", "Settings",
    "get_settings", "load_audio", "load_classifier", "load_model", "log_mel_spectrogram",
]
