"""Sound levels a noise officer recognises: A-weighted (IEC 61672-1), LAeq, LAFmax/LAFmin
(time weighting F, 125 ms), L10/L50/L90, in 0.1-s frames that line up with the event
frames (events.py), so the A-weighted energy of each event and each class can be summed.

Numpy (scipy's FFT where installed: the lean install has none), computed block by block so a
stream of any length costs the same memory as a second of it:

- **A-weighting** is a linear-phase FIR designed by frequency sampling from the standard's
  analogue response (Annex E: poles at 20.6, 107.7, 737.9 and 12194 Hz, 0 dB at 1 kHz),
  1.5-3 s long so that its response holds the standard's curve down to 10 Hz, and
  applied by FFT overlap-add. Why not the usual bilinear IIR: at the 22,050 Hz the CNN
  models decode at, its 12.2-kHz poles lie past Nyquist and the bilinear curve leaves the
  class-1 tolerance above 6 kHz; and a recursive filter needs a per-sample loop numpy
  cannot vectorise. The FIR's delay (half its length) is taken off, so frame k of the
  weighted levels is frame k of the audio.
- **Time weighting F** is the exponential average of the squared weighted signal
  (tau = 125 ms), a one-pole filter computed exactly in vectorised blocks (a cumulative
  sum of x[k] a^-k, rescaled every second so the powers stay in range).
- A level is `10 log10(mean square) + calibration_db`: with `calibration_db` the dB SPL of
  a full-scale RMS of 1.0 (from a 94 dB calibrator: 94 - the dBFS it reads). Without
  calibration the levels are dBFS (a full-scale sine reads -3.01).
- The statistical levels L10/L50/L90 are percentiles of the F-weighted level sampled at
  the end of every 0.1-s frame (10 samples a second, as meters sample it); LAFmax and
  LAFmin are the extremes of every sample's F-weighted level.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

try:  # the same pocketfft, ~2x numpy's for these sizes here; optional (the lean install)
    from scipy.fft import irfft, rfft
except ImportError:  # pragma: no cover - the lean install
    from numpy.fft import irfft, rfft

FLOOR_DB = -120.0  # the level of digital zero, as events.FLOOR_DBFS (a finite number for CSV and JSON)
FAST_SECONDS = 0.125  # time weighting F
# IEC 61672-1 Annex E: the A-weighting's pole frequencies (Hz) and its 1-kHz normalisation (dB).
F1, F2, F3, F4 = 20.598997, 107.65265, 737.86223, 12194.217
A1000 = -2.0  # 20 log10 of the unnormalised response at 1 kHz: added back so A(1 kHz) = 0


def a_weighting_db(f) -> np.ndarray:
    """The standard's A-weighting (dB) at frequencies `f` (Hz): -inf at 0 Hz."""
    f2 = np.square(np.asarray(f, dtype=np.float64))
    with np.errstate(divide="ignore"):
        ra = (F4 ** 2 * f2 ** 2) / ((f2 + F1 ** 2) * np.sqrt((f2 + F2 ** 2) * (f2 + F3 ** 2)) * (f2 + F4 ** 2))
        return 20.0 * np.log10(ra) - A1000


def level_db(mean_square, calibration_db: float = 0.0) -> np.ndarray:
    """Mean square -> dB (`calibration_db` added), digital zero at FLOOR_DB + calibration."""
    ms = np.asarray(mean_square, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10.0 * np.log10(ms)
    return np.maximum(np.nan_to_num(db, nan=FLOOR_DB, neginf=FLOOR_DB), FLOOR_DB) + calibration_db


@lru_cache(maxsize=8)
def a_weighting_fir(sample_rate: int) -> np.ndarray:
    """The A-weighting FIR at `sample_rate`: the analogue curve sampled on a grid of
    sample_rate / n Hz, made linear-phase (n - 1 taps, delay n/2 - 1), Blackman-windowed.
    n, a power of two of 1.5 to 3 s, resolves the curve's 10-Hz slope. Cached (read-only):
    every classified clip makes a meter, and the design costs more than filtering 4 s."""
    n = 1 << int(np.ceil(np.log2(1.5 * sample_rate)))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    gain = np.zeros_like(freqs)
    gain[1:] = 10.0 ** (a_weighting_db(freqs[1:]) / 20.0)
    h = np.roll(np.fft.irfft(gain, n), n // 2 - 1)[: n - 1] * np.blackman(n - 1)
    h.flags.writeable = False
    return h


@lru_cache(maxsize=64)
def _fir_spectrum(sample_rate: int, nfft: int) -> np.ndarray:
    """The A-weighting FIR's spectrum for an FFT of `nfft` points (shared by every meter)."""
    spectrum = rfft(a_weighting_fir(sample_rate), nfft).astype(np.complex64)
    spectrum.flags.writeable = False
    return spectrum


def _fft_size(n: int) -> int:
    """The FFT size for a linear convolution of n points: m 2^k with m in 8, 9, 10, 12, 15
    (steps of at most a quarter; 5-smooth sizes run faster than the next power of two,
    and few distinct sizes keep the FIR's spectra cached whatever the inputs' lengths)."""
    k = max(0, int(np.ceil(np.log2(n / 15.0))))
    return min(m << k for m in (8, 9, 10, 12, 15, 16) if m << k >= n)


class AWeighting:
    """A-weighting, block by block: `process(x)` returns the weighted samples of the input
    so far, `flush()` the rest (the delay of the filter, fed with zeros). Output sample i
    is input sample i weighted (the FIR's delay taken off). Input is filtered in blocks of
    about three filter lengths (the fewest FFTs per second), or, `eager`, as it comes (a
    live meter: a smaller FFT per push)."""

    def __init__(self, sample_rate: int, eager: bool = False):
        self.sr = sample_rate
        self.h = a_weighting_fir(sample_rate)
        self.delay = (len(self.h) - 1) // 2
        nfft = 1 << int(np.ceil(np.log2(4 * len(self.h))))
        self.block = nfft - len(self.h) + 1  # input samples per FFT
        self.eager = eager
        self.tail = np.zeros(len(self.h) - 1)  # what the last blocks owe the next output
        self.pending = np.zeros(0)  # input not yet filtered (less than a block)
        self.skip = self.delay  # output samples still to drop (the filter's delay)

    def process(self, x: np.ndarray) -> np.ndarray:
        self.pending = np.concatenate([self.pending, np.asarray(x, dtype=np.float64)])
        out = []
        while len(self.pending) >= self.block or (self.eager and len(self.pending)):
            out.append(self._filter(self.pending[:self.block]))
            self.pending = self.pending[self.block:]
        return self._drop(np.concatenate(out) if out else np.zeros(0))

    def flush(self) -> np.ndarray:
        """The weighted end of the input (after it: nothing, i.e. zeros)."""
        if self.skip == self.delay and len(self.pending):  # all the input at once: one smaller FFT
            return self._whole()
        x = np.concatenate([self.pending, np.zeros(self.delay)])
        self.pending = np.zeros(0)
        out = [self._filter(x[i:i + self.block]) for i in range(0, len(x), self.block)]
        return self._drop(np.concatenate(out) if out else np.zeros(0))

    def _filter(self, x: np.ndarray) -> np.ndarray:
        y = self._circular(x, _fft_size(len(x) + len(self.h) - 1))[: len(x) + len(self.h) - 1]
        y[: len(self.tail)] += self.tail
        self.tail = y[len(x):].copy()
        return y[: len(x)]

    def _whole(self) -> np.ndarray:
        """The weighted input when all of it is here and none was filtered (a clip): the
        linear convolution's samples delay .. delay + n only, so a circular one of n + delay
        points suffices (what wraps round lands before `delay`), not n + 3 delay."""
        x, self.pending, self.skip = self.pending, np.zeros(0), 0
        return self._circular(x, _fft_size(len(x) + self.delay))[self.delay:self.delay + len(x)]

    def _circular(self, x: np.ndarray, nfft: int) -> np.ndarray:
        """x circularly convolved with the FIR over nfft points, in double. The FFTs run in
        single precision: ~3x faster here, and their rounding (~-140 dB re the signal) is far
        below anything a level reads."""
        return irfft(rfft(x.astype(np.float32), nfft) * _fir_spectrum(self.sr, nfft), nfft).astype(np.float64)

    def _drop(self, y: np.ndarray) -> np.ndarray:
        k = min(self.skip, len(y))
        self.skip -= k
        return y[k:]


@lru_cache(maxsize=8)
def _powers(a: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """a^-k and a^k for k = 1..n: computed once per rate (they cost more than the sums)."""
    k = np.arange(1, n + 1, dtype=np.float64)
    grow, decay = a ** -k, a ** k
    grow.flags.writeable = decay.flags.writeable = False
    return grow, decay


class FastWeighting:
    """Time weighting F of a squared signal, exact, in blocks: each sample's exponential
    average (tau 125 ms). The state starts at the first samples' mean square (a meter
    switched on in the sound, not rising from silence)."""

    def __init__(self, sample_rate: int, tau: float = FAST_SECONDS):
        self.a = float(np.exp(-1.0 / (tau * sample_rate)))
        self.chunk = max(1, int(round(8 * tau * sample_rate)))  # a^-chunk = e^8: no overflow, no precision lost
        self.head = int(round(tau * sample_rate))
        self.state: float | None = None
        self.grow, self.decay = _powers(self.a, self.chunk)

    def process(self, sq: np.ndarray) -> np.ndarray:
        sq = np.asarray(sq, dtype=np.float64)
        if len(sq) == 0:
            return sq
        if self.state is None:
            self.state = float(sq[: self.head].mean())
        out = np.empty_like(sq)
        for i in range(0, len(sq), self.chunk):
            x = sq[i:i + self.chunk]
            y = self.decay[:len(x)] * (self.state + (1.0 - self.a) * np.cumsum(x * self.grow[:len(x)]))
            out[i:i + len(x)] = y
            self.state = float(y[-1])
        return out


@dataclass
class FrameLevels:
    """Per 0.1-s frame of a stretch of audio (arrays of one length): the A-weighted mean
    square, the F-weighted mean square's largest, smallest and last value in it, and how
    many samples it holds (the last frame of a recording may be partial)."""

    energy: np.ndarray
    fast_max: np.ndarray
    fast_min: np.ndarray
    fast_end: np.ndarray
    samples: np.ndarray

    FIELDS = ("energy", "fast_max", "fast_min", "fast_end", "samples")

    @classmethod
    def empty(cls) -> "FrameLevels":
        return cls(*(np.zeros(0) for _ in cls.FIELDS))

    def __len__(self) -> int:
        return len(self.energy)

    def __getitem__(self, s) -> "FrameLevels":
        return FrameLevels(*(getattr(self, k)[s] for k in self.FIELDS))

    @classmethod
    def concat(cls, parts: list["FrameLevels"]) -> "FrameLevels":
        parts = [p for p in parts if len(p)]
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in cls.FIELDS))


class LevelMeter:
    """Audio at `sample_rate` in, FrameLevels of complete frames out (`push`, then
    `finish` for the last, partial frame). Frames are `frame_seconds` long from the first
    sample: the grid of the event frames."""

    def __init__(self, sample_rate: int, frame_seconds: float = 0.1, eager: bool = False):
        self.sr = sample_rate
        self.frame = max(1, int(round(frame_seconds * sample_rate)))
        self.weighting = AWeighting(sample_rate, eager)
        self.fast = FastWeighting(sample_rate)
        self.rest = np.zeros(0)  # weighted samples of the frame being filled

    def push(self, x: np.ndarray) -> FrameLevels:
        return self._frames(self.weighting.process(x), last=False)

    def finish(self) -> FrameLevels:
        return self._frames(self.weighting.flush(), last=True)

    def _frames(self, y: np.ndarray, last: bool) -> FrameLevels:
        y = np.concatenate([self.rest, y])
        n = len(y) if last else len(y) // self.frame * self.frame
        self.rest = y[n:]
        if n == 0:
            return FrameLevels.empty()
        sq = np.square(y[:n])
        fast = self.fast.process(sq)
        starts = np.arange(0, n, self.frame)
        counts = np.diff(np.append(starts, n))
        return FrameLevels(energy=np.add.reduceat(sq, starts) / counts,
                           fast_max=np.maximum.reduceat(fast, starts), fast_min=np.minimum.reduceat(fast, starts),
                           fast_end=fast[starts + counts - 1], samples=counts.astype(np.float64))


@dataclass
class LevelSummary:
    """The levels of a stretch of audio (dB; dBFS without calibration)."""

    laeq: float
    lamax: float  # LAFmax
    lamin: float  # LAFmin
    l10: float
    l50: float
    l90: float

    def to_dict(self, decimals: int = 2) -> dict:
        return {k: round(float(v), decimals) for k, v in self.__dict__.items()}


def summarize(frames: FrameLevels, calibration_db: float = 0.0) -> LevelSummary | None:
    """LAeq, LAFmax, LAFmin, L10, L50, L90 of `frames` (None for no frames)."""
    if not len(frames):
        return None
    w = frames.samples
    laeq = float(level_db((frames.energy * w).sum() / w.sum(), calibration_db))
    l90, l50, l10 = (float(v) for v in np.percentile(level_db(frames.fast_end, calibration_db), [10, 50, 90]))
    return LevelSummary(laeq=laeq, lamax=float(level_db(frames.fast_max.max(), calibration_db)),
                        lamin=float(level_db(frames.fast_min.min(), calibration_db)), l10=l10, l50=l50, l90=l90)


def leq(frames: FrameLevels, calibration_db: float = 0.0) -> float:
    """LAeq of `frames` (dB), FLOOR_DB + calibration for none."""
    if not len(frames):
        return FLOOR_DB + calibration_db
    return float(level_db((frames.energy * frames.samples).sum() / frames.samples.sum(), calibration_db))


def class_shares(energy: np.ndarray, frame_labels: list, labels: list[str]) -> dict[str, float]:
    """The share of the frames' A-weighted energy in each class's events (`frame_labels`:
    each frame's class, or None outside every event), plus "unlabelled": they sum to 1
    (all 0 for digital silence)."""
    energy = np.asarray(energy, dtype=np.float64)
    total = float(energy.sum())
    out = {l: 0.0 for l in labels}
    out["unlabelled"] = 0.0
    if total <= 0:
        return out
    for e, lab in zip(energy, frame_labels):
        out["unlabelled" if lab is None else lab] += float(e) / total
    return out


def unit(calibration_db: float) -> str:
    """What the levels are in: dB SPL with a calibration, else dBFS."""
    return "dB" if calibration_db else "dBFS"


def frame_classes(n_frames: int, events, frame_seconds: float = 0.1, t0: float = 0.0) -> list:
    """Each frame's class: that of the event covering its centre that started last (a car
    horn inside street music is the horn's), None outside every event."""
    out: list = [None] * n_frames
    for e in sorted(events, key=lambda e: e.start):
        a = max(0, int(np.ceil((e.start - t0) / frame_seconds - 0.5 - 1e-9)))
        b = min(n_frames, int(np.ceil((e.end - t0) / frame_seconds - 0.5 - 1e-9)))
        if b > a:  # (an event before t0 would give a negative end: a slice from the back)
            out[a:b] = [e.label] * (b - a)
    return out


def event_level(frames: FrameLevels, event, frame_seconds: float = 0.1, calibration_db: float = 0.0,
                t0: float = 0.0) -> float:
    """An event's LAeq (its frames', `frames` starting at t0)."""
    a = max(0, int(np.floor((event.start - t0) / frame_seconds + 1e-9)))
    b = min(len(frames), max(a + 1, int(np.ceil((event.end - t0) / frame_seconds - 1e-9))))
    return leq(frames[a:b], calibration_db)


LEVEL_COLUMNS = ["laeq", "lamax", "lamin", "l10", "l50", "l90"]


def interval_rows(frames: FrameLevels, events, labels: list[str], interval: float, frame_seconds: float = 0.1,
                  calibration_db: float = 0.0, t0: float = 0.0) -> list[dict]:
    """The levels table of a recording (frames from t0 on): one row per `interval` s
    (the last one shorter): start_s, end_s, the LAeq, LAFmax, LAFmin and L10/L50/L90 of its
    audio, and the share of its A-weighted energy inside each class's events
    (share_<label>, share_unlabelled: they sum to 1)."""
    per = max(1, int(round(interval / frame_seconds)))
    cls = frame_classes(len(frames), events, frame_seconds, t0)
    rows = []
    for a in range(0, len(frames), per):
        fr = frames[a:a + per]
        s = summarize(fr, calibration_db)
        shares = class_shares(fr.energy * fr.samples, cls[a:a + per], labels)
        rows.append({"start_s": round(t0 + a * frame_seconds, 3),
                     "end_s": round(t0 + a * frame_seconds + fr.samples.sum() / frames.samples.max() * frame_seconds, 3),
                     **{k: round(v, 2) for k, v in s.to_dict().items()},
                     **{f"share_{k}": round(v, 4) for k, v in shares.items()}})
    return rows
