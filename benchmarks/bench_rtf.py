"""Cost per second of audio (the real-time factor) of model files, as `envaudio predict`
and `analyze` run them: decoding aside, everything a recording costs (resampling, the
windows of the timeline and of the event grid, features, the networks, events), divided
by its length. RTF 0.05 = a minute of audio in 3 s; below 1 a device keeps up with a
live microphone.

    python benchmarks/bench_rtf.py                              # the bundled models
    python benchmarks/bench_rtf.py runs/fast.envaudio --threads 1 2 4

Torch-free: it runs in the lean install. Numbers depend on the machine being otherwise idle.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from envaudio.loading import load_model
from envaudio.predict import Classifier
from envaudio.settings import BUNDLED_MODELS, Settings


def scene(seconds: float, sr: int) -> np.ndarray:
    """A minute of varied sound: tones, noise bursts, clicks (never silent, so every
    window of the event grid is computed)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.2 * np.sin(2 * np.pi * (300 + 200 * np.sin(0.3 * t)) * t)
    x += 0.1 * rng.standard_normal(len(t)) * ((t % 1.7) < 0.6)
    x[:: int(0.37 * sr)] += 0.5
    return x.astype(np.float32)


def measure(path: Path, threads: int, seconds: float, repeats: int) -> dict:
    s = Settings(threads=threads)
    t0 = time.perf_counter()
    clf = Classifier(load_model(path, settings=s), s)
    wave = scene(seconds, clf.sample_rate)
    clf.classify_waveform(wave[: clf.sample_rate * 4], clf.sample_rate, keep_features=False)  # session made
    load = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        pred = clf.classify_waveform(wave, clf.sample_rate, keep_features=False)
        times.append(time.perf_counter() - t)
    per_window = {}
    x = {r: np.stack([wave[: round(clf.window_seconds * r)]] * 8) for r in clf.model.sample_rates}
    t = time.perf_counter()
    feats = clf.model.featurize(x)
    per_window["features_ms"] = (time.perf_counter() - t) / 8 * 1e3
    t = time.perf_counter()
    clf.model.predict_windows(feats)
    per_window["networks_ms"] = (time.perf_counter() - t) / 8 * 1e3
    return {"model": path.name, "size_mb": path.stat().st_size / 1e6, "members": len(clf.model.members),
            "threads": threads, "load_s": load, "rtf": float(np.median(times)) / seconds,
            "windows": len(pred.windows), **per_window}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="model files (default: the bundled ones)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    paths = [Path(m) for m in args.models] or [p for p in BUNDLED_MODELS.values() if p.is_file()]
    print("| model | file | members | threads | load + first window | features / window | networks / window "
          "| RTF (s per s of audio) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in paths:
        for threads in args.threads:
            r = measure(path, threads, args.seconds, args.repeats)
            print(f"| {r['model']} | {r['size_mb']:.1f} MB | {r['members']} | {r['threads']} | {r['load_s']:.2f} s "
                  f"| {r['features_ms']:.1f} ms | {r['networks_ms']:.1f} ms | {r['rtf']:.3f} |")


if __name__ == "__main__":
    main()
