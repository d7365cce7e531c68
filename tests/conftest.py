"""Shared fixtures: real audio written to disk, and a tiny UrbanSound8K-layout dataset."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SUBSET = ROOT.parent / "shared" / "data" / "urbansound8k-subset"
EXAMPLES = ROOT / "src" / "envaudio" / "assets" / "examples"

# Three easily told apart "classes" of generated sound.
CLASSES = ["hum", "hiss", "clicks"]


def tone(freq=440.0, seconds=1.0, sr=22050, amp=0.3):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds=1.0, sr=22050, amp=0.2, seed=0):
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def clicks(seconds=1.0, sr=22050, every=0.1, amp=0.8):
    x = np.zeros(int(seconds * sr), dtype=np.float32)
    x[:: max(1, int(every * sr))] = amp
    return x


def random_member(network: str, seed: int) -> dict:
    """A model file's member of `network` with random weights (a small CNN, or YAMNet)."""
    import torch

    from envaudio.model import member_state
    from envaudio.networks import create_model, yamnet
    from envaudio.settings import FeatureConfig

    torch.manual_seed(seed)
    fe = FeatureConfig() if network == "cnn" else yamnet.YamnetFrontend()
    arch = {"width": 4} if network == "cnn" else {}
    return {"network": network, "arch": arch, "features": fe.to_dict(),
            "state": member_state(create_model(network, len(CLASSES), arch))}


def make_sound(kind: str, seconds: float, sr: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "hum":
        return tone(rng.uniform(100, 300), seconds, sr) + noise(seconds, sr, 0.01, seed)
    if kind == "hiss":
        return noise(seconds, sr, 0.2, seed)
    return clicks(seconds, sr, rng.uniform(0.05, 0.2)) + noise(seconds, sr, 0.005, seed)


def write_dataset(root: Path, per_class: int = 4, folds=(1, 2, 3), seconds=1.5, ext=".wav") -> Path:
    """An UrbanSound8K-layout folder: metadata/UrbanSound8K.csv + audio/foldN/*."""
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    rows = []
    for fold in folds:
        d = root / "audio" / f"fold{fold}"
        d.mkdir(parents=True, exist_ok=True)
        for ci, kind in enumerate(CLASSES):
            for k in range(per_class):
                seed = fold * 1000 + ci * 100 + k
                name = f"{seed}-{ci}-0-{k}.wav"  # the metadata names .wav (as the official CSV)
                sr = (22050, 44100, 16000)[k % 3]  # mixed rates, as in the official release
                x = make_sound(kind, seconds * (0.5 + 0.5 * (k % 2)), sr, seed)
                sf.write(d / (Path(name).stem + ext), x, sr, subtype="PCM_16")
                rows.append([name, seed, 0.0, seconds, 1, fold, ci, kind])
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"])
        w.writerows(rows)
    return root


# Your-own-sounds classes: odd names on purpose (unicode, spaces, a long one).
CUSTOM_CLASSES = ["tone", "chirp ↗", "noise burst — long label for the legend"]


def chirp(seconds: float, sr: int, f0: float, f1: float) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    period = 0.5  # a rising sweep every half second
    phase = 2 * np.pi * (f0 * (t % period) + (f1 - f0) * (t % period) ** 2 / (2 * period))
    return (0.3 * np.sin(phase)).astype(np.float32)


def bursts(seconds: float, sr: int, seed: int) -> np.ndarray:
    x = noise(seconds, sr, 0.4, seed)
    gate = (np.arange(len(x)) // int(0.15 * sr)) % 2 == 0  # 150 ms on, 150 ms off
    return (x * gate).astype(np.float32)


def make_custom_sound(kind: int, seconds: float, sr: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == 0:
        return tone(rng.uniform(400, 900), seconds, sr) + noise(seconds, sr, 0.01, seed)
    if kind == 1:
        return chirp(seconds, sr, rng.uniform(300, 600), rng.uniform(2000, 4000))
    return bursts(seconds, sr, seed)


def write_class_folders(root: Path, per_class: int = 6, seconds: float = 1.5, long_every: int = 0,
                        classes=CUSTOM_CLASSES) -> Path:
    """A folder per class (DIR/<label>/...): WAV and FLAC, mixed rates, a sub-folder, and
    every `long_every`-th clip 12 s long (cut into windows for training)."""
    for ci, label in enumerate(classes):
        for k in range(per_class):
            d = root / label / ("more" if k % 4 == 3 else "")
            d.mkdir(parents=True, exist_ok=True)
            sr = (16000, 22050, 44100)[k % 3]
            secs = 12.0 if long_every and k % long_every == 0 else seconds
            ext = ".flac" if k % 2 else ".wav"
            sf.write(d / f"clip{k:02d}{ext}", make_custom_sound(ci, secs, sr, 100 * ci + k), sr)
    return root


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Feature cache in a temp folder, never the user's."""
    monkeypatch.setenv("ENVAUDIO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("us8k"))


@pytest.fixture
def subset() -> Path:
    if not (SUBSET / "metadata" / "UrbanSound8K.csv").is_file():
        pytest.skip("UrbanSound8K subset not present in ../shared/data")
    return SUBSET


def run_cli(*args: str, env: dict | None = None, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "envaudio", *map(str, args)], capture_output=True,
                          text=True, env=e, cwd=cwd, timeout=timeout)
