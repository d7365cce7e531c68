"""Test fixture for the e2e run: concatenate example clips (real UrbanSound8K excerpts)
into one 48 kHz mono 16-bit PCM WAV, which Chromium's fake microphone can read
(--use-file-for-fake-audio-capture) and which also serves as a "long file" upload.

usage: python make_audio.py OUT.wav CLIP.flac [CLIP.flac ...]
"""

import sys

import numpy as np
import soundfile as sf
import soxr

RATE = 48000


def main(out: str, clips: list[str]) -> None:
    parts = []
    for path in clips:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        if sr != RATE:
            x = soxr.resample(x, sr, RATE)
        peak = float(np.abs(x).max()) or 1.0
        parts.append(0.8 * x / peak)  # each clip clearly audible
    sf.write(out, np.concatenate(parts), RATE, subtype="PCM_16")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
