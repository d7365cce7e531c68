"""Out-of-domain test audio (none of UrbanSound8K's ten classes), synthesised, not
downloaded: speech-like formant buzz, solo instrument notes, birdsong-like chirps.

    .venv/bin/python scripts/make_ood_audio.py OUT_DIR [--per-kind 20] [--seconds 4] [--seed 7]

Writes OUT_DIR/{speech,instrument,birdsong}-NN.wav (22,050 Hz, 16-bit). `envaudio
calibrate --ood OUT_DIR` reports how many of them the model calls "unknown".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

SR = 22050
# (F1, F2, F3) Hz of a few vowels (adult speaker, Peterson & Barney averages)
VOWELS = [(730, 1090, 2440), (270, 2290, 3010), (530, 1840, 2480), (570, 840, 2410), (300, 870, 2240)]


def resonator(x: np.ndarray, f: float, bw: float) -> np.ndarray:
    """Two-pole resonance at f Hz with bandwidth bw."""
    r = np.exp(-np.pi * bw / SR)
    return lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / SR), r * r], x)


def speech(seconds: float, rng) -> np.ndarray:
    """A glottal pulse train with a wandering pitch through vowel formants, in syllables."""
    n = int(seconds * SR)
    out = np.zeros(n)
    t = 0
    f0 = rng.uniform(95, 220)
    while t < n:
        syl = int(rng.uniform(0.12, 0.3) * SR)
        seg = np.arange(min(syl, n - t))
        pitch = f0 * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 3) * seg / SR + rng.uniform(0, 6)))
        phase = np.cumsum(pitch / SR)
        src = (np.diff(np.floor(phase), prepend=0) > 0).astype(float) + 0.02 * rng.standard_normal(len(seg))
        v = VOWELS[rng.integers(len(VOWELS))]
        y = sum(resonator(src, f, 80 + 40 * i) * g for i, (f, g) in enumerate(zip(v, (1.0, 0.6, 0.3))))
        env = np.sin(np.pi * seg / max(1, len(seg))) ** 0.7
        out[t:t + len(seg)] = y * env
        t += len(seg) + int(rng.uniform(0.02, 0.15) * SR)  # pauses between syllables
    return out


def instrument(seconds: float, rng) -> np.ndarray:
    """A melody of harmonic notes: plucked (decaying) or blown (vibrato, sustained)."""
    n = int(seconds * SR)
    out = np.zeros(n)
    plucked = rng.random() < 0.5
    scale = 220 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12]) / 12) * rng.choice([1, 2])
    t = 0
    while t < n:
        dur = min(int(rng.choice([0.25, 0.5, 0.75]) * SR), n - t)
        k = np.arange(dur) / SR
        f = rng.choice(scale) * (1 + (0 if plucked else 0.006 * np.sin(2 * np.pi * 5.5 * k)))
        ph = 2 * np.pi * np.cumsum(f) / SR
        note = sum(np.sin(h * ph) / h ** (1.2 if plucked else 2.0) for h in range(1, 9))
        env = np.exp(-k * 6) if plucked else np.minimum(1, k / 0.05) * np.minimum(1, (dur / SR - k) / 0.05)
        out[t:t + dur] = note * env
        t += dur
    return out


def birdsong(seconds: float, rng) -> np.ndarray:
    """Fast frequency sweeps (2-7 kHz) and trills, in phrases with gaps."""
    n = int(seconds * SR)
    out = np.zeros(n)
    t = int(rng.uniform(0, 0.3) * SR)
    while t < n:
        for _ in range(rng.integers(3, 9)):  # a phrase of chirps
            dur = min(int(rng.uniform(0.03, 0.12) * SR), n - t)
            if dur <= 0:
                break
            k = np.arange(dur) / SR
            f0, f1 = rng.uniform(2000, 7000, 2)
            f = f0 + (f1 - f0) * k / k[-1] if dur > 1 else np.full(dur, f0)
            out[t:t + dur] = np.sin(2 * np.pi * np.cumsum(f) / SR) * np.sin(np.pi * k / k[-1]) ** 2
            t += dur + int(rng.uniform(0.01, 0.05) * SR)
        t += int(rng.uniform(0.2, 0.8) * SR)
    return out


KINDS = {"speech": speech, "instrument": instrument, "birdsong": birdsong}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--per-kind", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for kind, fn in KINDS.items():
        for i in range(args.per_kind):
            x = fn(args.seconds, rng)
            x = x / (np.abs(x).max() + 1e-9) * 10 ** (rng.uniform(-20, -3) / 20)  # varied levels
            x = x + 10 ** (-60 / 20) * rng.standard_normal(len(x))  # a little room noise
            sf.write(out / f"{kind}-{i:02d}.wav", x.astype(np.float32), SR, subtype="PCM_16")
    print(f"wrote {3 * args.per_kind} files to {out}")


if __name__ == "__main__":
    main()
