"""Test fixture for the e2e run: concatenate example clips (real UrbanSound8K excerpts)
into one 48 kHz mono 16-bit PCM WAV, which Chromium's fake microphone can read
(--use-file-for-fake-audio-capture) and which also serves as a "long file" upload.

usage: python make_audio.py OUT.wav [--gap SECONDS] CLIP.flac [CLIP.flac ...]
       python make_audio.py OUT.wav --silence SECONDS     (digital silence)
       python make_audio.py OUT.wav --dither SECONDS      (silence as a recorder writes it:
                                                          +-2 LSB triangular dither, about -90 dBFS)

--gap puts that much digital silence before, between and after the clips (a recording
with sound events at known times).
"""

import sys

import numpy as np
import soundfile as sf
import soxr

RATE = 48000


def main(out: str, clips: list[str], gap: float = 0.0) -> None:
    pause = np.zeros(int(gap * RATE), dtype=np.float32)
    parts = [pause]
    for path in clips:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        if sr != RATE:
            x = soxr.resample(x, sr, RATE)
        peak = float(np.abs(x).max()) or 1.0
        parts += [0.8 * x / peak, pause]  # each clip clearly audible
    sf.write(out, np.concatenate(parts), RATE, subtype="PCM_16")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    args = sys.argv[2:]
    if args[0] == "--silence":
        sf.write(sys.argv[1], np.zeros(int(float(args[1]) * RATE), dtype=np.int16), RATE, subtype="PCM_16")
    elif args[0] == "--dither":
        n = int(float(args[1]) * RATE)
        rng = np.random.default_rng(21)
        x = rng.integers(-1, 2, size=n) + rng.integers(-1, 2, size=n)  # triangular, +-2 LSB
        sf.write(sys.argv[1], x.astype(np.int16), RATE, subtype="PCM_16")
    elif args[0] == "--gap":
        main(sys.argv[1], args[2:], float(args[1]))
    else:
        main(sys.argv[1], args)
