"""The feature cache: every clip's window features, computed once per front end and reused."""

from __future__ import annotations

import hashlib
import os
import sys
from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DatasetError
from ..audio import AudioError, decode_rate, load_audio, resample
from ..frontends import frontend_features
from ..settings import available_cpus
from ..windows import cut_windows


def apply_variant(wave: np.ndarray, variant: str | None, sr: int) -> np.ndarray:
    """A waveform-domain training variant: "ps:N" (pitch shift, semitones) or "ts:R"
    (time stretch, rate)."""
    if not variant:
        return wave
    import librosa

    kind, _, value = variant.partition(":")
    if kind == "ps":
        out = librosa.effects.pitch_shift(wave, sr=sr, n_steps=float(value))
    elif kind == "ts":
        out = librosa.effects.time_stretch(wave, rate=float(value))
    else:
        raise ValueError(f"unknown variant {variant!r}")
    return out.astype(np.float32, copy=False)


def _file_windows(path: str, frontends: list, overlap: float, loader: str, timeout: float,
                  variant: str | None) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """One file -> ({front end key: model input of each window}, None) or (None, error).
    Decoded once, at `decode_rate` (as `Classifier` does)."""
    rate = decode_rate(fe.sample_rate for fe in frontends)
    try:
        wave = apply_variant(load_audio(path, rate, loader, timeout), variant, rate)
    except AudioError as e:
        return None, str(e)
    waves = {fe.sample_rate: resample(wave, rate, fe.sample_rate) for fe in frontends}
    _, windows = cut_windows(waves, frontends[0].duration, overlap)
    return {fe.key(): frontend_features(fe, windows[fe.sample_rate]) for fe in frontends}, None


def iter_file_features(paths: list[str], frontends: list, overlap: float = 0.5,
                       workers: int | None = None, loader: str = "ffmpeg",
                       timeout: float = 20.0, variant: str | None = None
                       ) -> Iterator[tuple[dict[str, np.ndarray] | None, str | None]]:
    """Yields ({front end key: windows' model input (n, ...)} or None, error or None) per
    path, in order.

    Threads, not processes: decoding (libsndfile, soxr, ffmpeg) and numpy's FFTs release
    the GIL, so threads use every core without the seconds a process pool spends importing
    the package in each worker."""
    from concurrent.futures import ThreadPoolExecutor

    workers = workers if workers is not None else available_cpus()
    one = partial(_file_windows, frontends=list(frontends), overlap=overlap, loader=loader,
                  timeout=timeout, variant=variant)
    if workers <= 1 or len(paths) < 4:
        yield from map(one, paths)
        return
    if "torch" in sys.modules:  # a training process: torch's pool started from this (main) thread first
        from ..networks import start_torch_threads

        start_torch_threads()
    with ThreadPoolExecutor(workers, thread_name_prefix="envaudio-features") as ex:
        yield from ex.map(one, paths)


class FeatureCache:
    """One front end's model input for the windows of each file, computed once per (file,
    feature settings).

    Layout: <cache_dir>/features/<settings hash>/<file hash>.npy. A change of any feature
    setting gives a new settings hash (old entries are simply not used); a change of the
    file (size or mtime) gives a new file hash."""

    def __init__(self, cache_dir: str | os.PathLike, cfg, overlap: float = 0.5,
                 variant: str | None = None):
        self.cfg = cfg
        self.overlap = overlap
        self.variant = variant
        ident = f"{cfg.key()};overlap={overlap}" + (f";variant={variant}" if variant else "")
        if decode_rate([cfg.sample_rate]) != cfg.sample_rate:  # older entries were decoded at cfg's rate
            ident += f";decoded_at={decode_rate([cfg.sample_rate])}"
        key = hashlib.sha1(ident.encode()).hexdigest()[:16]
        self.dir = Path(cache_dir) / "features" / key
        self.dir.mkdir(parents=True, exist_ok=True)
        settings_file = self.dir / "settings.txt"
        if not settings_file.exists():
            settings_file.write_text(ident.replace(";", "\n") + "\n")

    def entry(self, path: str) -> Path:
        st = os.stat(path)
        ident = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
        return self.dir / (hashlib.sha1(ident.encode()).hexdigest() + ".npy")

    def get_many(self, paths: list[str], workers: int | None = None, progress: bool = True,
                 desc: str = "features") -> list[np.ndarray]:
        from tqdm import tqdm

        entries = [self.entry(p) for p in paths]
        todo = [i for i, e in enumerate(entries) if not e.exists()]
        if todo:
            bar = tqdm(total=len(todo), desc=desc, unit="clip", disable=not progress)
            errors = []
            for i, (feats, err) in zip(todo, iter_file_features([paths[i] for i in todo], [self.cfg],
                                                                self.overlap, workers,
                                                                variant=self.variant)):
                bar.update(1)
                if feats is None:
                    errors.append(f"{paths[i]}: {err.removeprefix(Path(paths[i]).name + ': ')}")
                    continue
                tmp = entries[i].with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, feats[self.cfg.key()].astype(np.float32))
                os.replace(tmp, entries[i])
            bar.close()
            if errors:
                more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
                raise DatasetError(f"{len(errors)} file(s) could not be decoded (fix or remove them): "
                                   f"{'; '.join(errors[:3])}{more}")
        return [np.load(e) for e in entries]
