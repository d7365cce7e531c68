"""What a distillation step learns from: augmented 4-s windows and the teacher's answer for
each.

The clips are decoded once, at one rate high enough for the student and every teacher
member, and kept in memory (and on disk in the cache, so the next run skips decoding).
Each epoch every clip gives one window, freshly augmented in the waveform domain, where
augmentation means what it means for sound: a random crop (short clips looped), a circular
shift, often a second clip mixed in at a random level, a gain, and sometimes background
noise. The teacher then hears exactly that window, so its probabilities describe the mix
the student will see (a teacher's answers cached per clip could not). The true labels of
a mix are the clips' labels weighted by their share of its energy.

`Batches` prepares batch after batch in a background thread, teacher included, while the
student trains on the previous one: on a 2-core machine the teacher costs about as much as
the student's step, so the two run side by side rather than in turn.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import AudioError, load_audio
from ..errors import DatasetError

# Long recordings (an --unlabeled archive) keep at most this much audio each in memory: a
# random crop of a few minutes is as good a source of windows as the whole file.
MAX_SECONDS_PER_FILE = 120.0


@dataclass(frozen=True)
class Augment:
    """The waveform augmentation of a distillation window (the recipe's defaults)."""

    mix_p: float = 0.5  # chance of a second clip mixed in
    mix_db: tuple[float, float] = (-9.0, 3.0)  # its level relative to the first (RMS, dB)
    gain_db: tuple[float, float] = (-12.0, 6.0)  # the window's overall gain
    noise_p: float = 0.3  # chance of background noise
    noise_snr_db: tuple[float, float] = (15.0, 35.0)  # how far below the signal (RMS, dB)

    def to_dict(self) -> dict:
        return {"mix_p": self.mix_p, "mix_db": list(self.mix_db), "gain_db": list(self.gain_db),
                "noise_p": self.noise_p, "noise_snr_db": list(self.noise_snr_db)}


class WaveBank:
    """Every clip's waveform at one rate, decoded once (cached on disk under
    <cache_dir>/waves/<rate>/, keyed by the file's path, size and mtime)."""

    def __init__(self, paths: list[str], rate: int, cache_dir: str | os.PathLike | None,
                 workers: int | None = None, progress: bool = True, loader: str = "ffmpeg",
                 timeout: float = 20.0, desc: str = "decoding"):
        from tqdm import tqdm

        self.rate = rate
        self.folder = Path(cache_dir) / "waves" / str(rate) if cache_dir else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        limit = int(MAX_SECONDS_PER_FILE * rate)
        one = lambda p: self._load(p, loader, timeout, limit)  # noqa: E731
        self.waves: list[np.ndarray] = []
        errors: list[str] = []
        with ThreadPoolExecutor(max(1, workers or os.cpu_count() or 1)) as ex, \
                tqdm(total=len(paths), desc=desc, unit="clip", disable=not progress) as bar:
            for path, (wave, err) in zip(paths, ex.map(one, paths)):
                bar.update(1)
                if err:
                    errors.append(f"{path}: {err}")
                self.waves.append(wave)
        if errors:
            more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
            raise DatasetError(f"{len(errors)} file(s) could not be decoded (fix or remove them): "
                               f"{'; '.join(errors[:3])}{more}")

    def _entry(self, path: str) -> Path | None:
        if self.folder is None:
            return None
        st = os.stat(path)
        ident = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{MAX_SECONDS_PER_FILE}"
        return self.folder / (hashlib.sha1(ident.encode()).hexdigest() + ".npy")

    def _load(self, path: str, loader: str, timeout: float, limit: int):
        entry = self._entry(path)
        if entry is not None and entry.is_file():
            try:
                return np.load(entry), None
            except (OSError, ValueError):  # a damaged entry: decode again
                pass
        try:
            wave = load_audio(path, self.rate, loader, timeout)
        except AudioError as e:
            return None, str(e)
        if len(wave) > limit:  # the middle of a long recording
            start = (len(wave) - limit) // 2
            wave = wave[start:start + limit]
        wave = np.ascontiguousarray(wave, dtype=np.float32)
        if entry is not None:
            try:
                tmp = entry.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp.npy")
                np.save(tmp, wave)
                os.replace(tmp, entry)
            except OSError:  # a read-only or full cache only costs the next run a decode
                pass
        return wave, None

    def __len__(self) -> int:
        return len(self.waves)


def _rms(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=-1) + 1e-12)


def crop(wave: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples from a random start, a short clip looped first; then circularly shifted
    (a loop has no natural start)."""
    if len(wave) == 0:
        return np.zeros(n, np.float32)
    if len(wave) < n:
        wave = np.tile(wave, -(-n // len(wave)))
        start = int(rng.integers(0, len(wave) - n + 1))
        return np.roll(wave[start:start + n], int(rng.integers(0, n)))
    start = int(rng.integers(0, len(wave) - n + 1))
    return np.roll(wave[start:start + n], int(rng.integers(0, n)))


def coloured_noise(b: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(b, n) noise from white to brown-ish: white noise through a one-pole low-pass with a
    random pole per row (street background is rarely white)."""
    from scipy.signal import lfilter

    white = rng.standard_normal((b, n)).astype(np.float32)
    out = np.empty_like(white)
    for i, a in enumerate(rng.uniform(0.0, 0.98, b)):
        out[i] = lfilter([1.0 - a], [1.0, -a], white[i])
    return out


def augmented_batch(bank: WaveBank, targets: np.ndarray, idx: np.ndarray, n: int, aug: Augment,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(windows (B, n) float32, true-label targets (B, n_classes)) for clips `idx`.
    targets: (n_clips, n_classes) one-hot rows, all-zero for unlabelled clips; the targets
    of a mix are the two clips' rows weighted by their shares of its energy."""
    b = len(idx)
    x = np.stack([crop(bank.waves[i], n, rng) for i in idx])
    y = targets[idx].astype(np.float32)
    mixed = rng.random(b) < aug.mix_p
    if mixed.any():
        partners = rng.integers(0, len(bank), b)
        for k in np.flatnonzero(mixed):
            other = crop(bank.waves[partners[k]], n, rng)
            r1, r2 = _rms(x[k]), _rms(other)
            if r1 < 1e-5 or r2 < 1e-5:  # digital silence on either side: nothing to mix
                continue
            db = rng.uniform(*aug.mix_db)
            other = other * (r1 / r2 * 10 ** (db / 20))
            share = 1.0 / (1.0 + 10 ** (db / 10))  # the first clip's share of the energy
            x[k] = x[k] + other
            y[k] = share * y[k] + (1 - share) * targets[partners[k]]
    x *= (10 ** (rng.uniform(*aug.gain_db, b) / 20)).astype(np.float32)[:, None]
    noisy = rng.random(b) < aug.noise_p
    if noisy.any():
        noise = coloured_noise(int(noisy.sum()), n, rng)
        level = _rms(x[noisy]) / _rms(noise) * 10 ** (-rng.uniform(*aug.noise_snr_db, int(noisy.sum())) / 20)
        x[noisy] += noise * level[:, None].astype(np.float32)
    np.clip(x, -1.0, 1.0, out=x)  # a recorder clips too
    return x.astype(np.float32, copy=False), y


def resample_batch(x: np.ndarray, rate: int, to: int) -> np.ndarray:
    """(B, n) windows -> (B, m) at another rate (soxr, each row a channel)."""
    if rate == to:
        return x
    import soxr

    return np.ascontiguousarray(soxr.resample(x.T, rate, to, quality="HQ").T, dtype=np.float32)


class Batches:
    """The batches of every epoch still to run, prepared ahead in a thread (across epoch
    ends too): each is (student windows (B, n) at the bank's rate, true-label targets
    (B, C), the teacher's probabilities (B, C)). `plan`: [(epoch, clip order, seed)]. The
    draws depend only on the seed, so a resumed run sees the same batches."""

    _END = "end of epoch"

    def __init__(self, bank: WaveBank, targets: np.ndarray, plan: list, batch_size: int,
                 n_samples: int, aug: Augment, teacher, ahead: int = 2):
        self.batch_size = batch_size
        self._q: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        args = (bank, targets, plan, n_samples, aug, teacher)
        self._thread = threading.Thread(target=self._fill, args=args, daemon=True,
                                        name="envaudio-distill-batches")
        self._thread.start()

    def steps(self, order: np.ndarray) -> int:
        return max(1, len(order) // self.batch_size)

    def _fill(self, bank, targets, plan, n_samples, aug, teacher) -> None:
        try:
            for _, order, seed in plan:
                rng = np.random.default_rng(seed)
                for s in range(self.steps(order)):
                    if self._stop.is_set():
                        return
                    idx = order[s * self.batch_size:(s + 1) * self.batch_size]
                    x, y = augmented_batch(bank, targets, idx, n_samples, aug, rng)
                    self._put((x, y, teacher(x)))
                self._put(self._END)
        except BaseException as e:  # handed to the trainer, which raises it
            self._put(e)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def epoch(self):
        """The next epoch's batches, in order."""
        while True:
            item = self._q.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, str) and item == self._END:
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
