"""The streaming core's bookkeeping: audio resampled as it arrives and kept only as long
as a window may still need it, and the short-term level envelope of events.py computed
frame by frame with the same arithmetic as over a whole file."""

from __future__ import annotations

import numpy as np

from ..audio import _OVERFLOW
from ..errors import AudioError
from ..events import frame_power, power_db


class Resampled:
    """One sample rate's copy of the stream: samples [offset, offset + len(buf)) kept.
    soxr's stream gives the same samples as resampling the whole recording at once,
    however the input is chunked."""

    def __init__(self, source_rate: int, rate: int):
        self.rate = rate
        self.stream = None
        if source_rate != rate:
            import soxr

            self.stream = soxr.ResampleStream(source_rate, rate, 1, dtype="float32", quality="HQ")
        self.buf = np.zeros(0, np.float32)
        self.offset = 0
        self.done = False

    @property
    def end(self) -> int:
        return self.offset + len(self.buf)

    def push(self, x: np.ndarray, last: bool = False) -> None:
        y = x if self.stream is None else self.stream.resample_chunk(x, last=last)
        if not np.isfinite(y).all():  # finite samples near 3e38 can come out infinite
            raise AudioError(_OVERFLOW)
        self.buf = np.concatenate([self.buf, y]) if len(self.buf) else np.asarray(y, np.float32)
        self.done = last

    def take(self, first: int, n: int) -> np.ndarray:
        return self.buf[first - self.offset:first - self.offset + n]

    def forget(self, before: int) -> None:
        k = min(max(0, before - self.offset), len(self.buf))
        if k:
            self.buf = self.buf[k:]
            self.offset += k


class Envelope:
    """events.level_envelope of a stream: the power of each frame, then each frame's
    short-term level as soon as the frames it is averaged over have arrived (the last
    few at the end, where the average shifts inwards, as events.smooth_levels does)."""

    def __init__(self, sr: int, frame_seconds: float, block_frames: int):
        self.sr, self.fs = sr, frame_seconds
        self.n = max(1, int(round(frame_seconds * sr)))
        self.block = max(1, block_frames)
        self.half = self.block // 2
        self.rest = np.zeros(0, np.float32)
        self.power = np.zeros(0)  # frames pbase .. of the power
        self.pbase = 0
        self.done = 0  # frames whose level has been given
        self.loudest = -np.inf

    @property
    def n_power(self) -> int:
        return self.pbase + len(self.power)

    def push(self, x: np.ndarray) -> np.ndarray:
        """Samples in; the levels that became final out."""
        x = np.concatenate([self.rest, x]) if len(self.rest) else x
        k = len(x) // self.n * self.n
        self.rest = x[k:].copy()
        if k:
            self.power = np.concatenate([self.power, frame_power(x[:k], self.sr, self.fs)])
        return self._levels(self.n_power - (self.block - 1 - self.half), final=False)

    def finish(self) -> np.ndarray:
        if len(self.rest):
            self.power = np.concatenate([self.power, frame_power(self.rest, self.sr, self.fs)])
            self.rest = np.zeros(0, np.float32)
        return self._levels(self.n_power, final=True)

    def _levels(self, upto: int, final: bool) -> np.ndarray:
        a, total = self.done, self.n_power
        if upto <= a or (not final and total < self.block):
            return np.zeros(0)
        block = min(self.block, total) if final else self.block
        i = np.arange(a, upto)
        lo = np.maximum(i - self.half, 0)
        if final:
            lo = np.minimum(lo, total - block)
        lo_min = int(lo.min())
        seg = self.power[lo_min - self.pbase:int(lo.max()) + block - self.pbase]
        sums = np.lib.stride_tricks.sliding_window_view(seg, block).sum(axis=1)
        out = power_db(sums[lo - lo_min] / block)
        self.done = upto
        self.loudest = max(self.loudest, float(out.max()))
        keep = max(0, upto - self.half - 1 - self.pbase)  # the next levels start from lo >= upto - half
        self.power = self.power[keep:]
        self.pbase += keep
        return out
