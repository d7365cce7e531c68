"""The networks' front ends: the settings that turn a waveform into a network's input.

One frozen dataclass per kind, saved inside every model file (so inference always uses
exactly the settings a model was trained with); the feature functions that apply them are
in npfeatures.py (numpy) and features.py. Torch-free, so anything may import them: the
registry at the end (`frontend_from_dict`, `frontend_features`) is what inference reads a
model file's front ends with, without importing a network (networks/ is PyTorch).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache


class SavedSettings:
    """What every front end's settings share: a window length in samples, and a way into a model
    file and back out."""

    @property
    def n_samples(self) -> int:  # every front end has a sample_rate and a window duration
        return int(round(self.sample_rate * self.duration))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})  # unknown keys: a newer file

    def key(self) -> str:
        """Stable text identifying these settings (for the feature cache)."""
        return settings_key(self)


@dataclass(frozen=True)
class FeatureConfig(SavedSettings):
    """What turns a waveform into the model's input. Saved inside every model file,
    so inference always uses exactly the settings the model was trained with. This is the
    CNN's front end (`kind` "logmel")."""

    kind: str = "logmel"
    sample_rate: int = 22050
    duration: float = 4.0
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None  # None: Nyquist
    top_db: float = 80.0
    rms_normalize: bool = True
    rms_target: float = 0.1
    pad_mode: str = "loop"  # short clips: "loop" (repeat) or "zero" (silence)

    @property
    def n_frames(self) -> int:
        return 1 + self.n_samples // self.hop_length


@lru_cache(maxsize=64)
def settings_key(fe) -> str:
    """A front end's key, made once per distinct settings (asked for on every request)."""
    return ",".join(f"{k}={v}" for k, v in sorted(dataclasses.asdict(fe).items()))


@dataclass(frozen=True)
class YamnetFrontend(SavedSettings):
    """YAMNet's feature settings (saved in every model file that has a YAMNet member)."""

    kind: str = "yamnet"
    sample_rate: int = 16000
    duration: float = 4.0  # our analysis window (s); YAMNet itself has no fixed length
    win_length: int = 400
    hop_length: int = 160
    n_fft: int = 512
    n_mels: int = 64
    fmin: float = 125.0
    fmax: float = 7500.0
    log_offset: float = 0.001
    pad_mode: str = "loop"  # short clips are looped to the window, as for the CNN
    rms_normalize: bool = False  # YAMNet was trained on the input's own level
    rms_target: float = 0.1

    @property
    def n_frames(self) -> int:
        return 1 + (self.n_samples - self.win_length) // self.hop_length



@dataclass(frozen=True)
class Mn04Frontend(SavedSettings):
    """mn04's feature settings, as the network was trained (saved in every model file that
    has an mn04 member): EfficientAT's 32 kHz Kaldi-style log-mel."""

    kind: str = "mn04"  # networks.mn04.NAME
    sample_rate: int = 32000
    duration: float = 4.0  # our analysis window (s); the network takes any length
    n_fft: int = 1024
    win_length: int = 800
    hop_length: int = 320
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 15000.0
    preemphasis: float = 0.97
    log_offset: float = 1e-5
    shift: float = 4.5  # (log mel + shift) / scale: EfficientAT's fixed normalisation
    scale: float = 5.0
    pad_mode: str = "loop"  # short clips are looped to the window, as for the other networks
    rms_normalize: bool = False  # trained on the input's own level
    rms_target: float = 0.1

    @property
    def n_frames(self) -> int:
        # pre-emphasis drops a sample; the centred STFT gives 1 + length // hop frames
        return 1 + (self.n_samples - 1) // self.hop_length


# ------------------------------------------------------------------ the registry

# A front end's `kind` -> its settings. FeatureConfig predates `kind`: model files and
# caches without it are the CNN's log-mel.
KINDS: dict[str, type] = {"logmel": FeatureConfig, "yamnet": YamnetFrontend, "mn04": Mn04Frontend}


def frontend_from_dict(d: dict):
    """A model file's `features` dict -> its front end's settings."""
    kind = d.get("kind", "logmel")
    if kind not in KINDS:
        raise ValueError(f"unknown front end {kind!r} (known: {', '.join(KINDS)})")
    return KINDS[kind].from_dict(d)


def frontend_features(fe, windows):
    """(B, samples) numpy windows at fe.sample_rate -> that front end's model input, in
    numpy alone (npfeatures: the one implementation, which networks/ also uses for arrays).
    Imported here, not at the top: settings.py imports this module, and every command's
    parsing (`envaudio serve`'s master process included) would pay for numpy."""
    from . import npfeatures

    return npfeatures.features(windows, fe)
