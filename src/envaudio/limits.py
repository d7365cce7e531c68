"""The input limits: one check, with one message, for every way audio comes in (the
command line, the Python API, the REST upload and the live stream). The duration limit,
MAX_AUDIO_SECONDS, is the server's alone (uploads, `InputLimits.from_settings`): local
files and waveforms take any length (`InputLimits.local`).

    from envaudio.limits import check_audio, check_rate
    check_rate(sample_rate, settings)              # as soon as the rate is known
    check_audio(n_samples, sample_rate, settings)  # once the length is known

Both raise `envaudio.errors.AudioError` (`AudioTooLong`, `AudioTooShort`,
`BadSampleRate`) with a message for a person that names the setting to change. The
bounds come from Settings: MIN_AUDIO_SECONDS, MAX_AUDIO_SECONDS, MIN_SAMPLE_RATE and
MAX_SAMPLE_RATE (ENVAUDIO_<NAME> in the environment). A ground module: no torch, no
server, no decoding; `audio.load_audio` applies the same `InputLimits` while decoding
(the duration as it reads, so a file whose header lies cannot make it read more).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AudioError

SLACK_SECONDS = 0.5  # decoder padding allowed past MAX_AUDIO_SECONDS (an MP3's priming frames)


class AudioTooLong(AudioError):
    """Longer than MAX_AUDIO_SECONDS (the server answers 413)."""

    def __init__(self, limit: float):
        super().__init__(too_long_message(limit))
        self.limit = limit


class AudioTooShort(AudioError):
    """Shorter than MIN_AUDIO_SECONDS (or no samples at all)."""


class BadSampleRate(AudioError):
    """A sample rate outside MIN_SAMPLE_RATE .. MAX_SAMPLE_RATE."""


def too_long_message(limit: float) -> str:
    return f"the audio is longer than the limit of {limit:g} s (MAX_AUDIO_SECONDS)"


def _named(name: str | None, message: str) -> str:
    return f"{name}: {message}" if name else message


@dataclass(frozen=True)
class InputLimits:
    """Bounds for audio input; the defaults bound nothing (`from_settings` for the real ones)."""

    max_seconds: float | None = None
    min_seconds: float = 0.0
    min_rate: int = 1
    max_rate: int | None = None

    @classmethod
    def from_settings(cls, s) -> "InputLimits":
        """The limits on uploads (the server): MAX_AUDIO_SECONDS included."""
        return cls(max_seconds=s.max_audio_seconds, min_seconds=s.min_audio_seconds,
                   min_rate=s.min_sample_rate, max_rate=s.max_sample_rate)

    @classmethod
    def local(cls, s) -> "InputLimits":
        """The limits on local files and waveforms (the command line, the Python API):
        any length. A recording of hours is what an archive holds; it streams through in
        bounded memory (listen/), so only an upload to a shared server needs a cap."""
        return cls(max_seconds=None, min_seconds=s.min_audio_seconds, min_rate=s.min_sample_rate,
                   max_rate=s.max_sample_rate)

    def max_samples(self, sample_rate: int) -> int | None:
        """The most samples at `sample_rate` accepted (the duration limit plus the slack)."""
        return None if self.max_seconds is None else int((self.max_seconds + SLACK_SECONDS) * sample_rate)

    def check_rate(self, sample_rate: int, name: str | None = None) -> None:
        lo, hi = self.min_rate, self.max_rate
        if not sample_rate or sample_rate < lo or (hi is not None and sample_rate > hi):
            accepted = f"{lo} to {hi} Hz" if hi is not None else f"{lo} Hz or more"
            raise BadSampleRate(_named(name, f"the sample rate is {sample_rate} Hz; accepted: {accepted} "
                                             "(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)"))

    def check_length(self, n_samples: int, sample_rate: int, name: str | None = None) -> None:
        """Too short (or empty), or too long, at `sample_rate`."""
        if n_samples <= 0 or n_samples < self.min_seconds * sample_rate:
            minimum = f"; the minimum is {self.min_seconds * 1000:g} ms, MIN_AUDIO_SECONDS" if self.min_seconds else ""
            raise AudioTooShort(_named(name, f"the audio is too short to classify "
                                             f"({max(n_samples, 0) / sample_rate * 1000:.3g} ms{minimum})"))
        most = self.max_samples(sample_rate)
        if most is not None and n_samples > most:
            raise AudioTooLong(self.max_seconds)

    def check(self, n_samples: int, sample_rate: int, name: str | None = None) -> None:
        self.check_rate(sample_rate, name)
        self.check_length(n_samples, sample_rate, name)


def check_rate(sample_rate: int, settings, name: str | None = None) -> None:
    """BadSampleRate unless MIN_SAMPLE_RATE <= `sample_rate` <= MAX_SAMPLE_RATE."""
    InputLimits.from_settings(settings).check_rate(sample_rate, name)


def check_audio(n_samples: int, sample_rate: int, settings, name: str | None = None) -> None:
    """The upload limits' check of `n_samples` samples at `sample_rate` Hz (the audio's own
    rate): BadSampleRate, AudioTooShort or AudioTooLong (all AudioError), else None.
    `settings`: an envaudio Settings (or anything with its four limit fields); `name`:
    put before the message (a file name), or nothing."""
    InputLimits.from_settings(settings).check(n_samples, sample_rate, name)
