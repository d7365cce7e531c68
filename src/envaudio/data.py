"""UrbanSound8K: reading the metadata, and the feature cache (other layouts: layouts.py).

An UrbanSound8K root has `metadata/UrbanSound8K.csv` and `audio/fold{N}/`. The official
download ships WAV; other copies (like the project's FLAC subset) keep the official names
with another extension, so a file is found by its stem too.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .audio import AudioError, decode_rate, load_audio, resample
from .features import start_torch_threads
from .networks import frontend_features
from .settings import available_cpus
from .windows import cut_windows

AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".m4a")
TABLE_COLUMNS = ("file_path", "label", "fold", "classID", "salience")


class DatasetError(ValueError):
    """A data root or table that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Clip:
    file_path: str
    label: str
    fold: int
    class_id: int
    salience: int = 1


@dataclass
class PreparedDataset:
    clips: list[Clip]
    missing: list[str]
    root: Path

    @property
    def folds(self) -> list[int]:
        return sorted({c.fold for c in self.clips})

    @property
    def labels(self) -> list[str]:
        """Class names ordered by classID (the official order)."""
        by_id = {c.class_id: c.label for c in self.clips}
        return [by_id[i] for i in sorted(by_id)]


def _find_audio(folder: Path, name: str, index: dict[str, str]) -> Path | None:
    exact = folder / name
    if exact.is_file():
        return exact
    alt = index.get(Path(name).stem)
    return folder / alt if alt else None


def prepare_dataset(root: str | os.PathLike) -> PreparedDataset:
    """Read an UrbanSound8K root; keep the rows whose audio exists."""
    root = Path(root)
    meta = root / "metadata" / "UrbanSound8K.csv"
    if not root.is_dir():
        raise DatasetError(f"data root not found: {root}")
    if not meta.is_file():
        raise DatasetError(f"{meta} not found: is {root} an extracted UrbanSound8K download?")
    indexes: dict[int, dict[str, str]] = {}
    clips, missing = [], []
    with open(meta, newline="") as f:
        reader = csv.DictReader(f)
        need = {"slice_file_name", "fold", "classID", "class"}
        if not need.issubset(reader.fieldnames or []):
            raise DatasetError(f"{meta} lacks columns {sorted(need - set(reader.fieldnames or []))}")
        for row in reader:
            fold = int(row["fold"])
            folder = root / "audio" / f"fold{fold}"
            if fold not in indexes:
                indexes[fold] = ({Path(p).stem: p for p in os.listdir(folder)
                                  if p.lower().endswith(AUDIO_EXTS)} if folder.is_dir() else {})
            path = _find_audio(folder, row["slice_file_name"], indexes[fold])
            if path is None:
                missing.append(f"fold{fold}/{row['slice_file_name']}")
                continue
            clips.append(Clip(str(path.resolve()), row["class"], fold, int(row["classID"]),
                              int(row.get("salience") or 1)))
    if not clips:
        raise DatasetError(f"no audio files of {meta} were found under {root / 'audio'}")
    return PreparedDataset(clips, missing, root)


def write_table(clips: Iterable[Clip], out: str | os.PathLike) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TABLE_COLUMNS)
        for c in clips:
            w.writerow([c.file_path, c.label, c.fold, c.class_id, c.salience])


def load_clips(data_root: str | None = None, table: str | None = None) -> tuple[list[Clip], list[str]]:
    """Clips from a data root or a table (any layout `layouts.load_dataset` knows), and
    the label order."""
    from .layouts import load_dataset

    ds = load_dataset(data_root, table)
    return ds.clips, ds.labels


def select_folds(clips: list[Clip], folds: Iterable[int]) -> list[Clip]:
    want = set(folds)
    return [c for c in clips if c.fold in want]


def parse_folds(text: str) -> list[int]:
    """'1-8' -> [1..8]; '1,3,5' -> [1,3,5]."""
    out: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise DatasetError(f"cannot read folds {text!r}: use e.g. 1-8 or 1,2,3") from None
    if not out:
        raise DatasetError(f"no folds in {text!r}")
    return sorted(set(out))


# ---------------------------------------------------------------- feature extraction

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

    Threads, not processes: decoding (libsndfile, soxr, ffmpeg) and torch.stft release the
    GIL, so threads use every core without the seconds a process pool spends importing
    torch in each worker."""
    from concurrent.futures import ThreadPoolExecutor

    workers = workers if workers is not None else available_cpus()
    one = partial(_file_windows, frontends=list(frontends), overlap=overlap, loader=loader,
                  timeout=timeout, variant=variant)
    if workers <= 1 or len(paths) < 4:
        yield from map(one, paths)
        return
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
